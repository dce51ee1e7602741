"""The figure pages (issue 9, item 4): /dashboard/figures for officers and admin (their bureaus' figures), the public
summary /statistics for anyone (published data only), the year and bureau filters, tables beside the charts with no
inline script or style, and a fixed number of statements however many rows there are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from portal.public.figures_cache import EXTENSION_KEY
from portal.tenders.models import Method
from tests.dashboard_builders import award, bid, contract, tender, world
from tests.support.queries import queries_for
from tests.support.web import as_user, bj, fetch, in_english, text

pytestmark = pytest.mark.usefixtures("english_messages")

OFFICER_URL, PUBLIC_URL = "/dashboard/figures", "/statistics"


@pytest.fixture
def w(city_bureau, create_org, create_user):
    made = world(city_bureau, create_org, create_user)
    in_english(*made.officers.values())
    return made


def test_who_may_see_the_officers_figures(client, w, create_user):
    assert client.get(OFFICER_URL).headers["Location"].startswith("/login")
    for role in ("supplier", "evaluator"):
        as_user(client, create_user(role))
        assert client.get(OFFICER_URL).status_code == 403
    for user in (w.officers["east"], create_user("admin")):
        as_user(client, user)
        assert client.get(OFFICER_URL).status_code == 200
    as_user(client, None)
    assert client.get(PUBLIC_URL).status_code == 200


def test_a_district_officer_sees_its_own_bureau_and_the_city_sees_all(client, w):
    as_user(client, w.officers["east"])
    page = text(client.get(OFFICER_URL))
    assert "Spending by plan" in page and "Bidders per tender" in page  # English, the officer's language
    assert "¥450,000.00" in page and "¥290,000.00" not in page and "西区民政局" not in page
    assert 'id="bureau"' not in page  # one bureau: nothing to choose
    as_user(client, w.officers["city"])
    page = text(client.get(OFFICER_URL))
    for amount in ("¥450,000.00", "¥290,000.00", "¥190,000.00", "¥930,000.00", "¥70,000.00", "68.8%", "7.0%"):
        assert amount in page
    assert 'href="/dashboard/figures"' in text(client.get("/dashboard"))  # linked from the officer's dashboard


def test_the_year_and_bureau_filters(client, w):
    as_user(client, w.officers["city"])
    page = text(client.get(f"{OFFICER_URL}?year=2025"))
    assert '<option value="2025" selected>' in page and "¥930,000.00" not in page
    assert "No data yet." in page
    page = text(client.get(f"{OFFICER_URL}?bureau={w.west.id}"))
    assert "¥290,000.00" in page and "¥450,000.00" not in page
    for bad in ("year=20x6", "year=1999", "year=99999999999999999999", "bureau=abc", "bureau=999999"):
        response = client.get(f"{OFFICER_URL}?{bad}")
        assert response.status_code == 200, bad
        assert 'class="alert alert-warning"' in text(response) and "¥930,000.00" in text(response), bad
    as_user(client, w.officers["east"])
    page = text(client.get(f"{OFFICER_URL}?bureau={w.west.id}"))
    assert "That bureau is not one whose figures you may see" in page and "¥290,000.00" not in page


def test_the_public_summary_shows_published_data_only(client, w):
    extra = tender(w.east, method=Method.OPEN, budget="700000", published="2026-09-01", opened="2026-10-01")
    bid(extra, w.suppliers[4], price="654321")
    won = award(extra, w.suppliers[4], amount="654321", decided="2026-11-27")
    contract(won, w.officers["east"], amount="654321", letter="2026-11-27", signed_at=bj("2026-11-28"))
    assert 'href="/statistics"' in text(client.get("/notices"))  # linked from the notice board
    page = text(client.get(PUBLIC_URL))
    assert "¥640,000.00" in page and "¥450,000.00" in page and "¥190,000.00" in page
    for hidden in ("654,321", "654321", "290,000", "290000"):  # no unpublished contract, award or bid price
        assert hidden not in page
    for user in w.suppliers:  # no supplier's name; no person's name at all
        assert user.organisation.name not in page and user.name not in page
    assert text(client.get(f"{PUBLIC_URL}?year=x")).count('class="alert alert-warning"') == 1


@pytest.fixture
def cached(app, monkeypatch):
    """The public figures kept for five minutes, as in production, in a cache of this test's own."""
    monkeypatch.setitem(app.config, "PUBLIC_FIGURES_CACHE_SECONDS", 300)
    app.extensions.pop(EXTENSION_KEY, None)
    yield
    app.extensions.pop(EXTENSION_KEY, None)


