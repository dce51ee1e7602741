import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal import files, sealing
from portal.db import utcnow
from portal.extensions import db
from portal.sealing import SealingError, SealingKey, SealTampered
from tests.support.sqlite_files import database_bytes

CANARY = "CANARY-报价-98765432.10-ZETA"
SCOPE = "tender:1"


def _seal_bid(now):
    price = sealing.seal_values(SCOPE, {"price": "98765432.10", "note": CANARY})
    document = sealing.seal(SCOPE, f"技术方案 {CANARY} 服务团队".encode())
    stored = files.store_bytes(document.ciphertext, file_type=files.SEALED, original_name="方案.pdf", sealed=True)
    db.session.commit()
    return price, document, stored


def test_round_trip_after_authorisation(create_user, now):
    price, document, stored = _seal_bid(now)
    officers = [create_user("officer"), create_user("officer")]
    sealing.authorise_opening(SCOPE, actors=officers, now=now)
    db.session.commit()
    assert sealing.unseal_values(SCOPE, price.ciphertext)["note"] == CANARY
    assert sealing.unseal(SCOPE, stored.read_bytes()).decode() == f"技术方案 {CANARY} 服务团队"


def test_unseal_before_authorisation_is_refused(now):
    price, document, _ = _seal_bid(now)
    with pytest.raises(SealingError):
        sealing.unseal(SCOPE, document.ciphertext)
    with pytest.raises(SealingError):
        sealing.unseal("tender:unknown", document.ciphertext)


def test_tampered_ciphertext_is_detected(now, create_user):
    _, document, _ = _seal_bid(now)
    sealing.authorise_opening(SCOPE, actors=[create_user("officer")], now=now)
    flipped = bytearray(document.ciphertext)
    flipped[20] ^= 0x01
    with pytest.raises(SealTampered):
        sealing.unseal(SCOPE, bytes(flipped))
    with pytest.raises(SealTampered):
        sealing.unseal(SCOPE, document.ciphertext[:10])


def test_ciphertext_of_one_tender_cannot_be_opened_as_another(now, create_user):
    _, document, _ = _seal_bid(now)
    sealing.seal("tender:2", b"other")
    officer = create_user("officer")
    sealing.authorise_opening("tender:2", actors=[officer], now=now)
    with pytest.raises(SealTampered):
        sealing.unseal("tender:2", document.ciphertext)


def test_tampered_wrapped_key_is_detected(now, create_user):
    _, document, _ = _seal_bid(now)
    row = db.session.scalar(sa.select(SealingKey).where(SealingKey.scope == SCOPE))
    row.wrapped_key = row.wrapped_key[:-1] + bytes([row.wrapped_key[-1] ^ 1])
    sealing.authorise_opening(SCOPE, actors=[create_user("officer")], now=now)
    with pytest.raises(SealTampered):
        sealing.unseal(SCOPE, document.ciphertext)


def test_opening_is_authorised_once_and_audited(now, create_user):
    from portal.audit import AuditEntry

    sealing.seal(SCOPE, b"x")
    officers = [create_user("officer"), create_user("officer")]
    sealing.authorise_opening(SCOPE, actors=officers, now=now)
    with pytest.raises(SealingError):
        sealing.authorise_opening(SCOPE, actors=officers, now=now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "sealing.opening_authorised"))
    assert entry.subject_id == SCOPE


def test_price_hash_reveals_nothing():
    """Two seals of the same price differ in hash (salted), so a receipt cannot be brute-forced."""
    first = sealing.seal_values(SCOPE, {"price": "100000.00"})
    second = sealing.seal_values(SCOPE, {"price": "100000.00"})
    assert first.sha256 != second.sha256 and first.ciphertext != second.ciphertext


def test_canary_is_nowhere_in_storage(app, now, database_url, tmp_path):
    _seal_bid(now)
    db.session.commit()
    needles = [CANARY.encode(), CANARY.encode("utf-16-le"), b"98765432.10"]
    for path in Path(app.config["UPLOAD_FOLDER"]).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(n in content for n in needles), path
    if db.engine.dialect.name == "sqlite":
        db.session.remove()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
        raw = database_bytes(database_url.removeprefix("sqlite:///"))
        assert b"sealing_keys" in raw  # the bytes did include the data
        assert not any(n in raw for n in needles)
    else:
        url = sa.make_url(database_url)
        command = ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                   "-U", url.username or "postgres", "--data-only", url.database]
        dump = subprocess.run(command, check=True, capture_output=True,
                              env={**os.environ, "PGCONNECT_TIMEOUT": "10"}).stdout
        assert b"sealing_keys" in dump  # the dump did see the data
        assert not any(n in dump for n in needles)


def test_key_rotation_rewraps_and_keeps_bids_readable(app, now, create_user):
    _, document, _ = _seal_bid(now)
    old_key = app.config["PORTAL_SEALING_KEY"]
    new_key = os.urandom(32).hex()
    app.config.update(PORTAL_SEALING_KEY=new_key, PORTAL_SEALING_OLD_KEYS=old_key)
    try:
        assert sealing.rewrap_all() == 1
        db.session.commit()
        app.config["PORTAL_SEALING_OLD_KEYS"] = ""
        sealing.authorise_opening(SCOPE, actors=[create_user("officer")], now=now)
        assert b"CANARY" in sealing.unseal(SCOPE, document.ciphertext)
    finally:
        app.config.update(PORTAL_SEALING_KEY=old_key, PORTAL_SEALING_OLD_KEYS="")


def test_missing_key_is_a_clear_error(app, now, create_user):
    _, document, _ = _seal_bid(now)
    sealing.authorise_opening(SCOPE, actors=[create_user("officer")], now=now)
    old_key = app.config["PORTAL_SEALING_KEY"]
    app.config["PORTAL_SEALING_KEY"] = os.urandom(32).hex()
    try:
        with pytest.raises(SealingError) as info:
            sealing.unseal(SCOPE, document.ciphertext)
        assert not isinstance(info.value, SealTampered)
    finally:
        app.config["PORTAL_SEALING_KEY"] = old_key


def test_receipt_pdf_carries_time_to_the_microsecond_and_hash(tmp_path):
    sealed = sealing.seal(SCOPE, "投标文件".encode())
    received = utcnow()
    rcpt = sealing.receipt(SCOPE, "投标文件.pdf", sealed, received_at=received)
    data = sealing.receipt_pdf(rcpt, tender_title="困难老年人关爱服务项目", bidder="阳光社工", issuer="郑州市民政局")
    source = tmp_path / "r.pdf"
    source.write_bytes(data)
    text = subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True, text=True).stdout
    assert received.isoformat(timespec="microseconds") in text
    assert sealed.sha256 in text.replace("\n", "")
    assert "困难老年人关爱服务项目" in text


def test_rewrap_command(app):
    sealing.seal(SCOPE, b"x")
    db.session.commit()
    old_key = app.config["PORTAL_SEALING_KEY"]
    app.config.update(PORTAL_SEALING_KEY=os.urandom(32).hex(), PORTAL_SEALING_OLD_KEYS=old_key)
    try:
        result = app.test_cli_runner().invoke(args=["sealing", "rewrap"])
        assert result.exit_code == 0 and "Re-wrapped 1 data keys" in result.output
        again = app.test_cli_runner().invoke(args=["sealing", "rewrap"])
        assert "Re-wrapped 0 data keys" in again.output
    finally:
        app.config.update(PORTAL_SEALING_KEY=old_key, PORTAL_SEALING_OLD_KEYS="")
