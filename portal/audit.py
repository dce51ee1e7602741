"""Append-only, hash-chained audit log.

Each entry stores who did what, when (UTC), from where, and the old and new values. Its
hash is an HMAC-SHA256 (key from PORTAL_AUDIT_KEY, kept outside the database) over the
canonical entry and the previous entry's hash, so editing, deleting or reordering any
row breaks the chain. A single head row holds the sequence and the last hash; writers
update it first, which serialises appends on SQLite and PostgreSQL alike so two
concurrent writers can never fork the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db

GENESIS = "0" * 64


class AuditHead(db.Model):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, default=GENESIS)


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    actor_name: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    ip: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(sa.String(80), nullable=False, index=True)
    subject_type: Mapped[str] = mapped_column(sa.String(60), nullable=False, default="")
    subject_id: Mapped[str] = mapped_column(sa.String(60), nullable=False, default="")
    old_values: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    new_values: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)


def _jsonable(value: Any):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _dump(values) -> str:
    if values is None:
        return ""
    return json.dumps(_jsonable(values), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _canonical(entry: AuditEntry) -> bytes:
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "ip": entry.ip,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "old": entry.old_values,
        "new": entry.new_values,
        "prev": entry.prev_hash,
    }
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _entry_hash(entry: AuditEntry, key: bytes) -> str:
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


def _key() -> bytes:
    return current_app.config["PORTAL_AUDIT_KEY"].encode()


def _subject_of(subject) -> tuple[str, str]:
    if subject is None:
        return "", ""
    if isinstance(subject, tuple):
        kind, ident = subject
        return str(kind), str(ident)
    return type(subject).__name__, str(getattr(subject, "id", ""))


def client_ip() -> str:
    """The client's address for the current request (empty outside a request)."""
    if not has_request_context():
        return ""
    return request.remote_addr or ""


def _create_head() -> None:
    """Insert the chain's head row unless a concurrent writer already has (it then waits for that one's commit)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(AuditHead.__table__).values(id=1, seq=0, last_hash=GENESIS)
                       .on_conflict_do_nothing(index_elements=["id"]))


def record(action: str, subject=None, *, actor=None, old=None, new=None, now: datetime | None = None,
           ip: str | None = None) -> AuditEntry:
    """Append one entry to the chain inside the caller's transaction (flushes, never commits)."""
    head_table = AuditHead.__table__
    db.session.flush()
    advance = (head_table.update().where(head_table.c.id == 1).values(seq=head_table.c.seq + 1)
               .returning(head_table.c.seq, head_table.c.last_hash))
    row = db.session.execute(advance).first()
    if row is None:  # the very first entry: writers racing to create the head must not collide
        _create_head()
        row = db.session.execute(advance).one()
    seq, prev = row
    subject_type, subject_id = _subject_of(subject)
    at = now or utcnow()
    entry = AuditEntry(
        seq=seq,
        at=at.replace(microsecond=at.microsecond),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", "") or "",
        ip=ip if ip is not None else client_ip(),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        old_values=_dump(old),
        new_values=_dump(new),
        prev_hash=prev,
    )
    entry.hash = _entry_hash(entry, _key())
    db.session.add(entry)
    db.session.execute(head_table.update().where(head_table.c.id == 1).values(last_hash=entry.hash))
    db.session.flush()
    return entry


@dataclass
class ChainReport:
    ok: bool
    count: int
    bad_seq: int | None = None
    reason: str = ""


def verify_chain(batch: int = 1000) -> ChainReport:
    """Walk the chain in order and report the first entry that was edited, deleted or moved."""
    key = _key()
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_id = 0
    while True:
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.seq >= expected_seq).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not entries:
            break
        for entry in entries:
            if entry.seq != expected_seq:
                return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing")
            if entry.id <= last_id:
                return ChainReport(False, count, entry.seq, f"entry {entry.seq} is out of order")
            if entry.prev_hash != prev:
                return ChainReport(False, count, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}")
            if not hmac.compare_digest(entry.hash, _entry_hash(entry, key)):
                return ChainReport(False, count, entry.seq, f"entry {entry.seq} was altered")
            prev = entry.hash
            last_id = entry.id
            expected_seq += 1
            count += 1
    head = db.session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.last_hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return ChainReport(False, count, count + 1, f"entries after {count} were removed (head says {head_seq})")
    return ChainReport(True, count)
