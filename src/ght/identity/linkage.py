"""Online linkage of one identity: candidates from indexed blocking keys (never a full scan),
Fellegi–Sunter score against each, the INS rules, then link, review or new patient."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from ght.identity.comparisons import DIFFERENT, vetoed
from ght.identity.features import FEATURE_COLUMNS, Features, blocking_keys, features
from ght.identity.models import BlockingKey, IdentityFeatures, LinkEvent, LocalIdentity, ReviewItem
from ght.identity.scoring import Score, ScoringModel, active_model
from ght.identity.status import Status


def identity_features(identity: LocalIdentity) -> Features:
    return features(
        birth_name=identity.birth_name, used_name=identity.used_name,
        given_names=identity.given_names, birth_date=identity.birth_date, sex=identity.sex,
        birth_place=identity.birth_place, postcode=identity.postcode, phone=identity.phone,
        ins=identity.ins, ins_valid=identity.ins_valid,
    )


def reindex(db: Session, identity: LocalIdentity, f: Features | None = None, *, new: bool = False) -> None:
    """Rewrite the identity's blocking keys and stored features from its current traits (a
    `new` identity, just flushed, has none to delete yet). Core statements: no ORM
    bookkeeping needed."""
    if not new:
        db.flush()
    connection = db.connection()
    keys_table, features_table = BlockingKey.__table__, IdentityFeatures.__table__
    if not new:
        connection.execute(delete(keys_table).where(keys_table.c.identity_id == identity.id))
        connection.execute(delete(features_table).where(features_table.c.identity_id == identity.id))
    if not identity.active:
        return
    f = f or identity_features(identity)
    connection.execute(insert(features_table), [{"identity_id": identity.id, **feature_values(f)}])
    keys = blocking_keys(f)
    if keys:
        connection.execute(insert(keys_table), [{"key": k, "identity_id": identity.id} for k in keys])


def feature_values(f: Features) -> dict[str, str]:
    return {name: getattr(f, name) for name in FEATURE_COLUMNS}


def _candidate_ids(keys: list[str]):
    return select(BlockingKey.identity_id).where(BlockingKey.key.in_(keys)).distinct()


def candidates(db: Session, f: Features, exclude: int | None) -> list[LocalIdentity]:
    keys = blocking_keys(f)
    if not keys:
        return []
    query = select(LocalIdentity).where(LocalIdentity.id.in_(_candidate_ids(keys)), LocalIdentity.active.is_(True))
    if exclude is not None:
        query = query.where(LocalIdentity.id != exclude)
    return list(db.scalars(query))


class Candidate(NamedTuple):
    """What the online matcher needs of a candidate: one row of one query, features stored."""

    id: int
    patient_id: str
    ins: str | None
    ins_valid: bool
    status: str
    features: Features


# Built once: only the list of keys changes between calls (an expanding parameter), so the
# statement is neither rebuilt nor recompiled for each new identity.
_CANDIDATES = (
    select(LocalIdentity.id, LocalIdentity.patient_id, LocalIdentity.ins, LocalIdentity.ins_valid,
           LocalIdentity.status, *(IdentityFeatures.__table__.c[name] for name in FEATURE_COLUMNS))
    .join(IdentityFeatures, IdentityFeatures.identity_id == LocalIdentity.id)
    .where(LocalIdentity.id.in_(select(BlockingKey.identity_id)
                                .where(BlockingKey.key.in_(bindparam("keys", expanding=True))).distinct()),
           LocalIdentity.active.is_(True))
)


def candidate_rows(db: Session, f: Features) -> list[Candidate]:
    """The active identities sharing a blocking key with `f`, with their stored features."""
    keys = blocking_keys(f)
    if not keys:
        return []
    return [Candidate(*row[:5], Features(*row[5:])) for row in db.connection().execute(_CANDIDATES, {"keys": keys})]


def strict_traits_contradict(score: Score) -> bool:
    """Two identities that share a qualified INS yet cannot be the same person: a collision."""
    level = {c.comparison: c.level for c in score.contributions}
    return (
        level["birth_date"] >= 2  # neither the same date nor day/month swapped
        or level["sex"] == 1
        or (level["birth_name"] == DIFFERENT["birth_name"] and level["given_names"] == DIFFERENT["given_names"])
    )


def _review(db: Session, kind: str, a: LocalIdentity, b: LocalIdentity | Candidate, score: Score | None) -> None:
    db.add(ReviewItem(
        kind=kind, identity_a=a.id, identity_b=b.id,
        score=score.weight if score else None, probability=score.probability if score else None,
        contributions={c.comparison: {"level": c.level, "label": c.level_label, "weight": round(c.weight, 3)}
                       for c in score.contributions} if score else {},
    ))


def _link_event(db, action, identity, to_patient, *, actor, channel, reason="", score=None, from_patient=None):
    db.add(LinkEvent(
        action=action, identity_id=identity.id, from_patient=from_patient, to_patient=to_patient,
        actor=actor, channel=channel, reason=reason, score=score,
    ))


def _vetoed(score: Score) -> bool:
    return vetoed({c.comparison: c.level for c in score.contributions})


def _ins_relation(identity: LocalIdentity, other: LocalIdentity | Candidate) -> str | None:
    """"same_qualified" when both are qualified with the same INS, "different" when both carry
    a valid INS and they differ, else None (the INS then only weighs in the score)."""
    if not (identity.ins_valid and other.ins_valid):
        return None
    if identity.ins != other.ins:
        return "different"
    if identity.status == Status.QUAL and other.status == Status.QUAL:
        return "same_qualified"
    return None


def link_new_identity(db: Session, identity: LocalIdentity, *, actor: str, channel: str,
                      model: ScoringModel | None = None) -> str:
    """Attach a new identity to a GHT patient; returns the decision (linked, review, new)."""
    from ght.identity.service import new_patient

    model = model or active_model(db)
    f = identity_features(identity)
    scored = [(c, model.score(f, c.features)) for c in candidate_rows(db, f)]
    scored.sort(key=lambda pair: pair[1].weight, reverse=True)

    target: tuple[Candidate, Score, str] | None = None
    alerts: list[tuple[str, Candidate, Score]] = []
    eligible: list[tuple[Candidate, Score]] = []
    for candidate, score in scored:
        relation = _ins_relation(identity, candidate)
        if relation == "same_qualified":
            # Same qualified INS: the same person, unless strict traits say otherwise.
            if strict_traits_contradict(score):
                alerts.append(("ins_collision", candidate, score))
            elif target is None:
                target = (candidate, score, "INS qualifié identique")
        elif relation == "different":
            # Two valid, different INS: never linked automatically (twins share the rest).
            if score.probability >= model.review_threshold:
                alerts.append(("ins_conflict", candidate, score))
        else:
            eligible.append((candidate, score))
    if target is None:
        linkable = [(c, s) for c, s in eligible if s.probability >= model.link_threshold and not _vetoed(s)]
        if len({c.patient_id for c, _ in linkable}) == 1:
            target = (linkable[0][0], linkable[0][1], "score")
        else:  # none, or two different patients: a person must choose
            alerts += [("doubtful_pair", c, s) for c, s in linkable[:3]]
    if target is None:
        doubtful = [(c, s) for c, s in eligible if model.review_threshold <= s.probability
                    and (s.probability < model.link_threshold or _vetoed(s))]
        alerts += [("doubtful_pair", c, s) for c, s in doubtful[:3]]

    if target is not None:
        identity.patient_id = target[0].patient_id
    else:
        identity.patient = new_patient(db)
    db.add(identity)
    db.flush()
    _link_event(
        db, "link", identity, identity.patient_id, actor=actor, channel=channel,
        reason=target[2] if target else "nouveau patient", score=target[1].weight if target else None,
    )
    for kind, candidate, score in alerts:
        _review(db, kind, identity, candidate, score)
    reindex(db, identity, f, new=True)
    if target is not None:
        return "linked"
    return "review" if any(kind == "doubtful_pair" for kind, _, _ in alerts) else "new"


def recheck_after_update(db: Session, identity: LocalIdentity, changed: set[str], *, actor: str, channel: str) -> None:
    """After a change of traits, question the identity's links; never move it automatically."""
    compared = {"birth_name", "used_name", "given_names", "birth_date", "sex", "birth_place",
                "postcode", "phone", "ins", "ins_valid"}
    if not changed & compared:
        return
    model = active_model(db)
    f = identity_features(identity)
    open_pairs = {
        (r.identity_a, r.identity_b) for r in db.scalars(
            select(ReviewItem).where(ReviewItem.status == "open",
                                     (ReviewItem.identity_a == identity.id) | (ReviewItem.identity_b == identity.id))
        )
    }
    mates = db.scalars(select(LocalIdentity).where(
        LocalIdentity.patient_id == identity.patient_id, LocalIdentity.id != identity.id,
        LocalIdentity.active.is_(True)))
    for mate in mates:
        score = model.score(f, identity_features(mate))
        if f.ins and mate.ins_valid and mate.ins != identity.ins:
            kind = "ins_collision"  # two different INS in one patient
        elif score.probability < model.review_threshold:
            kind = "doubtful_pair"
        else:
            continue
        if (identity.id, mate.id) not in open_pairs:
            _review(db, kind, identity, mate, score)
    for candidate in candidate_rows(db, f):
        if candidate.patient_id == identity.patient_id:
            continue
        score = model.score(f, candidate.features)
        if score.probability >= model.review_threshold and (identity.id, candidate.id) not in open_pairs:
            _review(db, "doubtful_pair", identity, candidate, score)
