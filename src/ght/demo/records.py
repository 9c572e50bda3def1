"""Per-person work: local identities (with their injected errors) and clinical records.

`new_context` builds, in each worker, what the per-person work needs; `build_chunk` turns
a range of person indexes into the lines of every output file. A person's traits, local
identities and clinical records are drawn, in that order, from one RNG derived from
(seed, person index): the identity files are the same whether or not clinical data is
generated, and do not depend on how persons are split between workers.
"""

from __future__ import annotations

import csv
import gc
import io
import math
from binascii import b2a_base64
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import orjson

from ght.demo import clinical as cl
from ght.demo import fhir
from ght.demo.config import ErrorCode, IdentityErrorRates
from ght.demo.model import Establishment, Professional
from ght.demo.pdf import render
from ght.demo.care_teams import Town, build_town, care_team
from ght.demo.persons import STREAM_CARE_TEAM, STREAM_IPP, FastRandom, PersonPlan, TruePerson, person_rng
from ght.demo.tables import tables
from ght.demo.territory import TECHNICAL_SPECIALTIES
from ght.directory.vocab import EstablishmentRole
from ght.identity.ins import INS_NIR_DEMO_SYSTEM

IDENTITIES_HEADER = ("source", "local_id", "birth_name", "used_name", "given_names", "birth_date",
                     "sex", "birth_place", "ins", "address", "postcode", "city", "phone")
GROUND_TRUTH_HEADER = ("source", "local_id", "person_id", "identity_status", "errors", "homonym_of")
PERSONS_HEADER = ("person_id", "birth_name", "used_name", "given_names", "birth_date", "sex",
                  "birth_place", "birth_place_name", "ins", "address", "postcode", "city", "phone",
                  "homonym_of")
RESOURCE_TYPES = ("Patient", "Encounter", "Observation", "DiagnosticReport", "ImagingStudy",
                  "DocumentReference", "CareTeam")

_ERROR_ORDER = {code: i for i, code in enumerate(ErrorCode)}

# ---------------------------------------------------------------------------------------
# Establishments as the workers need them
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Doctor:
    id: str
    idnps: str
    display: str


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    specialty: str
    activity: str
    site_name: str
    site_et: str
    location_id: str


@dataclass(slots=True)
class EstContext:
    index: int
    ej: str
    name: str
    short_name: str
    psychiatric: bool
    units: list[Unit]
    doctors_by_uf: dict[str, list[Doctor]]
    doctors: list[Doctor]
    radiologists: list[Doctor]
    pacs_et: str | None  # FINESS ET of the site whose PACS stores the images
    ipp_prefix: int
    ipp_keys: tuple[tuple[int, int], ...]  # Feistel round keys (xor, odd multiplier)
    source: str = ""
    org_ref: dict[str, str] = field(default_factory=dict)
    _unit_cache: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.source = fhir.source(self.ej)
        self.org_ref = {"reference": f"Organization/ej-{self.ej}", "display": self.name}

    def ipp(self, index: int, slot: int) -> str:
        """A 9-digit IPP: the establishment's digit, then a keyed permutation of
        index*4+slot over 10^8 (a Feistel network on two 4-digit halves), so numbers are
        unique in the establishment yet do not follow the persons' order."""
        value = index * 4 + slot
        left, right = divmod(value, 10_000)
        for xor, multiplier in self.ipp_keys:
            # Any round function keeps the network a bijection; this one just mixes.
            mixed = (((right ^ xor) * multiplier) >> 7) ^ right
            left, right = right, (left + mixed) % 10_000
        return f"{self.ipp_prefix}{left:04d}{right:04d}"

    def units_for(self, group: str, klass: str) -> list[Unit]:
        key = (group, klass)
        found = self._unit_cache.get(key)
        if found is None:
            found = [u for u in self.units if _unit_fits(u, group, klass)]
            if not found:
                found = [u for u in self.units if _unit_fits(u, "adult", klass)]
            if not found and klass != "EMER":
                found = [u for u in self.units if u.specialty not in _TECHNICAL
                         and u.activity != "URG"]
            self._unit_cache[key] = found
        return found


_TECHNICAL = TECHNICAL_SPECIALTIES
_CHILD_SPECIALTIES = frozenset({"Pédiatrie", "Pédopsychiatrie"})
_NO_CONSULTATION = frozenset({"Réanimation"})


def _unit_fits(unit: Unit, group: str, klass: str) -> bool:
    if unit.specialty in _TECHNICAL:
        return False
    if klass == "EMER":
        if unit.activity != "URG":
            return False
    elif unit.activity == "URG":
        return False
    if klass == "AMB" and (unit.activity in ("SSR", "HAD") or unit.specialty in _NO_CONSULTATION
                           or unit.name.startswith("Soins intensifs")):
        return False
    child_unit = unit.specialty in _CHILD_SPECIALTIES
    if group == "child":
        return child_unit  # units_for falls back to adult units where there is none
    if child_unit:
        return False
    if unit.specialty == "Gynécologie-obstétrique":
        return group == "woman"
    if unit.specialty == "Gériatrie":
        return group == "elderly"
    return True


