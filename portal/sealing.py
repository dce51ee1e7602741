"""Bid sealing: per-tender data keys (AES-256-GCM) wrapped by the key in PORTAL_SEALING_KEY.

Each sealing scope (one tender) has its own random data key, stored only wrapped
(encrypted with AES-GCM under the key-encryption key from the environment, with the scope
as associated data, so a wrapped key cannot be moved to another tender). Ciphertexts carry
their own nonce and are bound to their scope the same way. Nothing unseals until opening
has been authorised for the scope (tenders do that once two officers have confirmed, at or
after the deadline); a changed byte anywhere is detected by the GCM tag.

Key rotation: set the new key in PORTAL_SEALING_KEY and the old ones, comma-separated, in
PORTAL_SEALING_OLD_KEYS, then run ``flask --app portal sealing rewrap``; afterwards the old
keys can be removed. Lose the key and every sealed bid of every open tender is lost: back it
up apart from the database backups.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from portal import audit
from portal.db import UTCDateTime, utcnow
from portal.errors import DomainError
from portal.extensions import db

NONCE_BYTES = 12
FORMAT_VERSION = b"\x01"


class SealingError(DomainError):
    status_code = 409


class SealTampered(SealingError):
    pass


class SealingKey(db.Model):
    """The data key of one sealing scope (a tender), wrapped; and whether opening was authorised."""

    __tablename__ = "sealing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(100), nullable=False, unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    kek_id: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    opening_authorised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opening_authorised_by: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")


@dataclass(frozen=True)
class Sealed:
    """What sealing returns: the ciphertext to store and the receipt facts."""

    ciphertext: bytes
    sha256: str  # of the plaintext that was sealed
    size: int


@dataclass(frozen=True)
class Receipt:
    """A bidder's proof of submission: when (UTC, to the microsecond) and what (SHA-256)."""

    scope: str
    subject: str
    received_at: datetime
    sha256: str
    size: int

    def as_dict(self) -> dict:
        return {"scope": self.scope, "subject": self.subject,
                "received_at": self.received_at.isoformat(timespec="microseconds"),
                "sha256": self.sha256, "size": self.size}


def _parse_key(value: str) -> bytes:
    value = value.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 32:
        # Accept any other secret string by deriving a 256-bit key from it.
        key = hashlib.sha256(value.encode()).digest()
    return key


def _kek_id(key: bytes) -> str:
    return hashlib.sha256(b"portal-kek" + key).hexdigest()[:16]


def _keks() -> dict[str, bytes]:
    """The current key-encryption key first, then any old ones kept for rotation."""
    keys = [_parse_key(current_app.config["PORTAL_SEALING_KEY"])]
    old = current_app.config.get("PORTAL_SEALING_OLD_KEYS") or os.environ.get("PORTAL_SEALING_OLD_KEYS", "")
    keys += [_parse_key(k) for k in old.split(",") if k.strip()]
    return {_kek_id(k): k for k in keys}


def _current_kek() -> tuple[str, bytes]:
    key = _parse_key(current_app.config["PORTAL_SEALING_KEY"])
    return _kek_id(key), key


def _wrap(dek: bytes, scope: str) -> tuple[str, bytes]:
    kek_id, kek = _current_kek()
    nonce = os.urandom(NONCE_BYTES)
    return kek_id, nonce + AESGCM(kek).encrypt(nonce, dek, b"wrap:" + scope.encode())


def _unwrap(row: SealingKey) -> bytes:
    kek = _keks().get(row.kek_id)
    if kek is None:
        raise SealingError(_l("The key that protects this tender's bids is not configured (key %(id)s).",
                              id=row.kek_id))
    try:
        return AESGCM(kek).decrypt(row.wrapped_key[:NONCE_BYTES], row.wrapped_key[NONCE_BYTES:],
                                   b"wrap:" + row.scope.encode())
    except InvalidTag as exc:
        raise SealTampered(_l("The sealing key of this tender has been altered.")) from exc


