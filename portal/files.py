"""Safe file storage: size-limited, type-checked by content, stored under generated names.

The client's file name is kept only as metadata; the stored name is random. Files are
served as attachments only, and only to callers that checked the object's permission.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app, send_file
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import RequestEntityTooLarge

from portal.db import UTCDateTime, utcnow
from portal.errors import DomainError
from portal.extensions import db

ZIP_MAX_EXPANDED_BYTES = 500 * 1024 * 1024  # a ZIP may not expand past this (zip bombs)
ZIP_MAX_ENTRIES = 2000
ZIP_MAX_RATIO = 200  # expanded size / compressed size of any one member
NAME_MAX = 255
# A file on disk that no stored_files row names is an orphan once it is this old: its transaction was rolled back
# or its process died between writing the file and committing the row (house rule; the grace keeps files whose
# transaction is still running).
ORPHAN_GRACE = timedelta(days=1)
STORAGE_NAME = re.compile(r"[0-9a-f]{32}(\.part)?")


@dataclass(frozen=True)
class FileType:
    kind: str
    mime: str
    extension: str


PDF = FileType("pdf", "application/pdf", "pdf")
PNG = FileType("png", "image/png", "png")
JPEG = FileType("jpeg", "image/jpeg", "jpg")
ZIP = FileType("zip", "application/zip", "zip")
DOCX = FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
XLSX = FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
SEALED = FileType("sealed", "application/octet-stream", "bin")
ALL_TYPES = (PDF, PNG, JPEG, ZIP, DOCX, XLSX)


class UploadRejected(DomainError):
    status_code = 400


class StoredFile(db.Model):
    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    storage_name: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    mime: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    original_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    sealed: Mapped[bool] = mapped_column(nullable=False, default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    @property
    def path(self) -> Path:
        return storage_root() / self.storage_name[:2] / self.storage_name

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def storage_root() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def _zip_problem(data: bytes) -> str | None:
    """Why a ZIP archive is unsafe (path traversal, too many entries, a bomb), or None."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "corrupt"
    if len(members) > ZIP_MAX_ENTRIES:
        return "entries"
    expanded = 0
    for info in members:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            return "traversal"
        expanded += info.file_size
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO:
            return "bomb"
    if expanded > ZIP_MAX_EXPANDED_BYTES:
        return "bomb"
    return None


def _office_type(data: bytes) -> FileType | None:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


def sniff(data: bytes) -> FileType | None:
    """The file's type from its first bytes (and, for ZIP-based formats, its directory)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office_type(data) or ZIP
    return None


REJECTION_MESSAGES = {
    "type": _l("This kind of file is not accepted. Upload a PDF, Word (DOCX), Excel (XLSX), JPEG, PNG or ZIP file."),
    "not_allowed": _l("This kind of file is not accepted here."),
    "empty": _l("The uploaded file is empty."),
    "traversal": _l("The ZIP archive contains file names that point outside the archive; it was refused."),
    "bomb": _l("The ZIP archive expands to more than the portal accepts; it was refused."),
    "entries": _l("The ZIP archive contains too many files."),
    "corrupt": _l("The ZIP archive is damaged and cannot be read."),
}


def max_file_bytes() -> int:
    return current_app.config.get("MAX_FILE_BYTES") or current_app.config["MAX_CONTENT_LENGTH"]


def check_upload(data: bytes, allowed: tuple[FileType, ...] = ALL_TYPES) -> FileType:
    """Refuse an upload that is too large (413), of a wrong type or an unsafe archive (400)."""
    if len(data) > max_file_bytes():
        raise RequestEntityTooLarge()
    if not data:
        raise UploadRejected(REJECTION_MESSAGES["empty"])
    file_type = sniff(data)
    if file_type is None:
        raise UploadRejected(REJECTION_MESSAGES["type"])
    if file_type not in allowed:
        raise UploadRejected(REJECTION_MESSAGES["not_allowed"])
    if file_type is ZIP:
        problem = _zip_problem(data)
        if problem:
            raise UploadRejected(REJECTION_MESSAGES[problem])
    return file_type


def clean_name(name: str | None) -> str:
    """The client's file name as harmless metadata: no folders, no control characters, bounded length."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:NAME_MAX] or "file"


def _write(data: bytes) -> str:
    storage_name = secrets.token_hex(16)
    folder = storage_root() / storage_name[:2]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / storage_name
    temporary = target.with_suffix(".part")
    temporary.write_bytes(data)
    temporary.replace(target)
    return storage_name


def store_bytes(data: bytes, *, file_type: FileType, original_name: str = "", uploaded_by=None,
                sealed: bool = False) -> StoredFile:
    """Write bytes under a new random name and record them (flushes, never commits)."""
    stored = StoredFile(
        storage_name=_write(data),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        kind=file_type.kind,
        mime=file_type.mime,
        original_name=clean_name(original_name),
        sealed=sealed,
        uploaded_by_id=getattr(uploaded_by, "id", None),
    )
    db.session.add(stored)
    db.session.flush()
    return stored


def store_upload(upload, *, uploaded_by=None, allowed: tuple[FileType, ...] = ALL_TYPES) -> StoredFile:
    """Check an uploaded werkzeug FileStorage by its content and store it."""
    data = upload.read(max_file_bytes() + 1)
    file_type = check_upload(data, allowed)
    return store_bytes(data, file_type=file_type, original_name=upload.filename, uploaded_by=uploaded_by)


def _attachment(response):
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def send_bytes(data: bytes, file_type: FileType, name: str):
    """Serve content held in memory (e.g. a decrypted bid file) as a download, under ``name``."""
    if "." not in name:
        name = f"{name}.{file_type.extension}"
    return _attachment(send_file(io.BytesIO(data), mimetype=file_type.mime, as_attachment=True, download_name=name,
                                 max_age=0))


def send_stored(stored: StoredFile):
    """Serve a stored file as a download (never inline), under its original name."""
    if stored.sealed:
        raise DomainError(_l("A sealed file cannot be downloaded."))
    name = stored.original_name
    if not name.lower().endswith("." + stored.kind) and stored.kind in {t.kind for t in ALL_TYPES}:
        extension = next(t.extension for t in ALL_TYPES if t.kind == stored.kind)
        name = f"{name}.{extension}" if "." not in name else name
    return _attachment(send_file(stored.path, mimetype=stored.mime, as_attachment=True, download_name=name,
                                 max_age=0, etag=stored.sha256))


def sweep_orphans(now: datetime) -> int:
    """Delete stored-name files older than ORPHAN_GRACE that no stored_files row names; return how many.

    Only names the portal generates are touched, one two-letter folder at a time. A folder with files but without
    a single row is left alone: that is a wrong database or folder setting, not orphans.
    """
    root = storage_root()
    if not root.is_dir():
        return 0
    cutoff = (now - ORPHAN_GRACE).timestamp()
    removed = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{2}", p.name)):
        candidates = [f for f in folder.iterdir() if f.is_file() and STORAGE_NAME.fullmatch(f.name)]
        if not candidates:
            continue
        known = set(db.session.execute(sa.select(StoredFile.storage_name)
                                       .where(StoredFile.storage_name.startswith(folder.name))).scalars())
        if not known:
            continue
        for path in candidates:
            if path.name.removesuffix(".part") not in known and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
