"""The daily audit anchor: the chain head published once a Beijing day, and tampering proven against it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
import time_machine

from portal import audit
from portal.audit import GENESIS, AuditEntry, AuditHead, verify_chain
from portal.extensions import db
from portal.public.anchor import AuditAnchor, anchor_holds, publish_anchor, publish_anchor_job
from portal.scheduler import collect_jobs, run_once


def _write(n, now):
    for i in range(n):
        audit.record("test.event", ("thing", i), new={"i": i}, now=now, ip="127.0.0.1")
    db.session.commit()


def _anchors() -> list[AuditAnchor]:
    return list(db.session.scalars(sa.select(AuditAnchor).order_by(AuditAnchor.day)))


def test_anchor_states_the_chain_head(now):
    _write(4, now)
    head = db.session.get(AuditHead, 1)
    head_seq, head_hash = head.seq, head.last_hash
    anchor = publish_anchor(now)
    db.session.commit()
    assert (anchor.day, anchor.seq, anchor.head_hash, anchor.published_at) == (date(2026, 11, 30), head_seq,
                                                                                head_hash, now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.seq == anchor.seq))
    assert entry.hash == anchor.head_hash and anchor_holds(anchor)
    # The anchoring itself is audited after the anchor, so the next day's anchor covers it.
    last = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    assert last.action == "audit.anchored" and last.seq == head_seq + 1 and last.prev_hash == head_hash
    assert verify_chain().ok


def test_anchor_is_published_once_per_beijing_day(now):
    _write(2, now)
    publish_anchor_job(now)
    db.session.commit()
    (first,) = _anchors()
    _write(3, now)
    publish_anchor_job(now + timedelta(hours=13))  # 2026-11-30 23:00 in Beijing: the same day
    db.session.commit()
    assert [(a.day, a.seq, a.head_hash) for a in _anchors()] == [(first.day, first.seq, first.head_hash)]
    publish_anchor_job(now + timedelta(hours=14))  # 2026-12-01 00:00 in Beijing: a new day
    db.session.commit()
    anchors = _anchors()
    assert [a.day for a in anchors] == [date(2026, 11, 30), date(2026, 12, 1)]
    assert anchors[1].seq == db.session.get(AuditHead, 1).seq - 1  # before its own audit entry
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "audit.anchored")) == 2


def test_anchor_of_an_empty_chain_is_the_genesis(now):
    anchor = publish_anchor(now)
    db.session.commit()
    assert (anchor.seq, anchor.head_hash) == (0, GENESIS) and anchor_holds(anchor)


def test_later_tampering_breaks_the_chain_while_the_anchor_keeps_the_old_head(now):
    _write(5, now)
    anchor = publish_anchor(now)
    db.session.commit()
    published = (anchor.seq, anchor.head_hash)
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 3).values(new_values='{"i":99}'))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == 3
    db.session.expire_all()
    assert (_anchors()[0].seq, _anchors()[0].head_hash) == published


def test_rewriting_history_consistently_does_not_match_the_anchor(now):
    """Even a forger who rehashes every later entry (with the key) cannot reproduce the published hash."""
    _write(4, now)
    publish_anchor(now)
    db.session.commit()
    key = audit._key()
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()
    prev = GENESIS
    for entry in entries:
        if entry.seq == 2:
            entry.new_values = '{"i":42}'
        entry.prev_hash = prev
        entry.hash = audit._entry_hash(entry, key)
        prev = entry.hash
    db.session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))
    db.session.commit()
    assert verify_chain().ok  # the chain alone no longer shows it ...
    assert not anchor_holds(_anchors()[0])  # ... but the published anchor does


def test_the_scheduler_runs_the_anchor_job_once_a_day(app):
    specs = [spec for spec in collect_jobs(app) if spec.id == "public.audit_anchor"]
    assert len(specs) == 1
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        assert [o.ok for o in run_once(app, specs)] == [True]
    with time_machine.travel(t0 + timedelta(hours=1), tick=False):
        assert [o.ok for o in run_once(app, specs)] == [True]
    assert [a.day for a in _anchors()] == [date(2026, 11, 30)]
    with time_machine.travel(t0 + timedelta(days=1), tick=False):
        run_once(app, specs)
    assert [a.day for a in _anchors()] == [date(2026, 11, 30), date(2026, 12, 1)]


def test_anchor_command_publishes_and_then_shows_todays_anchor(app, now):
    _write(2, now)
    runner = app.test_cli_runner()
    with time_machine.travel(now, tick=False):
        first = runner.invoke(args=["audit", "anchor"])
        again = runner.invoke(args=["audit", "anchor"])
    assert first.exit_code == 0 and again.exit_code == 0
    (anchor,) = _anchors()
    assert first.output.strip() == again.output.strip() == f"2026-11-30 seq 2 {anchor.head_hash}"
