"""PDF documents rendered by WeasyPrint from plain dicts, stored once and served from storage."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.files import StoredFile


class GeneratedDocument(db.Model):
    __tablename__ = "generated_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    number: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    template: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    content_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    file: Mapped[StoredFile] = relationship()
