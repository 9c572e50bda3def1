"""The tamper-evident access trace (issue 5, point 6): entries appended by every door
(trail), chained by SHA-256 by a single sealer (chain, sealer), checked (verify), purged past
the retention period (purge), exported as FHIR AuditEvent (fhir) and listed (queries).
docs/audit.md explains the design."""

from ght.audit.trail import AccessEvent, Action, Door, Outcome, Purpose, record, record_many

__all__ = ["AccessEvent", "Action", "Door", "Outcome", "Purpose", "record", "record_many"]
