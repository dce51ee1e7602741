"""Bid sealing: per-tender data keys (AES-256-GCM) wrapped by the key in PORTAL_SEALING_KEY."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db


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
