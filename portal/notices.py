"""Public notices (公告): every notice the portal publishes, with its PDF, in one table.

A platform module: features publish through ``publish_notice`` and the public board lists
them. It knows tenders and bureaus only by their table names.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.pdf import GeneratedDocument


class NoticeKind(StrEnum):
    TENDER = "tender"  # 采购公告
    INVITATION = "invitation"  # 投标邀请
    SINGLE_SOURCE = "single_source"  # 单一来源公示
    CORRECTION = "correction"  # 更正公告 (clarifications and changes)
    FAILURE = "failure"  # 废标/终止公告
    RESULT = "result"  # 中标/成交结果公告
    CONTRACT = "contract"  # 合同公告
    COMMENDATION = "commendation"  # 表彰名单
    FUNDING = "funding"  # 资金安排


NOTICE_KIND_LABELS = {
    NoticeKind.TENDER: _l("Procurement notice (采购公告)"),
    NoticeKind.INVITATION: _l("Invitation to bid (投标邀请)"),
    NoticeKind.SINGLE_SOURCE: _l("Single-source notice (单一来源公示)"),
    NoticeKind.CORRECTION: _l("Correction notice (更正公告)"),
    NoticeKind.FAILURE: _l("Failure notice (废标/终止公告)"),
    NoticeKind.RESULT: _l("Result notice (中标/成交结果公告)"),
    NoticeKind.CONTRACT: _l("Contract notice (合同公告)"),
    NoticeKind.COMMENDATION: _l("Commendation list (表彰名单)"),
    NoticeKind.FUNDING: _l("Funding plan (资金安排)"),
}


class Notice(db.Model):
    __tablename__ = "notices"
    __table_args__ = (
        sa.CheckConstraint("kind IN ({})".format(", ".join(f"'{k.value}'" for k in NoticeKind)), name="kind"),
        sa.Index("ix_notices_published", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False, index=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    tender_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    runs_until: Mapped[date | None] = mapped_column(sa.Date)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    document: Mapped[GeneratedDocument | None] = relationship()
    bureau = relationship("Organisation")
