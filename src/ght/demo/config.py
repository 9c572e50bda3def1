"""Settings of the synthetic territory: size, seed, reference date, identity error rates."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum


class ErrorCode(StrEnum):
    """Identity errors injected in local identities, as written in ground_truth.csv."""

    TYPO = "typo"  # one substitution (AZERTY neighbour), transposition or deletion in a name
    ACCENTS_LOST = "accents_lost"  # every diacritic of the names dropped
    DAY_MONTH_SWAPPED = "day_month_swapped"  # birth date keyed as yyyy-dd-mm
    MARRIED_NAME_AS_BIRTH_NAME = "married_name_as_birth_name"  # spouse's name in the birth name
    GIVEN_NAMES_ALTERED = "given_names_altered"  # compound split/joined, or first given name only
    INS_MISSING = "ins_missing"  # INS never retrieved although the identity is not provisional
    PROVISIONAL = "provisional"  # identity provisoire: no document checked, INS absent or unverified
    DUPLICATE = "duplicate"  # a second local identity of the person at the same establishment


@dataclass(frozen=True, slots=True)
class IdentityErrorRates:
    """Probability of each error per local identity, among the identities it can apply to.

    The defaults are of the order reported by identity-vigilance audits of French
    hospitals before the INS (manually keyed traits, legacy GAM): a few percent of typing
    errors, accents often lost by older software, married names keyed as birth names, a
    quarter of non-provisional identities still without a retrieved INS.
    """

    typo: float = 0.03  # every identity
    accents_lost: float = 0.15  # identities whose true names carry a diacritic
    day_month_swapped: float = 0.01  # identities whose true birth day is <= 12 and != month
    married_name_as_birth_name: float = 0.08  # identities of persons whose used name differs
    given_names_altered: float = 0.10  # identities with a compound or several given names
    ins_missing: float = 0.25  # identities that are not provisional
    provisional: float = 0.04  # every identity
    duplicate: float = 0.01  # persons: one more local identity at one of their establishments

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"rate {name} must be within [0, 1], got {value}")


# IPPs number index*4+slot within 10^8 (see records.EstContext.ipp); person ids have 7 digits.
MAX_PATIENTS = 9_999_999


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    patients: int = 2000
    seed: int = 0
    # Reference "today": ages, stay dates and document dates are computed from it, so that
    # the output does not depend on the day the generator runs.
    as_of: date = date(2025, 1, 1)
    rates: IdentityErrorRates = field(default_factory=IdentityErrorRates)
    # Pairs of true homonyms (same birth name, first given name, sex and birth date);
    # None: one pair per 2,000 persons, at least one when there are two persons or more.
    homonym_pairs: int | None = None
    # Processes that build persons; the output does not depend on it.
    workers: int = field(default_factory=_default_workers)
    # False: identities and ground truth only (no FHIR clinical resources), for quick runs.
    clinical: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.patients <= MAX_PATIENTS:
            raise ValueError(f"patients must be within [0, {MAX_PATIENTS}]")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.homonym_pairs is not None and self.homonym_pairs < 0:
            raise ValueError("homonym_pairs must be >= 0")

    @property
    def homonym_pair_count(self) -> int:
        if self.homonym_pairs is not None:
            return min(self.homonym_pairs, self.patients // 2)
        if self.patients < 2:
            return 0
        return max(1, self.patients // 2000)
