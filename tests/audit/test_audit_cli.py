"""`ght audit ...` run as an operator runs it: exit codes and French messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select, update

from ght.audit.chain import ENTRIES
from ght.audit.models import AuditEntry
from ght.audit.trail import record
from support import run_ght


def ght(database_url, *args, **env):
    return run_ght("audit", *args, GHT_DATABASE_URL=database_url, **env)


def test_seal_then_verify_then_tampering_exits_1_with_the_break(db, event, database_url):
    for minutes in (3, 2, 1):
        record(db, event(recorded_at=datetime.now(UTC) - timedelta(minutes=minutes)))
    db.commit()
    sealed = ght(database_url, "seal")
    assert sealed.returncode == 0, sealed.stderr
    assert "3 entrée(s) scellée(s) ; tête : chain_seq 3, empreinte " in sealed.stdout

    intact = ght(database_url, "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "Trace intègre : 3 entrée(s) vérifiée(s) (chain_seq 1 à 3)" in intact.stdout
    head_hash = db.scalar(select(AuditEntry.entry_hash).where(AuditEntry.chain_seq == 3))
    assert f"Tête : chain_seq 3, empreinte {head_hash}" in intact.stdout

    target = db.scalar(select(AuditEntry.id).where(AuditEntry.chain_seq == 2))
    db.execute(update(ENTRIES).where(ENTRIES.c.id == target).values(account="quelqu.un.d.autre"))
    db.commit()
    broken = ght(database_url, "verify", "--known-head", f"3:{head_hash}")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Trace altérée : 1 anomalie(s)." in broken.stdout
    assert f"- chain_seq 2, id {target} : entrée modifiée (son empreinte ne correspond plus à son contenu)" in broken.stdout
    assert "Traceback" not in broken.stderr


def test_verify_reports_a_stopped_sealer(db, event, database_url):
    record(db, event(recorded_at=datetime.now(UTC) - timedelta(hours=2)))
    db.commit()
    result = ght(database_url, "verify", "--unsealed-minutes", "30")
    assert result.returncode == 1
    assert "1 entrée(s) non scellée(s)" in result.stdout and "le scelleur est-il arrêté ?" in result.stdout


def test_purge_keeps_the_trace_verifiable_and_refuses_recent_cutoffs(db, event, database_url):
    for day in (1, 2):
        record(db, event(recorded_at=datetime(2020, 3, day, tzinfo=UTC)))
    record(db, event())
    db.commit()
    purged = ght(database_url, "purge", "--before", "2021-01-01")
    assert purged.returncode == 0, purged.stderr
    assert ("2 entrée(s) enregistrée(s) avant le 2021-01-01 00:00 UTC purgée(s) ; la chaîne reprend au chain_seq 3 "
            "(ancre n° 1).") in purged.stdout
    assert ght(database_url, "verify").returncode == 0
    db.expire_all()
    purge_entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).one()
    assert purge_entry.account.startswith("cli:") and purge_entry.door == "cli"

    default = ght(database_url, "purge")  # six months by default: the recent entry stays
    assert default.returncode == 0 and "rien à purger" in default.stdout

    too_recent = ght(database_url, "purge", "--months", "2")
    assert too_recent.returncode == 2
    assert "Erreur : la trace se conserve 6 mois" in too_recent.stderr
    longer = ght(database_url, "purge", "--months", "2", GHT_AUDIT_RETENTION_MONTHS="1")
    assert longer.returncode == 0, longer.stderr

    both = ght(database_url, "purge", "--before", "2021-01-01", "--months", "7")
    assert both.returncode == 2 and "indiquez --before ou --months, pas les deux" in both.stderr


def test_export_writes_audit_events_and_is_itself_traced(db, event, database_url, tmp_path):
    record(db, event(ght_patient_id="P0001", recorded_at=datetime(2026, 5, 2, tzinfo=UTC)))
    record(db, event(ght_patient_id="P0002", recorded_at=datetime(2026, 5, 3, tzinfo=UTC)))
    db.commit()
    out = tmp_path / "trace.ndjson"
    result = ght(database_url, "export", "--out", str(out), "--patient", "P0001", "--since", "2026-05-01")
    assert result.returncode == 0, result.stderr
    assert f"1 AuditEvent écrit(s) dans {out}" in result.stdout
    [line] = out.read_bytes().splitlines()
    resource = orjson.loads(line)
    assert resource["resourceType"] == "AuditEvent" and resource["entity"][0]["what"]["reference"] == "Patient/P0001"
    db.expire_all()
    export_entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert (export_entry.ght_patient_id, export_entry.door) == ("P0001", "cli")

    bad = ght(database_url, "export", "--out", str(out), "--since", "01/05/2026")
    assert bad.returncode == 2 and "date attendue au format AAAA-MM-JJ" in bad.stderr
