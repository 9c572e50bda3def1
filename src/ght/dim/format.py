"""The ATIH fixed-width formats of the PMSI MCO stay summaries, described as data.

One RSS non groupé line is one RUM (résumé d'unité médicale): a fixed part, then a variable
zone of `nb_das` associated diagnoses and `nb_dad` documentary diagnoses (8 characters each)
and `nb_actes` CCAM act zones (29 characters each). The grouped RSS prefixes the same line
with the 15 characters of the grouping result (classification, GHM, format of the grouped
RSS, return code). Positions are ATIH's: 1-based, inclusive. The parser (ght.dim.parser)
reads nothing that is not described here; docs/dim.md prints these tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "texte"
    DIGITS = "chiffres"  # digits only (FINESS, version)
    INT = "entier"  # right-aligned number, blank allowed when optional
    DATE = "date"  # JJMMAAAA
    CODE = "code"  # one of `codes`
    CIM10 = "cim10"  # a CIM-10 code, left-aligned
    CCAM = "ccam"  # a CCAM act code


@dataclass(frozen=True)
class Field:
    name: str  # the stored name (English-free French domain term)
    label: str  # ATIH's label, as error reports print it
    start: int  # 1-based position
    length: int
    kind: Kind = Kind.TEXT
    required: bool = False
    codes: frozenset[str] = field(default_factory=frozenset)

    @property
    def end(self) -> int:
        return self.start + self.length - 1


def _fields(start: int, *specs: tuple) -> tuple[Field, ...]:
    """Consecutive fields from `start`: (name, label, length, kind?, required?, codes?)."""
    out, position = [], start
    for name, label, length, *rest in specs:
        kind = rest[0] if rest else Kind.TEXT
        required = rest[1] if len(rest) > 1 else False
        codes = frozenset(rest[2]) if len(rest) > 2 else frozenset()
        out.append(Field(name, label, position, length, kind, required, codes))
        position += length
    return tuple(out)


ENTRY_MODES = ("0", "6", "7", "8", "N", "O")  # transfert provisoire, mutation, transfert, domicile, naissance, décédé pour PO
EXIT_MODES = ("0", "6", "7", "8", "9")  # ..., 9: décès
PROVENANCES = ("", "1", "2", "3", "4", "5", "6", "7", "R")
DESTINATIONS = ("", "1", "2", "3", "4", "6", "7")
SEXES = ("1", "2")

_COMMON = (
    ("finess", "N° FINESS d'inscription e-PMSI", 9, Kind.DIGITS, True),
    ("version", "N° de version du format du RUM", 3, Kind.DIGITS, True),
    ("rss", "N° de RSS", 20, Kind.TEXT, True),
    ("nas", "N° administratif local de séjour", 20, Kind.TEXT, True),
    ("rum", "N° de RUM", 10, Kind.TEXT, True),
    ("naissance", "Date de naissance", 8, Kind.DATE, True),
    ("sexe", "Sexe", 1, Kind.CODE, True, SEXES),
    ("um", "N° d'unité médicale", 4, Kind.TEXT, True),
    ("lit", "Type d'autorisation du lit dédié", 2),
    ("date_entree", "Date d'entrée dans l'UM", 8, Kind.DATE, True),
    ("mode_entree", "Mode d'entrée dans l'UM", 1, Kind.CODE, True, ENTRY_MODES),
    ("provenance", "Provenance", 1, Kind.CODE, False, PROVENANCES),
    ("date_sortie", "Date de sortie de l'UM", 8, Kind.DATE, True),
    ("mode_sortie", "Mode de sortie de l'UM", 1, Kind.CODE, True, EXIT_MODES),
    ("destination", "Destination", 1, Kind.CODE, False, DESTINATIONS),
    ("residence", "Code postal de résidence", 5),
    ("poids", "Poids d'entrée (nouveau-né, en grammes)", 4, Kind.INT),
    ("age_gestationnel", "Âge gestationnel", 2, Kind.INT),
    ("ddr", "Date des dernières règles", 8, Kind.DATE),
    ("seances", "Nombre de séances", 2, Kind.INT),
    ("nb_das", "Nombre de diagnostics associés", 2, Kind.INT, True),
    ("nb_dad", "Nombre de données à visée documentaire", 2, Kind.INT, True),
    ("nb_actes", "Nombre de zones d'actes", 3, Kind.INT, True),
    ("dp", "Diagnostic principal", 8, Kind.CIM10, True),
    ("dr", "Diagnostic relié", 8, Kind.CIM10),
    ("igs", "IGS 2", 3, Kind.INT),
    ("confirmation", "Confirmation de codage du RSS", 1),
    ("rdt_machine", "Type de machine en radiothérapie", 1),
    ("rdt_dosimetrie", "Type de dosimétrie", 1),
    ("innovation", "Numéro d'innovation", 15),
    ("conversion_hc", "Conversion en hospitalisation complète", 1),
    ("raac", "Prise en charge RAAC", 1),
    ("contexte", "Contexte patient / surveillance particulière", 1),
    ("reserve_hospitaliere", "Administration d'un produit de la réserve hospitalière", 1),
    ("rescrit", "Rescrit tarifaire", 1),
    ("interventions", "Catégorie du nombre d'interventions totales", 1),
    ("non_programme", "Admission non programmée", 1),
)


@dataclass(frozen=True)
class Layout:
    """One format: its fixed fields, the length of its fixed part, its variable zones."""

    version: str  # the value of the `version` field (RUM format)
    title: str
    fields: tuple[Field, ...]
    fixed_length: int
    grouped: bool = False

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


DIAGNOSIS_LENGTH = 8  # each DAS and DAD: a CIM-10 code, left-aligned
ACT = _fields(
    1,
    ("date", "Date de réalisation de l'acte", 8, Kind.DATE, True),
    ("code", "Code CCAM", 7, Kind.CCAM, True),
    ("extension", "Extension PMSI", 3),
    ("phase", "Phase", 1, Kind.CODE, True, ("0", "1", "2", "3")),
    ("activite", "Activité", 1, Kind.CODE, True, ("1", "2", "3", "4", "5")),
    ("extension_doc", "Extension documentaire", 1),
    ("modificateurs", "Modificateurs", 4),
    ("remboursement", "Remboursement exceptionnel", 1),
    ("association", "Association non prévue", 1),
    ("executions", "Nombre de réalisations", 2, Kind.INT, True),
)
ACT_LENGTH = 29

# Format 022 (RUM 2022-2023): flags in 163-169, filler to 174, reserved zone 175-177.
_F022 = _fields(1, *_COMMON, ("filler", "Zone non utilisée", 5), ("reserve", "Zone réservée", 3))
# Format 023 (RUM 2024 on): as 022 with the passage through an emergency unit in 170.
_F023 = _fields(1, *_COMMON, ("urgences", "Passage par une structure des urgences", 1, Kind.CODE, False, ("", "1", "2")),
                ("filler", "Zone non utilisée", 4), ("reserve", "Zone réservée", 3))
# The grouped RSS: 15 characters of grouping, then the RUM as above.
_GROUPING = _fields(
    1,
    ("classification", "Groupage : version de la classification", 2),
    ("ghm", "Groupage : n° de GHM", 6),
    ("filler_g", "Zone non utilisée", 1),
    ("version_rss", "N° de version du format du RSS groupé", 3, Kind.DIGITS, True),
    ("code_retour", "Groupage : code retour", 3),
)
GROUPING_LENGTH = 15


def _shifted(fields: tuple[Field, ...], by: int) -> tuple[Field, ...]:
    return tuple(Field(f.name, f.label, f.start + by, f.length, f.kind, f.required, f.codes) for f in fields)


LAYOUTS: dict[tuple[str, bool], Layout] = {}
for _version, _fixed in (("022", _F022), ("023", _F023)):
    LAYOUTS[(_version, False)] = Layout(_version, f"RSS non groupé, format {_version}", _fixed, 177)
    LAYOUTS[(_version, True)] = Layout(_version, f"RSS groupé (RUM format {_version})",
                                       _GROUPING + _shifted(_fixed, GROUPING_LENGTH), 177 + GROUPING_LENGTH, True)
VERSIONS = ("022", "023")
GROUPED_VERSIONS = {"122": "022", "123": "023"}  # grouped RSS format → RUM format it carries

# CIM-10 chapters by the first three characters (letter and two digits): a code outside them is unknown.
CIM10_CHAPTERS = (
    ("A00", "B99", "I", "Certaines maladies infectieuses et parasitaires"),
    ("C00", "D48", "II", "Tumeurs"),
    ("D50", "D89", "III", "Maladies du sang et du système immunitaire"),
    ("E00", "E90", "IV", "Maladies endocriniennes, nutritionnelles et métaboliques"),
    ("F00", "F99", "V", "Troubles mentaux et du comportement"),
    ("G00", "G99", "VI", "Maladies du système nerveux"),
    ("H00", "H59", "VII", "Maladies de l'œil et de ses annexes"),
    ("H60", "H95", "VIII", "Maladies de l'oreille et de l'apophyse mastoïde"),
    ("I00", "I99", "IX", "Maladies de l'appareil circulatoire"),
    ("J00", "J99", "X", "Maladies de l'appareil respiratoire"),
    ("K00", "K93", "XI", "Maladies de l'appareil digestif"),
    ("L00", "L99", "XII", "Maladies de la peau et du tissu cellulaire sous-cutané"),
    ("M00", "M99", "XIII", "Maladies du système ostéo-articulaire"),
    ("N00", "N99", "XIV", "Maladies de l'appareil génito-urinaire"),
    ("O00", "O99", "XV", "Grossesse, accouchement et puerpéralité"),
    ("P00", "P96", "XVI", "Affections de la période périnatale"),
    ("Q00", "Q99", "XVII", "Malformations congénitales"),
    ("R00", "R99", "XVIII", "Symptômes et signes anormaux"),
    ("S00", "T98", "XIX", "Lésions traumatiques, empoisonnements"),
    ("U00", "U99", "XXII", "Codes d'utilisation particulière"),
    ("V01", "Y98", "XX", "Causes externes de morbidité"),
    ("Z00", "Z99", "XXI", "Facteurs influant sur l'état de santé"),
)


def cim10_chapter(code: str) -> str | None:
    """The chapter (roman numeral) of a CIM-10 code, None when no chapter holds it."""
    head = code[:3]
    for first, last, chapter, _ in CIM10_CHAPTERS:
        if first <= head <= last:
            return chapter
    return None


CHAPTER_LABELS = {chapter: label for _, _, chapter, label in CIM10_CHAPTERS}