def build_est_contexts(establishments: list[Establishment], professionals: list[Professional],
                       seed: int) -> list[EstContext]:
    by_ej: dict[str, list[tuple[Professional, str | None]]] = {}
    for pro in professionals:
        for ex in pro.exercises:
            by_ej.setdefault(ex.finess_ej, []).append((pro, ex.uf_code))
    rng = person_rng(seed, 0, STREAM_IPP)
    out = []
    for index, est in enumerate(establishments):
        units = [Unit(uf.code, uf.name, uf.specialty, uf.activity, site.name, site.finess_et,
                      f"uf-{est.finess_ej}-{uf.code}")
                 for site in est.sites for uf in site.units]
        doctors_by_uf: dict[str, list[Doctor]] = {}
        doctors: list[Doctor] = []
        radiologists: list[Doctor] = []
        for pro, uf_code in by_ej.get(est.finess_ej, []):
            if pro.profession != "medecin" or pro.role != "clinician":
                continue
            doc = Doctor(fhir.practitioner_id(pro), fhir.idnps(pro),
                         f"Dr {pro.given_name.title()} {pro.family_name}")
            doctors.append(doc)
            if uf_code:
                doctors_by_uf.setdefault(uf_code, []).append(doc)
            if pro.specialty == "Radiologie":
                radiologists.append(doc)
        pacs = fhir.pacs_sites(est)
        keys = tuple((rng.below(1 << 14), 2 * rng.below(1 << 20) + 1) for _ in range(4))
        out.append(EstContext(
            index=index, ej=est.finess_ej, name=est.name, short_name=est.short_name,
            psychiatric=all(uf.activity == "PSY" or uf.specialty in _TECHNICAL
                            for site in est.sites for uf in site.units),
            units=units, doctors_by_uf=doctors_by_uf, doctors=doctors,
            radiologists=radiologists, pacs_et=pacs[0].finess_et if pacs else None,
            ipp_prefix=index + 1, ipp_keys=keys,
        ))
    return out


@dataclass(slots=True)
class Context:
    seed: int
    as_of: date
    rates: IdentityErrorRates
    clinical: bool
    plan: PersonPlan
    ests: list[EstContext]
    support_index: int
    catchment: dict[str, int]  # commune -> index of the partner establishment
    town: Town  # the external professionals of the patients' town care teams


def new_context(seed: int, as_of: date, rates: IdentityErrorRates, clinical: bool,
                plan: PersonPlan, establishments: list[Establishment],
                professionals: list[Professional], catchment: dict[str, int]) -> Context:
    support = next(i for i, e in enumerate(establishments)
                   if e.role == EstablishmentRole.SUPPORT)
    return Context(seed, as_of, rates, clinical, plan,
                   build_est_contexts(establishments, professionals, seed), support, catchment,
                   build_town(professionals))


# ---------------------------------------------------------------------------------------
# Identity errors
# ---------------------------------------------------------------------------------------

_AZERTY = ("AZERTYUIOP", "QSDFGHJKLM", "WXCVBN")