def test_the_public_summary_is_kept_five_minutes_then_brought_up_to_date(client, w, cached):
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert queries_for(client, PUBLIC_URL) > 0
        page = text(client.get(PUBLIC_URL))
        assert "数据截至2026-11-30 10:00（北京时间）" in page and "¥640,000.00" in page  # the public reads Chinese
        assert queries_for(client, PUBLIC_URL) == 0  # kept: an anonymous visitor costs no statement at all
        extra = tender(w.east, method=Method.OPEN, budget="700000", published="2026-09-01", opened="2026-10-01")
        bid(extra, w.suppliers[4], price="654321")
        won = award(extra, w.suppliers[4], amount="654321", decided="2026-11-20", noticed="2026-11-21")
        contract(won, w.officers["east"], amount="654321", letter="2026-11-20", signed_at=bj("2026-11-23"),
                 noticed="2026-11-24")
        clock.shift(timedelta(seconds=299))
        page = text(client.get(PUBLIC_URL))
        assert "¥1,294,321.00" not in page and "数据截至2026-11-30 10:00" in page
        clock.shift(timedelta(seconds=1))
        page = text(client.get(PUBLIC_URL))
        assert "¥1,294,321.00" in page and "数据截至2026-11-30 10:05（北京时间）" in page  # 640,000 + 654,321
        assert queries_for(client, f"{PUBLIC_URL}?year=2025") > 0  # another year is computed on its own
    as_user(client, w.officers["east"])
    assert "¥1,104,321.00" in text(client.get(OFFICER_URL))  # 450,000 + 654,321: officers' figures are never kept


def test_charts_are_data_blocks_beside_tables_with_no_inline_script_or_style(client, w):
    as_user(client, w.officers["city"])
    for url in (OFFICER_URL, PUBLIC_URL):
        response = client.get(url)
        page = text(response)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        scripts = re.findall(r"<script([^>]*)>", page)
        assert all('src="/static/' in attrs or 'type="application/json"' in attrs for attrs in scripts), scripts
        assert "/static/vendor/chartjs/chart.umd.min.js" in page and "/static/js/dashboard.js" in page
        assert " style=" not in page and "cdn" not in page.lower()
        canvases = re.findall(r'<canvas id="chart-([\w-]+)"[^>]*role="img"[^>]*aria-label="Chart: ', page, re.S)
        assert len(canvases) >= 9 and page.count("<table") >= len(canvases)
        for key in canvases:
            assert f'<script type="application/json" id="chart-{key}-data">' in page
    assert fetch(client, "/static/vendor/chartjs/chart.umd.min.js").status_code == 200


def test_the_statement_count_does_not_grow_with_the_rows(client, w):
    as_user(client, w.officers["city"])
    before = {url: queries_for(client, url) for url in (OFFICER_URL, f"{OFFICER_URL}?year=2026", PUBLIC_URL)}
    more = world_again(w)
    assert more > 0
    after = {url: queries_for(client, url) for url in before}
    assert after == before


def world_again(w) -> int:
    """As many processes again, in every bureau, published and not; returns how many contracts were added."""
    added = 0
    for bureau, officer in ((w.city, w.officers["city"]), (w.east, w.officers["east"]), (w.west, w.officers["west"])):
        for n in range(3):
            t = tender(bureau, method=Method.INVITED, budget="90000", published="2026-06-01", opened="2026-06-25",
                       remote_area=bool(n % 2))
            for user in w.suppliers[: n + 1]:
                bid(t, user)
            won = award(t, w.suppliers[n], amount="80000", decided="2026-07-01", noticed="2026-07-02")
            contract(won, officer, amount="80000", letter="2026-07-01", signed_at=bj("2026-07-10"),
                     noticed="2026-07-13" if n else None, paid="40000")
            added += 1
    return added
