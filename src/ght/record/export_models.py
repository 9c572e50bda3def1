"""The bulk `$export` jobs (FHIR Bulk Data Access, asynchronous request pattern).

A job is durable: it is written before the kick-off answers 202, so a poll after a server
restart still finds it, and a job the restart interrupted reads as failed, never as lost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ght.db.base import Base, UtcDateTime, utcnow

# accepted (queued) -> running -> completed | failed; cancelled until its thread cleans up.
ACCEPTED, RUNNING, COMPLETED, FAILED, CANCELLED = "accepted", "running", "completed", "failed", "cancelled"
UNFINISHED = (ACCEPTED, RUNNING)


class BulkExportJob(Base):
    __tablename__ = "bulk_export_job"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default=ACCEPTED, index=True)
    level: Mapped[str] = mapped_column(String(8))  # system | patient | group
    group_id: Mapped[str | None] = mapped_column(String(16))  # FINESS EJ of the group's establishment
    types: Mapped[list | None] = mapped_column(JSON)  # _type, None = every type
    since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    request_url: Mapped[str] = mapped_column(String(2000))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)  # only it polls and downloads
    # The server process that runs it, "<host>:<pid>:<token>": a restart fails only its own jobs.
    worker: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)  # last progress
    transaction_time: Mapped[datetime | None] = mapped_column(UtcDateTime)  # set when the job starts
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    progress: Mapped[str] = mapped_column(String(200), default="")
    output: Mapped[list | None] = mapped_column(JSON)  # [{"type", "file", "count"}]
    error: Mapped[str | None] = mapped_column(Text)