def _key_row(scope: str, *, create: bool, lock: bool = False) -> SealingKey | None:
    query = sa.select(SealingKey).where(SealingKey.scope == scope)
    if lock:
        query = query.with_for_update()
    row = db.session.scalar(query)
    if row is None and create:
        kek_id, wrapped = _wrap(AESGCM.generate_key(bit_length=256), scope)
        row = SealingKey(scope=scope, wrapped_key=wrapped, kek_id=kek_id)
        db.session.add(row)
        db.session.flush()
    return row


def prepare_scope(scope: str) -> None:
    """Create the scope's data key now (at publication), so concurrent first seals never race to create it."""
    _key_row(scope, create=True)


def seal(scope: str, data: bytes) -> Sealed:
    """Encrypt ``data`` under the scope's data key; the result is bound to the scope."""
    dek = _unwrap(_key_row(scope, create=True))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = FORMAT_VERSION + nonce + AESGCM(dek).encrypt(nonce, data, scope.encode())
    return Sealed(ciphertext=ciphertext, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def seal_values(scope: str, values: dict) -> Sealed:
    """Seal a small mapping (a price, say) with a random salt, so its SHA-256 reveals nothing."""
    payload = {"salt": secrets.token_hex(16), "values": values}
    return seal(scope, json.dumps(payload, ensure_ascii=False, sort_keys=True).encode())


def is_opening_authorised(scope: str) -> bool:
    row = _key_row(scope, create=False)
    return row is not None and row.opening_authorised_at is not None


def authorise_opening(scope: str, *, actors: list, now: datetime) -> None:
    """Record that opening was authorised (by the tender's rules) for this scope; audited."""
    row = _key_row(scope, create=True, lock=True)
    if row.opening_authorised_at is not None:
        raise SealingError(_l("Opening has already been authorised."))
    row.opening_authorised_at = now
    row.opening_authorised_by = ",".join(str(getattr(a, "id", a)) for a in actors)
    audit.record("sealing.opening_authorised", ("SealingKey", scope), actor=actors[-1] if actors else None,
                 new={"by": row.opening_authorised_by, "at": now}, now=now)


def unseal(scope: str, ciphertext: bytes) -> bytes:
    """Decrypt; refused before opening has been authorised, and on any alteration."""
    row = _key_row(scope, create=False)
    if row is None or row.opening_authorised_at is None:
        raise SealingError(_l("Sealed bids cannot be opened before the opening has been authorised."))
    dek = _unwrap(row)
    if len(ciphertext) < 1 + NONCE_BYTES + 16 or ciphertext[:1] != FORMAT_VERSION:
        raise SealTampered(_l("A sealed file has been altered or damaged."))
    nonce, body = ciphertext[1:1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES:]
    try:
        return AESGCM(dek).decrypt(nonce, body, scope.encode())
    except InvalidTag as exc:
        raise SealTampered(_l("A sealed file has been altered or damaged.")) from exc


def unseal_values(scope: str, ciphertext: bytes) -> dict:
    return json.loads(unseal(scope, ciphertext))["values"]


def receipt(scope: str, subject: str, sealed: Sealed, *, received_at: datetime) -> Receipt:
    return Receipt(scope=scope, subject=subject, received_at=received_at, sha256=sealed.sha256, size=sealed.size)


def rewrap_all() -> int:
    """Re-wrap every data key under the current key (after a key rotation); returns how many changed."""
    current_id, _ = _current_kek()
    changed = 0
    for row in db.session.scalars(sa.select(SealingKey).where(SealingKey.kek_id != current_id).with_for_update()):
        row.kek_id, row.wrapped_key = _wrap(_unwrap(row), row.scope)
        changed += 1
    db.session.flush()
    return changed


def receipt_pdf(rcpt: Receipt, *, tender_title: str, bidder: str, issuer: str, locale: str = "zh") -> bytes:
    """The receipt as a PDF the bidder can download and keep."""
    from portal.pdf import render_pdf

    context = {"tender_title": tender_title, "bidder": bidder, "issuer": issuer, "subject": rcpt.subject,
               "received_at": rcpt.received_at.isoformat(timespec="microseconds"),
               "received_at_local": rcpt.received_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(
                   timespec="microseconds"),
               "sha256": rcpt.sha256,
               "size": rcpt.size}
    return render_pdf("receipt.html", context, number=rcpt.sha256[:12].upper(), locale=locale)
