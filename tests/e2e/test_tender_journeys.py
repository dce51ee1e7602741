"""An officer runs each of the four methods from need to opening in the browser.

公开招标, 邀请招标 and 竞争性谈判: record the need, mark it ready, create the tender, draw or invite
suppliers, publish with the earliest lawful dates, NGOs seal bids and keep receipts, the deadline
passes, one officer starts the opening and another confirms it. 单一来源: the notice runs, the public
objects, the officer answers, and after the notice the approval and the agreed price are recorded.
And the failure: an open tender with two bids fails at the opening and is tendered again.

The clock, the demo cast, the signed-in pages and the page helpers come from journey_support.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from portal.db import utcnow
from portal.extensions import db
from portal.i18n import format_money
from portal.seed import DEMO_PASSWORD
from portal.tenders.models import SupplierDraw, Tender
from portal.tenders.rules import beijing_instant, local_date
from tests.e2e.journey_support import (
    START,
    expect_flash,
    expect_no_form_errors,
    sign_in,
    snap,
    submit,
)

SHA256 = re.compile(r"^[0-9a-f]{64}$")
TENDER_URL = re.compile(r"/tenders/(\d+)$")




# --- Helpers ---------------------------------------------------------------------------------------------------


def tender_id_of(page: Page) -> int:
    match = TENDER_URL.search(page.url)
    assert match, page.url
    return int(match.group(1))


def expect_status(page: Page, status: str) -> None:
    expect(page.locator(f"main .badge-state-{status}").first).to_be_visible()


def tender_facts(tender_id: int) -> dict:
    """What the server stored (read, then the read transaction released at once)."""
    tender = db.session.get(Tender, tender_id, populate_existing=True)
    facts = {"status": tender.status, "bid_deadline": tender.bid_deadline, "notice_until": tender.notice_until,
             "budget": tender.budget, "agreed_price": tender.agreed_price, "failure_reason": tender.failure_reason,
             "invited": sorted(inv.supplier.name for inv in tender.invitations),
             "draw_seeds": [d.seed for d in db.session.scalars(sa.select(SupplierDraw).where(
                 SupplierDraw.tender_id == tender_id))]}
    db.session.rollback()
    return facts


def record_need(page: Page, title: str, budget: str) -> int:
    """The officer records a service need with its needs survey and marks it ready; returns the project id."""
    page.goto("/dashboard")
    page.goto("/projects/new")
    page.fill("#title", title)
    page.select_option("#plan", "elderly")
    page.fill("#target_groups", "辖区内独居、空巢及失能半失能困难老年人")
    page.fill("#description", "入户探访、精神慰藉、个案管理与社区互助网络建设。")
    page.fill("#district", "中原区")
    page.fill("#township", "林山寨街道")
    page.fill("#villages", "建设路社区\n秦岭路社区")
    page.fill("#poor_households", "0")
    page.fill("#budget", budget)
    page.fill("#duration_months", "12")
    page.fill("#base_priority", "70")
    page.fill("#needs_survey", "2026年7月入户走访困难老年人312户，问卷回收298份：最迫切的需求是探访照料"
                               "（64%）、精神慰藉（41%）和就医陪护（27%）。")
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect_flash(page)
    project_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("main")).to_contain_text("312户")
    submit(page, page.locator(f"main form[action='/projects/{project_id}/ready'] button"))
    expect_flash(page)
    return project_id


CRITERIA = [("service_plan", "服务方案的针对性与可行性", "35"),
            ("team", "拟派项目团队的专业能力与督导安排", "20"),
            ("management", "项目管理与质量保障措施", "15")]  # 30 (price) + 70 = 100


def create_tender(page: Page, project_id: int, *, title: str, method: str, budget: str,
                  ground: str | None = None, supplier: str | None = None) -> int:
    """From the project page's "Create tender" link; returns the new draft's id."""
    page.goto(f"/projects/{project_id}")
    submit(page, page.locator(f"main a[href='/projects/{project_id}/tenders/new']"))
    expect(page.locator("#title")).to_have_value(re.compile(".+"))  # prefilled from the project
    page.fill("#title", title)
    page.select_option("#method", method)
    page.fill("#budget", budget)
    page.fill("#service_content", "为辖区困难老年人提供每月两次入户探访、个案管理、精神慰藉与就医陪护，"
                                  "服务对象不少于300人，满意度不低于90%。")
    page.fill("#requirements", "具有独立承担民事责任的能力\n具有良好的商业信誉和健全的财务会计制度")
    if method in ("open", "invited"):
        page.fill("#price_weight", "30")
        for row, (factor, name, weight) in enumerate(CRITERIA):
            page.select_option(f"#criteria-{row}-factor_type", factor)
            page.fill(f"#criteria-{row}-name", name)
            page.fill(f"#criteria-{row}-weight", weight)
    if ground:
        page.select_option("#method_ground", ground)
        page.fill("#justification", "经市场调研和专家论证，符合法定情形。")
    if supplier:
        page.select_option("#single_source_supplier_id", label=supplier)
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect(page).to_have_url(TENDER_URL)
    expect_flash(page)
    expect_status(page, "draft")
    return tender_id_of(page)


def publish(page: Page, tender_id: int) -> None:
    """From the tender page's Publish link: the form holds the earliest lawful dates; submit them."""
    page.goto(f"/tenders/{tender_id}")
    submit(page, page.locator(f"main a[href='/tenders/{tender_id}/publish']"))
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect(page).to_have_url(re.compile(rf"/tenders/{tender_id}$"))
    expect_flash(page)
    expect_status(page, "published")


