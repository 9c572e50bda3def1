"""The synthetic territory's PMSI MCO files (ght.dim): for the month before `as_of`, one RSS
file (format 023) per establishment, with the establishment's stay → IPP correspondence.

Each person draws from their own stream (STREAM_PMSI, so the other streams do not shift):
whether they were hospitalised that month, the day, the length, the diagnosis; a person known
in several establishments is transferred from the first to the next, or readmitted there
later, so the territorial indicators have something to show."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from ght.demo.persons import STREAM_PMSI, person_rng
from ght.dim.format import LAYOUTS
from ght.dim.writer import rum_line

DIAGNOSES = ("I500", "J189", "K358", "E119", "C509", "S7200", "N390", "I214", "F100", "O800", "Z5101")
ACTS = {"K358": "HHFA016", "S7200": "NEKA012", "I214": "DDAF001", "C509": "QEFA003"}
HOSPITALISED = 0.3


def period_of(as_of: date) -> tuple[int, int]:
    last = as_of.replace(day=1) - timedelta(days=1)
    return last.year, last.month


def write(out: Path, seed: int, as_of: date) -> dict[str, int]:
    """Write pmsi/<FINESS>-<AAAAMM>.rss and .ipp.csv; the number of lines of each file."""
    year, month = period_of(as_of)
    first = date(year, month, 1)
    identities = defaultdict(list)  # person_id → [(finess, ipp, birth_date, sex)]
    with open(out / "identities.csv", newline="", encoding="utf-8") as ids, \
            open(out / "ground_truth.csv", newline="", encoding="utf-8") as truth:
        for identity, row in zip(csv.DictReader(ids), csv.DictReader(truth), strict=True):
            if identity["birth_date"]:
                identities[row["person_id"]].append((identity["source"], identity["local_id"],
                                                     date.fromisoformat(identity["birth_date"]), identity["sex"]))
    lines, correspondence = defaultdict(list), defaultdict(list)
    layout = LAYOUTS[("023", False)]
    for person, known in sorted(identities.items()):
        rng = person_rng(seed, int("".join(c for c in person if c.isdigit()) or 0), STREAM_PMSI)
        if rng.random() >= HOSPITALISED:
            continue
        day = first + timedelta(days=rng.below(20))
        for order, (finess, ipp, born, sex) in enumerate(known[:2]):
            length = rng.below(6)
            dp = DIAGNOSES[rng.below(len(DIAGNOSES))]
            transfer = order == 0 and len(known) > 1 and rng.random() < 0.5
            end = min(day + timedelta(days=length), first.replace(day=28))
            nas = f"{year % 100:02d}{month:02d}{len(lines[finess]) + 1:06d}"
            values = dict(finess=finess, rss=nas, nas=nas, rum="1", naissance=born, sexe="1" if sex == "M" else "2",
                          um=f"{1000 + rng.below(8)}", date_entree=day, mode_entree="7" if order and transfer else "8",
                          provenance="1" if order and transfer else "", date_sortie=end,
                          mode_sortie="7" if transfer else "8", destination="1" if transfer else "",
                          residence="49000", dp=dp)
            acts = [dict(date=day, code=ACTS[dp], phase="0", activite="1", executions=1)] if dp in ACTS else []
            lines[finess].append(rum_line(layout, values, acts=acts))
            correspondence[finess].append(f"{nas};{ipp}")
            day = end if transfer else end + timedelta(days=2 + rng.below(5))
            if day.month != month:
                break
    folder = out / "pmsi"
    folder.mkdir(exist_ok=True)
    counts = {}
    for finess, rows in lines.items():
        stem = f"{finess}-{year:04d}{month:02d}"
        (folder / f"{stem}.rss").write_bytes(("".join(r + "\n" for r in rows)).encode("latin-1"))
        (folder / f"{stem}.ipp.csv").write_text("nas;ipp\n" + "\n".join(correspondence[finess]) + "\n")
        counts[f"pmsi/{stem}.rss"] = len(rows)
    return counts
