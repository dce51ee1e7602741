"""Safe file storage: size-limited, type-checked by content, stored under generated names."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db


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
