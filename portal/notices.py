"""Public notices (公告): every notice the portal publishes, with its PDF, in one table.

A platform module: features publish through ``publish_notice`` and the public board lists
them. It knows tenders and bureaus only by their table names.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from portal import audit
from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.pdf import GeneratedDocument, issue_document


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
    tender = relationship("Tender")

    @property
    def paragraphs(self) -> list[str]:
        """The body as paragraphs: one per non-empty line."""
        return body_paragraphs(self.body)


# Series codes of the document numbers, e.g. GG-2026-00001 for the first procurement notice of 2026.
NOTICE_SERIES = {
    NoticeKind.TENDER: "GG",  # 公告
    NoticeKind.INVITATION: "YQ",  # 邀请
    NoticeKind.SINGLE_SOURCE: "DY",  # 单一来源
    NoticeKind.CORRECTION: "GZ",  # 更正
    NoticeKind.FAILURE: "FB",  # 废标
    NoticeKind.RESULT: "JG",  # 结果
    NoticeKind.CONTRACT: "HG",  # 合同公告
    NoticeKind.COMMENDATION: "BZ",  # 表彰
    NoticeKind.FUNDING: "ZJ",  # 资金
}

NOTICE_TEMPLATE = "notice.html"


def body_paragraphs(body: str) -> list[str]:
    """Split a notice's text into paragraphs: one per non-empty line."""
    return [line.strip() for line in (body or "").splitlines() if line.strip()]


def _extra_rows(extra: dict | None) -> list[list]:
    """``{label: value}`` (a value may be a list of cells) as table rows ``[label, cell, ...]``."""
    rows = []
    for label, value in (extra or {}).items():
        cells = list(value) if isinstance(value, list | tuple) else [value]
        rows.append([str(label), *cells])
    return rows


def notice_context(notice: Notice, *, bureau, tender=None, extra: dict | None = None) -> dict:
    """The plain data a notice's PDF is rendered from (labels in the documents' language, Chinese)."""
    locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    local = notice.published_at.astimezone(ZoneInfo(current_app.config["PORTAL_TIMEZONE"]))
    with force_locale(locale):
        kind_label = str(NOTICE_KIND_LABELS[NoticeKind(notice.kind)])
        method_label = ""
        if tender is not None:
            # Imported here: this platform module does not depend on the tenders feature at import time.
            from portal.tenders.models import METHOD_LABELS

            label = METHOD_LABELS.get(tender.method)
            method_label = str(label) if label is not None else tender.method
    return {
        "issuer": bureau.name,
        "kind": notice.kind,
        "kind_label": kind_label,
        "title": notice.title,
        "paragraphs": body_paragraphs(notice.body),
        "published_on": local.date(),
        "published_at": local.strftime("%Y-%m-%d %H:%M"),
        "runs_until": notice.runs_until,
        "tender_reference": tender.reference if tender is not None else "",
        "tender_title": tender.title if tender is not None else "",
        "method_label": method_label,
        "extra_rows": _extra_rows(extra),
    }


def publish_notice(kind: NoticeKind | str, *, bureau, title: str, body: str, now: datetime, tender=None,
                   runs_until: date | None = None, extra: dict | None = None, actor=None) -> Notice:
    """Publish a notice: record it, issue its PDF once and audit it (flushes, never commits).

    ``title`` and ``body`` are stored as given (already rendered, normally in Chinese); ``extra``
    maps a row label to a value or a list of cells, shown as a table in the PDF only.
    """
    kind = NoticeKind(kind)
    notice = Notice(kind=kind.value, bureau_id=bureau.id, tender_id=tender.id if tender is not None else None,
                    title=title, body=body, published_at=now, runs_until=runs_until, created_at=now)
    db.session.add(notice)
    db.session.flush()
    context = notice_context(notice, bureau=bureau, tender=tender, extra=extra)
    notice.document = issue_document(f"notice:{notice.id}", NOTICE_TEMPLATE, context, prefix=NOTICE_SERIES[kind],
                                     now=now, issued_by=actor)
    audit.record("notice.published", notice, actor=actor, now=now, new={
        "kind": notice.kind, "title": notice.title, "bureau_id": notice.bureau_id, "tender_id": notice.tender_id,
        "runs_until": notice.runs_until, "document": notice.document.number,
    })
    db.session.flush()
    return notice


def notices_for_tender(tender_id: int) -> list[Notice]:
    """A tender's notices, oldest first (with their bureau and document loaded)."""
    query = (sa.select(Notice).where(Notice.tender_id == tender_id)
             .options(selectinload(Notice.bureau), selectinload(Notice.document))
             .order_by(Notice.published_at, Notice.id))
    return list(db.session.scalars(query))
