"""The territory's shared record (FHIR R4). Patient resources are backed by the identity
server: one Patient per local identity, its versions those of the identity."""
