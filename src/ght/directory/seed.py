"""Load a generated territory's directory into the database, and create the demo accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ght.demo import model
from ght.directory.accounts import create_account
from ght.directory.models import (
    Account,
    Establishment,
    Exercise,
    FunctionalUnit,
    Professional,
    Site,
)
from ght.directory.vocab import Role


def directory_is_empty(db: Session) -> bool:
    return not db.scalar(select(func.count()).select_from(Establishment))


def load_directory(db: Session, territory: model.Territory) -> dict[str, int]:
    """Insert establishments, sites, units, professionals and exercises; returns counts.

    Bulk inserts with ids assigned here keep a few thousand rows to a few statements.
    """
    establishments, sites, units = [], [], []
    establishment_ids: dict[str, int] = {}
    site_ids: dict[str, int] = {}
    unit_ids: dict[tuple[str, str], int] = {}
    for e in territory.establishments:
        eid = establishment_ids[e.finess_ej] = len(establishments) + 1
        establishments.append(
            dict(id=eid, finess_ej=e.finess_ej, name=e.name, short_name=e.short_name, role=e.role)
        )
        for index, s in enumerate(e.sites):
            sid = site_ids[s.finess_et] = len(sites) + 1
            sites.append(
                dict(id=sid, establishment_id=eid, finess_et=s.finess_et, name=s.name,
                     commune_insee=s.commune_insee, postcode=s.postcode, city=s.city,
                     is_main=index == 0)
            )
            for u in s.units:
                uid = unit_ids[(e.finess_ej, u.code)] = len(units) + 1
                units.append(
                    dict(id=uid, establishment_id=eid, site_id=sid, code=u.code, name=u.name,
                         specialty=u.specialty, activity=u.activity)
                )
    professionals, exercises = [], []
    for pid, p in enumerate(territory.professionals, start=1):
        professionals.append(
            dict(id=pid, rpps=p.rpps, adeli=p.adeli, family_name=p.family_name,
                 given_name=p.given_name, profession=p.profession, specialty=p.specialty,
                 external=p.external, directory_id=p.directory_id)
        )
        for x in p.exercises:
            exercises.append(
                dict(professional_id=pid, establishment_id=establishment_ids[x.finess_ej],
                     site_id=site_ids.get(x.site_finess_et) if x.site_finess_et else None,
                     functional_unit_id=unit_ids.get((x.finess_ej, x.uf_code)) if x.uf_code else None,
                     start_date=None, end_date=None)
            )
    for table, rows in (
        (Establishment, establishments), (Site, sites), (FunctionalUnit, units),
        (Professional, professionals), (Exercise, exercises),
    ):
        if rows:
            db.execute(insert(table), rows)
    return {
        "établissements": len(establishments), "sites": len(sites), "unités fonctionnelles": len(units),
        "professionnels": len(professionals), "exercices": len(exercises),
    }


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    profession: str
    establishment: str  # "support", "partie" or "none" (external professional)
    external: bool = False


DEMO_PASSWORD = "demo-ght-2026"

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("medecin", Role.CLINICIAN, "medecin", "support"),
    DemoAccount("medecin.partie", Role.CLINICIAN, "medecin", "partie"),
    DemoAccount("infirmier", Role.NURSE, "infirmier", "support"),
    DemoAccount("secretaire", Role.SECRETARY, "secretaire_medicale", "support"),
    DemoAccount("identitovigilance", Role.IDENTITY_VIGILANCE, "secretaire_medicale", "support"),
    DemoAccount("dim", Role.DIM_PHYSICIAN, "medecin", "support"),
    DemoAccount("dsi", Role.DSI_ADMIN, "informaticien", "support"),
    DemoAccount("dpo", Role.DPO, "informaticien", "support"),
    DemoAccount("coordinateur", Role.DAC_COORDINATOR, "coordinateur", "none", external=True),
    DemoAccount("medecin.traitant", Role.EXTERNAL, "medecin", "none", external=True),
)


def create_demo_accounts(db: Session) -> list[tuple[Account, DemoAccount]]:
    """Bind each demo account to a distinct professional of the loaded directory.

    The professional is chosen deterministically (lowest id of the right profession working at
    an establishment of the right role, or external), so the same seed gives the same accounts.
    """
    created, used = [], set()
    for spec in DEMO_ACCOUNTS:
        query = select(Professional).where(
            Professional.profession == spec.profession, Professional.external == spec.external
        )
        if spec.establishment != "none":
            query = query.where(
                Professional.exercises.any(Exercise.establishment.has(Establishment.role == spec.establishment))
            )
        if spec.role == Role.DIM_PHYSICIAN:
            query = query.where(Professional.specialty == "Information médicale")
        candidates = db.scalars(query.order_by(Professional.id)).all()
        professional = next((p for p in candidates if p.id not in used), None)
        if professional is None:
            raise LookupError(
                f"aucun professionnel « {spec.profession} » disponible pour le compte {spec.username}"
            )
        used.add(professional.id)
        establishment = None
        if spec.establishment != "none":
            establishment = next(
                x.establishment for x in sorted(professional.exercises, key=lambda x: x.id)
                if x.establishment.role == spec.establishment
            )
        account = create_account(
            db, spec.username, DEMO_PASSWORD, professional, establishment, [spec.role]
        )
        created.append((account, spec))
    return created
