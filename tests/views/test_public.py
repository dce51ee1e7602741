"""The public notice board: list, filters, search, pagination, detail and PDF download, without signing in."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

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


def make_tender(bureau, reference: str) -> Tender:
    project = ServiceProject(bureau_id=bureau.id, title="社区服务", plan="elderly", fiscal_year=2027,
                             budget=Decimal("100000"))
    db.session.add(project)
    db.session.flush()
    tender = Tender(project_id=project.id, bureau_id=bureau.id, reference=reference, title="社区服务项目",
                    method="open", budget=Decimal("100000"))
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
    assert "采购公告01" in page(client, "/notices?kind=not-a-kind")  # an unknown kind is ignored


def test_filter_by_bureau(client, add_notices, create_org, city_bureau):
    district = create_org("bureau", name="中原区民政局", level="district", parent_id=city_bureau.id)
    add_notices(1, title="市局公告")
    add_notices(1, bureau=district, title="区局公告")
    html = page(client, f"/notices?bureau={district.id}")
    assert "区局公告" in html and "市局公告" not in html


def test_search_title_and_body(client, add_notices):
    add_notices(1, title="困难老年人关爱服务采购公告")
    add_notices(1, title="留守儿童服务采购公告", body="服务对象为农村留守儿童，完成率50%以上。")
    assert "困难老年人" in page(client, "/notices?q=老年人") and "留守儿童" not in page(client, "/notices?q=老年人")
    html = page(client, "/notices?q=农村留守")
    assert "留守儿童服务采购公告" in html and "困难老年人" not in html
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
