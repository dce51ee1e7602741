"""The audit anchor (审计锚点): once a (Beijing) day the audit chain's head is published on the public board.

A published anchor says "on this day the chain had ``seq`` entries and its last hash was ``head_hash``".
Whoever checks the chain later with the audit key must arrive at the same hash at that sequence number;
changing, deleting or reordering any earlier entry would give a different hash, so tampering with history
can be proven against an anchor published before it.
"""

from __future__ import annotations

from datetime import date, datetime

import click
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal import audit
from portal.audit import GENESIS, AuditEntry, AuditHead
from portal.cli import audit_cli
from portal.db import UTCDateTime, transaction, utcnow
from portal.extensions import db
from portal.tenders.rules import local_date


class AuditAnchor(db.Model):
    """The audit chain's head as published on one Beijing day (one row per day, never changed)."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False, unique=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    head_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


def publish_anchor(now: datetime, actor=None) -> AuditAnchor:
    """Publish today's anchor (Beijing day of ``now``); the day's existing anchor if there is one (flushes).

    The audit head row is locked first so that two runs on the same day cannot both publish, and the head
    read is the one the anchor states. The anchor's own audit entry comes after it, so the next day's
    anchor covers it.
    """
    day = local_date(now)
    head = db.session.execute(
        sa.select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    existing = db.session.scalar(sa.select(AuditAnchor).where(AuditAnchor.day == day))
    if existing is not None:
        return existing
    seq, head_hash = (head.seq, head.last_hash) if head is not None else (0, GENESIS)
    anchor = AuditAnchor(day=day, seq=seq, head_hash=head_hash, published_at=now)
    db.session.add(anchor)
    db.session.flush()
    audit.record("audit.anchored", anchor, actor=actor, now=now,
                 new={"day": day.isoformat(), "seq": seq, "head_hash": head_hash})
    return anchor


def anchor_holds(anchor: AuditAnchor) -> bool:
    """Whether the stored chain still has the anchored hash at the anchored sequence number.

    This only compares the stored hash; ``portal.audit.verify_chain`` recomputes every hash with the key.
    Both must pass for the history up to the anchor to be intact.
    """
    if anchor.seq == 0:
        return anchor.head_hash == GENESIS
    stored = db.session.scalar(sa.select(AuditEntry.hash).where(AuditEntry.seq == anchor.seq))
    return stored == anchor.head_hash


def publish_anchor_job(now: datetime) -> None:
    """Scheduler job: publish today's anchor if it is not there yet (safe to run any number of times)."""
    publish_anchor(now)


@audit_cli.command("anchor")
def audit_anchor_command():
    """Publish today's audit anchor (the chain head) now, or show it if it was already published."""
    with transaction():
        anchor = publish_anchor(utcnow())
        line = f"{anchor.day.isoformat()} seq {anchor.seq} {anchor.head_hash}"
    click.echo(line)
