"""The committee through the web: forming it, declarations, the chair and replacements, the qualification
review, low-price justifications, bid files for members only, and who may see member names at all."""

from __future__ import annotations

import secrets
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import time_machine

from portal.evaluation import committee as service
from portal.evaluation.models import Committee, LowPriceInquiry, MemberKind, MemberStatus, QualificationCheck
from portal.extensions import db
from portal.tenders.models import TenderStatus
from tests.conftest import csrf_token, login
from tests.evaluation_factories import make_opened_tender, make_pool
from tests.support.queries import queries_for

PRICES = ("400000.00", "410000.00", "420000.00")
SHOWN_PRICES = ("400,000.00", "410,000.00", "420,000.00")


@pytest.fixture(autouse=True)
def clock(now):
    """Requests run on a frozen clock that only moves forward (a cookie signed in the future is refused)."""
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


def _english(users):
    for user in users:
        user.locale = "en"
    db.session.commit()
    return users


def _build(city_bureau, create_user, create_org, clock, now, prices=PRICES):
    officers = _english([create_user("officer"), create_user("officer")])
    suppliers = _english([create_user("supplier") for _ in range(5)])
    pool = _english(make_pool(create_user, 9))
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:len(prices)], prices, now=now)
    at = opened_at + timedelta(hours=1)
    clock.move_to(at)
    stranger_bureau = create_org("bureau", name=f"开封市民政局{secrets.token_hex(2)}", level="city")
    return SimpleNamespace(
        tender=tender, bids=bids, at=at, officers=officers, suppliers=suppliers, pool=pool,
        stranger=_english([create_user("officer", organisation_id=stranger_bureau.id)])[0])


@pytest.fixture
def world(city_bureau, create_user, create_org, clock, now):
    return _build(city_bureau, create_user, create_org, clock, now)


def _client(app, user=None):
    client = app.test_client()
    if user is not None:
        assert login(client, user.username).status_code == 302
    return client


def _post(client, url, data=None):
    return client.post(url, data={"csrf_token": csrf_token(client, "/notices")} | (data or {}))


def _text(response) -> str:
    text = response.get_data(as_text=True) if response.mimetype.startswith("text") else ""
    response.close()
    return text


def _form(w, size=5, reps=()):
    committee = service.form_committee(w.tender, size=size, specialty="elderly_care", representative_ids=list(reps),
                                       actor=w.officers[0], now=w.at)
    db.session.commit()
    return committee


def _seat(w, committee):
    """Every member declares no conflict and the first expert chairs; returns the chair's user."""
    for member in list(committee.sitting):
        if member.status == MemberStatus.DRAWN:
            service.declare(member, conflict=False, note="", actor=member.user, now=w.at)
    chair = next(m for m in committee.sitting if m.kind == MemberKind.EXPERT)
    service.set_chair(committee, chair, actor=w.officers[0], now=w.at)
    db.session.commit()
    return chair.user


def _outsider(w, committee):
    return next(u for u in w.pool if u.id not in {m.user_id for m in committee.members})


# --- Forming the committee ----------------------------------------------------------------------------------------


def test_officer_forms_the_committee_through_the_form(app, world):
    w = world
    client = _client(app, w.officers[0])
    overview = f"/tenders/{w.tender.id}/evaluation"
    assert "Form the committee" in _text(client.get(overview))
    page = _text(client.get(f"{overview}/committee"))
    assert "At least 5 members" in page and "Draw the experts" in page
    refused = _post(client, f"{overview}/committee", {"size": "4", "specialty": "elderly_care"})
    assert refused.status_code == 200 and "at least 5 members" in _text(refused)
    assert db.session.scalar(sa.select(Committee.id)) is None
    response = _post(client, f"{overview}/committee", {"size": "5", "specialty": "elderly_care",
                                                      "representatives": str(w.officers[1].id)})
    assert response.status_code == 302 and response.headers["Location"].endswith(overview)
    committee = db.session.scalar(sa.select(Committee))
    assert committee.size == 5 and sum(m.kind == MemberKind.REPRESENTATIVE for m in committee.members) == 1
    db.session.refresh(w.tender)
    assert w.tender.status == TenderStatus.EVALUATING
    page = _text(client.get(overview))
    assert all(m.user.name in page for m in committee.members)
    assert client.get(f"{overview}/committee").status_code == 302  # formed once only