def _neighbours() -> dict[str, str]:
    pos = {c: (r, i) for r, row in enumerate(_AZERTY) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in pos.items():
        near = [o for o, (r2, i2) in pos.items() if o != c and abs(r2 - r) <= 1 and abs(i2 - i) <= 1]
        out[c] = "".join(near)
    return out


_NEAR = _neighbours()
_STRIP = str.maketrans("ÀÂÄÁÃÇÉÈÊËÍÎÏÌÑÓÔÖÒÕÚÛÜÙÝŸàâäáãçéèêëíîïìñóôöòõúûüùýÿ",
                       "AAAAACEEEEIIIINOOOOOUUUUYYaaaaaceeeeiiiinooooouuuuyy")
_UNACCENTED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ -'")


def strip_accents(text: str) -> str:
    return text.translate(_STRIP).replace("Œ", "OE").replace("Æ", "AE")


def has_accent(text: str) -> bool:
    return not set(text) <= _UNACCENTED


def _typo(rng: FastRandom, text: str) -> str:
    """One keying error that changes `text`: AZERTY substitution, transposition or deletion."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    op = rng.random()
    if op < 0.25 and len(letters) >= 3:
        i = letters[rng.below(len(letters))]
        return text[:i] + text[i + 1:]
    if op < 0.5:
        pairs = [i for i in letters[:-1] if text[i + 1].isalpha() and text[i] != text[i + 1]]
        if pairs:
            i = pairs[rng.below(len(pairs))]
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    ascii_letters = [i for i in letters if text[i] in _NEAR]
    if ascii_letters:
        i = ascii_letters[rng.below(len(ascii_letters))]
        near = _NEAR[text[i]]
        return text[:i] + near[rng.below(len(near))] + text[i + 1:]
    i = letters[rng.below(len(letters))]
    return text[:i] + text[i + 1:]


def _alter_given(rng: FastRandom, given: list[str]) -> list[str]:
    first = given[0]
    variants = []
    if "-" in first:
        variants += ["split", "joined"]
    if len(given) >= 2:
        variants.append("first_only")
        if "-" not in first:
            variants.append("hyphenated")
    variant = variants[rng.below(len(variants))]
    if variant == "split":  # JEAN-PIERRE -> JEAN PIERRE (two given names)
        return first.split("-") + given[1:]
    if variant == "joined":  # JEAN-PIERRE -> JEANPIERRE
        return [first.replace("-", "")] + given[1:]
    if variant == "first_only":  # only the first given name kept
        return [first]
    return [f"{first}-{given[1]}"] + given[2:]  # MARIE CLAIRE -> MARIE-CLAIRE


def given_names_alterable(given: tuple[str, ...]) -> bool:
    return "-" in given[0] or len(given) >= 2


@dataclass(slots=True)
class LocalIdentity:
    est: EstContext
    ipp: str
    status: str  # PROV, RECUP, VALI, QUAL
    ins: str
    birth_name: str
    used_name: str
    given: list[str]
    birth_date: str
    phone: str
    errors: list[str]

    @property
    def patient_id(self) -> str:
        return f"{self.est.ej}-{self.ipp}"


def person_has_accent(person: TruePerson) -> bool:
    return (has_accent(person.birth_name) or has_accent(person.used_name)
            or any(map(has_accent, person.given_names)))


def make_identity(rng: FastRandom, person: TruePerson, est: EstContext, slot: int,
                  rates: IdentityErrorRates, accented: bool) -> LocalIdentity:
    errors: list[str] = []
    if slot:
        errors.append(ErrorCode.DUPLICATE)
    if rng.random() < rates.provisional:
        status = "PROV"
        errors.append(ErrorCode.PROVISIONAL)
        # Sometimes keyed from the carte Vitale without calling INSi: present, unverified.
        ins = person.nir if rng.random() < 0.3 else ""
    elif rng.random() < rates.ins_missing:
        status, ins = "VALI", ""
        errors.append(ErrorCode.INS_MISSING)
    else:
        ins = person.nir
        status = "QUAL" if rng.random() < 0.85 else "RECUP"

    birth_name, used_name, given = person.birth_name, person.used_name, list(person.given_names)
    if accented and rng.random() < rates.accents_lost:
        birth_name, used_name = strip_accents(birth_name), strip_accents(used_name)
        given = [strip_accents(g) for g in given]
        errors.append(ErrorCode.ACCENTS_LOST)
    if person.used_name != person.birth_name and rng.random() < rates.married_name_as_birth_name:
        birth_name = used_name
        errors.append(ErrorCode.MARRIED_NAME_AS_BIRTH_NAME)
    if given_names_alterable(person.given_names) and rng.random() < rates.given_names_altered:
        given = _alter_given(rng, given)
        errors.append(ErrorCode.GIVEN_NAMES_ALTERED)
    if rng.random() < rates.typo:
        target = rng.random()
        if target < 0.35:
            given[0] = _typo(rng, given[0])
        elif target < 0.45 and used_name != birth_name:
            used_name = _typo(rng, used_name)
        else:
            typed = _typo(rng, birth_name)
            if used_name == birth_name:
                used_name = typed
            birth_name = typed
        errors.append(ErrorCode.TYPO)
    b = person.birth_date
    birth_date = b.isoformat()
    if b.day <= 12 and b.day != b.month and rng.random() < rates.day_month_swapped:
        birth_date = f"{b.year:04d}-{b.day:02d}-{b.month:02d}"
        errors.append(ErrorCode.DAY_MONTH_SWAPPED)
    phone = person.phone if rng.random() < 0.85 else ""
    errors.sort(key=_ERROR_ORDER.__getitem__)
    return LocalIdentity(est, est.ipp(person.index, slot), status, ins, birth_name, used_name,
                         given, birth_date, phone, errors)


def choose_establishments(rng: FastRandom, ctx: Context, person: TruePerson) -> list[EstContext]:
    age = (ctx.as_of - person.birth_date).days // 365
    local = ctx.catchment.get(person.commune_insee)
    weights = []
    for est in ctx.ests:
        if est.index == ctx.support_index:
            w = 6.0 if local is not None else 10.0
        elif est.psychiatric:
            w = 0.6 if age >= 3 else 0.0
        else:
            w = 8.0 if local == est.index else 0.7
        weights.append(w)
    draw = rng.random()
    count = 1 if draw < 0.70 else 2 if draw < 0.93 else 3
    chosen: list[EstContext] = []
    for _ in range(count):
        total = sum(weights)
        x = rng.random() * total
        for i, w in enumerate(weights):
            x -= w
            if x < 0 and w > 0:
                chosen.append(ctx.ests[i])
                weights[i] = 0.0
                break
        else:
            last = max(range(len(weights)), key=weights.__getitem__)
            chosen.append(ctx.ests[last])
            weights[last] = 0.0
    return chosen


# ---------------------------------------------------------------------------------------
# Clinical records
# ---------------------------------------------------------------------------------------


@cache
def _dst_bounds(year: int) -> tuple[int, int]:
    """Ordinals of the last Sundays of March and October (Europe/Paris summer time)."""
    def last_sunday(month: int) -> int:
        d = date(year, month, 31).toordinal()
        return d - (date.fromordinal(d).weekday() + 1) % 7
    return last_sunday(3), last_sunday(10)


_DAYS: dict[int, tuple[str, str, str]] = {}
_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))


def _day(day: int) -> tuple[str, str, str]:
    """("YYYY-MM-DDT", ":00+01:00" or ":00+02:00" (Europe/Paris that day), "DD/MM/YYYY")."""
    found = _DAYS.get(day)
    if found is None:
        d = date.fromordinal(day)
        start, end = _dst_bounds(d.year)
        found = (f"{d.isoformat()}T", ":00+02:00" if start <= day < end else ":00+01:00",
                 f"{d.day:02d}/{d.month:02d}/{d.year}")
        _DAYS[day] = found
    return found


def _instant(day: int, minute: int) -> str:
    if minute >= 1440:
        day += minute // 1440
        minute %= 1440
    head, tail, _ = _DAYS.get(day) or _day(day)
    return head + _HOURS_MINUTES[minute] + tail


def _fr_date(day: int) -> str:
    return _day(day)[2]


@dataclass(slots=True)
class Profile:
    """A person's latent biology: lab values stay coherent across establishments and time."""

    rng: FastRandom
    z_cache: dict[str, float]
    diabetic: bool
    ckd: bool
    anemia: bool
    liver: bool

    def z(self, code: str) -> float:
        """The person's offset for an analyte, drawn the first time it is measured."""
        found = self.z_cache.get(code)
        if found is None:
            found = self.z_cache[code] = _normal(self.rng, 0.45)
        return found


def _normal(rng: FastRandom, sd: float) -> float:
    """Approximately normal (Irwin-Hall of 3 uniforms): 3 C calls instead of a Python gauss."""
    r = rng.random
    return (r() + r() + r() - 1.5) * 2.0 * sd


def _condition_odds(age: int) -> tuple[float, float, float, float]:
    """Odds of diabetes, chronic kidney disease, anaemia, liver disease by age."""
    return (0.02 if age < 40 else 0.10 if age < 65 else 0.18,
            0.01 if age < 50 else 0.06 if age < 70 else 0.15,
            0.04 if age < 65 else 0.10,
            0.03)


_CODING_CACHE: dict[str, dict[str, Any]] = {
    # No display: the LOINC long names would double the size of the file.
    code: {"coding": [{"system": fhir.LOINC, "code": code}], "text": a.label_fr}
    for code, a in cl.ANALYTES.items()
}
_LAB_CATEGORY = [{"coding": [{"system": fhir.OBS_CATEGORY, "code": "laboratory"}]}]
_LAB_REPORT_CATEGORY = [{"coding": [{"system": fhir.V2_0074, "code": "LAB", "display": "Laboratory"}]}]
_RAD_REPORT_CATEGORY = [{"coding": [{"system": fhir.V2_0074, "code": "RAD", "display": "Radiology"}]}]
_HIGH = [{"coding": [{"system": fhir.INTERPRETATION, "code": "H", "display": "High"}]}]
_LOW = [{"coding": [{"system": fhir.INTERPRETATION, "code": "L", "display": "Low"}]}]
_CLASSES = {
    "IMP": {"system": fhir.ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
    "AMB": {"system": fhir.ACT_CODE, "code": "AMB", "display": "ambulatory"},
    "EMER": {"system": fhir.ACT_CODE, "code": "EMER", "display": "emergency"},
}
_ATTENDER = [{"coding": [{"system": fhir.PARTICIPATION, "code": "ATND", "display": "attender"}]}]
_VN = {"coding": [{"system": fhir.V2_0203, "code": "VN"}]}
_PI = {"coding": [{"system": fhir.V2_0203, "code": "PI"}]}
_INS_TYPE = {"coding": [{"system": fhir.FR_V2_0203, "code": "INS-NIR"}]}
_DOC_TYPES = {
    "11490-0": ("Physician Discharge summary", "Compte rendu d'hospitalisation"),
    "11488-4": ("Consult note", "Compte rendu de consultation"),
    "34111-5": ("Emergency department Note", "Compte rendu de passage aux urgences"),
    "18748-4": ("Diagnostic imaging study", "Compte rendu d'imagerie"),
}
_DOC_TITLES = {code: (fr, fr.upper()) for code, (_, fr) in _DOC_TYPES.items()}
_DOC_TYPE_CC = {
    code: {"coding": [{"system": fhir.LOINC, "code": code, "display": en}], "text": fr}
    for code, (en, fr) in _DOC_TYPES.items()
}
_PANEL_CC = {
    p.loinc: {"coding": [{"system": fhir.LOINC, "code": p.loinc, "display": p.display}],
              "text": p.label_fr}
    for p in (cl.PANEL_CBC, cl.PANEL_BMP, cl.PANEL_LIVER, cl.PANEL_DIABETES)
}
_IMAGING_REPORT_CC = {"coding": [{"system": fhir.LOINC, "code": "18748-4",
                                  "display": "Diagnostic imaging study"}]}


def _ckd_epi(creatinine_mg_l: float, age: int, female: bool) -> float:
    scr = creatinine_mg_l / 10.0  # mg/dL
    kappa, alpha = (0.7, -0.329) if female else (0.9, -0.411)
    egfr = (141 * min(scr / kappa, 1) ** alpha * max(scr / kappa, 1) ** -1.209
            * 0.993 ** age * (1.018 if female else 1.0))
    return egfr


def _lab_values(rng: FastRandom, profile: Profile, panel: cl.Panel, female: bool, age: int,
                years: float, acute: bool) -> list[tuple[str, float]]:
    """Values of a panel at `years` after the person's first record (trends drift with it)."""
    out: list[tuple[str, float]] = []
    creatinine = 0.0
    for code in panel.analytes:
        a = cl.ANALYTES[code]
        if code == "62238-1":
            if age < 18:
                continue
            value = min(_ckd_epi(creatinine, age, female), 130.0)
            out.append((code, round(value)))
            continue
        low = a.low_f if female else a.low_m
        high = a.high_f if female else a.high_m
        if code == "1988-5":  # CRP: low at baseline, a spike with an acute illness
            value = rng.uniform(20, 220) if acute else math.exp(0.6 + _normal(rng, 0.6))
        else:
            lo = low if low is not None else high * 0.3
            center = (lo + high) / 2
            half = (high - lo) / 2
            value = center + half * (profile.z(code) + _normal(rng, 0.25))
            if code == "718-7":
                if age < 12:
                    value -= 1.5
                if profile.anemia:
                    value -= 2.5 + 0.3 * years
            elif code == "2160-0":
                if age < 15:
                    value *= 0.45
                if profile.ckd:
                    value = value * 2.0 + 1.8 * years
                creatinine = value
            elif code == "2823-3" and profile.ckd:
                value += 0.4
            elif code == "6690-2" and acute:
                value += rng.uniform(3, 8)
            elif code == "4548-4" and profile.diabetic:
                value = 7.4 + 0.9 * profile.z(code) + 0.15 * years + _normal(rng, 0.2)
            elif code == "2345-7" and profile.diabetic:
                value = 1.45 + 0.3 * profile.z(code) + _normal(rng, 0.15)
            elif code in ("1742-6", "1920-8", "2324-2") and profile.liver:
                value *= 3.0
        value = max(value, 0.1)
        out.append((code, round(value, a.decimals) if a.decimals else round(value)))
    return out


@dataclass(slots=True)
class Stay:
    n: int
    klass: str
    unit: Unit
    doctor: Doctor
    start_day: int
    start_min: int
    end_day: int
    end_min: int
    motif: tuple[str, str, str]
    start: str = ""
    end: str = ""

    def __post_init__(self) -> None:
        self.start = _instant(self.start_day, self.start_min)
        self.end = _instant(self.end_day, self.end_min)


_IMAGING_PROBABILITY = {"EMER": 0.25, "IMP": 0.25, "AMB": 0.1}
_ENC_COUNT = (1,) * 11 + (2,) * 6 + (3,) * 2 + (4,)  # 55/30/10/5 %


def _group(person: TruePerson, age: int) -> str:
    if age < 16:
        return "child"
    if age >= 70:
        return "elderly"
    if person.sex == "F" and age <= 50:
        return "woman"
    return "adult"


def _plan_stays(rng: FastRandom, ctx: Context, ident: LocalIdentity, person: TruePerson
                ) -> list[Stay]:
    est = ident.est
    first_day = max(person.birth_date.toordinal(), ctx.as_of.toordinal() - 6 * 365)
    last_day = ctx.as_of.toordinal() - 1
    count = _ENC_COUNT[rng.below(len(_ENC_COUNT))]
    days = sorted(rng.between(first_day, last_day) for _ in range(count))
    stays = []
    for n, day in enumerate(days, start=1):
        age = max(0, (day - person.birth_date.toordinal()) // 365)
        group = _group(person, age)
        draw = rng.random()
        if est.psychiatric:
            klass = "IMP" if draw < 0.35 else "AMB"
        else:
            klass = "EMER" if draw < 0.30 else "IMP" if draw < 0.70 else "AMB"
        units = est.units_for(group, klass)
        if not units:
            klass = "IMP"
            units = est.units_for(group, klass)
        unit = units[rng.below(len(units))]
        docs = est.doctors_by_uf.get(unit.code) or est.doctors
        doctor = docs[rng.below(len(docs))]
        if klass == "EMER":
            start_min = rng.below(1440)
            end_day, end_min = day, start_min + rng.between(120, 600)
        elif klass == "AMB":
            start_min = rng.between(8 * 60, 17 * 60)
            end_day, end_min = day, start_min + rng.between(20, 60)
        else:
            start_min = rng.between(8 * 60, 20 * 60)
            if unit.activity == "SSR":
                length = rng.between(10, 45)
            elif unit.activity == "PSY":
                length = rng.between(5, 40)
            elif unit.activity == "HAD":
                length = rng.between(10, 30)
            else:
                length = min(1 + int(rng.expovariate(1 / 4)), 30)
            end_day, end_min = min(day + length, last_day), rng.between(10 * 60, 16 * 60)
            if end_day == day:
                end_min = max(end_min, start_min + 120)
        motifs = cl.motifs_for(unit.specialty)
        stays.append(Stay(n, klass, unit, doctor, day, start_min, end_day, end_min,
                          motifs[rng.below(len(motifs))]))
    return stays


def _display_name(ident: LocalIdentity) -> str:
    return f"{ident.used_name} {ident.given[0].title()}"


def _patient(ident: LocalIdentity, person: TruePerson) -> dict[str, Any]:
    est = ident.est
    t = tables()
    identifiers: list[dict[str, Any]] = [{
        "use": "usual", "type": _PI, "system": f"urn:finess:{est.ej}:ipp", "value": ident.ipp,
        "assigner": est.org_ref}]
    if ident.ins:
        identifiers.append({"use": "official", "type": _INS_TYPE, "system": INS_NIR_DEMO_SYSTEM,
                            "value": ident.ins})
    if person.birth_place.startswith("99"):
        birth_place = {"country": t.country_iso3[person.birth_place]}
    else:
        birth_place = {
            "extension": [{"url": fhir.FR_INSEE_CODE,
                           "valueCoding": {"system": fhir.COMMUNE_SYSTEM, "code": person.birth_place}}],
            "city": person.birth_place_name, "country": "FRA"}
    names: list[dict[str, Any]] = [{
        "extension": [{"url": fhir.FR_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(ident.given)}],
        "use": "official", "family": ident.birth_name, "given": [ident.given[0]]}]
    names.append({"use": "usual", "family": ident.used_name, "given": [ident.given[0]]})
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": ident.patient_id, "meta": {"source": est.source},
        "extension": [
            {"url": fhir.FR_IDENTITY_RELIABILITY, "extension": [
                {"url": "identityStatus",
                 "valueCoding": {"system": fhir.FR_V2_0445, "code": ident.status}}]},
            {"url": fhir.BIRTH_PLACE, "valueAddress": birth_place},
        ],
        "identifier": identifiers,
        "name": names,
        "gender": "female" if person.sex == "F" else "male",
        # A day/month swap makes an impossible date only when the day is > 12, never here.
        "birthDate": ident.birth_date,
        "address": [{"use": "home", "line": [person.address], "city": person.city,
                     "postalCode": person.postcode, "country": "FRA"}],
        "managingOrganization": est.org_ref,
    }
    if ident.phone:
        resource["telecom"] = [{"system": "phone", "value": ident.phone,
                                "use": "mobile" if ident.phone[1] in "67" else "home"}]
    return resource


def _document_head(ident: LocalIdentity, person: TruePerson) -> list[str]:
    """The patient lines of every document of a local identity (as the establishment knows it)."""
    born = "Née" if person.sex == "F" else "Né"
    d = ident.birth_date
    return [
        "",
        f"Patient : {ident.used_name} {' '.join(g.title() for g in ident.given)}"
        f"   {born} {ident.birth_name} le {d[8:10]}/{d[5:7]}/{d[:4]}",
        f"IPP : {ident.ipp}",
        "",
    ]


def _document(ident: LocalIdentity, head: list[str], stay: Stay, n: int, type_code: str,
              lines: list[str], day: int, minute: int, author: Doctor,
              related: list[dict[str, str]] | None = None) -> dict[str, Any]:
    est = ident.est
    title, upper_title = _DOC_TITLES[type_code]
    pdf = render(upper_title, [f"{est.name} - {stay.unit.site_name}",
                                 f"Service : {stay.unit.name} (UF {stay.unit.code})",
                                 *head, *lines, "", author.display])
    created = _instant(day, minute)
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": f"{ident.patient_id}-d{n}",
        "meta": {"source": est.source},
        "identifier": [{"system": f"urn:finess:{est.ej}:document", "value": f"{ident.ipp}-{n}"}],
        "status": "current", "docStatus": "final", "type": _DOC_TYPE_CC[type_code],
        "subject": {"reference": f"Patient/{ident.patient_id}"},
        "date": created,
        "author": [{"reference": f"Practitioner/{author.id}", "display": author.display}],
        "custodian": est.org_ref,
        "description": title,
        "content": [{"attachment": {"contentType": "application/pdf", "language": "fr-FR",
                                    "data": b2a_base64(pdf, newline=False).decode("ascii"), "size": len(pdf),
                                    "title": f"{title} - {stay.unit.name}", "creation": created}}],
        "context": {"encounter": [{"reference": f"Encounter/{ident.patient_id}-e{stay.n}"}],
                    "period": {"start": stay.start, "end": stay.end}},
    }
    if related:
        doc["context"]["related"] = related
    return doc


class Sink:
    """Lines of the output files for one chunk."""

    __slots__ = ("lines", "counts", "identities", "truth", "persons")

    def __init__(self) -> None:
        # One growing buffer per file: keeping each serialized resource as its own bytes
        # object until the end costs three times the serialization itself (allocations).
        self.lines: dict[str, bytearray] = {t: bytearray() for t in RESOURCE_TYPES}
        self.counts: dict[str, int] = dict.fromkeys(RESOURCE_TYPES, 0)
        self.identities = io.StringIO()
        self.truth = io.StringIO()
        self.persons = io.StringIO()

    def add(self, resource: dict[str, Any]) -> None:
        rtype = resource["resourceType"]
        self.lines[rtype] += orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE)
        self.counts[rtype] += 1

    def observation(self, line: bytes) -> None:
        self.lines["Observation"] += line
        self.counts["Observation"] += 1


