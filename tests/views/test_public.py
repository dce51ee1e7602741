"""The public notice board: list, filters, search, pagination, detail and PDF download, without signing in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.notices import Notice, NoticeKind, publish_notice
from portal.projects.models import ServiceProject
from portal.tenders.models import Tender


@pytest.fixture
def add_notices(city_bureau, now):
    """Insert notices directly (no PDF), one minute apart, the last one newest."""

    def add(count: int, *, kind: str = NoticeKind.TENDER, bureau=None, title: str = "服务项目采购公告",
            body: str = "欢迎社会工作服务机构参加。", tender=None) -> list[Notice]:
        bureau = bureau or city_bureau
        start = db.session.scalar(sa.select(sa.func.count(Notice.id)))
        notices = [Notice(kind=kind, bureau_id=bureau.id, title=f"{title}{start + i + 1:02d}", body=body,
                          tender_id=tender.id if tender else None,
                          published_at=now + timedelta(minutes=start + i), runs_until=date(2026, 12, 7))
                   for i in range(count)]
        db.session.add_all(notices)
        db.session.commit()
        return notices

    return add


def make_tender(bureau, reference: str, *, method: str = "open", plan: str = "elderly") -> Tender:
    project = ServiceProject(bureau_id=bureau.id, title="社区服务", plan=plan, fiscal_year=2027,
                             budget=Decimal("100000"))
    db.session.add(project)
    db.session.flush()
    tender = Tender(project_id=project.id, bureau_id=bureau.id, reference=reference, title="社区服务项目",
                    method=method, budget=Decimal("100000"))
    db.session.add(tender)
    db.session.commit()
    return tender


@pytest.fixture
def published(city_bureau, now):
    notice = publish_notice(NoticeKind.FAILURE, bureau=city_bureau, title="养老服务项目废标公告",
                            body="有效投标不足三家。\n本项目废标，将重新组织采购。", now=now,
                            runs_until=date(2026, 12, 3), extra={"投标人数": 2})
    db.session.commit()
    return notice


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_anonymous_visitor_sees_the_notice_board_newest_first(client, published, add_notices):
    older, newer = add_notices(2)
    html = page(client, "/notices")
    assert html.index(newer.title) < html.index(older.title)
    assert published.title in html and "郑州市民政局" in html
    assert "2026-11-30 10:00" in html  # 02:00 UTC in Beijing time
    assert "2026-12-03" in html and f"/notices/{published.id}.pdf" in html


def test_navbar_links_to_the_notice_board(client):
    assert 'href="/notices"' in page(client, "/")


def test_empty_board_says_so(client):
    html = page(client, "/notices")
    assert "empty-state" in html and "<table" not in html


def test_filter_by_kind(client, add_notices):
    add_notices(2, kind=NoticeKind.TENDER, title="采购公告")
    add_notices(1, kind=NoticeKind.RESULT, title="中标结果公告")
    html = page(client, "/notices?kind=result")
    assert "中标结果公告" in html and "采购公告01" not in html
    html = page(client, "/notices?kind=not-a-kind")  # an unknown kind is refused with a message, not ignored
    assert "alert-danger" in html and "采购公告01" not in html


def test_filter_by_bureau(client, add_notices, create_org, city_bureau):
    district = create_org("bureau", name="中原区民政局", level="district", parent_id=city_bureau.id)
    add_notices(1, title="市局公告")
    add_notices(1, bureau=district, title="区局公告")
    html = page(client, f"/notices?bureau={district.id}")
    assert "区局公告" in html and "市局公告" not in html


def test_search_title_and_body(client, add_notices):
    add_notices(1, title="困难老年人关爱服务采购公告")
    add_notices(1, title="留守儿童服务采购公告", body="服务对象为农村留守儿童，完成率50%以上。")
    html = page(client, "/notices?q=老年人")  # (the plan filter's labels name both groups: compare titles)
    assert "困难老年人关爱服务采购公告" in html and "留守儿童服务采购公告" not in html
    html = page(client, "/notices?q=农村留守")
    assert "留守儿童服务采购公告" in html and "困难老年人关爱服务采购公告" not in html
    assert "留守儿童服务采购公告" in page(client, "/notices?q=50%25")  # a literal percent sign


@pytest.mark.parametrize("q", ["%' OR 1=1 --", "%", "_", "'; DROP TABLE notices; --", "/"])
def test_search_treats_sql_and_wildcards_as_text(client, add_notices, q):
    add_notices(3)
    response = client.get("/notices", query_string={"q": q})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "服务项目采购公告" not in html and "empty-state" in html
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 3


def test_pagination_twenty_a_page(client, add_notices):
    notices = add_notices(25)
    first, second = page(client, "/notices"), page(client, "/notices?page=2")
    newest_first = list(reversed(notices))
    assert all(n.title in first for n in newest_first[:20]) and not any(n.title in first for n in newest_first[20:])
    assert all(n.title in second for n in newest_first[20:]) and not any(n.title in second for n in newest_first[:20])
    assert "page=2" in first
    assert client.get("/notices?page=3").status_code == 404


def test_pagination_keeps_the_filters(client, add_notices):
    add_notices(21, kind=NoticeKind.CONTRACT)
    assert "kind=contract" in page(client, "/notices?kind=contract")


def test_notice_list_queries_do_not_grow_with_the_notices(client, add_notices, create_org, city_bureau):
    district = create_org("bureau", name="中原区民政局", level="district", parent_id=city_bureau.id)

    def add_mixed(count):
        for i in range(count):
            tender = make_tender(district if i % 2 else city_bureau, f"REF-{count}-{i}") if i % 3 == 0 else None
            add_notices(1, kind=list(NoticeKind)[i % len(NoticeKind)], bureau=district if i % 2 else None,
                        tender=tender)

    def queries_for_list() -> int:
        statements = []

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/notices").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    add_mixed(5)
    client.get("/notices")  # warm up
    few = queries_for_list()
    add_mixed(20)
    many = queries_for_list()
    assert few == many


def test_notice_shows_its_tender_reference(client, add_notices, city_bureau):
    (notice,) = add_notices(1, tender=make_tender(city_bureau, "ZZMZ-2026-007"))
    assert "ZZMZ-2026-007" in page(client, "/notices")
    assert "ZZMZ-2026-007" in page(client, f"/notices/{notice.id}")


def test_notice_page(client, published):
    html = page(client, f"/notices/{published.id}")
    assert "养老服务项目废标公告" in html and "郑州市民政局" in html
    assert "<p>有效投标不足三家。</p>" in html and "<p>本项目废标，将重新组织采购。</p>" in html
    assert published.document.number in html and f"/notices/{published.id}.pdf" in html


def test_notice_without_a_pdf_has_no_download(client, add_notices):
    (notice,) = add_notices(1)
    html = page(client, f"/notices/{notice.id}")
    assert f"/notices/{notice.id}.pdf" not in html
    assert client.get(f"/notices/{notice.id}.pdf").status_code == 404


def test_pdf_download(client, published):
    response = client.get(f"/notices/{published.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data.startswith(b"%PDF-")
    assert response.data == published.document.file.read_bytes()
    response.close()


def test_unknown_notice_is_404(client):
    assert client.get("/notices/999999").status_code == 404
    assert client.get("/notices/999999.pdf").status_code == 404


def test_signed_in_users_see_the_board_too(client, published, create_user, login_as):
    login_as(create_user("supplier"))
    assert published.title in page(client, "/notices")


# ---------------------------------------------------------------- filters: method, plan, date range, bad values


def english(client):
    client.set_cookie("portal_lang", "en")
    return client


def at(notice: Notice, instant: datetime) -> Notice:
    notice.published_at = instant
    db.session.commit()
    return notice


def test_filter_by_procurement_method(client, add_notices, city_bureau):
    add_notices(1, title="甲项目公告", tender=make_tender(city_bureau, "REF-OPEN", method="open"))
    add_notices(1, title="乙项目公示", tender=make_tender(city_bureau, "REF-SS", method="single_source"),
                kind=NoticeKind.SINGLE_SOURCE)
    add_notices(1, title="丙资金公告", kind=NoticeKind.FUNDING)  # no tender: no method
    html = page(client, "/notices?method=single_source")
    assert "乙项目公示" in html and "甲项目公告" not in html and "丙资金公告" not in html
    html = page(client, "/notices?method=open")
    assert "甲项目公告" in html and "乙项目公示" not in html


def test_filter_by_plan(client, add_notices, city_bureau):
    add_notices(1, title="养老项目公告", tender=make_tender(city_bureau, "REF-OLD", plan="elderly"))
    add_notices(1, title="留守儿童项目公告", tender=make_tender(city_bureau, "REF-KID", plan="left_behind_children"))
    add_notices(1, title="优秀机构表彰", kind=NoticeKind.COMMENDATION)
    html = page(client, "/notices?plan=left_behind_children")
    assert "留守儿童项目公告" in html and "养老项目公告" not in html and "优秀机构表彰" not in html


def test_filter_by_beijing_publication_dates(client, add_notices):
    early, evening, late = add_notices(3)
    at(early, datetime(2026, 11, 19, 15, 59, tzinfo=UTC))  # 2026-11-19 23:59 in Beijing
    at(evening, datetime(2026, 11, 19, 16, 0, tzinfo=UTC))  # 2026-11-20 00:00 in Beijing
    at(late, datetime(2026, 11, 25, 15, 59, tzinfo=UTC))  # 2026-11-25 23:59 in Beijing
    html = page(client, "/notices?from=2026-11-20")
    assert evening.title in html and late.title in html and early.title not in html
    html = page(client, "/notices?to=2026-11-19")
    assert early.title in html and evening.title not in html
    html = page(client, "/notices?from=2026-11-20&to=2026-11-20")
    assert evening.title in html and early.title not in html and late.title not in html
    assert late.title in page(client, "/notices?from=2026-11-25&to=2026-11-25")


def test_filters_combine(client, add_notices, create_org, city_bureau):
    district = create_org("bureau", name="中原区民政局", level="district", parent_id=city_bureau.id)
    (hit,) = add_notices(1, bureau=district, kind=NoticeKind.RESULT, title="区局儿童结果公告",
                         tender=make_tender(district, "REF-1", method="negotiation", plan="orphans"))
    add_notices(1, bureau=district, kind=NoticeKind.RESULT, title="区局养老结果公告",
                tender=make_tender(district, "REF-2", method="negotiation", plan="elderly"))
    add_notices(1, bureau=city_bureau, kind=NoticeKind.RESULT, title="市局儿童结果公告",
                tender=make_tender(city_bureau, "REF-3", method="negotiation", plan="orphans"))
    add_notices(1, bureau=district, kind=NoticeKind.TENDER, title="区局儿童采购公告",
                tender=make_tender(district, "REF-4", method="negotiation", plan="orphans"))
    html = page(client, f"/notices?kind=result&bureau={district.id}&method=negotiation&plan=orphans"
                        "&from=2026-11-30&to=2026-11-30&q=儿童")
    assert hit.title in html
    assert not any(t in html for t in ("区局养老结果公告", "市局儿童结果公告", "区局儿童采购公告"))
    assert "empty-state" in page(client, f"/notices?kind=result&bureau={district.id}&from=2026-12-01")


@pytest.mark.parametrize("query, message", [
    ("kind=bogus", "Choose a notice type from the list."),
    ("bureau=abc", "Choose a civil-affairs bureau from the list."),
    ("bureau=999999", "Choose a civil-affairs bureau from the list."),
    ("bureau=99999999999999999999", "Choose a civil-affairs bureau from the list."),
    ("method=auction", "Choose a procurement method from the list."),
    ("plan=<script>", "Choose a plan from the list."),
    ("from=2026-13-01", "Give the first publication date as YYYY-MM-DD"),
    ("from=0001-01-01", "Give the first publication date as YYYY-MM-DD"),
    ("to=yesterday", "Give the last publication date as YYYY-MM-DD"),
    ("to=9999-12-31", "Give the last publication date as YYYY-MM-DD"),
    ("from=2026-12-01&to=2026-11-01", "The first publication date must not be after the last one."),
])
def test_bad_filter_values_get_a_clear_message(client, add_notices, query, message):
    add_notices(2)
    html = page(english(client), f"/notices?{query}")
    assert message in html and "alert-danger" in html
    assert "服务项目采购公告" not in html  # no list on a refused search
    assert "<script>" not in html


def test_an_empty_filter_is_no_filter(client, add_notices):
    add_notices(1)
    assert "服务项目采购公告01" in page(client, "/notices?kind=&bureau=&method=&plan=&from=&to=&q=")


def test_pagination_keeps_every_filter(client, add_notices, create_org, city_bureau):
    tender = make_tender(city_bureau, "REF-PAGE", method="invited", plan="orphans")
    add_notices(21, kind=NoticeKind.INVITATION, tender=tender, title="邀请公告")
    query = (f"kind=invitation&bureau={city_bureau.id}&method=invited&plan=orphans&from=2026-11-01"
             "&to=2026-12-31&q=邀请")
    html = page(client, f"/notices?{query}")
    links = [urlsplit(href.replace("&amp;", "&")) for href in
             (part.split('"', 1)[0] for part in html.split('href="')[1:]) if "page=2" in href]
    assert links
    args = parse_qs(links[0].query)
    assert args == {"page": ["2"], "kind": ["invitation"], "bureau": [str(city_bureau.id)], "method": ["invited"],
                    "plan": ["orphans"], "from": ["2026-11-01"], "to": ["2026-12-31"], "q": ["邀请"]}
    second = page(client, f"/notices?{query}&page=2")
    assert "邀请公告01" in second and "邀请公告21" not in second


def test_notices_show_when_they_were_published_and_until_when_they_run(client, add_notices, city_bureau):
    (running,) = add_notices(1, tender=make_tender(city_bureau, "REF-RUN", method="negotiation"))
    (standing,) = add_notices(1, kind=NoticeKind.CONTRACT, title="合同公告")
    standing.runs_until = None
    db.session.commit()
    html = page(english(client), "/notices")
    assert "2026-11-30 10:00" in html and "2026-12-07" in html
    detail = page(client, f"/notices/{running.id}")
    assert "2026-11-30 10:00" in detail and "2026-12-07" in detail
    assert "Competitive negotiation" in detail and "Care for elderly people in difficulty" in detail
    assert "No closing date (the notice stands)" in page(client, f"/notices/{standing.id}")


# ---------------------------------------------------------------- the Atom feed

ATOM = "{http://www.w3.org/2005/Atom}"


def feed(client) -> ET.Element:
    response = client.get("/notices.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    return ET.fromstring(response.data)  # noqa: S314 (our own feed)


def test_atom_feed_lists_the_newest_fifty_notices(client, add_notices):
    notices = add_notices(55)
    root = feed(client)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") == "http://localhost/notices"
    assert root.findtext(f"{ATOM}updated") == "2026-11-30T02:54:00Z"  # the newest notice
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/notices.atom"
    entries = root.findall(f"{ATOM}entry")
    newest = list(reversed(notices))[:50]
    assert [e.findtext(f"{ATOM}title") for e in entries] == [n.title for n in newest]
    first = entries[0]
    assert first.findtext(f"{ATOM}id") == f"http://localhost/notices/{newest[0].id}"
    assert first.find(f"{ATOM}link").get("href") == f"http://localhost/notices/{newest[0].id}"
    assert first.findtext(f"{ATOM}updated") == "2026-11-30T02:54:00Z"
    assert first.findtext(f"{ATOM}summary") == "欢迎社会工作服务机构参加。"
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "郑州市民政局"
    assert client.get(f"/notices/{newest[0].id}").status_code == 200


def test_atom_feed_escapes_text_and_is_valid_when_empty(client, add_notices):
    root = feed(client)
    assert root.findall(f"{ATOM}entry") == [] and root.findtext(f"{ATOM}updated")
    (notice,) = add_notices(1, title="<b>A & B</b> ]]>", body="x < y & \"z\"")
    entry = feed(client).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "<b>A & B</b> ]]>01"
    assert entry.findtext(f"{ATOM}summary") == 'x < y & "z"'
    assert b"<b>" not in client.get("/notices.atom").data


def test_atom_feed_shows_only_notices(client, add_notices, city_bureau, create_org, create_user, now):
    from portal.tenders.models import Bid

    tender = make_tender(city_bureau, "REF-SEALED")
    ngo = create_org(name="阳光社工服务中心")
    bidder = create_user("supplier", organisation_id=ngo.id)
    db.session.add(Bid(tender_id=tender.id, supplier_id=ngo.id, submitted_by_id=bidder.id, sealed_price=b"sealed",
                       price_sha256="a1" * 32, receipt_sha256="b2" * 32, received_at=now))
    db.session.commit()
    add_notices(1, tender=tender, title="采购公告")
    data = client.get("/notices.atom").get_data(as_text=True)
    assert "采购公告01" in data
    assert "a1a1" not in data and "b2b2" not in data and "阳光社工服务中心" not in data


# ---------------------------------------------------------------- the published audit anchors


def test_audit_anchor_page_lists_anchors_newest_first(client):
    from portal.public.anchor import AuditAnchor

    for i in range(32):  # 2026-10-01 .. 2026-11-01
        db.session.add(AuditAnchor(day=date(2026, 10, 1) + timedelta(days=i), seq=i, head_hash=f"{i:064x}",
                                   published_at=datetime(2026, 9, 30, 16, 5, tzinfo=UTC) + timedelta(days=i)))
    db.session.commit()
    html = page(english(client), "/audit-anchors")
    assert f"{31:064x}" in html and "2026-11-01 00:05" in html
    assert "must still have this hash" in html
    assert html.index("2026-11-01") < html.index("2026-10-31") < html.index("2026-10-03")
    assert "2026-10-02" not in html and "page=2" in html
    assert "2026-10-02" in page(client, "/audit-anchors?page=2")
    assert client.get("/audit-anchors?page=3").status_code == 404


def test_audit_anchor_page_when_none_was_published(client):
    assert "empty-state" in page(client, "/audit-anchors")
    assert 'href="/audit-anchors"' in page(client, "/notices")
    assert 'href="/notices.atom"' in page(client, "/notices")
