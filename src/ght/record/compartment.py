"""The patient compartment follows the identity server: when a local identity changes GHT
patient (link, unlink, merge, unmerge), its resources move with it in the same transaction,
so a search by patient reflects the change at once."""

from __future__ import annotations

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, object_session

from ght.identity.models import LinkEvent, LocalIdentity
from ght.record.models import Resource

_PENDING = "ght.record.compartment"


def _moved_identities(link_event: LinkEvent) -> list[int]:
    ids = [int(i) for i in (link_event.details or {}).get("identities", [])]
    return ids + ([link_event.identity_id] if link_event.identity_id is not None else [])


@event.listens_for(LinkEvent, "after_insert")
def _note_link_event(_mapper, _connection, link_event: LinkEvent) -> None:
    # Noted here, applied once the flush has written the identities' new patients (the unit of
    # work may write the event before them); the flush hook below then costs a dict lookup.
    object_session(link_event).info.setdefault(_PENDING, []).append(link_event)


@event.listens_for(Session, "after_flush")
def _follow_link_events(session: Session, _flush_context) -> None:
    events = session.info.pop(_PENDING, None)
    if not events:
        return
    connection = session.connection()
    identities = sorted({i for e in events for i in _moved_identities(e)})
    if identities:
        patient_of_identity = (select(LocalIdentity.patient_id)
                               .where(LocalIdentity.id == Resource.local_identity_id).scalar_subquery())
        connection.execute(update(Resource).where(Resource.local_identity_id.in_(identities))
                           .values(ght_patient_id=patient_of_identity))
    for merge in (e for e in events if e.action == "merge"):
        # Resources written against the absorbed GHT patient itself (no local identity).
        connection.execute(update(Resource).where(Resource.local_identity_id.is_(None),
                                                  Resource.ght_patient_id == merge.from_patient)
                           .values(ght_patient_id=merge.to_patient))
