"""The fictional territory's directory: establishments, units, professionals."""

from __future__ import annotations

from collections import Counter

from ght.demo.territory import build_establishments, build_professionals
from ght.directory.identifiers import adeli_is_valid, finess_is_valid, rpps_is_valid
from ght.directory.vocab import PROFESSIONS, EstablishmentRole, Role


def test_one_support_chu_and_four_partners() -> None:
    establishments = build_establishments()
    assert Counter(e.role for e in establishments) == {
        EstablishmentRole.SUPPORT.value: 1, EstablishmentRole.PARTIE.value: 4}
    assert establishments[0].role == "support" and "universitaire" in establishments[0].name
    finess = [e.finess_ej for e in establishments] + [s.finess_et for e in establishments for s in e.sites]
    assert len(finess) == len(set(finess))
    assert all(finess_is_valid(f) and f.startswith("49") for f in finess)
    for est in establishments:
        assert 1 <= len(est.sites) <= 3
        codes = [uf.code for site in est.sites for uf in site.units]
        assert len(codes) == len(set(codes)) and all(len(c) == 4 and c.isdigit() for c in codes)
        for site in est.sites:
            assert site.commune_insee.startswith("49") and site.postcode.startswith("49")
    activities = {uf.activity for e in establishments for s in e.sites for uf in s.units}
    assert {"MCO", "SSR", "PSY", "URG", "HAD"} <= activities


def test_a_few_hundred_professionals() -> None:
    establishments = build_establishments()
    professionals = build_professionals(establishments)
    assert 200 <= len(professionals) <= 600
    assert build_professionals(establishments) == professionals  # stable directory
    numbers = [p.rpps for p in professionals if p.rpps] + [p.adeli for p in professionals if p.adeli]
    assert len(numbers) == len(set(numbers))
    for pro in professionals:
        assert pro.profession in PROFESSIONS
        assert Role(pro.role)
        register = PROFESSIONS[pro.profession][1]
        if register == "rpps":
            assert pro.rpps and rpps_is_valid(pro.rpps) and pro.adeli is None
        elif register == "adeli":
            assert pro.adeli and adeli_is_valid(pro.adeli) and pro.rpps is None
        else:
            assert pro.rpps is None and pro.adeli is None
        assert pro.external == (not pro.exercises)
    professions = Counter(p.profession for p in professionals)
    for needed in ("medecin", "infirmier", "sage_femme", "pharmacien", "manipulateur_radio",
                   "secretaire_medicale", "coordinateur"):
        assert professions[needed] > 0, needed
    roles = Counter(p.role for p in professionals)
    for needed in (Role.DIM_PHYSICIAN, Role.IDENTITY_VIGILANCE, Role.DAC_COORDINATOR,
                   Role.EXTERNAL, Role.CLINICIAN, Role.SECRETARY):
        assert roles[needed.value] > 0, needed
    several = [p for p in professionals if len({e.finess_ej for e in p.exercises}) > 1]
    assert several  # shared posts between establishments of the GHT
    specialties = {p.specialty for p in professionals if p.profession == "medecin"}
    assert {"Cardiologie", "Médecine générale", "Information médicale", "Radiologie"} <= specialties
