"""The DIM dashboard (French UI): the territorial report with inline SVG bar charts, through
the request's gate (ght.dim.access): pseudonymised for the DIM physician (nominative when asked
for), masked aggregates for every other role; one trace entry per page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import select

from ght.access.gate import AccessDenied
from ght.dim import analysis
from ght.dim.access import open_report, visible_tables
from ght.dim.pseudonym import PseudonymKeyInvalid
from ght.directory.models import Site
from ght.api.deps import get_settings
from ght.web.pages import render
from ght.web.session import Page, ui_page

router = APIRouter(include_in_schema=False)
CHARTED = ("etablissement", "mois", "pyramide", "chapitres")


def bars(table: analysis.Table) -> list[dict]:
    """One bar per row, of the table's first count column (masked rows: no bar)."""
    index = next(i for i, c in enumerate(table.columns) if c.kind == analysis.COUNT)
    values = [row[index] for row in table.rows]
    top = max((v for v in values if v), default=1)
    return [{"label": str(row[0]), "value": v, "width": round(300 * (v or 0) / top)} for row, v in zip(table.rows, values)]


@router.get("/dim")
def dashboard(request: Request, nominatif: bool = False, page: Page = Depends(ui_page)):
    try:
        view = open_report(page.gate, "/dim", nominative=nominatif)
    except AccessDenied as denied:
        page.db.commit()
        return render(request, "dim/dashboard.html", page.auth, status.HTTP_403_FORBIDDEN, tables=[], charts={},
                      error=f"Accès refusé : {denied.reason}.")
    sites = {s.id: s.name for s in page.db.scalars(select(Site))}
    settings = get_settings(request)
    tables = analysis.report(analysis.connect(settings.var_dir, sites))
    page.gate.flush()
    try:
        shown = visible_tables(tables, view, settings)
    except PseudonymKeyInvalid as invalid:
        return render(request, "dim/dashboard.html", page.auth, status.HTTP_503_SERVICE_UNAVAILABLE, tables=[],
                      charts={}, error=f"Clé du pseudonyme inutilisable : {invalid}.")
    charts = {t.name: bars(t) for t in shown if t.name in CHARTED and t.rows}
    return render(request, "dim/dashboard.html", page.auth, tables=shown, charts=charts, view=view.value)
