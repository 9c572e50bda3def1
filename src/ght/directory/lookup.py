"""Finding an establishment by the FINESS a system gave."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.directory.models import Establishment, Site


def juridique_finess(db: Session, finess: str) -> str:
    """The FINESS juridique for a FINESS a sender gave: senders often put the FINESS of their
    site (géographique) where the establishment's is expected; the IPP belongs to the
    establishment. Unknown values are passed on for the identity server to refuse."""
    if db.scalar(select(Establishment.id).where(Establishment.finess_ej == finess)) is not None:
        return finess
    juridique = db.scalar(
        select(Establishment.finess_ej).join(Site, Site.establishment_id == Establishment.id)
        .where(Site.finess_et == finess)
    )
    return juridique or finess
