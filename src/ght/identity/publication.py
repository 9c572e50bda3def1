"""Publication of link changes to the establishments' systems: the durable queue, and what
each queued change tells (delivery over MLLP or a FHIR hook is interop/outbound.py).

Every LinkEvent row added through the ORM gets, in the same flush and therefore in the same
transaction, one Publication per active Subscriber: a committed change is always queued, a
rolled-back one never is. The batch initial load inserts its link events with Core bulk
inserts, which no flush event sees: it queues nothing, on purpose (see docs/identity.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, event, insert, select
from sqlalchemy.orm import Session

from ght.directory.models import Establishment
from ght.identity.models import LinkEvent, LocalIdentity, Publication, Subscriber
from ght.identity.status import Status, may_share_ins

PENDING = "pending"
SENT = "sent"
MAX_ERROR = 500  # Publication.last_error length


# --------------------------------------------------------------------------- enqueue


def register_publication_hooks() -> None:
    """Queue publications for every new LinkEvent of any ORM session (idempotent)."""
    if not event.contains(Session, "after_flush", _enqueue_after_flush):
        event.listen(Session, "after_flush", _enqueue_after_flush)


def _enqueue_after_flush(session: Session, _flush_context) -> None:
    # after_flush: the new events have their ids and `session.new` still lists them; the
    # insert below runs on the flush's own connection, so it commits or rolls back with them.
    event_ids = sorted(obj.id for obj in session.new if isinstance(obj, LinkEvent))
    if event_ids:
        enqueue(session.connection(), event_ids)


def enqueue(connection: Connection, event_ids: Iterable[int]) -> int:
    """One pending publication per active subscriber for each event; returns the rows queued.
    Public so that a deliberate bulk notification (e.g. after registering a subscriber) can
    reuse it inside its own transaction."""
    subscribers = connection.execute(
        select(Subscriber.id).where(Subscriber.active.is_(True)).order_by(Subscriber.id)
    ).scalars().all()
    rows = [{"subscriber_id": s, "link_event_id": e} for e in event_ids for s in subscribers]
    if rows:
        connection.execute(insert(Publication), rows)
    return len(rows)


# --------------------------------------------------------------------------- queue


def backoff(attempts: int, initial: float, maximum: float) -> timedelta:
    """Delay before the next attempt after `attempts` failed ones: initial, doubling, capped."""
    exponent = max(attempts - 1, 0)
    seconds = maximum if exponent >= 64 else min(initial * 2**exponent, maximum)
    return timedelta(seconds=seconds)


def subscribers_with_pending(db: Session) -> list[int]:
    return list(db.scalars(
        select(Subscriber.id).where(
            Subscriber.active.is_(True),
            Subscriber.id.in_(select(Publication.subscriber_id).where(Publication.status == PENDING)),
        ).order_by(Subscriber.id)
    ))


def lock_subscriber(db: Session, subscriber_id: int) -> Subscriber | None:
    """The active subscriber, locked for this transaction; None when another worker holds it.

    The subscriber row, not the publication rows, is what is locked: a worker owns a
    subscriber's whole queue, so that a second worker cannot skip its locked head and send
    the next event first. NO KEY UPDATE (not UPDATE) so that the identity service can still
    insert publications for it meanwhile (their foreign key takes a KEY SHARE lock). SQLite
    ignores the clause: one worker there.
    """
    return db.scalar(
        select(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.active.is_(True))
        .with_for_update(skip_locked=True, key_share=True)
    )


def queue_head(db: Session, subscriber_id: int) -> Publication | None:
    """The subscriber's oldest pending publication, in event order: later ones wait for it."""
    return db.scalar(
        select(Publication)
        .where(Publication.subscriber_id == subscriber_id, Publication.status == PENDING)
        .order_by(Publication.link_event_id, Publication.id)
        .limit(1)
    )


def mark_sent(publication: Publication, at: datetime) -> None:
    publication.attempts += 1
    publication.status = SENT
    publication.sent_at = at
    publication.last_error = ""


def mark_failed(publication: Publication, error: str, at: datetime, *, initial: float, maximum: float) -> None:
    """Still pending: retried after an exponential delay, until acknowledged."""
    publication.attempts += 1
    publication.last_error = error[:MAX_ERROR]
    publication.next_attempt_at = at + backoff(publication.attempts, initial, maximum)


# --------------------------------------------------------------------------- what to tell


@dataclass(frozen=True)
class IdentityView:
    """A local identity as receivers need it. `ght_id` is its GHT patient as the event left
    it (not as it may be later: later events are published after this one)."""

    identity_id: int
    finess: str
    ipp: str
    ght_id: str | None
    birth_name: str
    first_given_name: str
    given_names: str
    used_name: str
    used_given_name: str
    birth_date: date | None
    sex: str
    status: str
    flags: tuple[str, ...]
    ins: str | None  # only when RNIV allows it to leave (qualified, neither doubtful nor fictitious)
    ins_oid: str | None


@dataclass(frozen=True)
class PatientView:
    """A GHT patient; `person` is one of its identities, for the demographics a message needs."""

    ght_id: str
    active: bool
    person: IdentityView | None


@dataclass(frozen=True)
class LinkChange:
    kind: str  # link, unlink
    identity: IdentityView
    patient: PatientView  # the GHT patient linked to, or unlinked from


@dataclass(frozen=True)
class MergeChange:
    survivor: PatientView
    absorbed: PatientView


