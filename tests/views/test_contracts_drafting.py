"""Contract pages through HTTP: drafting from the award (refused during the challenge period), the rules' messages,
signing with one's own password, the frozen PDF and its hash, the contract notice on the public board, the filing,
the lists and dashboards, and who may reach each page.

The district bureau's tender is awarded on Thursday 3 December 2026; the challenge period runs until Tuesday
15 December, so the clock is frozen on Wednesday 16 December, 10:00 Beijing, unless a test moves it.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal import pdf as pdf_module
from portal.accounts.models import OrgKind
from portal.contracts import services
from portal.contracts.models import Contract, ContractStatus, Gate
from portal.evaluation import award as awards
from portal.extensions import db
from portal.notices import Notice
from tests.award_builders import evaluated_open_tender
from tests.conftest import PASSWORD, csrf_token
from tests.support.queries import queries_for
from tests.support.web import as_user, bj, text

D = date.fromisoformat
SCHEDULE = [(Decimal("30"), Gate.SIGNING, ""), (Decimal("40"), Gate.REVIEW, "中期评估合格后"),
            (Decimal("30"), Gate.ACCEPTANCE, "")]


AWARDED = bj("2026-12-03")
OPEN = bj("2026-12-16")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(OPEN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def ev(district, create_user, now):
    ev = evaluated_open_tender(district, create_user, now=now)
    for user in ev.officers + ev.suppliers:
        user.locale = "en"
    db.session.commit()
    awards.confirm_award(ev.tender, actor=ev.officers[0], now=AWARDED)
    db.session.commit()
    return ev


def winner(ev):
    return ev.suppliers[2]


def award_id(ev) -> int:
    return awards.active_award(ev.tender).id


def post(client, url, data, form_page):
    response = client.post(url, data=data | {"csrf_token": csrf_token(client, form_page)})
    db.session.expire_all()
    return response


def form_data(start="2027-01-01", end="2027-12-31", percents=("30", "40", "30"), lines=(("2027", "450000.00"),),
              **extra) -> dict:
    data = {"title": "社区困难老年人关爱服务合同", "service_content": "为辖区困难老年人提供探访、照料与心理支持服务。",
            "targets": "每月探访不少于200人次。", "start_date": start, "end_date": end, "report_interval": "quarterly",
            "performance_bond": "", "breach_terms": services.DEFAULT_BREACH_TERMS, "long_term_note": ""}
    gates = ("signing", "review", "acceptance", "acceptance", "acceptance")
    for i, percent in enumerate(percents):
        data |= {f"installments-{i}-percent": percent, f"installments-{i}-gate": gates[i],
                 f"installments-{i}-condition": ""}
    for i, (year, amount) in enumerate(lines):
        data |= {f"budget_lines-{i}-fiscal_year": year, f"budget_lines-{i}-amount": amount}
    return data | extra


def drafted(ev, at=OPEN) -> Contract:
    contract = services.draft_contract(awards.active_award(ev.tender), {
        "title": "社区困难老年人关爱服务合同", "service_content": "为辖区困难老年人提供探访服务。",
        "targets": "每月探访200人次。",
        "start_date": D("2027-01-01"), "end_date": D("2027-12-31"), "budget_secured": False, "service_stable": False,
        "long_term_note": "", "report_interval": "quarterly", "performance_bond": None,
        "breach_terms": services.DEFAULT_BREACH_TERMS}, SCHEDULE, {}, actor=ev.officers[0], now=at)
    db.session.commit()
    return contract


def signed(ev, at=OPEN) -> Contract:
    contract = drafted(ev, at)
    services.sign(contract, actor=ev.officers[0], now=at)
    services.sign(contract, actor=winner(ev), now=at)
    db.session.commit()
    return contract


# --- Drafting -------------------------------------------------------------------------------------------------------


def test_officer_drafts_the_contract_from_the_award(client, ev):
    as_user(client, ev.officers[0])
    url = f"/awards/{award_id(ev)}/contract/new"
    page = text(client.get(url))
    assert ev.tender.title in page and "人民币肆拾伍万元整" in page
    assert 'value="30"' in page and 'value="40"' in page and "中期评估合格后" in page
    assert 'name="budget_lines-0-fiscal_year"' in page and 'value="2027"' in page
    response = post(client, url, form_data(), url)
    assert response.status_code == 302
    contract = db.session.scalar(sa.select(Contract))
    assert response.headers["Location"].endswith(f"/contracts/{contract.id}")
    assert contract.amount == Decimal("450000.00") and [i.percent for i in contract.installments] == [30, 40, 30]
    # A second visit to the form goes to the contract.
    assert client.get(url).headers["Location"].endswith(f"/contracts/{contract.id}")


def test_draft_form_shows_the_rules_messages(client, ev):
    as_user(client, ev.officers[0])
    url = f"/awards/{award_id(ev)}/contract/new"
    lines = (("2027", "400000.00"), ("2028", "50000.00"))
    response = post(client, url, form_data(end="2028-01-01", lines=lines), url)
    assert response.status_code == 400 and "13 months" in text(response) and "102-24" in text(response)
    assert '<details class="mb-3" open>' in text(response)  # the grounds unfold for a term over 12 months
    assert '<details class="mb-3" open>' not in text(client.get(url))
    response = post(client, url, form_data(end="2028-01-01", lines=lines, budget_secured="y", service_stable="y",
                                           long_term_note="预算已纳入中期财政规划"), url)
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Contract)).end_date == D("2028-01-01")


def test_draft_form_refuses_37_months_bad_schedule_and_bond(client, ev):
    as_user(client, ev.officers[0])
    url = f"/awards/{award_id(ev)}/contract/new"
    grounds = {"budget_secured": "y", "service_stable": "y", "long_term_note": "三年预算已保障"}
    lines = (("2027", "100000"), ("2028", "100000"), ("2029", "100000"), ("2030", "150000"))
    response = post(client, url, form_data(end="2030-01-01", lines=lines, **grounds), url)
    assert response.status_code == 400 and "37 months" in text(response)
    response = post(client, url, form_data(percents=("30", "40", "20")), url)
    assert response.status_code == 400 and "add up to 90 percent" in text(response)
    response = post(client, url, form_data(performance_bond="45000.01"), url)
    assert response.status_code == 400 and "R48" in text(response)
    response = post(client, url, form_data(start="2027-07-01", end="2028-06-30"), url)
    assert response.status_code == 400 and "2027、2028" in text(response)
    assert db.session.scalar(sa.select(sa.func.count(Contract.id))) == 0


def test_draft_refused_during_the_challenge_period(client, ev, clock):
    clock.move_to(bj("2026-12-15", "16:00"))
    as_user(client, ev.officers[0])
    url = f"/awards/{award_id(ev)}/contract/new"
    assert "2026-12-15" in text(client.get(url))
    response = post(client, url, form_data(), url)
    assert response.status_code == 400 and "runs until 2026-12-15" in text(response)
    assert db.session.scalar(sa.select(sa.func.count(Contract.id))) == 0


def test_award_panel_links_to_drafting_and_then_to_the_contract(client, ev):
    as_user(client, ev.officers[0])
    overview = f"/tenders/{ev.tender.id}/evaluation"
    page = text(client.get(overview))
    assert "Draft the contract (起草合同)" in page and f"/awards/{award_id(ev)}/contract/new" in page
    contract = drafted(ev)
    page = text(client.get(overview))
    assert f"/contracts/{contract.id}" in page and "Draft the contract" not in page


def test_edit_until_a_party_signs(client, ev):
    contract = drafted(ev)
    as_user(client, ev.officers[0])
    url = f"/contracts/{contract.id}/edit"
    assert "社区困难老年人关爱服务合同" in text(client.get(url))
    response = post(client, url, form_data(percents=("50", "50"), performance_bond="10000"), url)
    assert response.status_code == 302
    assert [i.percent for i in contract.installments] == [50, 50] and contract.performance_bond == 10000
    services.sign(contract, actor=winner(ev), now=OPEN)
    db.session.commit()
    assert client.get(url).status_code == 302
    assert "can no longer be changed" in text(client.get(f"/contracts/{contract.id}"))


# --- Signing and the PDF --------------------------------------------------------------------------------------------


def test_signing_with_ones_own_password_each_once(client, ev, monkeypatch):
    contract = drafted(ev)
    url = f"/contracts/{contract.id}/sign"
    as_user(client, ev.officers[0])
    response = post(client, url, {"password": "not-my-password", "agree": "y"}, url)
    assert response.status_code == 400 and "The password is wrong" in text(response)
    assert contract.officer_signed_at is None
    response = post(client, url, {"password": PASSWORD}, url)  # the box is not ticked
    assert response.status_code == 400 and contract.officer_signed_at is None
    assert post(client, url, {"password": PASSWORD, "agree": "y"}, url).status_code == 302
    assert contract.officer_signed_at == OPEN and contract.status == ContractStatus.DRAFT
    assert client.get(url).status_code == 302  # signed already: back to the contract
    as_user(client, winner(ev))
    assert post(client, url, {"password": PASSWORD, "agree": "y"}, url).status_code == 302
    assert contract.status == ContractStatus.SIGNED and contract.document_id is not None
    as_user(client, ev.suppliers[0])
    assert client.get(url).status_code == 403  # a losing bidder


def test_signed_pdf_is_frozen_and_its_hash_shown(client, ev, monkeypatch):
    contract = signed(ev)
    document = services.contract_pdf(contract)
    stored = document.file.read_bytes()

    def no_rendering(*args, **kwargs):
        raise AssertionError("the contract PDF was rendered again")

    monkeypatch.setattr(pdf_module, "render_pdf", no_rendering)
    for user in (ev.officers[0], winner(ev)):
        as_user(client, user)
        page = text(client.get(f"/contracts/{contract.id}"))
        assert document.file.sha256 in page and document.number in page
        downloads = []
        for _ in range(2):
            response = client.get(f"/contracts/{contract.id}/contract.pdf")
            assert response.status_code == 200 and response.mimetype == "application/pdf"
            downloads.append(response.get_data())
            response.close()
        assert downloads[0] == downloads[1] == stored
        assert hashlib.sha256(downloads[0]).hexdigest() == document.file.sha256


def test_pdf_before_signing_redirects(client, ev):
    contract = drafted(ev)
    as_user(client, ev.officers[0])
    response = client.get(f"/contracts/{contract.id}/contract.pdf")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/{contract.id}")


# --- Notice and filing ----------------------------------------------------------------------------------------------


def test_public_sees_the_contract_notice(client, ev):
    contract = signed(ev)
    as_user(client, ev.officers[0])
    page_url = f"/contracts/{contract.id}"
    assert post(client, f"/contracts/{contract.id}/notice", {}, page_url).status_code == 302
    notice = db.session.get(Notice, contract.notice_id)
    assert notice is not None
    as_user(client, None)
    board = text(client.get("/notices"))
    assert notice.title in board
    detail = text(client.get(f"/notices/{notice.id}"))
    assert contract.reference in detail and "人民币肆拾伍万元整" in detail
    assert client.get(page_url).status_code == 302  # the contract's own pages stay private


def test_officer_records_the_filing(client, ev):
    contract = signed(ev)
    as_user(client, ev.officers[0])
    page_url = f"/contracts/{contract.id}"
    assert "2026-12-25" in text(client.get(page_url))  # 7 WD after Wednesday 16 December
    response = post(client, f"/contracts/{contract.id}/filing", {"reference": "金财备〔2026〕12号",
                                                                  "filed_on": "2026-12-16"}, page_url)
    assert response.status_code == 302
    assert contract.filing_reference == "金财备〔2026〕12号"
    assert "金财备〔2026〕12号" in text(client.get(page_url))


# --- Lists and dashboards -------------------------------------------------------------------------------------------


def test_index_shows_days_left_and_overdue(client, ev, clock):
    contract = drafted(ev)
    as_user(client, winner(ev))
    page = text(client.get("/contracts"))
    assert contract.reference in page and "17 days left to sign" in page
    clock.move_to(bj("2027-01-03"))
    as_user(client, winner(ev))  # a new session: the old one expired with the moved clock
    page = text(client.get("/contracts"))
    assert "Signing overdue since 2027-01-02" in page
    assert contract.reference in text(client.get("/dashboard"))
    as_user(client, ev.officers[0])
    dashboard = text(client.get("/dashboard"))
    assert contract.reference in dashboard and "awaiting signature" in dashboard


def test_index_lists_awards_awaiting_a_contract(client, ev):
    as_user(client, ev.officers[0])
    page = text(client.get("/contracts"))
    assert "Draft the contract (起草合同)" in page and f"/awards/{award_id(ev)}/contract/new" in page


def test_index_queries_do_not_grow_with_contracts(client, ev, district, create_user, now):
    drafted(ev)
    as_user(client, ev.officers[0])
    one = queries_for(client, "/contracts")
    second = evaluated_open_tender(district, create_user, now=now, experts=ev.experts)
    awards.confirm_award(second.tender, actor=ev.officers[0], now=AWARDED)
    db.session.commit()
    services.draft_contract(awards.active_award(second.tender), services.contract_values(
        db.session.scalar(sa.select(Contract))), SCHEDULE, {}, actor=ev.officers[0], now=OPEN)
    db.session.commit()
    assert queries_for(client, "/contracts") == one


# --- Who may reach each page ----------------------------------------------------------------------------------------


def test_only_the_parties_and_the_overseers_see_the_contract(client, ev, create_user, create_org, city_bureau):
    contract = signed(ev)
    other_district = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    allowed = [ev.officers[0], winner(ev), create_user("officer", organisation_id=city_bureau.id),
               create_user("admin")]
    refused = [create_user("officer", organisation_id=other_district.id), ev.suppliers[0], ev.experts[0]]
    pages = [f"/contracts/{contract.id}", f"/contracts/{contract.id}/contract.pdf"]
    for user in allowed:
        as_user(client, user)
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, (user.role, url)
            response.close()
        assert contract.reference in text(client.get("/contracts")) or user.role == "admin"
    for user in refused:
        as_user(client, user)
        for url in pages:
            assert client.get(url).status_code == 403, (user.role, url)
        listing = client.get("/contracts")
        assert listing.status_code == 403 or contract.reference not in text(listing)
    as_user(client, None)
    for url in [*pages, "/contracts"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_officer_actions_refused_to_others(client, ev, create_user, city_bureau):
    contract = drafted(ev)
    page_url = f"/contracts/{contract.id}"
    city_officer = create_user("officer", organisation_id=city_bureau.id)
    as_user(client, city_officer)  # oversees, but does not act for the district
    assert client.get(page_url).status_code == 200
    assert "Sign the contract" not in text(client.get(page_url))
    for url in (f"/contracts/{contract.id}/edit", f"/contracts/{contract.id}/sign",
                f"/awards/{award_id(ev)}/contract/new"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, page_url)
    for url in (f"/contracts/{contract.id}/notice", f"/contracts/{contract.id}/filing"):
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url
    as_user(client, winner(ev))
    for url in (f"/contracts/{contract.id}/edit", f"/awards/{award_id(ev)}/contract/new"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, page_url)
    assert client.post(f"/contracts/{contract.id}/notice", data={"csrf_token": token}).status_code == 403
    assert "Sign the contract" in text(client.get(page_url))


def test_signing_late_is_shown(client, ev, clock):
    contract = drafted(ev)
    clock.move_to(bj("2027-01-03"))
    as_user(client, ev.officers[0])
    page = text(client.get(f"/contracts/{contract.id}"))
    assert "Overdue by 1 days" in page
    response = post(client, f"/contracts/{contract.id}/sign", {"password": PASSWORD, "agree": "y"},
                    f"/contracts/{contract.id}/sign")
    assert response.status_code == 302 and contract.officer_signed_at is not None
    assert contract.officer_signed_at - bj("2027-01-03") < timedelta(seconds=1)


# --- Withdrawing a draft; duplicate budget years ----------------------------------------------------------------------


def test_officer_withdraws_a_draft_of_an_annulled_award(client, ev):
    contract = drafted(ev)
    awards.pass_over(ev.tender, supplier_id=winner(ev).organisation_id, reason="declined", note="中标人书面放弃中标。",
                     actor=ev.officers[0], now=OPEN)
    db.session.commit()
    url = f"/contracts/{contract.id}"
    as_user(client, winner(ev))
    page = text(client.get(url))
    assert "no longer in force" in page and "/withdraw" not in page and "Sign the contract" not in page
    response = client.post(f"{url}/withdraw", data={"reason": "中标已撤销。", "csrf_token": csrf_token(client, url)})
    assert response.status_code == 403
    as_user(client, ev.officers[0])
    page = text(client.get(url))
    assert f'action="/contracts/{contract.id}/withdraw"' in page and "Edit the draft" not in page
    response = post(client, f"{url}/withdraw", {"reason": "中标人放弃中标，草稿作废。"}, url)
    assert response.status_code == 302
    assert db.session.get(Contract, contract.id).status == ContractStatus.WITHDRAWN
    page = text(client.get(url))
    assert "This draft was withdrawn" in page and "中标人放弃中标，草稿作废。" in page


def test_a_fiscal_year_entered_twice_is_refused(client, ev):
    as_user(client, ev.officers[0])
    url = f"/awards/{award_id(ev)}/contract/new"
    response = post(client, url, form_data(lines=(("2027", "400000.00"), ("2027", "50000.00"))), url)
    assert response.status_code == 400 and "only one budget line" in text(response)
    assert db.session.scalar(sa.select(Contract)) is None
