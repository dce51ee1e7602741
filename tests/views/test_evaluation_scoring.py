"""Scoring through the web: the member's sheet, nobody reads another's points before submitting, the chair's
deviations and re-checks, lawful changes, the bureau's tie decision, closing, the report confirmed with each
member's password and its PDF, and who may reach every route."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.evaluation import results, scoring
from portal.evaluation.models import ScoreChange, TieBreak
from portal.extensions import db
from tests.conftest import csrf_token, login
from tests.evaluation_builders import build_committee, submit_scores
from tests.evaluation_factories import make_opened_tender, make_pool, make_single_source
from tests.support.queries import queries_for

CANARY = "37.77"  # a point value only the first member gives, looked for on every page others can reach
A_POINTS = [(CANARY, 20, 18), (31, 21, 18), (32, 21, 18), ("30.5", 22, 18), ("31.5", 21, 18)]
B_POINTS = [(35, 22, "18.5"), (36, 22, 18), (34, 23, 18), ("35.5", 22, 18), (35, "22.5", 18)]
C_POINTS = [(30, 20, 19), (31, 20, 19), (30, 21, 19), ("30.5", 20, 19), (31, "20.5", 19)]
A_PLAIN = [(30, 20, 18), *A_POINTS[1:]]  # A without the canary: mean 70
C_TIED = [("29.99", "22.01", 18), (30, 20, 20), (31, 21, 18), (30, 22, 18), (32, 20, 18)]  # C's total equals A's


@pytest.fixture(autouse=True)
def clock(now):
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(create_user, create_org, city_bureau):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    users = {
        "officers": [create_user("officer"), create_user("officer")],
        "suppliers": [create_user("supplier") for _ in range(3)],
        "experts": make_pool(create_user, 8),
        "outsider": create_user("officer", organisation_id=district.id),
        "admin": create_user("admin"),
    }
    for user in [*users["officers"], *users["suppliers"], *users["experts"], users["outsider"], users["admin"]]:
        user.locale = "en"
    db.session.commit()
    return users


def _evaluation(people, city_bureau, now, prices=("400000.00", "450000.00", "400000.00"), size=5):
    tender, bids, opened_at = make_opened_tender(city_bureau, people["officers"], people["suppliers"], list(prices),
                                                 now=now - timedelta(days=3))
    committee = build_committee(tender, people["experts"][:size], now=opened_at)
    return tender, bids, committee


@pytest.fixture
def evaluation(people, city_bureau, now):
    return _evaluation(people, city_bureau, now)


def _points(tender, bids, tables, seat) -> dict:
    points = {}
    for bid, table in zip(bids, tables, strict=True):
        points |= {(bid.id, c.id): p for c, p in zip(tender.criteria, table[seat], strict=True)}
    return points


def _submit(committee, bids, seats, now, tables=(A_POINTS, B_POINTS, C_POINTS)):
    for seat in seats:
        submit_scores(committee, committee.sitting[seat], _points(committee.tender, bids, tables, seat), now)


def _client(app, user):
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    return client


def _text(response) -> str:
    return response.get_data(as_text=True) if response.mimetype.startswith("text") else ""


def _post(client, url, data=None):
    return client.post(url, data={"csrf_token": csrf_token(client, "/notices"), **(data or {})})


def _form(tender, bids, seat, tables=(A_POINTS, B_POINTS, C_POINTS)) -> dict:
    return {f"points_{b}_{c}": str(p) for (b, c), p in _points(tender, bids, tables, seat).items()}


# --- The member's sheet --------------------------------------------------------------------------------------


def test_member_saves_a_draft_then_submits_the_complete_sheet(app, evaluation, now):
    tender, bids, committee = evaluation
    member = committee.sitting[1]
    client = _client(app, member.user)
    page = _text(client.get(f"/tenders/{tender.id}/evaluation/sheet"))
    assert all(b.supplier.name in page for b in bids) and all(c.name in page for c in tender.criteria)
    plan = tender.criteria[0]
    url = f"/tenders/{tender.id}/evaluation/sheet"
    response = _post(client, url, {f"points_{bids[0].id}_{plan.id}": "30.5",
                                   f"comment_{bids[0].id}_{plan.id}": "方案完整", "save": "1"})
    assert response.status_code == 302
    [score] = scoring.own_sheet(committee, member).scores
    assert (score.points, score.comment) == (Decimal("30.50"), "方案完整")
    assert 'value="30.5"' in _text(client.get(url))
    response = _post(client, url, {f"points_{bids[0].id}_{plan.id}": "30.5", "submit_sheet": "1"})
    assert response.status_code == 400 and "Points are missing" in _text(response)
    assert scoring.own_sheet(committee, member).submitted_at is None
    response = _post(client, url, {**_form(tender, bids, 1), "submit_sheet": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert scoring.own_sheet(committee, member).submitted_at is not None
    page = _text(client.get(url))
    assert "You submitted this sheet" in page and 'name="submit_sheet"' not in page
    # A submitted sheet takes no more drafts.
    response = _post(client, url, {**_form(tender, bids, 1), "save": "1"})
    assert response.status_code == 400 and "lawful reasons" in _text(response)


@pytest.mark.parametrize(("typed", "message"), [
    ("40.5", "must be from 0 to 40"), ("12.345", "at most 2 decimal places"), ("-3", "must be from 0 to 40"),
    ("abc", "Enter a number of points"),
])
def test_bad_points_are_refused_with_their_message(app, evaluation, typed, message):
    tender, bids, committee = evaluation
    client = _client(app, committee.sitting[1].user)
    plan = tender.criteria[0]
    response = _post(client, f"/tenders/{tender.id}/evaluation/sheet",
                     {f"points_{bids[1].id}_{plan.id}": typed, "save": "1"})
    assert response.status_code == 400 and message in _text(response)
    assert scoring.own_sheet(committee, committee.sitting[1]) is None or not scoring.own_sheet(
        committee, committee.sitting[1]).scores


def test_nobody_reads_another_members_points_before_submitting(app, evaluation, people, now):
    tender, bids, committee = evaluation
    first, second = committee.sitting[0], committee.sitting[1]
    _submit(committee, bids, [0], now)
    client = _client(app, second.user)
    assert client.get(f"/tenders/{tender.id}/evaluation/sheets/{first.id}").status_code == 403
    reachable = ["sheet", "sheets", f"sheets/{second.id}", "deviations", "report", ""]
    for page in reachable:
        response = client.get(f"/tenders/{tender.id}/evaluation/{page}".rstrip("/"))
        assert response.status_code in (200, 403), page
        assert CANARY not in _text(response), page
    assert CANARY not in _text(client.get(f"/tenders/{tender.id}"))
    # The bureau sees no sheet before the scoring is closed, suppliers never.
    officer = _client(app, people["officers"][0])
    assert officer.get(f"/tenders/{tender.id}/evaluation/sheets/{first.id}").status_code == 403
    assert CANARY not in _text(officer.get(f"/tenders/{tender.id}/evaluation/sheets"))
    assert CANARY not in _text(officer.get(f"/tenders/{tender.id}/evaluation"))
    # Once the second member has submitted, the first's sheet opens to them.
    _submit(committee, bids, [1], now)
    response = client.get(f"/tenders/{tender.id}/evaluation/sheets/{first.id}")
    assert response.status_code == 200 and CANARY in _text(response)
    assert CANARY in _text(client.get(f"/tenders/{tender.id}/evaluation/sheets"))


def test_sheets_page_queries_do_not_grow_with_the_sheets(app, evaluation, now):
    tender, bids, committee = evaluation
    url = f"/tenders/{tender.id}/evaluation/sheets"
    _submit(committee, bids, [0, 1], now)
    client = _client(app, committee.sitting[0].user)
    with_two = queries_for(client, url)
    _submit(committee, bids, [2, 3, 4], now)
    with_five = queries_for(client, url)
    assert _text(client.get(url)).count("This sheet on its own") == 5
    assert with_five == with_two and with_five <= 25


# --- Deviations, re-checks, changes -------------------------------------------------------------------------


def test_deviations_only_for_the_chair_once_their_sheet_is_in(app, evaluation, people, now):
    tender, bids, committee = evaluation
    url = f"/tenders/{tender.id}/evaluation/deviations"
    chair = _client(app, committee.sitting[0].user)
    assert chair.get(url).status_code == 403
    _submit(committee, bids, range(5), now)
    response = chair.get(url)
    assert response.status_code == 200 and CANARY in _text(response)
    assert _client(app, committee.sitting[1].user).get(url).status_code == 403
    assert _client(app, people["officers"][0]).get(url).status_code == 403


def test_recheck_asked_by_the_chair_and_answered_with_a_lawful_change(app, evaluation, now):
    tender, bids, committee = evaluation
    _submit(committee, bids, range(5), now)
    chair, member = committee.sitting[0], committee.sitting[2]
    plan = tender.criteria[0]
    response = _post(_client(app, chair.user), f"/tenders/{tender.id}/evaluation/rechecks",
                     {"member_id": member.id, "bid_id": bids[1].id, "criterion_id": plan.id, "note": "偏高，请复核"})
    assert response.status_code == 302
    [recheck] = scoring.open_rechecks(committee)
    client = _client(app, member.user)
    page = _text(client.get(f"/tenders/{tender.id}/evaluation/sheet"))
    assert "偏高，请复核" in page
    # Another member cannot answer it.
    other = _client(app, committee.sitting[3].user)
    assert _post(other, f"/tenders/{tender.id}/evaluation/rechecks/{recheck.id}",
                 {"decision": "keep"}).status_code == 403
    response = _post(client, f"/tenders/{tender.id}/evaluation/rechecks/{recheck.id}",
                     {"decision": "change", "new_points": "33", "reason": "abnormal_score", "note": "经复核调整"})
    assert response.status_code == 302
    db.session.expire_all()
    assert scoring.open_rechecks(committee) == []
    assert db.session.scalar(sa.select(ScoreChange.new_points)) == Decimal(33)


def test_change_score_for_a_lawful_reason_only_by_its_member(app, evaluation, now):
    tender, bids, committee = evaluation
    _submit(committee, bids, range(5), now)
    member = committee.sitting[1]
    score = scoring.own_sheet(committee, member).scores[0]
    url = f"/tenders/{tender.id}/evaluation/scores/{score.id}/change"
    client = _client(app, member.user)
    response = _post(client, url, {"new_points": "30", "reason": "changed_my_mind", "note": "想改"})
    assert response.status_code == 302
    assert "Not a valid choice" in _text(client.get(response.location))
    assert _post(_client(app, committee.sitting[2].user), url,
                 {"new_points": "30", "reason": "addition_error", "note": "x"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(ScoreChange.id))) == 0
    response = _post(client, url, {"new_points": "30", "reason": "addition_error", "note": "合计有误"})
    assert response.status_code == 302
    db.session.expire_all()
    change = db.session.scalar(sa.select(ScoreChange))
    assert (change.old_points, change.new_points, change.reason) == (Decimal(31), Decimal(30), "addition_error")
    assert "合计有误" in _text(client.get(f"/tenders/{tender.id}/evaluation/sheet"))


# --- Tie, closing, the report -------------------------------------------------------------------------------------


def test_tie_decided_by_lot_through_the_bureaus_page(app, people, city_bureau, now):
    tender, bids, committee = _evaluation(people, city_bureau, now)
    _submit(committee, bids, range(5), now, (A_PLAIN, B_POINTS, C_TIED))
    a, c = bids[0], bids[2]
    a_total = next(r.total for r in results.results(committee).rows if r.bid_id == a.id)
    assert a_total == next(r.total for r in results.results(committee).rows if r.bid_id == c.id)
    chair = _client(app, committee.sitting[0].user)
    response = _post(chair, f"/tenders/{tender.id}/evaluation/close")
    assert response.status_code == 302 and committee.scoring_closed_at is None
    url = f"/tenders/{tender.id}/evaluation/tie"
    for refused in (people["outsider"], people["suppliers"][0], committee.sitting[0].user, people["admin"]):
        assert _client(app, refused).get(url).status_code == 403
    officer = _client(app, people["officers"][0])
    page = _text(officer.get(url))
    assert a.supplier.name in page and c.supplier.name in page
    response = _post(officer, url, {"ids": f"{a.id},{c.id}", "mode": "documents", "note": "",
                                    f"place_{a.id}": "1", f"place_{c.id}": "1"})
    assert response.status_code == 400 and db.session.scalar(sa.select(sa.func.count(TieBreak.id))) == 0
    response = _post(officer, url, {"ids": f"{a.id},{c.id}", "mode": "lot", "note": "现场抽签"})
    assert response.status_code == 302
    rows = list(db.session.scalars(sa.select(TieBreak)))
    assert len(rows) == 2 and rows[0].seed
    assert rows[0].seed in _text(officer.get(url))
    response = _post(chair, f"/tenders/{tender.id}/evaluation/close")
    assert response.status_code == 302 and response.location.endswith("/evaluation/report")


def test_close_confirm_with_password_and_the_pdf(app, evaluation, people, now):
    tender, bids, committee = evaluation
    _submit(committee, bids, range(5), now)
    report = f"/tenders/{tender.id}/evaluation/report"
    officer = _client(app, people["officers"][0])
    assert officer.get(report).status_code == 403  # nothing to read before closing
    assert _post(_client(app, committee.sitting[1].user), f"/tenders/{tender.id}/evaluation/close").status_code == 403
    chair = _client(app, committee.sitting[0].user)
    assert _post(chair, f"/tenders/{tender.id}/evaluation/close").status_code == 302
    db.session.expire_all()
    assert committee.scoring_closed_at is not None
    page = _text(officer.get(report))
    assert "评标报告" in page and "84.39" in page and CANARY in page
    assert officer.get(f"/tenders/{tender.id}/evaluation/sheets/{committee.sitting[0].id}").status_code == 200
    for refused in (people["suppliers"][0], people["outsider"], people["experts"][7]):
        assert _client(app, refused).get(report).status_code == 403
    # A wrong password confirms nothing.
    response = _post(chair, f"{report}/confirm", {"password": "not-my-password"})
    assert response.status_code == 302 and "The password is wrong" in _text(chair.get(report))
    db.session.expire_all()
    assert committee.sitting[0].report_confirmed_at is None
    assert officer.get(f"{report}.pdf").status_code == 302  # not issued yet
    for seat in committee.sitting:
        client = chair if seat is committee.sitting[0] else _client(app, seat.user)
        assert _post(client, f"{report}/confirm", {"password": "Secret-pass-1"}).status_code == 302
    db.session.expire_all()
    assert committee.report_completed_at is not None and committee.report_document_id is not None
    response = officer.get(f"{report}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    response.close()
    assert _client(app, people["suppliers"][0]).get(f"{report}.pdf").status_code == 403
    assert "confirmed this report" in _text(chair.get(report))


def test_the_overview_panel_shows_who_submitted_never_the_points(app, evaluation, people, now):
    tender, bids, committee = evaluation
    _submit(committee, bids, [0], now)
    page = _text(_client(app, committee.sitting[1].user).get(f"/tenders/{tender.id}/evaluation"))
    assert "Submitted" in page and "Not submitted" in page and CANARY not in page
    assert "My score sheet" in page and "Close the scoring" not in page
    _submit(committee, bids, range(1, 5), now)
    overview = f"/tenders/{tender.id}/evaluation"
    page = _text(_client(app, committee.sitting[1].user).get(overview))
    assert "84.39" in page and "Ranking" in page  # the members, every sheet in, see the totals
    officer = _client(app, people["officers"][0])
    assert "84.39" not in _text(officer.get(overview))  # the bureau only once the scoring is closed
    chair_page = _text(_client(app, committee.sitting[0].user).get(overview))
    assert "Close the scoring" in chair_page and "Deviations and re-checks" in chair_page
    scoring.close_scoring(committee, actor=committee.sitting[0].user, now=now)
    db.session.commit()
    assert "84.39" in _text(officer.get(overview))


# --- Who may reach every route ------------------------------------------------------------------------------------

ROUTES = [
    ("get", "sheet"), ("post", "sheet"), ("get", "sheets/{member}"), ("get", "sheets"), ("get", "deviations"),
    ("post", "rechecks"), ("post", "rechecks/{recheck}"), ("post", "scores/{score}/change"), ("get", "tie"),
    ("post", "tie"), ("post", "close"), ("get", "report"), ("post", "report/confirm"), ("get", "report.pdf"),
]


@pytest.mark.parametrize("who", ["outsider_evaluator", "supplier", "other_bureau_officer"])
def test_every_route_refuses_outsiders(app, evaluation, people, now, who):
    tender, bids, committee = evaluation
    _submit(committee, bids, range(5), now)
    member = committee.sitting[1]
    recheck = scoring.request_recheck(committee, member, bids[0].id, tender.criteria[0].id, "请复核",
                                      actor=committee.sitting[0].user, now=now)
    scoring.resolve_recheck(recheck, keep=True, actor=member.user, now=now)
    scoring.close_scoring(committee, actor=committee.sitting[0].user, now=now)
    for seat in committee.sitting:
        scoring.confirm_report(committee, seat, actor=seat.user, now=now)
    db.session.commit()
    user = {"outsider_evaluator": people["experts"][7], "supplier": people["suppliers"][0],
            "other_bureau_officer": people["outsider"]}[who]
    client = _client(app, user)
    score = scoring.own_sheet(committee, member).scores[0]
    for method, path in ROUTES:
        url = f"/tenders/{tender.id}/evaluation/" + path.format(member=committee.sitting[0].id, recheck=recheck.id,
                                                                score=score.id)
        response = client.get(url) if method == "get" else _post(client, url, {"password": "Secret-pass-1"})
        assert response.status_code == 403, (method, url)
        response.close()


def test_single_source_report_page_and_no_sheet(app, people, city_bureau, now):
    tender = make_single_source(city_bureau, people["suppliers"][0].organisation, now=now)
    committee = build_committee(tender, people["experts"][:3], now=now)
    member = committee.sitting[1]
    client = _client(app, member.user)
    assert client.get(f"/tenders/{tender.id}/evaluation/sheet").status_code == 403
    assert client.get(f"/tenders/{tender.id}/evaluation/report").status_code == 403  # not closed yet
    assert _post(_client(app, committee.sitting[0].user), f"/tenders/{tender.id}/evaluation/close").status_code == 302
    page = _text(client.get(f"/tenders/{tender.id}/evaluation/report"))
    assert "单一来源谈判记录" in page and "壹拾捌万元整" in page and 'name="password"' in page
