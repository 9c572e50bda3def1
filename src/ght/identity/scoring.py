"""Fellegi–Sunter scoring with stored parameters: match weight = prior weight + the sum of
log2(m/u) of each comparison's level (as Splink computes it, so a model trained there scores
the same here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.identity.comparisons import COMPARISONS
from ght.identity.features import Features
from ght.identity.models import MatchModel

# Starting parameters before any training on the territory's data: m and u of each level,
# in the order of ght.identity.comparisons, from the usual error rates of hospital feeds.
DEFAULT_PARAMETERS: dict = {
    "prior": 1e-5,
    "comparisons": {
        "birth_name": {"m": [0.80, 0.02, 0.08, 0.05, 0.03, 0.02], "u": [0.002, 0.0002, 0.002, 0.003, 0.03, 0.9628]},
        "given_names": {"m": [0.80, 0.09, 0.06, 0.03, 0.01, 0.01], "u": [0.01, 0.002, 0.002, 0.01, 0.001, 0.975]},
        "birth_date": {"m": [0.96, 0.01, 0.025, 0.005], "u": [0.00004, 0.00001, 0.003, 0.99695]},
        "sex": {"m": [0.995, 0.005], "u": [0.5, 0.5]},
        "birth_place": {"m": [0.93, 0.03, 0.04], "u": [0.01, 0.25, 0.74]},
        "postcode": {"m": [0.7, 0.3], "u": [0.02, 0.98]},
        "phone": {"m": [0.6, 0.4], "u": [0.0001, 0.9999]},
        "ins": {"m": [0.999, 0.001], "u": [0.000001, 0.999999]},
    },
    # Probabilities: at or above `link`, automatic link; at or above `review`, human review.
    "thresholds": {"link": 0.999, "review": 0.5},
}


@dataclass(frozen=True)
class Contribution:
    comparison: str
    label: str  # the comparison, in French
    level: int  # -1: null (a trait missing on one side)
    level_label: str
    weight: float


@dataclass(frozen=True)
class Score:
    weight: float  # match weight, log2 of the posterior odds
    probability: float
    contributions: tuple[Contribution, ...]


def probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** -weight) if weight > -1000 else 0.0


class ScoringModel:
    def __init__(self, parameters: dict):
        self.parameters = parameters
        prior = parameters["prior"]
        self.prior_weight = math.log2(prior / (1.0 - prior))
        self.level_weights: dict[str, list[float]] = {}
        for comparison in COMPARISONS:
            mu = parameters["comparisons"][comparison.name]
            if len(mu["m"]) != len(comparison.levels):
                # A model stored before this comparison gained a level: its weights would
                # land on the wrong levels, so the comparison scores with the starting values
                # until the model is trained again.
                mu = DEFAULT_PARAMETERS["comparisons"][comparison.name]
            self.level_weights[comparison.name] = [
                math.log2(max(m, 1e-12) / max(u, 1e-12)) for m, u in zip(mu["m"], mu["u"], strict=True)
            ]
        thresholds = parameters.get("thresholds", DEFAULT_PARAMETERS["thresholds"])
        self.link_threshold: float = thresholds["link"]
        self.review_threshold: float = thresholds["review"]

    def score(self, a: Features, b: Features) -> Score:
        total = self.prior_weight
        contributions = []
        for comparison in COMPARISONS:
            level = comparison.level_of(a, b)
            if level < 0:
                contributions.append(Contribution(comparison.name, comparison.label, -1, "absent", 0.0))
                continue
            weight = self.level_weights[comparison.name][level]
            total += weight
            contributions.append(
                Contribution(comparison.name, comparison.label, level, comparison.levels[level].label, weight)
            )
        return Score(total, probability(total), tuple(contributions))

    def decision(self, p: float) -> str:
        if p >= self.link_threshold:
            return "linked"
        if p >= self.review_threshold:
            return "review"
        return "new"


def active_model(db: Session) -> ScoringModel:
    row = db.scalar(select(MatchModel).where(MatchModel.active.is_(True)).order_by(MatchModel.id.desc()))
    return ScoringModel(row.parameters if row else DEFAULT_PARAMETERS)


def store_model(db: Session, parameters: dict, *, method: str, trained_on: int) -> MatchModel:
    for row in db.scalars(select(MatchModel).where(MatchModel.active.is_(True))):
        row.active = False
    row = MatchModel(method=method, trained_on=trained_on, parameters=parameters, active=True)
    db.add(row)
    db.flush()
    return row
