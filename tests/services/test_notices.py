"""Publishing notices: the row, its PDF issued once, the audit entry; a tender's notices."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.audit import AuditEntry
from portal.extensions import db
from portal.notices import (
    NOTICE_TEMPLATE,
    Notice,
    NoticeKind,
    body_paragraphs,
    notice_context,
    notices_for_tender,
    publish_notice,
)
from portal.pdf import GeneratedDocument, issue_document
from portal.projects.models import ServiceProject
from portal.tenders.models import Tender

BODY = ("郑州市民政局就困难老年人关爱服务项目进行公开招标，欢迎符合条件的社会工作服务机构参加。\n\n"
        "投标截止时间：2026年12月21日9时30分。")


def pdf_text(data: bytes, tmp_path) -> str:
    source = tmp_path / "notice.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def tender(city_bureau):
    project = ServiceProject(bureau_id=city_bureau.id, title="困难老年人关爱服务", plan="elderly", fiscal_year=2027,
                             budget=Decimal("300000"))
    db.session.add(project)
    db.session.flush()
    tender = Tender(project_id=project.id, bureau_id=city_bureau.id, reference="ZZMZ-2026-001",
                    title="困难老年人关爱服务项目", method="open", budget=Decimal("300000"))
    db.session.add(tender)
    db.session.commit()
    return tender


def test_publish_notice_records_the_notice_its_pdf_and_an_audit_entry(city_bureau, tender, create_user, now, tmp_path):
    officer = create_user("officer")
    notice = publish_notice(NoticeKind.TENDER, bureau=city_bureau, title="困难老年人关爱服务项目采购公告", body=BODY,
                            now=now, tender=tender, runs_until=date(2026, 12, 7),
                            extra={"预算金额": "¥300,000.00", "投标人": ["报价", "递交时间"]}, actor=officer)
    db.session.commit()

    assert notice.id and notice.kind == "tender" and notice.bureau_id == city_bureau.id
    assert notice.tender_id == tender.id and notice.published_at == now and notice.runs_until == date(2026, 12, 7)
    assert notice.document.key == f"notice:{notice.id}" and notice.document.template == NOTICE_TEMPLATE
    assert notice.document.number == "GG-2026-00001"
    text = pdf_text(notice.document.file.read_bytes(), tmp_path)
    for expected in ("困难老年人关爱服务项目采购公告", "欢迎符合条件的社会工作服务机构参加", "郑州市民政局",
                     "ZZMZ-2026-001", "2026-11-30 10:00", "2026-12-07", "预算金额", "递交时间"):
        assert expected in text, expected

    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "notice.published")).one()
    assert (entry.subject_type, entry.subject_id, entry.actor_id) == ("Notice", str(notice.id), officer.id)
    assert "GG-2026-00001" in entry.new_values and "困难老年人关爱服务项目采购公告" in entry.new_values


def test_notice_pdf_is_issued_once(city_bureau, now, monkeypatch):
    notice = publish_notice("failure", bureau=city_bureau, title="废标公告", body="有效投标不足三家，本项目废标。",
                            now=now)
    db.session.commit()
    stored = notice.document.file.read_bytes()

    def render_again(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr("portal.pdf.render_pdf", render_again)
    context = notice_context(notice, bureau=city_bureau)
    again = issue_document(f"notice:{notice.id}", NOTICE_TEMPLATE, context, prefix="FB", now=now)
    assert again.id == notice.document_id and again.file_id == notice.document.file_id
    assert again.file.read_bytes() == stored
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id))) == 1


def test_each_kind_has_its_own_number_series(city_bureau, now):
    first = publish_notice(NoticeKind.FAILURE, bureau=city_bureau, title="废标公告", body="废标。", now=now)
    correction = publish_notice(NoticeKind.CORRECTION, bureau=city_bureau, title="更正公告", body="更正。", now=now)
    second = publish_notice(NoticeKind.FAILURE, bureau=city_bureau, title="终止公告", body="终止。", now=now)
    assert [first.document.number, correction.document.number, second.document.number] == [
        "FB-2026-00001", "GZ-2026-00001", "FB-2026-00002"]


def test_publication_time_is_shown_in_beijing_time(city_bureau):
    evening_utc = datetime(2026, 11, 30, 20, 5, tzinfo=UTC)
    notice = publish_notice(NoticeKind.RESULT, bureau=city_bureau, title="结果公告", body="中标结果。", now=evening_utc)
    context = notice_context(notice, bureau=city_bureau)
    assert context["published_at"] == "2026-12-01 04:05" and context["published_on"] == date(2026, 12, 1)


def test_notice_context_is_plain_chinese_data(city_bureau, tender, now):
    notice = publish_notice(NoticeKind.TENDER, bureau=city_bureau, title="采购公告", body=BODY, now=now, tender=tender,
                            extra={"名单": ["甲机构", "乙机构"]})
    context = notice_context(notice, bureau=city_bureau, tender=tender, extra={"名单": ["甲机构", "乙机构"]})
    assert context["issuer"] == "郑州市民政局" and context["tender_reference"] == "ZZMZ-2026-001"
    assert context["paragraphs"] == body_paragraphs(BODY) and len(context["paragraphs"]) == 2
    assert context["extra_rows"] == [["名单", "甲机构", "乙机构"]]
    assert all(isinstance(context[key], str) for key in ("kind_label", "method_label"))
    assert "公开招标" in context["method_label"]


def test_unknown_kind_is_refused(city_bureau, now):
    with pytest.raises(ValueError):
        publish_notice("rumour", bureau=city_bureau, title="传闻", body="无", now=now)
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_body_paragraphs_drop_blank_lines():
    assert body_paragraphs("第一段\r\n\r\n  第二段  \n") == ["第一段", "第二段"]
    assert body_paragraphs("") == []


def test_notices_for_tender_lists_its_notices_oldest_first(city_bureau, tender, now):
    later = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    correction = publish_notice(NoticeKind.CORRECTION, bureau=city_bureau, title="更正公告", body="更正。", now=later,
                                tender=tender)
    original = publish_notice(NoticeKind.TENDER, bureau=city_bureau, title="采购公告", body="公告。", now=now,
                              tender=tender)
    publish_notice(NoticeKind.COMMENDATION, bureau=city_bureau, title="表彰名单", body="名单。", now=now)
    db.session.commit()
    assert [n.id for n in notices_for_tender(tender.id)] == [original.id, correction.id]
    assert notices_for_tender(tender.id + 1) == []