def test_committee_form_is_for_the_bureaus_officers_only(app, world):
    w = world
    url = f"/tenders/{w.tender.id}/evaluation/committee"
    for user in (w.stranger, w.suppliers[0], w.pool[0], w.officers[0]):
        client = _client(app, user)
        expected = 200 if user is w.officers[0] else 403
        assert client.get(url).status_code == expected
        if expected == 403:
            assert _post(client, url, {"size": "5"}).status_code == 403
    assert _client(app).get(url).status_code == 302  # to the sign-in page
    assert db.session.scalar(sa.select(Committee.id)) is None


# --- Who sees member names ----------------------------------------------------------------------------------------


def test_member_names_stay_off_the_tender_page_and_away_from_suppliers(app, world):
    w = world
    committee = _form(w)
    names = [m.user.name for m in committee.members]
    detail = f"/tenders/{w.tender.id}"
    overview = f"{detail}/evaluation"
    for client in (_client(app), _client(app, w.suppliers[0]), _client(app, w.suppliers[4])):
        page = _text(client.get(detail))
        assert page and not any(name in page for name in names)
        assert overview not in page
    assert _client(app).get(overview).status_code == 302
    for user in (w.suppliers[0], _outsider(w, committee), w.stranger):
        assert _client(app, user).get(overview).status_code == 403
    officer_page = _text(_client(app, w.officers[0]).get(detail))
    assert overview in officer_page and not any(name in officer_page for name in names)


def test_a_drawn_member_sees_bidders_names_but_no_price_and_no_file(app, world):
    w = world
    committee = _form(w)
    member = committee.members[0]
    client = _client(app, member.user)
    page = _text(client.get(f"/tenders/{w.tender.id}"))
    assert f"/tenders/{w.tender.id}/evaluation/declaration" in page
    page = _text(client.get(f"/tenders/{w.tender.id}/evaluation"))
    assert all(bid.supplier.name in page for bid in w.bids)
    assert not any(price in page for price in SHOWN_PRICES)
    file = w.bids[0].files[0]
    assert file.file.original_name not in page
    file_url = f"/tenders/{w.tender.id}/evaluation/files/{file.id}"
    assert client.get(file_url).status_code == 403
    assert client.get(f"/tenders/{w.tender.id}/evaluation/qualification").status_code == 403
    page = _text(client.get(f"/tenders/{w.tender.id}/evaluation/declaration"))
    assert all(bid.supplier.name in page for bid in w.bids) and not any(p in page for p in SHOWN_PRICES)
    assert _post(client, f"/tenders/{w.tender.id}/evaluation/declaration", {"conflict": "no"}).status_code == 302
    page = _text(client.get(f"/tenders/{w.tender.id}/evaluation"))
    assert all(price in page for price in SHOWN_PRICES) and file.file.original_name in page
    response = client.get(file_url)
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    assert response.data.startswith(b"%PDF")
    response.close()


def test_bid_files_only_for_declared_members(app, world):
    w = world
    committee = _form(w)
    _seat(w, committee)
    file_url = f"/tenders/{w.tender.id}/evaluation/files/{w.bids[1].files[0].id}"
    for user in (w.officers[0], _outsider(w, committee)):
        assert _client(app, user).get(file_url).status_code == 403
    assert _client(app, w.suppliers[1]).get(file_url).status_code == 403  # its own bid, but not this route
    assert _client(app, committee.members[2].user).get(
        f"/tenders/{w.tender.id}/evaluation/files/999999").status_code == 404


