"""Pairwise evaluation of a linkage against the ground truth (`ght identity evaluate`)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

Key = tuple[str, str]


@dataclass(frozen=True)
class Evaluation:
    identities: int
    true_pairs: int
    predicted_pairs: int
    true_positives: int
    false_merges: list[tuple[Key, Key]]  # linked, yet two different persons
    missed_links: list[tuple[Key, Key]]  # the same person, left apart
    review_queue: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(groups: dict[str, list[Key]]) -> set[tuple[Key, Key]]:
    return {tuple(sorted(pair)) for members in groups.values() for pair in combinations(sorted(members), 2)}


def _read(path: Path, group_column: str, required: tuple[str, ...]) -> tuple[dict[Key, str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} : colonne(s) absente(s) : {', '.join(missing)}")
        rows = list(reader)
    return {(r["source"], r["local_id"]): r[group_column] for r in rows}, rows


def evaluate(links: Path, truth: Path) -> Evaluation:
    predicted, link_rows = _read(links, "patient_id", ("source", "local_id", "patient_id", "decision"))
    actual, _ = _read(truth, "person_id", ("source", "local_id", "person_id"))
    unknown = [k for k in predicted if k not in actual]
    if unknown:
        raise ValueError(f"{len(unknown)} identité(s) du fichier de liens absente(s) de la vérité terrain, dont {unknown[0][0]}/{unknown[0][1]}")
    keys = set(predicted)
    by_patient, by_person = defaultdict(list), defaultdict(list)
    for key in keys:
        by_patient[predicted[key]].append(key)
        by_person[actual[key]].append(key)
    predicted_pairs, true_pairs = _pairs(by_patient), _pairs(by_person)
    return Evaluation(
        identities=len(keys), true_pairs=len(true_pairs), predicted_pairs=len(predicted_pairs),
        true_positives=len(predicted_pairs & true_pairs),
        false_merges=sorted(predicted_pairs - true_pairs), missed_links=sorted(true_pairs - predicted_pairs),
        review_queue=sum(1 for r in link_rows if r["decision"] == "review"),
    )