def _clinical(rng: FastRandom, ctx: Context, ident: LocalIdentity, person: TruePerson,
              profile: Profile, first_day: int, sink: Sink) -> None:
    est = ident.est
    pid = ident.patient_id
    subject = {"reference": f"Patient/{pid}"}
    female = person.sex == "F"
    birth_ordinal = person.birth_date.toordinal()
    stays = _plan_stays(rng, ctx, ident, person)
    keys = _Keys(pid.encode(), est.source.encode(), f"urn:finess:{est.ej}".encode(),
                 ident.ipp.encode())
    head = _document_head(ident, person)
    n_obs = n_rep = n_doc = n_img = 0
    for stay in stays:
        enc_ref = {"reference": f"Encounter/{pid}-e{stay.n}"}
        sink.add({
            "resourceType": "Encounter", "id": f"{pid}-e{stay.n}", "meta": {"source": est.source},
            "identifier": [{"type": _VN, "system": f"urn:finess:{est.ej}:nda",
                            "value": f"{ident.ipp}{stay.n:02d}"}],
            "status": "finished", "class": _CLASSES[stay.klass], "subject": subject,
            "participant": [{"type": _ATTENDER, "individual": {
                "reference": f"Practitioner/{stay.doctor.id}",
                "identifier": {"system": fhir.IDNPS_SYSTEM, "value": stay.doctor.idnps},
                "display": stay.doctor.display}}],
            "period": {"start": stay.start, "end": stay.end},
            "reasonCode": [{"text": stay.motif[0]}],
            "location": [{"location": {"reference": f"Location/{stay.unit.location_id}",
                                       "display": stay.unit.name}}],
            "serviceProvider": est.org_ref,
        })
        age = max(0, (stay.start_day - birth_ordinal) // 365)
        acute = stay.klass != "AMB" and rng.random() < 0.4
        panels: tuple[cl.Panel, ...] = ()
        draw = rng.random()
        if est.psychiatric:
            if draw < 0.3:
                panels = (cl.PANEL_CBC,)
        elif stay.klass == "EMER":
            if draw < 0.4:
                panels = (cl.PANEL_CBC, cl.PANEL_BMP)
        elif stay.klass == "IMP":
            if draw < 0.1:
                panels = (cl.PANEL_CBC, cl.PANEL_BMP, cl.PANEL_LIVER)
            elif draw < 0.5:
                panels = (cl.PANEL_CBC, cl.PANEL_BMP)
        elif profile.diabetic and age >= 18:
            if draw < 0.7:
                panels = (cl.PANEL_DIABETES,)
        elif draw < 0.1:
            panels = (cl.PANEL_CBC,)
        if panels:
            lab_day, lab_min = stay.start_day, stay.start_min + 40
            if stay.klass == "IMP" and stay.end_day > stay.start_day:
                lab_day, lab_min = stay.start_day + 1, 7 * 60 + rng.below(60)
            effective = _instant(lab_day, lab_min)
            issued = _instant(lab_day, lab_min + 90 + rng.below(120))
            years = (stay.start_day - first_day) / 365.25
            for panel in panels:
                n_rep += 1
                results = []
                times = (effective.encode(), issued.encode())
                for code, value in _lab_values(rng, profile, panel, female, age, years, acute):
                    n_obs += 1
                    results.append({"reference": f"Observation/{pid}-o{n_obs}"})
                    sink.observation(_observation(keys, code, female, value, n_obs, stay.n, times))
                sink.add({
                    "resourceType": "DiagnosticReport", "id": f"{pid}-r{n_rep}",
                    "meta": {"source": est.source},
                    "identifier": [{"system": f"urn:finess:{est.ej}:report",
                                    "value": f"{ident.ipp}-{n_rep}"}],
                    "status": "final", "category": _LAB_REPORT_CATEGORY,
                    "code": _PANEL_CC[panel.loinc], "subject": subject, "encounter": enc_ref,
                    "effectiveDateTime": effective, "issued": issued, "performer": [est.org_ref],
                    "result": results,
                })
        # Imaging
        draw = rng.random()
        p_img = _IMAGING_PROBABILITY[stay.klass]
        if est.pacs_et and est.radiologists and draw < p_img:
            if stay.klass == "EMER":
                choices = cl.EMERGENCY_EXAMS
            elif stay.klass == "IMP":
                choices = cl.INPATIENT_EXAMS
            elif female and 50 <= age < 75:
                choices = cl.OUTPATIENT_EXAMS + ("Mammographie bilatérale",)
            else:
                choices = cl.OUTPATIENT_EXAMS
            if age < 16:
                choices = tuple(c for c in choices if not c.startswith(("Scanner", "IRM"))) or (
                    "Radiographie thoracique",)
            exam = cl.EXAMS[choices[rng.below(len(choices))]]
            n_img += 1
            img_day, img_min = stay.start_day, stay.start_min + 60 + rng.below(120)
            started = _instant(img_day, img_min)
            series_count = rng.between(*exam.series)
            series = []
            total = 0
            modality = {"system": fhir.DICOM_DCM, "code": exam.modality,
                        "display": exam.modality_display}
            body = {"system": fhir.SNOMED, "code": exam.body_snomed, "display": exam.body_display}
            for s in range(1, series_count + 1):
                count = rng.between(*exam.instances_per_series)
                total += count
                series.append({"uid": f"2.25.{rng.getrandbits(125)}", "number": s,
                               "modality": modality, "numberOfInstances": count, "bodySite": body})
            radiologist = est.radiologists[rng.below(len(est.radiologists))]
            iid = f"{pid}-i{n_img}"
            sink.add({
                "resourceType": "ImagingStudy", "id": iid, "meta": {"source": est.source},
                "identifier": [{"system": "urn:dicom:uid",
                                "value": f"urn:oid:2.25.{rng.getrandbits(125)}"},
                               {"type": {"coding": [{"system": fhir.V2_0203, "code": "ACSN"}]},
                                "system": f"urn:finess:{est.ej}:accession",
                                "value": f"{ident.ipp}{n_img:02d}"}],
                "status": "available", "modality": [modality], "subject": subject,
                "encounter": enc_ref, "started": started,
                "interpreter": [{"reference": f"Practitioner/{radiologist.id}"}],
                "endpoint": [{"reference": f"Endpoint/pacs-{est.pacs_et}"}],
                "numberOfSeries": series_count, "numberOfInstances": total,
                "procedureCode": [{"text": exam.label_fr}], "description": exam.label_fr,
                "series": series,
            })
            abnormal = rng.random() < 0.35
            conclusion = (exam.abnormal_fr[rng.below(len(exam.abnormal_fr))] if abnormal
                          else exam.normal_fr)
            n_rep += 1
            rid = f"{pid}-r{n_rep}"
            sink.add({
                "resourceType": "DiagnosticReport", "id": rid, "meta": {"source": est.source},
                "identifier": [{"system": f"urn:finess:{est.ej}:report",
                                "value": f"{ident.ipp}-{n_rep}"}],
                "status": "final", "category": _RAD_REPORT_CATEGORY, "code": _IMAGING_REPORT_CC,
                "subject": subject, "encounter": enc_ref, "effectiveDateTime": started,
                "issued": _instant(img_day, img_min + 180), "performer": [est.org_ref],
                "resultsInterpreter": [{"reference": f"Practitioner/{radiologist.id}"}],
                "imagingStudy": [{"reference": f"ImagingStudy/{iid}"}],
                "conclusion": conclusion,
            })
            n_doc += 1
            sink.add(_document(ident, head, stay, n_doc, "18748-4", [
                f"Examen : {exam.label_fr}, réalisé le {_fr_date(img_day)}",
                f"Indication : {stay.motif[0].lower()}",
                "",
                f"Conclusion : {conclusion}",
            ], img_day, img_min + 180, radiologist,
                related=[{"reference": f"ImagingStudy/{iid}"},
                         {"reference": f"DiagnosticReport/{rid}"}]))
        # Reports of the stay
        draw = rng.random()
        motif, evolution, conclusion = stay.motif
        if stay.klass == "IMP" and draw < 0.85:
            n_doc += 1
            sink.add(_document(ident, head, stay, n_doc, "11490-0", [
                f"Séjour du {_fr_date(stay.start_day)} au {_fr_date(stay.end_day)}",
                f"Motif d'hospitalisation : {motif}",
                f"Évolution : {evolution}",
                f"Conclusion : {conclusion}",
                "Suivi : consultation de contrôle dans un mois, courrier au médecin traitant.",
            ], stay.end_day, stay.end_min + 60, stay.doctor))
        elif stay.klass == "AMB" and draw < 0.45:
            n_doc += 1
            sink.add(_document(ident, head, stay, n_doc, "11488-4", [
                f"Consultation du {_fr_date(stay.start_day)}",
                f"Motif : {motif}",
                f"Examen clinique et synthèse : {evolution}",
                f"Conclusion : {conclusion}",
            ], stay.start_day, stay.end_min + 30, stay.doctor))
        elif stay.klass == "EMER" and draw < 0.3:
            n_doc += 1
            sink.add(_document(ident, head, stay, n_doc, "34111-5", [
                f"Passage du {_fr_date(stay.start_day)}",
                f"Motif de recours : {motif}",
                f"Prise en charge : {evolution}",
                f"Diagnostic de sortie : {conclusion}",
                "Orientation : retour à domicile.",
            ], stay.end_day, stay.end_min, stay.doctor))


@dataclass(frozen=True, slots=True)
class _Analyte:
    """What an Observation of this analyte and sex repeats, already serialized."""

    code: bytes  # the CodeableConcept
    unit: bytes
    low: float | None
    high: float | None
    reference_range: bytes


def _analyte_parts(code: str, female: bool) -> _Analyte:
    a = cl.ANALYTES[code]
    low = a.low_f if female else a.low_m
    high = a.high_f if female else a.high_m
    reference_range: dict[str, Any] = {}
    if low is not None:
        reference_range["low"] = {"value": low, "unit": a.unit}
    if high is not None:
        reference_range["high"] = {"value": high, "unit": a.unit}
    return _Analyte(orjson.dumps(_CODING_CACHE[code]), a.unit.encode(), low, high,
                    orjson.dumps(reference_range))


_ANALYTE_PARTS = {(code, female): _analyte_parts(code, female)
                  for code in cl.ANALYTES for female in (False, True)}
_INTERPRETATION_LOW = b',"interpretation":' + orjson.dumps(_LOW)
_INTERPRETATION_HIGH = b',"interpretation":' + orjson.dumps(_HIGH)
# Observations are most of the volume: a byte template instead of a dict and orjson halves
# their cost. Every %b is either a constant serialized by orjson or an ASCII identifier.
_OBSERVATION = (
    b'{"resourceType":"Observation","id":"%b-o%d","meta":{"source":"%b"},'
    b'"identifier":[{"system":"%b:lab","value":"%b-%d"}],"status":"final",'
    b'"category":' + orjson.dumps(_LAB_CATEGORY) + b',"code":%b,'
    b'"subject":{"reference":"Patient/%b"},"encounter":{"reference":"Encounter/%b-e%d"},'
    b'"effectiveDateTime":"%b","issued":"%b",'
    b'"valueQuantity":{"value":%r,"unit":"%b","system":"' + fhir.UCUM.encode() + b'","code":"%b"}'
    b'%b,"referenceRange":[%b]}\n'
)


@dataclass(frozen=True, slots=True)
class _Keys:
    """ASCII pieces of a local identity's resources, encoded once."""

    pid: bytes
    source: bytes
    system: bytes  # urn:finess:<FINESS EJ>
    ipp: bytes


def _observation(keys: _Keys, code: str, female: bool, value: float, n: int, encounter: int,
                 times: tuple[bytes, bytes]) -> bytes:
    parts = _ANALYTE_PARTS[(code, female)]
    interpretation = b""
    if parts.low is not None and value < parts.low:
        interpretation = _INTERPRETATION_LOW
    elif parts.high is not None and value > parts.high:
        interpretation = _INTERPRETATION_HIGH
    return _OBSERVATION % (
        keys.pid, n, keys.source, keys.system, keys.ipp, n, parts.code, keys.pid, keys.pid,
        encounter, times[0], times[1], value, parts.unit, parts.unit, interpretation,
        parts.reference_range)


def _csv_writer(buffer: io.StringIO) -> Any:
    return csv.writer(buffer, lineterminator="\n")


def build_chunk(ctx: Context, start: int, stop: int) -> tuple[dict[str, bytes | bytearray], dict[str, int]]:
    """Lines of every output file for persons [start, stop), and their record counts."""
    # The resources are acyclic and short-lived: reference counting frees them, and the
    # cyclic collector, triggered by the millions of dicts, would only cost time.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_chunk(ctx, start, stop)
    finally:
        if was_enabled:
            gc.enable()


def _build_chunk(ctx: Context, start: int, stop: int
                 ) -> tuple[dict[str, bytes | bytearray], dict[str, int]]:
    sink = Sink()
    identities = _csv_writer(sink.identities)
    truth = _csv_writer(sink.truth)
    persons = _csv_writer(sink.persons)
    counts = {"persons": 0, "identities": 0}
    for index in range(start, stop):
        person, rng = ctx.plan.person(ctx.seed, index, ctx.as_of)
        given_true = " ".join(person.given_names)
        persons.writerow((person.person_id, person.birth_name, person.used_name, given_true,
                          person.birth_date.isoformat(), person.sex, person.birth_place,
                          person.birth_place_name, person.nir, person.address, person.postcode,
                          person.city, person.phone, person.homonym_of))
        counts["persons"] += 1
        ests = choose_establishments(rng, ctx, person)
        slots = [(est, 0) for est in ests]
        if rng.random() < ctx.rates.duplicate:
            slots.append((ests[rng.below(len(ests))], 1))
        accented = person_has_accent(person)
        idents = [make_identity(rng, person, est, slot, ctx.rates, accented)
                  for est, slot in slots]
        for ident in idents:
            identities.writerow((ident.est.ej, ident.ipp, ident.birth_name, ident.used_name,
                                 " ".join(ident.given), ident.birth_date, person.sex,
                                 person.birth_place, ident.ins, person.address, person.postcode,
                                 person.city, ident.phone))
            truth.writerow((ident.est.ej, ident.ipp, person.person_id, ident.status,
                            ";".join(ident.errors), person.homonym_of))
            counts["identities"] += 1
        if ctx.clinical:
            # Drawn after every identity of the person (see persons.STREAM_PERSON).
            profile = Profile(rng, {}, *(rng.random() < p for p in _condition_odds(
                (ctx.as_of - person.birth_date).days // 365)))
            first_day = max(person.birth_date.toordinal(), ctx.as_of.toordinal() - 6 * 365)
            for ident in idents:
                sink.add(_patient(ident, person))
                _clinical(rng, ctx, ident, person, profile, first_day, sink)
            # The town team is recorded where the person is first known (the GP's letters go there).
            team = care_team(person_rng(ctx.seed, index, STREAM_CARE_TEAM), ctx.town, idents[0].patient_id,
                             idents[0].est.source, (ctx.as_of - person.birth_date).days // 365,
                             profile.diabetic or profile.ckd, ctx.as_of.toordinal(), _instant)
            if team is not None:
                sink.add(team)
    out: dict[str, bytes | bytearray] = {
        "identities.csv": sink.identities.getvalue().encode("utf-8"),
        "ground_truth.csv": sink.truth.getvalue().encode("utf-8"),
        "persons.csv": sink.persons.getvalue().encode("utf-8"),
    }
    if ctx.clinical:
        for rtype, data in sink.lines.items():
            out[f"fhir/{rtype}.ndjson"] = data
            counts[f"fhir/{rtype}.ndjson"] = sink.counts[rtype]
    return out, counts