def test_declaring_a_conflict_through_the_page(app, world):
    w = world
    committee = _form(w)
    member = committee.members[1]
    client = _client(app, member.user)
    url = f"/tenders/{w.tender.id}/evaluation/declaration"
    page = _text(_post(client, url, {"conflict": "yes", "note": ""}))
    assert "Describe the conflict" in page
    response = _post(client, url, {"conflict": "yes", "note": "两年前曾在投标人处任职"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    db.session.expire_all()
    assert member.status == MemberStatus.REPLACED and len(committee.sitting) == 5
    assert client.get(f"/tenders/{w.tender.id}/evaluation").status_code == 403  # no seat any more
    assert client.get(url).status_code == 403
    assert _client(app, _outsider(w, committee)).get(url).status_code == 403


# --- Chair and replacements ---------------------------------------------------------------------------------------


def test_chair_and_replacement_routes(app, world):
    w = world
    committee = _form(w)
    expert = committee.members[0]
    service.declare(expert, conflict=False, note="", actor=expert.user, now=w.at)
    db.session.commit()
    chair_url = f"/tenders/{w.tender.id}/evaluation/chair"
    replace_url = f"/tenders/{w.tender.id}/evaluation/members/{committee.members[3].id}/replace"
    for user in (w.stranger, expert.user, w.suppliers[0]):
        client = _client(app, user)
        assert _post(client, chair_url, {"member_id": str(expert.id)}).status_code == 403
        assert _post(client, replace_url, {"reason": "无法出席"}).status_code == 403
    client = _client(app, w.officers[0])
    page = _text(client.get(f"/tenders/{w.tender.id}/evaluation"))
    assert "Record the chair" in page and "Replace this member" in page
    _post(client, chair_url, {"member_id": str(committee.members[1].id)})  # not declared: refused
    db.session.expire_all()
    assert committee.chair_id is None
    assert _post(client, chair_url, {"member_id": str(expert.id)}).status_code == 302
    db.session.expire_all()
    assert committee.chair_id == expert.id
    assert _post(client, replace_url, {"reason": ""}).status_code == 302
    db.session.expire_all()
    assert committee.members[3].status == MemberStatus.DRAWN
    assert _post(client, replace_url, {"reason": "无法出席评审"}).status_code == 302
    db.session.expire_all()
    assert committee.members[3].status == MemberStatus.REPLACED and len(committee.members) == 6
    other = f"/tenders/{w.tender.id}/evaluation/members/999999/replace"
    assert _post(client, other, {"reason": "无法出席评审"}).status_code == 404


# --- Qualification and compliance review --------------------------------------------------------------------------


def _findings(tender, bid, *, fail=None):
    data = {"bid_id": str(bid.id)}
    for requirement in tender.requirements:
        failed = fail is not None and requirement.id == fail[0]
        data[f"b{bid.id}-passed_{requirement.id}"] = "fail" if failed else "pass"
        data[f"b{bid.id}-reason_{requirement.id}"] = fail[1] if failed else ""
    return data


def test_qualification_review_through_the_pages(app, world):
    w = world
    committee = _form(w)
    chair = _seat(w, committee)
    member = next(m.user for m in committee.sitting if m.user_id != chair.id)
    url = f"/tenders/{w.tender.id}/evaluation/qualification"
    close = f"{url}/close"
    first = w.tender.requirements[0]
    assert _post(_client(app, member), url, _findings(w.tender, w.bids[0])).status_code == 403
    assert _post(_client(app, w.officers[0]), url, _findings(w.tender, w.bids[0])).status_code == 403
    for user in (member, w.officers[0]):
        assert _post(_client(app, user), close).status_code == 403
    for user in (w.suppliers[0], w.stranger, _outsider(w, committee)):
        assert _client(app, user).get(url).status_code == 403
    client = _client(app, chair)
    assert url in _text(client.get(f"/tenders/{w.tender.id}/evaluation"))  # the chair's next step
    assert "Record the findings on this bid" in _text(client.get(url))
    page = _text(_post(client, url, _findings(w.tender, w.bids[0], fail=(first.id, ""))))
    assert "Give the reason" in page
    assert db.session.scalar(sa.select(sa.func.count(QualificationCheck.id))) == 0
    assert _post(client, url, _findings(w.tender, w.bids[0])).status_code == 302
    _post(client, close)  # bids 2 and 3 have no findings yet: refused
    db.session.expire_all()
    assert committee.qualification_closed_at is None
    for bid in w.bids[1:]:
        assert _post(client, url, _findings(w.tender, bid)).status_code == 302
    assert _post(client, close).status_code == 302
    db.session.expire_all()
    assert committee.qualification_closed_at is not None
    officer_page = _text(_client(app, w.officers[1]).get(url))
    assert "Record the findings" not in officer_page and w.bids[2].supplier.name in officer_page


def test_fewer_than_three_qualified_fails_the_tender_from_the_page(app, world):
    w = world
    committee = _form(w)
    chair = _seat(w, committee)
    client = _client(app, chair)
    url = f"/tenders/{w.tender.id}/evaluation/qualification"
    first = w.tender.requirements[0]
    _post(client, url, _findings(w.tender, w.bids[0], fail=(first.id, "未提供财务会计制度证明")))
    for bid in w.bids[1:]:
        _post(client, url, _findings(w.tender, bid))
    page = _text(client.get(url))
    assert "未提供财务会计制度证明" in page
    response = _post(client, f"{url}/close")
    assert response.status_code == 302
    assert "procurement has failed" in _text(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert w.tender.status == TenderStatus.FAILED


# --- Abnormally low prices ----------------------------------------------------------------------------------------


@pytest.fixture
def low_world(city_bureau, create_user, create_org, clock, now):
    w = _build(city_bureau, create_user, create_org, clock, now,
               prices=("400000.00", "400000.00", "400000.00", "300000.00"))
    committee = _form(w)
    w.chair = _seat(w, committee)
    for bid in w.bids:
        service.record_checks(committee, bid, {r.id: (True, "") for r in w.tender.requirements}, actor=w.chair,
                              now=w.at)
    assert service.close_qualification(committee, actor=w.chair, now=w.at) == "closed"
    db.session.commit()
    w.committee = committee
    w.inquiry = db.session.scalar(sa.select(LowPriceInquiry))
    return w


def test_the_bidder_justifies_and_the_chair_decides(app, low_world):
    w = low_world
    url = f"/tenders/{w.tender.id}/evaluation/low-price/{w.inquiry.id}"
    bidder = _client(app, w.suppliers[3])
    detail = _text(bidder.get(f"/tenders/{w.tender.id}"))
    assert url in detail and "Justify your price" in detail
    assert url not in _text(_client(app, w.suppliers[0]).get(f"/tenders/{w.tender.id}"))
    assert "Written justification of the price" in _text(bidder.get(url))
    other = _client(app, w.suppliers[0])
    assert other.get(url).status_code == 403
    assert _post(other, url, {"text": "x" * 30}).status_code == 403
    assert "at least 20" in _text(_post(bidder, url, {"text": "成本较低"}))
    text = "我机构使用志愿者队伍与自有场地，人力成本较低，报价已包含全部服务成本。"
    assert _post(bidder, url, {"text": text}).status_code == 302
    db.session.expire_all()
    assert w.inquiry.justification == text
    decide = f"{url}/decide"
    member = next(m.user for m in w.committee.sitting if m.user_id != w.chair.id)
    assert text in _text(_client(app, member).get(url))
    for client in (_client(app, member), _client(app, w.officers[0]), bidder):
        assert _post(client, decide, {"decision": "reject", "note": "理由不充分"}).status_code == 403
    chair = _client(app, w.chair)
    assert "Record the decision" in _text(chair.get(url))
    _post(chair, decide, {"decision": "reject", "note": ""})
    db.session.expire_all()
    assert w.inquiry.decided_at is None
    response = _post(chair, decide, {"decision": "reject", "note": "无法说明人力成本构成"})
    assert response.status_code == 302
    db.session.expire_all()
    assert w.inquiry.accepted is False and w.tender.status == TenderStatus.EVALUATING
    page = _text(bidder.get(url))
    assert "无法说明人力成本构成" in page and "Send to the committee" not in page
    assert not any(m.user.name in page for m in w.committee.members)


# --- Dashboards ---------------------------------------------------------------------------------------------------


def test_evaluator_dashboard_lists_seats_with_what_awaits(app, world):
    w = world
    committee = _form(w)
    member = committee.members[0]
    client = _client(app, member.user)
    page = _text(client.get("/dashboard"))
    assert w.tender.title in page and "Declare whether you have a conflict" in page
    _seat(w, committee)
    page = _text(client.get("/dashboard"))
    assert "Record the qualification review" in page  # the first expert chairs
    for bid in w.bids:
        service.record_checks(committee, bid, {r.id: (True, "") for r in w.tender.requirements},
                              actor=member.user, now=w.at)
    service.close_qualification(committee, actor=member.user, now=w.at)
    db.session.commit()
    assert "Score the qualified bids" in _text(client.get("/dashboard"))
    committee.scoring_closed_at = w.at
    db.session.commit()
    assert "Confirm the evaluation report" in _text(client.get("/dashboard"))
    assert w.tender.title not in _text(_client(app, _outsider(w, committee)).get("/dashboard"))


def test_officer_dashboard_flags_tenders_awaiting_a_committee(app, world):
    w = world
    client = _client(app, w.officers[0])
    assert "awaiting a committee" in _text(client.get("/dashboard"))
    _form(w)
    assert "awaiting a committee" not in _text(client.get("/dashboard"))


def test_overview_queries_do_not_grow_with_bids_and_members(app, city_bureau, create_user, create_org, clock, now):
    small = _build(city_bureau, create_user, create_org, clock, now)
    _seat(small, _form(small))
    large = _build(city_bureau, create_user, create_org, clock, now,
                   prices=("400000.00", "410000.00", "420000.00", "430000.00", "440000.00"))
    large.tender.complex = True
    db.session.commit()
    _seat(large, _form(large, size=7))
    client = _client(app, small.officers[0])
    assert queries_for(client, f"/tenders/{small.tender.id}/evaluation") == \
        queries_for(_client(app, large.officers[0]), f"/tenders/{large.tender.id}/evaluation")


def test_every_committee_route_refuses_outsiders(app, low_world):
    w = low_world
    base = f"/tenders/{w.tender.id}/evaluation"
    member = w.committee.members[1]
    routes = [
        ("GET", base), ("GET", f"{base}/committee"), ("POST", f"{base}/committee"), ("POST", f"{base}/chair"),
        ("POST", f"{base}/members/{member.id}/replace"), ("GET", f"{base}/declaration"),
        ("POST", f"{base}/declaration"), ("GET", f"{base}/qualification"), ("POST", f"{base}/qualification"),
        ("POST", f"{base}/qualification/close"), ("GET", f"{base}/low-price/{w.inquiry.id}"),
        ("POST", f"{base}/low-price/{w.inquiry.id}"), ("POST", f"{base}/low-price/{w.inquiry.id}/decide"),
        ("GET", f"{base}/files/{w.bids[0].files[0].id}"),
    ]
    outsiders = {"officer of another bureau": w.stranger, "supplier that did not bid": w.suppliers[4],
                 "expert not on the committee": _outsider(w, w.committee)}
    for who, user in outsiders.items():
        client = _client(app, user)
        token = csrf_token(client, "/notices")
        for method, url in routes:
            response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
            response.close()
            assert response.status_code == 403, f"{who} {method} {url}"
    anonymous = _client(app)
    for method, url in routes:
        if method == "GET":
            response = anonymous.get(url)
            assert response.status_code == 302 and "/login" in response.location, url


def test_another_bidder_cannot_open_a_low_price_inquiry(app, low_world):
    w = low_world
    url = f"/tenders/{w.tender.id}/evaluation/low-price/{w.inquiry.id}"
    for bidder in w.suppliers[:3]:  # bidders of the same tender, not asked
        client = _client(app, bidder)
        assert client.get(url).status_code == 403
        assert _post(client, url, {"text": "我机构使用志愿者队伍与自有场地，人力成本较低。"}).status_code == 403
    db.session.expire_all()
    assert w.inquiry.justified_at is None


def test_the_due_time_is_shown_and_after_it_the_chair_may_reject_without_a_justification(app, low_world, clock):
    w = low_world
    url = f"/tenders/{w.tender.id}/evaluation/low-price/{w.inquiry.id}"
    due = service.beijing_text(w.inquiry.due_at)
    bidder, chair = _client(app, w.suppliers[3]), _client(app, w.chair)
    page = _text(bidder.get(url))
    assert "Justification due by" in page and due in page and "Send to the committee" in page
    assert "Record the decision" not in _text(chair.get(url))
    clock.move_to(w.inquiry.due_at)  # a day later: sign in again
    bidder, chair = _client(app, w.suppliers[3]), _client(app, w.chair)
    page = _text(bidder.get(url))
    assert "Send to the committee" not in page
    late = _post(bidder, url, {"text": "我机构使用志愿者队伍与自有场地，人力成本较低，报价已包含全部服务成本。"})
    assert "ended at" in _text(late) and w.inquiry.justified_at is None
    page = _text(chair.get(url))
    assert "Record the decision" in page and "no justification in time" in page
    response = _post(chair, f"{url}/decide", {"decision": "reject", "note": "未在规定时间内提交书面说明"})
    assert response.status_code == 302
    db.session.expire_all()
    assert w.inquiry.accepted is False and w.inquiry.justified_at is None


def test_a_supplier_out_after_the_review_is_told_it_cannot_give_a_final_quote(app, city_bureau, create_user,
                                                                              create_org, clock, now):
    from portal.tenders import services as tender_services
    from portal.tenders.models import Method

    officers = _english([create_user("officer"), create_user("officer")])
    suppliers = _english([create_user("supplier") for _ in range(4)])
    _english(make_pool(create_user, 5))
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers,
                                                 ("400000.00", "410000.00", "420000.00", "430000.00"), now=now,
                                                 method=Method.NEGOTIATION)
    w = SimpleNamespace(tender=tender, at=opened_at + timedelta(hours=1), officers=officers)
    clock.move_to(w.at)
    committee = _form(w, size=3)
    chair = _seat(w, committee)
    for index, bid in enumerate(bids):
        service.record_checks(committee, bid, {r.id: (index != 3, "" if index != 3 else "未提供财务审计报告")
                                               for r in tender.requirements}, actor=chair, now=w.at)
    assert service.close_qualification(committee, actor=chair, now=w.at) == "closed"
    tender_services.issue_negotiation_round(tender, "服务频次调整为每周两次",
                                            final_quote_deadline=w.at + timedelta(days=1), actor=officers[0], now=w.at)
    db.session.commit()
    page = _text(_client(app, suppliers[3]).get(f"/tenders/{tender.id}"))
    assert "you are out of the negotiation and cannot give a final quote" in page
    assert "Seal my final quote" not in page
    page = _text(_client(app, suppliers[0]).get(f"/tenders/{tender.id}"))
    assert "Seal my final quote" in page and "out of the negotiation" not in page
