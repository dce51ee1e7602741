import sqlalchemy as sa

from portal import audit
from portal.audit import AuditEntry, verify_chain
from portal.extensions import db
from tests.support.concurrency import postgresql_only, run_concurrently


def _write(n, now):
    for i in range(n):
        audit.record("test.event", ("thing", i), new={"i": i, "text": "中文"}, now=now, ip="127.0.0.1")
    db.session.commit()


def test_chain_verifies_when_untouched(now):
    _write(5, now)
    report = verify_chain()
    assert report.ok and report.count == 5


def test_chain_links_each_entry_to_the_previous(now):
    _write(3, now)
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert entries[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]


def test_edited_row_is_found(now):
    _write(5, now)
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 3).values(new_values='{"i":99}'))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == 3 and "altered" in report.reason


def test_edited_actor_is_found(now):
    _write(3, now)
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(actor_name="someone"))
    db.session.commit()
    assert verify_chain().bad_seq == 2


def test_deleted_row_is_found(now):
    _write(5, now)
    db.session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 2))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == 2 and "missing" in report.reason


def test_deleted_last_row_is_found(now):
    _write(4, now)
    db.session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 4))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == 4


def test_reordered_rows_are_found(now):
    _write(5, now)
    # Swap the sequence numbers of entries 2 and 3 (through a spare number, as the column is unique).
    for old, new in ((2, 1000), (3, 2), (1000, 3)):
        db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == old).values(seq=new))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == 2


def test_rehashed_row_without_the_key_is_found(now):
    """Someone who recomputes a plain SHA-256 cannot forge an entry: the hash is keyed."""
    import hashlib

    _write(2, now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.seq == 2))
    entry.new_values = '{"i":7}'
    entry.hash = hashlib.sha256(audit._canonical(entry)).hexdigest()
    db.session.commit()
    assert verify_chain().bad_seq == 2


def test_verify_command_reports_ok_and_tampering(app, now):
    _write(3, now)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and result.output.strip() == "OK 3 entries"
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 1).values(action="other"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "entry 1" in result.output


def test_record_stores_old_and_new_untranslated(now, create_user):
    user = create_user("admin")
    entry = audit.record("user.updated", user, actor=user, old={"active": True}, new={"active": False}, now=now)
    assert entry.subject_type == "User" and entry.subject_id == str(user.id)
    assert entry.old_values == '{"active":true}' and entry.new_values == '{"active":false}'
    assert entry.actor_name == user.username


def test_writers_racing_to_make_the_first_entry_all_land_in_one_chain(app, now):
    """On an empty chain every concurrent writer tries to create the head row: none may fail, none may fork."""
    postgresql_only()
    assert db.session.get(audit.AuditHead, 1) is None
    db.session.rollback()
    attempts = [lambda i=i: audit.record("test.first", ("thing", i), now=now) for i in range(8)]
    outcomes = run_concurrently(app, attempts)
    assert outcomes == ["ok"] * 8
    seqs = db.session.execute(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
    assert seqs == list(range(1, 9))
    assert verify_chain().ok