@dataclass(frozen=True)
class Notice:
    """What one link event tells the establishments' systems."""

    event_id: int
    action: str  # link, unlink, merge, unmerge
    at: datetime
    actor: str
    reason: str
    links: tuple[LinkChange, ...] = ()
    merge: MergeChange | None = None  # the merge done, or for an unmerge the merge undone

    def patients(self) -> list[PatientView]:
        """The GHT patients involved, each once, in order of appearance."""
        found: dict[str, PatientView] = {}
        if self.merge:
            for patient in (self.merge.survivor, self.merge.absorbed):
                found.setdefault(patient.ght_id, patient)
        for change in self.links:
            found.setdefault(change.patient.ght_id, change.patient)
        return list(found.values())


def describe(db: Session, link_event: LinkEvent) -> Notice:
    """The notice of a link event. Link and unlink: one change for the identity (a move, from
    one patient to another, is told by the one change: the identity carries its new GHT id).
    Merge: the survivor and the absorbed patient. Unmerge: an unlink from the survivor for
    each identity the unmerge moved back (each carrying the reopened patient's id), and the
    two patients of the merge undone (`merge`, its absorbed one active again)."""
    base = dict(event_id=link_event.id, action=link_event.action, at=link_event.at,
                actor=link_event.actor, reason=link_event.reason)
    ids = [int(i) for i in (link_event.details or {}).get("identities", [])]
    if link_event.action == "merge":
        survivor = _patient_view(db, link_event.to_patient, ids)
        absorbed = _patient_view(db, link_event.from_patient, ids, active=False)
        return Notice(**base, merge=MergeChange(survivor, absorbed))
    if link_event.action == "unmerge":
        survivor = _patient_view(db, link_event.from_patient, ())
        reopened = _patient_view(db, link_event.to_patient, ids)
        links = tuple(
            LinkChange("unlink", view, survivor)
            for view in _identity_views(db, ids, link_event.to_patient)
        )
        return Notice(**base, links=links, merge=MergeChange(survivor, reopened))
    if link_event.identity_id is None:
        return Notice(**base)
    views = _identity_views(db, [link_event.identity_id], link_event.to_patient)
    if link_event.action == "link" and link_event.to_patient and views:
        return Notice(**base, links=(LinkChange("link", views[0], _patient_view(db, link_event.to_patient, [])),))
    if link_event.action == "unlink" and link_event.from_patient and views:
        return Notice(**base, links=(LinkChange("unlink", views[0], _patient_view(db, link_event.from_patient, [])),))
    return Notice(**base)


def _identity_views(db: Session, identity_ids: Sequence[int], ght_id: str | None) -> list[IdentityView]:
    if not identity_ids:
        return []
    rows = db.execute(
        select(LocalIdentity, Establishment.finess_ej)
        .join(Establishment, Establishment.id == LocalIdentity.establishment_id)
        .where(LocalIdentity.id.in_(identity_ids))
        .order_by(LocalIdentity.id)
    ).all()
    return [_view(identity, finess, ght_id) for identity, finess in rows]


def _view(identity: LocalIdentity, finess: str, ght_id: str | None) -> IdentityView:
    flags = tuple(identity.flags.split())
    shareable = identity.ins_valid and may_share_ins(Status(identity.status), set(flags))
    return IdentityView(
        identity_id=identity.id, finess=finess, ipp=identity.ipp, ght_id=ght_id,
        birth_name=identity.birth_name, first_given_name=identity.first_given_name,
        given_names=identity.given_names, used_name=identity.used_name,
        used_given_name=identity.used_given_name, birth_date=identity.birth_date, sex=identity.sex,
        status=identity.status, flags=flags,
        ins=identity.ins if shareable else None, ins_oid=identity.ins_oid if shareable else None,
    )


def _patient_view(db: Session, ght_id: str, fallback_ids: Sequence[int], *, active: bool = True) -> PatientView:
    """The patient and one identity of it: its first active one, else the first of
    `fallback_ids` (an absorbed patient has none left: those the merge moved). `active` is
    as the event left it (false for the patient a merge absorbed)."""
    row = db.execute(
        select(LocalIdentity, Establishment.finess_ej)
        .join(Establishment, Establishment.id == LocalIdentity.establishment_id)
        .where(LocalIdentity.patient_id == ght_id, LocalIdentity.active.is_(True))
        .order_by(LocalIdentity.id).limit(1)
    ).first()
    person = _view(row[0], row[1], ght_id) if row else None
    if person is None and fallback_ids:
        views = _identity_views(db, fallback_ids[:1], ght_id)
        person = views[0] if views else None
    return PatientView(ght_id=ght_id, active=active, person=person)


register_publication_hooks()


def add_subscriber(db: Session, finess: str, name: str, kind: str, endpoint: str) -> Subscriber:
    """Register a system of an establishment to notify; checked before anything is stored."""
    from urllib.parse import urlsplit

    from ght.identity.service import IdentityRejected, establishment_by_finess

    establishment = establishment_by_finess(db, finess)
    if kind == "mllp":
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise IdentityRejected("endpoint", f"adresse MLLP attendue sous la forme hôte:port, reçu « {endpoint} »")
    elif kind == "fhir":
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise IdentityRejected("endpoint", f"URL http(s) attendue pour un abonné FHIR, reçu « {endpoint} »")
    else:
        raise IdentityRejected("kind", f"type d'abonné inconnu « {kind} » (mllp ou fhir)")
    if not name.strip():
        raise IdentityRejected("name", "nom de l'abonné absent")
    subscriber = Subscriber(establishment_id=establishment.id, name=name.strip(), kind=kind, endpoint=endpoint)
    db.add(subscriber)
    db.flush()
    return subscriber
