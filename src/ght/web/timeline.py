"""The patient's record as the page shows it: one timeline of stays, visits, results, imaging and
documents of every establishment, and the lab results per analyte. Pure functions of the record's
rows (already decided by the gate): no database here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ght.record.indexing import parse_date_range

# The resource types of the timeline and the filter's labels.
KINDS = {
    "Encounter": "Séjours et consultations",
    "DiagnosticReport": "Résultats et comptes rendus",
    "ImagingStudy": "Imagerie",
    "DocumentReference": "Documents",
}
TIMELINE_TYPES = (*KINDS, "Observation")
_CLASS_LABELS = {"IMP": "Hospitalisation", "AMB": "Consultation", "EMER": "Urgences", "HH": "Hospitalisation à domicile"}


@dataclass(frozen=True)
class Item:
    when: datetime | None
    kind: str  # the resource type
    label: str  # what it is, in French
    title: str
    source_id: int | None  # establishment
    reference: str  # Type/id
    link: str | None = None  # a document to open, a viewer


@dataclass
class Analyte:
    code: str
    name: str
    unit: str
    points: list[tuple[datetime, float, int | None]] = field(default_factory=list)  # (when, value, source)
    low: float | None = None
    high: float | None = None


def instant(body: dict, *paths: str) -> datetime | None:
    """The first date of the resource at one of `paths` ("period.start", "effectiveDateTime"...)."""
    for path in paths:
        value = body
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and (span := parse_date_range(value)):
            return span[0]
    return None


def _text(concept) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return concept["text"]
    codings = concept.get("coding") or [{}]
    return codings[0].get("display") or codings[0].get("code") or ""


def item_of(row, patient_id: str, viewers: dict[str, str]) -> Item | None:
    """The timeline item of a record row (resource_type, fhir_id, source_establishment_id, body);
    `viewers`: Endpoint id -> address, for imaging."""
    body, kind, fid = row.body, row.resource_type, row.fhir_id
    reference = f"{kind}/{fid}"
    if kind == "Encounter":
        klass = (body.get("class") or {}).get("code", "")
        reasons = body.get("reasonCode") or [{}]
        unit = ((body.get("location") or [{}])[0].get("location") or {}).get("display", "")
        title = " · ".join(t for t in (_text(reasons[0]), unit) if t)
        return Item(instant(body, "period.start"), kind, _CLASS_LABELS.get(klass, "Venue"), title, row.source_establishment_id,
                    reference)
    if kind == "DiagnosticReport":
        label = "Compte rendu d'imagerie" if body.get("imagingStudy") else "Résultats de biologie"
        title = _text(body.get("code")) + (f" — {body['conclusion']}" if body.get("conclusion") else "")
        return Item(instant(body, "effectiveDateTime", "issued"), kind, label, title, row.source_establishment_id, reference,
                    "#biologie" if label == "Résultats de biologie" else None)
    if kind == "ImagingStudy":
        modalities = ", ".join(m.get("code", "") for m in body.get("modality") or [])
        endpoint = ((body.get("endpoint") or [{}])[0].get("reference") or "").split("/")[-1]
        viewer = viewers.get(endpoint)
        uid = (body.get("identifier") or [{}])[0].get("value", "").removeprefix("urn:oid:")
        link = f"{viewer}/studies/{uid}" if viewer and uid else viewer
        return Item(instant(body, "started"), kind, "Imagerie", " · ".join(t for t in (modalities, body.get("description", "")) if t),
                    row.source_establishment_id, reference, link)
    if kind == "DocumentReference":
        title = body.get("description") or _text(body.get("type"))
        return Item(instant(body, "date", "context.period.start"), kind, "Document", title, row.source_establishment_id,
                    reference, f"/patients/{patient_id}/documents/{fid}")
    return None


def in_period(when: datetime | None, start: date | None, end: date | None) -> bool:
    if when is None:
        return start is None and end is None
    return (start is None or when.date() >= start) and (end is None or when.date() <= end)


def analytes(rows) -> list[Analyte]:
    """Lab results with a quantity, grouped by code, oldest first (the table and the trend)."""
    found: dict[str, Analyte] = {}
    for row in rows:
        body = row.body
        quantity = body.get("valueQuantity")
        coding = ((body.get("code") or {}).get("coding") or [{}])[0]
        when = instant(body, "effectiveDateTime", "issued")
        if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float) or when is None:
            continue
        code = coding.get("code") or _text(body.get("code"))
        analyte = found.get(code)
        if analyte is None:
            ranges = (body.get("referenceRange") or [{}])[0]
            analyte = found[code] = Analyte(code, _text(body.get("code")) or code, quantity.get("unit", ""),
                                            low=(ranges.get("low") or {}).get("value"),
                                            high=(ranges.get("high") or {}).get("value"))
        analyte.points.append((when, float(quantity["value"]), row.source_establishment_id))
    for analyte in found.values():
        analyte.points.sort(key=lambda p: p[0])
    return sorted(found.values(), key=lambda a: a.name)


def trend_svg(analyte: Analyte, width: int = 320, height: int = 90) -> str:
    """A small inline SVG of the analyte's values over time, the reference range shaded: no
    chart library for one line per analyte."""
    points = analyte.points
    values = [v for _, v, _ in points] + [x for x in (analyte.low, analyte.high) if x is not None]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    duration = (t1 - t0) or 1.0
    pad = 6

    def x(t: float) -> float:
        return pad + (t - t0) / duration * (width - 2 * pad) if len(points) > 1 else width / 2

    def y(v: float) -> float:
        return height - pad - (v - low) / span * (height - 2 * pad)

    parts = [f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="Évolution : {analyte.name}, {len(points)} valeur(s)">']
    if analyte.low is not None and analyte.high is not None:
        parts.append(f'<rect x="0" y="{y(analyte.high):.1f}" width="{width}" height="{y(analyte.low) - y(analyte.high):.1f}" '
                     'class="range"/>')
    line = " ".join(f"{x(p[0].timestamp()):.1f},{y(p[1]):.1f}" for p in points)
    parts.append(f'<polyline points="{line}" class="line"/>')
    parts += [f'<circle cx="{x(p[0].timestamp()):.1f}" cy="{y(p[1]):.1f}" r="2.5" class="dot"/>' for p in points]
    parts.append("</svg>")
    return "".join(parts)
