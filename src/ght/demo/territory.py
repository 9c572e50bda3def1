"""The fictional territory: establishments, sites, functional units and professionals.

One support CHU and four partner establishments in Maine-et-Loire (49), with fictional
names in real communes. The directory does not depend on the generator's seed: demo
accounts and bookmarks keep working from one generation to the next; only persons and
their records change with the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ght.demo.model import Establishment, Exercise, FunctionalUnit, Professional, Site
from ght.demo.tables import tables
from ght.directory.identifiers import adeli_with_key, finess_with_key, rpps_with_key
from ght.directory.vocab import EstablishmentRole, Role

DEPARTEMENT = "49"
DIRECTORY_SEED = 49_2025  # fixed: the directory is the same for every person seed

# Units that serve other units (no stays of their own).
TECHNICAL_SPECIALTIES = frozenset(
    {"Radiologie", "Biologie médicale", "Pharmacie hospitalière", "Information médicale"}
)

# (unit name, specialty, activity). Consultations happen in the units themselves.
_U = tuple[str, str, str]
_CHU_MAIN: tuple[_U, ...] = (
    ("Cardiologie", "Cardiologie", "MCO"),
    ("Soins intensifs de cardiologie", "Cardiologie", "MCO"),
    ("Pneumologie", "Pneumologie", "MCO"),
    ("Hépato-gastro-entérologie", "Gastro-entérologie", "MCO"),
    ("Neurologie", "Neurologie", "MCO"),
    ("Néphrologie et dialyse", "Néphrologie", "MCO"),
    ("Endocrinologie-diabétologie", "Endocrinologie", "MCO"),
    ("Médecine interne", "Médecine interne", "MCO"),
    ("Maladies infectieuses", "Maladies infectieuses", "MCO"),
    ("Oncologie médicale", "Oncologie", "MCO"),
    ("Hématologie clinique", "Hématologie", "MCO"),
    ("Chirurgie orthopédique et traumatologique", "Chirurgie orthopédique", "MCO"),
    ("Chirurgie viscérale et digestive", "Chirurgie viscérale", "MCO"),
    ("Urologie", "Urologie", "MCO"),
    ("Réanimation médicale", "Réanimation", "MCO"),
    ("Urgences adultes", "Médecine d'urgence", "URG"),
    ("Imagerie médicale", "Radiologie", "MCO"),
    ("Laboratoire de biologie", "Biologie médicale", "MCO"),
    ("Pharmacie à usage intérieur", "Pharmacie hospitalière", "MCO"),
    ("Département d'information médicale", "Information médicale", "MCO"),
)
_CHU_MOTHER_CHILD: tuple[_U, ...] = (
    ("Gynécologie-obstétrique", "Gynécologie-obstétrique", "MCO"),
    ("Néonatologie", "Pédiatrie", "MCO"),
    ("Pédiatrie", "Pédiatrie", "MCO"),
    ("Urgences pédiatriques", "Pédiatrie", "URG"),
    ("Imagerie de la femme et de l'enfant", "Radiologie", "MCO"),
)
_CHU_GERIATRICS: tuple[_U, ...] = (
    ("Court séjour gériatrique", "Gériatrie", "MCO"),
    ("SMR gériatrique", "Gériatrie", "SSR"),
    ("SMR locomoteur", "Médecine physique et de réadaptation", "SSR"),
    ("Hospitalisation à domicile", "Médecine polyvalente", "HAD"),
)
_CH_MAIN: tuple[_U, ...] = (
    ("Médecine polyvalente", "Médecine polyvalente", "MCO"),
    ("Cardiologie", "Cardiologie", "MCO"),
    ("Court séjour gériatrique", "Gériatrie", "MCO"),
    ("Chirurgie générale et viscérale", "Chirurgie viscérale", "MCO"),
    ("Chirurgie orthopédique", "Chirurgie orthopédique", "MCO"),
    ("Gynécologie-obstétrique", "Gynécologie-obstétrique", "MCO"),
    ("Pédiatrie", "Pédiatrie", "MCO"),
    ("Urgences", "Médecine d'urgence", "URG"),
    ("Imagerie médicale", "Radiologie", "MCO"),
    ("Laboratoire", "Biologie médicale", "MCO"),
    ("Pharmacie", "Pharmacie hospitalière", "MCO"),
)
_SMALL_CH_MAIN: tuple[_U, ...] = (
    ("Médecine polyvalente", "Médecine polyvalente", "MCO"),
    ("Court séjour gériatrique", "Gériatrie", "MCO"),
    ("Urgences", "Médecine d'urgence", "URG"),
    ("SMR polyvalent", "Médecine physique et de réadaptation", "SSR"),
    ("Imagerie médicale", "Radiologie", "MCO"),
    ("Pharmacie", "Pharmacie hospitalière", "MCO"),
)
_SMR: tuple[_U, ...] = (
    ("SMR polyvalent", "Médecine physique et de réadaptation", "SSR"),
    ("SMR gériatrique", "Gériatrie", "SSR"),
)
_EPSM_MAIN: tuple[_U, ...] = (
    ("Psychiatrie adulte - secteur 1", "Psychiatrie", "PSY"),
    ("Psychiatrie adulte - secteur 2", "Psychiatrie", "PSY"),
    ("Psychiatrie adulte - secteur 3", "Psychiatrie", "PSY"),
    ("Pédopsychiatrie", "Pédopsychiatrie", "PSY"),
    ("Addictologie", "Addictologie", "PSY"),
    ("Pharmacie", "Pharmacie hospitalière", "MCO"),
)
_CMP: tuple[_U, ...] = (("Centre médico-psychologique", "Psychiatrie", "PSY"),)

# (FINESS EJ without key, name, short name, role, sites), a site being
# (FINESS ET without key, name, INSEE commune, units). Numbers are fictional.
_SPEC = (
    ("49099101", "Centre hospitalier universitaire Val-de-Maine", "CHU Val-de-Maine", "support", (
        ("49099111", "Hôpital des Ardoisières", "49007", _CHU_MAIN),
        ("49099112", "Pôle mère-enfant du Lac-de-Maine", "49007", _CHU_MOTHER_CHILD),
        ("49099113", "Centre gériatrique Les Tilleuls", "49353", _CHU_GERIATRICS),
    )),
    ("49099201", "Centre hospitalier des Mauges-et-Layon", "CH Mauges-et-Layon", "partie", (
        ("49099211", "Hôpital des Mauges", "49099", _CH_MAIN),
        ("49099212", "Site de l'Èvre", "49023", _SMR),
    )),
    ("49099301", "Centre hospitalier Loire-Tuffeau", "CH Loire-Tuffeau", "partie", (
        ("49099311", "Hôpital du Tuffeau", "49328", _CH_MAIN),
        ("49099312", "Site des Perrières", "49125", _SMR[:1]),
        ("49099313", "Site de l'Authion", "49180", _SMR[1:]),
    )),
    ("49099401", "Centre hospitalier Oudon-et-Verzée", "CH Oudon-et-Verzée", "partie", (
        ("49099411", "Hôpital de l'Oudon", "49331", _SMALL_CH_MAIN),
    )),
    ("49099501", "Établissement de santé mentale des Basses-Vallées", "EPSM Basses-Vallées",
     "partie", (
        ("49099511", "Hôpital des Basses-Vallées", "49267", _EPSM_MAIN),
        ("49099512", "CMP de Cholet", "49099", _CMP),
    )),
)

# Communes whose residents go first to a partner establishment (index in _SPEC).
CATCHMENT: dict[str, int] = {
    **dict.fromkeys(("49099", "49023", "49301", "49092", "49218", "49244", "49299", "49069",
                     "49373", "49195", "49027"), 1),
    **dict.fromkeys(("49328", "49125", "49180", "49261", "49060", "49050", "49018", "49228",
                     "49121", "49003", "49002"), 2),
    **dict.fromkeys(("49331", "49248", "49054", "49183", "49367", "49176"), 3),
}


def build_establishments() -> list[Establishment]:
    communes = tables().communes
    establishments = []
    for ej8, name, short, role, sites_spec in _SPEC:
        sites = []
        for site_index, (et8, site_name, insee, units_spec) in enumerate(sites_spec):
            commune = communes[insee]
            units = tuple(
                # UF code, unique in the establishment: the site's digit, then a sequence.
                FunctionalUnit(f"{site_index + 1}{unit_index + 1:03d}", *unit)
                for unit_index, unit in enumerate(units_spec)
            )
            sites.append(Site(finess_with_key(et8), site_name, insee, commune.postcodes[0],
                              commune.name, units))
        establishments.append(
            Establishment(finess_with_key(ej8), name, short, EstablishmentRole(role).value,
                          tuple(sites))
        )
    return establishments


@dataclass(slots=True)
class _Numbers:
    """Unique RPPS/ADELI numbers drawn from the directory RNG."""

    rng: random.Random
    used: set[str]

    def rpps(self) -> str:
        while True:
            value = rpps_with_key("10" + f"{self.rng.randrange(10**8):08d}")
            if value not in self.used:
                self.used.add(value)
                return value

    def adeli(self, profession_code: str) -> str:
        while True:
            value = adeli_with_key(DEPARTEMENT + profession_code + f"{self.rng.randrange(10**4):04d}")
            if value not in self.used:
                self.used.add(value)
                return value


def _name(rng: random.Random) -> tuple[str, str]:
    t = tables()
    sex = "F" if rng.random() < 0.55 else "M"
    cohort = rng.choice((1960, 1980, 1980))
    return t.surnames.pick(rng), t.given[(cohort, sex)].pick(rng)


def build_professionals(establishments: list[Establishment]) -> list[Professional]:
    rng = random.Random(DIRECTORY_SEED)
    numbers = _Numbers(rng, set())
    people: list[Professional] = []

    def add(profession: str, specialty: str | None, exercises: tuple[Exercise, ...],
            role: Role, external: bool = False, adeli_code: str | None = None) -> None:
        family, given = _name(rng)
        rpps = numbers.rpps() if adeli_code is None and profession not in (
            "secretaire_medicale", "coordinateur", "informaticien") else None
        adeli = numbers.adeli(adeli_code) if adeli_code else None
        people.append(Professional(rpps, adeli, family, given, profession, specialty, external,
                                   exercises, role.value))

    for est in establishments:
        support = est.role == EstablishmentRole.SUPPORT
        for site in est.sites:
            for uf in site.units:
                here = (Exercise(est.finess_ej, site.finess_et, uf.code),)
                if uf.specialty == "Information médicale":
                    for _ in range(2):
                        add("medecin", uf.specialty, here, Role.DIM_PHYSICIAN)
                    continue
                if uf.specialty == "Pharmacie hospitalière":
                    for _ in range(3 if support else 1):
                        add("pharmacien", uf.specialty, here, Role.CLINICIAN)
                    continue
                if uf.specialty == "Biologie médicale":
                    for _ in range(3 if support else 1):
                        add("medecin", uf.specialty, here, Role.CLINICIAN)
                    continue
                doctors = rng.randint(2, 4) if support else rng.randint(1, 2)
                for _ in range(doctors):
                    add("medecin", uf.specialty, here, Role.CLINICIAN)
                if uf.specialty == "Radiologie":
                    for _ in range(rng.randint(2, 4)):
                        add("manipulateur_radio", None, here, Role.NURSE, adeli_code="80")
                    continue
                if uf.specialty == "Gynécologie-obstétrique":
                    for _ in range(rng.randint(2, 4)):
                        add("sage_femme", None, here, Role.CLINICIAN)
                if uf.activity == "PSY" and rng.random() < 0.6:
                    add("psychologue", None, here, Role.CLINICIAN, adeli_code="93")
                for _ in range(rng.randint(1, 2)):
                    add("infirmier", None, here, Role.NURSE)
        main = (Exercise(est.finess_ej, est.sites[0].finess_et),)
        for _ in range(10 if support else 3):
            add("secretaire_medicale", None, main, Role.SECRETARY)
        for _ in range(2 if support else 1):
            add("secretaire_medicale", None, main, Role.IDENTITY_VIGILANCE)
        if support:
            for _ in range(2):
                add("informaticien", None, main, Role.DSI_ADMIN)

    # Shared posts of the territory: CHU physicians also consulting in a partner's unit of
    # the same specialty (the "praticiens partagés" of a GHT).
    partner_units = {
        (uf.specialty): (est.finess_ej, site.finess_et, uf.code)
        for est in establishments[1:] for site in est.sites for uf in site.units
    }
    support_ej = establishments[0].finess_ej
    for i, pro in enumerate(people):
        if (pro.profession == "medecin" and pro.exercises[0].finess_ej == support_ej
                and pro.specialty in partner_units and rng.random() < 0.15):
            ej, et, uf = partner_units[pro.specialty]
            people[i] = Professional(pro.rpps, pro.adeli, pro.family_name, pro.given_name,
                                     pro.profession, pro.specialty, pro.external,
                                     pro.exercises + (Exercise(ej, et, uf),), pro.role)

    for _ in range(30):
        add("medecin", "Médecine générale", (), Role.EXTERNAL, external=True)
    for _ in range(12):
        add("infirmier", None, (), Role.EXTERNAL, external=True)
    for _ in range(4):
        add("masseur_kine", None, (), Role.EXTERNAL, external=True)
    for _ in range(3):
        add("coordinateur", None, (), Role.DAC_COORDINATOR, external=True)
    # No national identifier for a coordinator: the GHT directory gives one, so a CareTeam can
    # name them (Practitioner/pr-ght-<id>).
    coordinators = (i for i, pro in enumerate(people) if pro.profession == "coordinateur")
    for n, i in enumerate(coordinators, start=1):
        people[i] = replace(people[i], directory_id=f"DAC{n:04d}")
    return people
