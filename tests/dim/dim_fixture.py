"""The small territory of the DIM tests: two establishments, three GHT patients, seven stays
whose indicators are counted by hand in test_indicators.py (the comments give the counts)."""

from __future__ import annotations

from datetime import date

from ght.dim.format import LAYOUTS
from ght.dim.writer import rum_line
from ght.directory.models import Establishment, Site
from ght.identity.models import GhtPatient, LocalIdentity

CHU, CH = "490000031", "490000049"
CORRESPONDENCE_CHU = "nas;ipp;nom;prenom\nN1;A1;;\nN2;A2;;\nN3;A2;;\nN4;A1;;\n"  # N5: no correspondence
CORRESPONDENCE_CH = "nas;ipp\nM1;B1\nM3;B3\n"
KEYS_CH = "nas;cle\nM1;ABCDEFGHIJKLMNOPQ\n"

P1 = dict(naissance=date(1950, 2, 1), sexe="1")  # 76 at entry: band 70
P2 = dict(naissance=date(1985, 6, 15), sexe="2")  # 40: band 40
P3 = dict(naissance=date(1940, 10, 10), sexe="1")  # 85: band 80
N5 = dict(naissance=date(1990, 1, 1), sexe="2")  # 36: band 30, not linked


def rum(finess, rss, nas, number, person, um, entry, mode_in, exit, mode_out, dp, *, provenance="", destination="",
        das=(), acts=()):
    values = dict(finess=finess, rss=rss, nas=nas, rum=str(number), um=um, date_entree=entry, mode_entree=mode_in,
                  provenance=provenance, date_sortie=exit, mode_sortie=mode_out, destination=destination,
                  residence="49000", dp=dp, **person)
    return values, list(das), list(acts)


def act(day, code, executions=1):
    return dict(date=day, code=code, phase="0", activite="1", executions=executions)


def d(day):
    return date(2026, 3, day)


CHU_RUMS = [
    # RSS 1, patient 1: UM 1001 (2 days, DP I210) then UM 1002 (3 days, DP I500: the longest), transferred out.
    rum(CHU, "1", "N1", 1, P1, "1001", d(1), "8", d(3), "6", "I210", das=["E119"], acts=[act(d(2), "DZQM006")]),
    rum(CHU, "1", "N1", 2, P1, "1002", d(3), "6", d(6), "7", "I500", destination="1",
        acts=[act(d(4), "DEQP003", 2)]),
    # RSS 2, patient 2: same day.
    rum(CHU, "2", "N2", 1, P2, "1001", d(10), "8", d(10), "8", "K358", acts=[act(d(10), "HHFA016")]),
    # RSS 3, patient 2: 5 days, 10 days after RSS 2 (a readmission in the same establishment).
    rum(CHU, "3", "N3", 1, P2, "1002", d(20), "8", d(25), "8", "J189"),
    # RSS 4, patient 1: 1 day, 14 days after leaving the CH (a readmission after another establishment).
    rum(CHU, "4", "N4", 1, P1, "1001", d(30), "8", d(31), "8", "E119"),
    # RSS 5: 2 days, no correspondence: not linked.
    rum(CHU, "5", "N5", 1, N5, "1001", d(15), "8", d(17), "8", "O800"),
]
CH_RUMS = [
    # RSS 10, patient 1: transferred in from the CHU the day RSS 1 ended; 10 days.
    rum(CH, "10", "M1", 1, P1, "2001", d(6), "7", d(16), "8", "I500", provenance="1"),
    # RSS 11, patient 3: 3 days, died.
    rum(CH, "11", "M3", 1, P3, "2001", d(1), "8", d(4), "9", "C509"),
]


def rss_file(rums, version="023", grouped=False) -> bytes:
    layout = LAYOUTS[(version, grouped)]
    return "".join(rum_line(layout, values, das, acts=acts) + "\r\n" for values, das, acts in rums).encode("latin-1")


def territory(db) -> None:
    """The two establishments (one site each), the three patients and their IPPs, committed."""
    chu = Establishment(finess_ej=CHU, name="CHU (fictif)", short_name="CHU", role="support")
    ch = Establishment(finess_ej=CH, name="CH (fictif)", short_name="CH", role="partie")
    chu.sites.append(Site(finess_et="490000130", name="CHU site principal", commune_insee="49007", postcode="49000",
                          city="Angers", is_main=True))
    ch.sites.append(Site(finess_et="490000148", name="CH site principal", commune_insee="49099", postcode="49300",
                         city="Cholet", is_main=True))
    db.add_all([chu, ch])
    db.flush()
    for ght_id in ("G1", "G2", "G3"):
        db.add(GhtPatient(id=ght_id))
    db.flush()
    for establishment, ipp, patient, person in ((chu, "A1", "G1", P1), (chu, "A2", "G2", P2),
                                                (ch, "B1", "G1", P1), (ch, "B3", "G3", P3)):
        db.add(LocalIdentity(establishment_id=establishment.id, ipp=ipp, patient_id=patient,
                             birth_date=person["naissance"], sex="M" if person["sexe"] == "1" else "F"))
    db.commit()


PSEUDONYM_KEY = "v1:" + "k" * 40


def accounts(db) -> None:
    """`dim` (the DIM physician) and `doc` (a clinician) at the CHU, committed."""
    from ght.directory.accounts import create_account
    from ght.directory.models import Professional
    from ght.directory.vocab import Role
    from support import PASSWORD

    chu = db.query(Establishment).filter_by(finess_ej=CHU).one()
    for username, role, rpps in (("dim", Role.DIM_PHYSICIAN, "10000000014"), ("doc", Role.CLINICIAN, "10000000011")):
        professional = Professional(rpps=rpps, adeli=None, family_name=username.upper(), given_name="Test",
                                    profession="medecin", external=False)
        db.add(professional)
        create_account(db, username, PASSWORD, professional, chu, [role])
    db.commit()
