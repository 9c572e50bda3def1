"""HL7 v2.5 inbound feed over MLLP (IHE PAM with its French extension).

models: the journal of received messages; message: decoding and MSH reading; ack: ACK/ERR;
pam: PID/MRG to identity inputs; dispatch: message type -> handlers; adt: the identity
handlers; feed: persist, de-duplicate, apply, answer; server: the asyncio MLLP listener;
cli: `ght mllp serve`. See docs/hl7v2.md.
"""
