"""The day's arrivals of the demo: a few identities typed at a reception desk after the initial
load, each of a person already known in another establishment of the group, entered with a
frequent capture error (the day of birth off by one, only the first given name, no address)
and no INS yet (the INSi call comes later). (A day and month inverted is not enough: the
matcher's date comparator recognises the inversion and links.) The matcher cannot link them with
confidence: they wait in the identity-vigilance review queue, as in a real territory."""

from __future__ import annotations

import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ght.directory.models import Establishment
from ght.identity import service
from ght.identity.models import LocalIdentity

ACTOR = "ght demo (admissions du jour)"


def arrival_count(persons: int) -> int:
    return max(3, min(50, persons // 100))


def _mistyped(identity: LocalIdentity):
    born = identity.birth_date
    return born.replace(day=born.day + 1 if born.day < 28 else born.day - 1)


def register_arrivals(db: Session, *, persons: int, seed: int) -> int:
    """Record the arrivals through the identity server, as a hospital feed would; returns how
    many landed in the review queue."""
    rng = random.Random(f"arrivals-{seed}")
    establishments = list(db.scalars(select(Establishment).order_by(Establishment.id)))
    single = (select(LocalIdentity.patient_id).group_by(LocalIdentity.patient_id).having(func.count() == 1))
    known = list(db.scalars(select(LocalIdentity).where(
        LocalIdentity.patient_id.in_(single), LocalIdentity.birth_date.is_not(None), LocalIdentity.birth_name != "")
        .order_by(LocalIdentity.establishment_id, LocalIdentity.ipp)))
    in_review = 0
    for identity in rng.sample(known, min(arrival_count(persons), len(known))):
        elsewhere = rng.choice([e for e in establishments if e.id != identity.establishment_id])
        ipp = f"9{rng.randrange(10**8):08d}"
        if service.find_identity(db, elsewhere, ipp) is not None:
            continue
        result = service.record_identity(db, service.IdentityInput(
            finess=elsewhere.finess_ej, ipp=ipp, birth_name=identity.birth_name,
            given_names=identity.first_given_name or identity.given_names.split()[0],
            birth_date=_mistyped(identity), sex=identity.sex,
        ), actor=ACTOR, channel="demo")
        in_review += result.decision == "review"
    return in_review
