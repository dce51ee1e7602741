"""The single scheduler process: timed jobs of every feature, run exactly once at a time."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime
from portal.extensions import db


class JobRun(db.Model):
    """One run of a timed job: what fell due, who ran it, and how it ended."""

    __tablename__ = "scheduler_job_runs"
    __table_args__ = (sa.Index("ix_scheduler_job_runs_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column()
    error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    runner: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