def place_bid(page: Page, tender_id: int, title: str, price: str, files, *, download_receipt: bool = False) -> str:
    """The NGO finds the tender on its dashboard, opens its bid and seals it; returns the receipt hash."""
    technical, qualification = files
    page.goto("/dashboard")
    submit(page, page.locator(f"main a[href='/tenders/{tender_id}']").first)
    expect(page.locator("main h1")).to_have_text(title)
    submit(page, page.locator(f"main a[href='/tenders/{tender_id}/bid']"))
    page.fill("#price", price)
    page.set_input_files("#technical", str(technical))
    page.set_input_files("#qualification", str(qualification))
    page.check("#meets_requirements")
    page.check("#no_collusion")
    submit(page, page.locator(f"main form[action='/tenders/{tender_id}/bid'] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    receipt = page.locator("main dl code.text-break").first.inner_text().strip()
    assert SHA256.match(receipt), receipt
    receipt_link = page.locator("main a[href$='/receipt.pdf']").first
    expect(receipt_link).to_be_visible()
    expect(page.locator("main")).to_contain_text(technical.name)
    if download_receipt:
        with page.expect_download() as download:
            receipt_link.click()
        assert download.value.suggested_filename.endswith(".pdf")
        assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    return receipt


def open_bids(officer: Page, officer2: Page, tender_id: int) -> None:
    """One officer starts the opening from the tender page, a different one confirms it."""
    officer.goto(f"/tenders/{tender_id}")
    submit(officer, officer.locator(f"main a[href='/tenders/{tender_id}/opening']"))
    submit(officer, officer.locator(f"main form[action='/tenders/{tender_id}/opening/start'] button"))
    expect_flash(officer)
    expect(officer.locator(f"main form[action='/tenders/{tender_id}/opening/confirm']")).to_have_count(0)
    officer2.goto(f"/tenders/{tender_id}")
    submit(officer2, officer2.locator(f"main a[href='/tenders/{tender_id}/opening']"))
    submit(officer2, officer2.locator(f"main form[action='/tenders/{tender_id}/opening/confirm'] button"))
    expect_flash(officer2)


def expect_opening_record(page: Page, bids: dict[str, tuple[str, str]]) -> None:
    """The opening record lists every bidder with its opened price and its receipt hash."""
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(len(bids))
    for org_name, (price, receipt) in bids.items():
        row = rows.filter(has_text=org_name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(format_money(Decimal(price)))
        expect(row.locator("code")).to_have_text(receipt)
    expect(page.locator("main a[href$='/opening.pdf']")).to_be_visible()


def after_deadline(clock, deadline: datetime) -> None:
    clock.move_to(deadline + timedelta(minutes=1))


# --- The three methods with sealed bids ---------------------------------------------------------------------

JOURNEYS = {
    # method: (title, budget, ground)
    "open": ("E2E 公开招标 困难老年人居家探访服务", "500000", None),
    "invited": ("E2E 邀请招标 困难老年人居家探访服务", "480000", "few_suppliers"),
    "negotiation": ("E2E 竞争性谈判 困难老年人居家探访服务", "450000", "price_unknown"),
}


@pytest.mark.parametrize("method", list(JOURNEYS))
def test_officer_runs_a_tender_from_need_to_opening(method, page, people, cast, files, clock, screenshot):
    title, budget, ground = JOURNEYS[method]
    sign_in(page, "officer")
    project_id = record_need(page, f"{title}（需求）", budget)
    tender_id = create_tender(page, project_id, title=title, method=method, budget=budget, ground=ground)
    screenshot(f"journey-{method}-1-draft")

    # Who may bid: anyone for an open tender; the drawn or invited suppliers otherwise.
    if method == "invited":
        submit(page, page.locator(f"main a[href='/tenders/{tender_id}/draw']"))
        page.select_option("#pool_source", "database")
        page.fill("#count", "3")
        page.select_option("#witness", label="李秀梅")  # officer2, the second witness
        page.fill("#witness_password", DEMO_PASSWORD)  # who types it at the officer's desk
        screenshot(f"journey-{method}-2-draw")
        submit(page, page.locator("main form[method=post] button[type=submit]"))
        expect_no_form_errors(page)
        expect_flash(page)
        facts = tender_facts(tender_id)
        invited = facts["invited"]
        assert len(invited) == 3
        for org_name in invited:  # the page names the drawn suppliers...
            expect(page.locator("main")).to_contain_text(org_name)
        [seed_value] = facts["draw_seeds"]  # ...and the seed, so that anyone can replay the draw
        expect(page.locator("main")).to_contain_text(seed_value)
    elif method == "negotiation":
        submit(page, page.locator(f"main a[href='/tenders/{tender_id}/invite']"))
        invited = [cast.org_by_ngo[u] for u in ("ngo1", "ngo2", "ngo3")]
        for org_name in invited:
            page.get_by_label(org_name, exact=True).check()
        page.fill("#reason", "业务主管部门书面推荐，近三年承接同类服务且无不良记录。")
        submit(page, page.locator("main form[method=post] button[type=submit]"))
        expect_no_form_errors(page)
        expect_flash(page)
        assert sorted(invited) == tender_facts(tender_id)["invited"]
    else:
        invited = [cast.org_by_ngo[u] for u in ("ngo1", "ngo2", "ngo3")]

    publish(page, tender_id)
    screenshot(f"journey-{method}-3-published")
    deadline = tender_facts(tender_id)["bid_deadline"]
    assert deadline > START

    if method == "open":  # the notice is on the public board
        public = people(None)
        public.goto("/notices")
        expect(public.locator("main")).to_contain_text(title)

    # The NGOs seal their bids, each in its own browser, and keep the receipts.
    bids: dict[str, tuple[str, str]] = {}
    ngo_pages: dict[str, Page] = {}
    prices = [str((Decimal(budget) * share).quantize(Decimal("0.01"))) for share in
              (Decimal("0.936"), Decimal("0.911001"), Decimal("0.9446"))]  # under the budget; one with fen
    for n, (org_name, price) in enumerate(zip(sorted(invited), prices, strict=True), start=1):
        username = cast.ngo_by_org[org_name]
        ngo = ngo_pages[username] = people(username)
        receipt = place_bid(ngo, tender_id, title, price, files, download_receipt=n == 1)
        bids[org_name] = (price, receipt)
        snap(ngo, f"journey-{method}-4-receipt-{n}")

    if method != "open":  # an NGO that was not invited is not offered a bid
        outsider = people(next(u for o, u in sorted(cast.ngo_by_org.items()) if o not in invited))
        outsider.goto(f"/tenders/{tender_id}")
        expect(outsider.locator("main h1")).to_have_text(title)
        expect(outsider.locator(f"main a[href='/tenders/{tender_id}/bid']")).to_have_count(0)
        outsider.goto(f"/tenders/{tender_id}/bid")
        expect(outsider.locator(f"main form[action='/tenders/{tender_id}/bid']")).to_have_count(0)

    if method == "open":  # a question, and the clarification that answers it
        asker = ngo_pages[cast.ngo_by_org[sorted(invited)[0]]]
        asker.goto(f"/tenders/{tender_id}")
        asker.fill(f"form[action='/tenders/{tender_id}/questions'] #text", "服务对象名单是否由街道提供？")
        submit(asker, asker.locator(f"main form[action='/tenders/{tender_id}/questions'] button"))
        expect_flash(asker)
        page.goto(f"/tenders/{tender_id}")
        submit(page, page.locator(f"main a[href='/tenders/{tender_id}/clarify']"))
        page.fill("#text", "服务对象名单由街道办事处提供，中标机构应在合同签订后10日内完成核对。")
        page.locator("main input[name=questions]").first.check()
        submit(page, page.locator("main button[name=preview]"))
        expect_no_form_errors(page)
        expect(page.locator("main .alert[role=status]")).to_be_visible()
        screenshot(f"journey-{method}-5-clarify")
        submit(page, page.locator("main button[name=confirm]"))
        expect_flash(page)
        expect(page).to_have_url(re.compile(rf"/tenders/{tender_id}$"))
        expect(page.locator("main")).to_contain_text("服务对象名单由街道办事处提供")
        asker.goto(f"/tenders/{tender_id}")
        expect(asker.locator("main")).to_contain_text("服务对象名单由街道办事处提供")
        assert tender_facts(tender_id)["bid_deadline"] == deadline  # 20 days left: the deadline holds

    # The deadline passes; the sessions are days old, so everyone signs in again.
    after_deadline(clock, deadline)
    sign_in(page, "officer")
    officer2 = people("officer2")
    open_bids(page, officer2, tender_id)
    expect_status(officer2, "opened")
    expect_opening_record(officer2, bids)
    snap(officer2, f"journey-{method}-6-opening-confirmed")
    page.reload()
    expect_opening_record(page, bids)
    screenshot(f"journey-{method}-6-opening-record")
    assert tender_facts(tender_id)["status"] == "opened"

    # A bidder sees the opening too, with its own price.
    org_name = sorted(invited)[0]
    ngo = ngo_pages[cast.ngo_by_org[org_name]]
    sign_in(ngo, cast.ngo_by_org[org_name])
    ngo.goto(f"/tenders/{tender_id}/opening")
    expect_opening_record(ngo, bids)


# --- Single source ---------------------------------------------------------------------------------------------


def test_officer_runs_a_single_source_from_need_to_agreed_price(page, people, cast, clock, screenshot):
    title, budget = "E2E 单一来源 困难老年人居家探访服务", "300000"
    supplier = cast.org_by_ngo["ngo1"]
    sign_in(page, "officer")
    project_id = record_need(page, f"{title}（需求）", budget)
    tender_id = create_tender(page, project_id, title=title, method="single_source", budget=budget,
                              ground="only_supplier", supplier=supplier)
    expect(page.locator("main")).to_contain_text(supplier)
    publish(page, tender_id)
    notice_until = tender_facts(tender_id)["notice_until"]
    assert notice_until == date(2026, 9, 8)  # 5 working days after Tuesday 1 September
    screenshot("journey-single-1-notice")

    # A member of the public objects while the notice runs.
    public = people(None)
    public.goto(f"/tenders/{tender_id}")
    form = public.locator(f"main form[action='/tenders/{tender_id}/objections']")
    form.locator("#name").fill("张先生")
    form.locator("#contact").fill("13800000000")
    form.locator("#text").fill("该服务并非只有一家机构能够提供，请说明理由。")
    submit(public, form.locator("button[type=submit]"))
    expect_flash(public)
    snap(public, "journey-single-2-objection")

    # The officer answers it.
    page.goto(f"/tenders/{tender_id}")
    expect(page.locator("main")).to_contain_text("该服务并非只有一家机构能够提供")
    answer = page.locator("main form[action^='/objections/'][action$='/answer']")
    answer.locator("#response").fill("经专家论证，该机构是辖区内唯一具备持证社工团队的机构，论证意见已随公示发布。")
    submit(page, answer.locator("button[type=submit]"))
    expect_flash(page)
    expect(page.locator("main")).to_contain_text("经专家论证")

    # Approval is refused while the notice runs: the form is not even offered.
    expect(page.locator(f"main form[action='/tenders/{tender_id}/approve']")).to_have_count(0)

    # After the notice: the approval, then the negotiation record with the agreed price.
    clock.move_to(beijing_instant(notice_until + timedelta(days=1), time(9)))
    sign_in(page, "officer")
    page.goto(f"/tenders/{tender_id}")
    approve = page.locator(f"main form[action='/tenders/{tender_id}/approve']")
    approve.locator("#approval_document").fill("郑财采〔2026〕88号")
    approve.locator("#approval_date").fill(local_date(utcnow()).isoformat())
    approve.locator("#approval_body").fill("郑州市财政局")
    submit(page, approve.locator("button[type=submit]"))
    expect_flash(page)
    expect_status(page, "negotiating")
    agreement = page.locator(f"main form[action='/tenders/{tender_id}/agreement']")
    agreement.locator("#price").fill("288000")
    agreement.locator("#record").fill("2026年9月9日与该机构就服务内容和价格进行谈判，双方确认成交价288000元。")
    submit(page, agreement.locator("button[type=submit]"))
    expect_flash(page)
    expect(page.locator("main")).to_contain_text(format_money(Decimal("288000")))
    screenshot("journey-single-3-agreed")
    facts = tender_facts(tender_id)
    assert facts["agreed_price"] == Decimal("288000") <= facts["budget"]


# --- The failure: too few bids --------------------------------------------------------------------------------


def test_open_tender_with_two_bids_fails_and_is_tendered_again(page, people, cast, files, clock, screenshot):
    title, budget = "E2E 公开招标（废标）困难老年人居家探访服务", "400000"
    sign_in(page, "officer")
    project_id = record_need(page, f"{title}（需求）", budget)
    tender_id = create_tender(page, project_id, title=title, method="open", budget=budget)
    publish(page, tender_id)
    deadline = tender_facts(tender_id)["bid_deadline"]
    for username, price in (("ngo1", "390000"), ("ngo2", "385000")):
        place_bid(people(username), tender_id, title, price, files)

    after_deadline(clock, deadline)
    sign_in(page, "officer")
    page.goto(f"/tenders/{tender_id}")
    submit(page, page.locator(f"main a[href='/tenders/{tender_id}/opening']"))
    submit(page, page.locator(f"main form[action='/tenders/{tender_id}/opening/start'] button"))
    expect_flash(page, "warning")
    expect_status(page, "failed")
    facts = tender_facts(tender_id)
    assert facts["status"] == "failed" and "2" in facts["failure_reason"]
    expect(page.locator("main [role=status]")).to_contain_text(facts["failure_reason"])
    expect(page.locator("main table")).to_have_count(0)  # nothing was unsealed
    screenshot("journey-failed-1-opening")

    # The failure notice is on the public board.
    public = people(None)
    public.goto("/notices")
    expect(public.locator("main")).to_contain_text(f"{title}（废标/终止公告）")
    snap(public, "journey-failed-2-notices")

    # Tender again: a new draft under the same method, which the officer can save.
    submit(page, page.locator(f"main a[href='/tenders/{tender_id}']").last)
    retender = page.locator(f"main form[action='/tenders/{tender_id}/retender']")
    expect(retender.locator("#method")).to_have_value("open")
    screenshot("journey-failed-3-tender-again")
    submit(page, retender.locator("button[type=submit]"))
    expect_flash(page)
    expect(page).to_have_url(re.compile(r"/tenders/\d+/edit$"))
    new_id = int(page.url.rsplit("/", 2)[1])
    assert new_id != tender_id
    expect(page.locator("#title")).to_have_value(title)
    expect(page.locator("#criteria-0-name")).to_have_value(CRITERIA[0][1])
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect(page).to_have_url(re.compile(rf"/tenders/{new_id}$"))
    expect_flash(page)
    expect_status(page, "draft")
    assert tender_facts(new_id)["status"] == "draft"
    page.goto("/tenders")  # both are on the officer's list
    expect(page.locator(f"main a[href='/tenders/{new_id}']")).not_to_have_count(0)
    expect(page.locator(f"main a[href='/tenders/{tender_id}']")).not_to_have_count(0)
