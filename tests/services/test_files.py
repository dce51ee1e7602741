import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import RequestEntityTooLarge

from portal import files
from portal.audit import AuditEntry
from portal.extensions import db
from portal.files import check_upload, clean_name, sniff, store_bytes
from portal.scheduler import sweep_orphan_files
from tests.files_support import DOCX_BYTES, ELF_BYTES, JPEG_BYTES, PDF_BYTES, PNG_BYTES, XLSX_BYTES, zip_bytes


@pytest.mark.parametrize(("data", "kind"), [
    (PDF_BYTES, "pdf"), (PNG_BYTES, "png"), (JPEG_BYTES, "jpeg"), (DOCX_BYTES, "docx"), (XLSX_BYTES, "xlsx"),
    (zip_bytes({"a.txt": b"hello"}), "zip"),
])
def test_sniff_recognises_accepted_types(data, kind):
    assert sniff(data).kind == kind
    assert check_upload(data).kind == kind


@pytest.mark.parametrize("data", [ELF_BYTES, b"MZ\x90\x00 windows exe", b"<html><script>", b"plain text"])
def test_other_content_is_refused_whatever_its_name(data):
    with pytest.raises(files.UploadRejected):
        check_upload(data)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path.txt", "..\\windows\\evil.dll", "C:/evil.txt",
                                  "ok/../../up.txt"])
def test_zip_with_path_traversal_is_refused(name):
    with pytest.raises(files.UploadRejected) as info:
        check_upload(zip_bytes({"fine.txt": b"x", name: b"evil"}))
    assert str(info.value) == str(files.REJECTION_MESSAGES["traversal"])


def test_zip_bomb_is_refused():
    with pytest.raises(files.UploadRejected):
        check_upload(zip_bytes({"zeros.bin": b"\x00" * (5 * 1024 * 1024)}))


def test_oversize_is_413(app):
    app.config["MAX_FILE_BYTES"] = 1024
    try:
        with pytest.raises(RequestEntityTooLarge):
            check_upload(PDF_BYTES + b"\x00" * 1024)
        assert check_upload(PDF_BYTES + b"\x00" * (1024 - len(PDF_BYTES))).kind == "pdf"  # exactly the limit
    finally:
        app.config.pop("MAX_FILE_BYTES")


def test_only_allowed_types_for_a_purpose():
    with pytest.raises(files.UploadRejected):
        check_upload(PNG_BYTES, allowed=(files.PDF,))


def test_stored_name_is_random_and_content_hashed(app):
    stored = store_bytes(PDF_BYTES, file_type=files.PDF, original_name="../../我的证书.pdf")
    assert stored.original_name == "我的证书.pdf"
    assert "证书" not in stored.storage_name and len(stored.storage_name) == 32
    assert stored.path.read_bytes() == PDF_BYTES
    assert stored.path.is_relative_to(files.storage_root())
    import hashlib

    assert stored.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    other = store_bytes(PDF_BYTES, file_type=files.PDF, original_name="../../我的证书.pdf")
    assert other.storage_name != stored.storage_name


@pytest.mark.parametrize(("raw", "clean"), [
    ("report.pdf", "report.pdf"), ("a/b/c.pdf", "c.pdf"), ("..", "file"), ("", "file"), (None, "file"),
    ("x\x00y\n.pdf", "xy.pdf"), ('<script>"a".pdf', "scripta.pdf"), ("名" * 300, "名" * 255),
])
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


# --- orphans: files whose row never committed ----------------------------------------------------------------


def _orphan(name: str, *, age_days: float, now) -> Path:
    path = files.storage_root() / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 orphan")
    stamp = (now - timedelta(days=age_days)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_sweep_removes_old_orphans_and_keeps_everything_else(app, now):
    kept = store_bytes(PDF_BYTES, file_type=sniff(PDF_BYTES), original_name="a.pdf")
    db.session.commit()
    prefix = kept.storage_name[:2]
    old = _orphan(prefix + "0" * 30, age_days=2, now=now)
    old_part = _orphan(prefix + "1" * 30 + ".part", age_days=2, now=now)
    young = _orphan(prefix + "2" * 30, age_days=0.5, now=now)
    foreign = _orphan(prefix + "not-ours.txt", age_days=30, now=now)
    stamp = (now - timedelta(days=5)).timestamp()
    os.utime(kept.path, (stamp, stamp))

    assert sweep_orphan_files(now) == 2
    db.session.commit()

    assert not old.exists() and not old_part.exists()
    assert young.exists() and foreign.exists() and kept.path.exists()
    young.unlink()
    foreign.unlink()
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "files.orphans_swept")).scalar_one()
    assert json.loads(entry.new_values) == {"removed": 2}


def test_sweep_leaves_a_folder_alone_when_the_database_names_none_of_its_files(app, now):
    """A wrong database or upload-folder setting must not look like a folder full of orphans."""
    lonely = _orphan("ab" + "3" * 30, age_days=10, now=now)
    assert sweep_orphan_files(now) == 0
    assert lonely.exists()
    lonely.unlink()
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar_one() == 0
