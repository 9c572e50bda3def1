"""`ght dim import` and `ght dim report` as an operator runs them: the error report of a
refused file, the import, the masked report and its CSV and Parquet exports, each traced."""

from __future__ import annotations

from sqlalchemy import select

from dim.dim_fixture import CHU_RUMS, CORRESPONDENCE_CHU, rss_file
from ght.audit.models import AuditEntry
from support import run_ght


def test_import_and_report(engine, dim_territory, tmp_path):
    env = {"GHT_DATABASE_URL": engine.url.render_as_string(hide_password=False), "GHT_VAR_DIR": str(tmp_path)}
    rss, corr = tmp_path / "chu.rss", tmp_path / "chu.csv"
    rss.write_bytes(rss_file(CHU_RUMS).replace(b"K358", b"D900"))
    corr.write_text(CORRESPONDENCE_CHU)
    refused = run_ght("dim", "import", str(rss), "--periode", "2026-03", **env)
    assert refused.returncode == 2
    assert "ligne 3, Diagnostic principal : « D900 » : code CIM-10 inconnu" in refused.stderr
    rss.write_bytes(rss_file(CHU_RUMS))
    done = run_ght("dim", "import", str(rss), "--periode", "2026-03", "--correspondance", str(corr), **env)
    assert done.returncode == 0, done.stderr
    assert "6 RUM, 5 séjours, 3 actes, 5 RUM rattachés" in done.stdout
    shown = run_ght("dim", "report", "--export", str(tmp_path / "out"), **env)
    assert shown.returncode == 0, shown.stderr
    assert "< 10" in shown.stdout and "G1" not in shown.stdout
    assert (tmp_path / "out" / "etablissement.csv").read_text().splitlines()[1] == "CHU;< 10;13;< 10;< 10"
    assert (tmp_path / "out" / "reh.parquet").exists() and not (tmp_path / "out" / "reh_liste.csv").exists()
    dim_territory.expire_all()
    resources = [e.resources for e in dim_territory.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert len(resources) == 2
