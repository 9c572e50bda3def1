"""`ght demo start` imports the demo territory's PMSI files through the DIM's importer, each
import traced, so the DIM dashboard has data; a second start imports nothing again."""

from __future__ import annotations

import json

from rich.console import Console
from sqlalchemy import func, select

from ght.audit.models import AuditEntry
from ght.db.engine import session_factory
from ght.demo.bootstrap import DEMO_ACTOR, SilentProgress, start_demo
from ght.dim import analysis
from ght.dim.models import DimImport, DimRum


def _start(settings):
    started = start_demo(settings, patients=120, seed=11, progress_factory=SilentProgress, console=Console(quiet=True))
    started.dispose()


def test_demo_start_imports_the_territory_pmsi_files(engine, settings):
    _start(settings)
    files = sorted((settings.var_dir / "territory" / "pmsi").glob("*.rss"))
    assert files
    with session_factory(engine)() as db:
        imports = db.scalars(select(DimImport).order_by(DimImport.id)).all()
        assert sorted(i.filename for i in imports) == [f.name for f in files]
        assert {i.imported_by for i in imports} == {"ght demo"}
        lines = sum(len(f.read_bytes().splitlines()) for f in files)
        assert db.scalar(select(func.count()).select_from(DimRum)) == lines == sum(i.lines for i in imports)
        assert 0 < sum(i.linked for i in imports) <= lines
        traced = db.scalars(select(AuditEntry).where(AuditEntry.account == DEMO_ACTOR,
                                                     AuditEntry.purpose == "dim")).all()
        assert sorted(r for e in traced for r in json.loads(e.resources)) == sorted(f"dim/import/{i.id}" for i in imports)
    stays = {t.name: t for t in analysis.report(analysis.connect(settings.var_dir))}["etablissement"]
    assert sum(row[1] for row in stays.rows) == sum(i.stays for i in imports)

    _start(settings)  # the database has its PMSI data: nothing imported again
    with session_factory(engine)() as db:
        assert [i.id for i in db.scalars(select(DimImport).order_by(DimImport.id))] == [i.id for i in imports]
