"""An officer and an NGO draft, sign, amend and follow a three-year service agreement in the browser, with every
limit enforced and the documents published (issue 6, "Done when").

The starting state is built through the services on the travelled clock: a single-source procedure of
郑州市民政局 with the NGO of ngo1, its negotiators' record confirmed, awarded by the officer on Monday 17 August
2026 at 180,000 yuan. The result notice ran until 18 August and the challenge period (质疑期) until 27 August: on
Tuesday 1 September the contract can be drafted and signed, with 15 of its 30 days left. Then, in the browser,
each person in their own browser context:

1. the officer follows "draft the contract" from the award page; a 36-month term without the grounds of 102-24 is
   refused, then a schedule adding up to 90 percent with a bond over 10 percent (R48); the draft with both grounds,
   a budget line for each of the fiscal years 2026 to 2029 and 20/25/25/30 percent is saved, showing the days
   left to sign;
2. the officer signs (a wrong password first is refused), the NGO countersigns: the contract is in force and its
   PDF, downloaded twice, is the same file whose SHA-256 the page shows; it reads in Chinese only;
3. the officer publishes the contract notice (合同公告), which the public reads on the board with the amount,
   while the contract's own pages stay closed to the public and to another NGO;
4. the officer records the payment of the installment due on signing; the installment due after a performance
   review offers no form, and a forged request for it is refused;
5. the officer amends the contract: an added amount over 10 percent of the original is refused (L49), one of 5
   percent with its reason and budget lines is recorded with its own PDF; the NGO reads the history;
6. the clock moves past the due day of the first quarterly report (10 December): the NGO submits the report with
   a PDF, flagged late, and the officer reads it and its attachment.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from portal.accounts.models import User
from portal.contracts import rules
from portal.contracts.models import Amendment, Contract, Installment, ServiceReport
from portal.db import transaction
from portal.evaluation import award as awards
from portal.extensions import db
from portal.i18n import format_money
from portal.seed import DEMO_PASSWORD
from portal.tenders.models import Tender
from portal.tenders.rules import beijing_instant
from tests.award_builders import complete_report, make_committee
from tests.e2e import journey_support
from tests.e2e.journey_support import (
    PDF_BYTES,
    START,
    click_through,
    download,
    expect_flash,
    expect_no_form_errors,
    form_button,
    snap,
    submit,
)
from tests.evaluation_factories import make_single_source

TITLE = "E2E 合同 社区困难老年人关爱服务采购"
AMOUNT = Decimal("180000.00")
AWARDED_AT = beijing_instant(date(2026, 8, 17), time(10))  # a Monday: the challenge period ends on 27 August
START_DAY, END_DAY = date(2026, 9, 1), date(2029, 8, 31)  # 36 months
LINES = {2026: "20000.00", 2027: "60000.00", 2028: "60000.00", 2029: "40000.00"}  # by days of the term, roughly
# (percent, gate, condition as written): the last share is 20 on the first try (90 in all), then 30.
SCHEDULE = [("20", "signing", "合同签订后"), ("25", "review", "第一年度绩效评估合格后"),
            ("25", "review", "第二年度绩效评估合格后"), ("30", "acceptance", "项目终期验收合格后")]
GROUNDS_NOTE = "项目资金已纳入2026至2029年度中期财政规划；服务内容固定、需长期连续提供，价格稳定。"
BOND_TOO_HIGH, BOND = "20000.00", "9000.00"  # at most 10 percent: 18,000.00
ADD_TOO_MUCH, ADD = Decimal("20000.00"), Decimal("9000.00")  # at most 10 percent of 180,000 in all
AMEND_REASON = "服务对象增加，经双方协商，第三年度增加每月入户探访服务时数，相应追加服务经费。"
REPORT_DAY = beijing_instant(date(2026, 12, 11), time(9))  # the first quarter's report was due on 10 December
REPORT_SUMMARY = ("本季度完成困难老年人入户探访612人次，开展小组活动8次、社区活动3次；"
                  "建立服务档案205份，服务对象满意度调查结果为95%。")


# --- The starting state, and what the server stored ---------------------------------------------------------


@pytest.fixture
def awarded(cast, clock) -> dict:
    """The single source awarded on 17 August to the NGO of ngo1; returns the ids the journey needs."""
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(["officer", "ngo1", "expert1", "expert2", "expert3"])))}
    officer, ngo = users["officer"], users["ngo1"]
    tender = make_single_source(officer.organisation, ngo.organisation, now=AWARDED_AT - timedelta(days=1),
                                price=AMOUNT)
    tender.title = TITLE
    db.session.commit()
    committee = make_committee(tender, [users[f"expert{n}"] for n in (1, 2, 3)], formed_by=officer,
                               at=AWARDED_AT - timedelta(hours=20))
    complete_report(committee, AWARDED_AT - timedelta(hours=2))
    with transaction():
        award = awards.confirm_award(db.session.get(Tender, tender.id), actor=officer, now=AWARDED_AT)
    facts = {"tender": tender.id, "award": award.id, "supplier": cast.org_by_ngo["ngo1"],
             "credit_code": ngo.organisation.credit_code, "tender_reference": tender.reference,
             "award_letter_on": AWARDED_AT.date(), "challenge_last_day": award.challenge_last_day}
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    assert facts["challenge_last_day"] < START.date()
    return facts


def stored(tender_id: int) -> dict:
    """The contract drafted from the tender's award, as the server stored it (read, then released)."""
    db.session.rollback()
    contract = db.session.scalar(sa.select(Contract).where(Contract.tender_id == tender_id)
                                 .execution_options(populate_existing=True))
    if contract is None:
        db.session.rollback()
        return {}
    facts = {
        "id": contract.id, "status": contract.status, "amount": contract.amount, "reference": contract.reference,
        "term": (contract.start_date, contract.end_date), "grounds": (contract.budget_secured, contract.service_stable),
        "bond": contract.performance_bond, "notice": contract.notice_id is not None,
        "document": contract.document.number if contract.document else None,
        "lines": {line.fiscal_year: line.amount for line in contract.budget_lines},
        "installments": [{"id": i.id, "percent": i.percent, "amount": i.amount, "gate": i.gate,
                          "met": i.gate_met_at is not None, "paid_on": i.paid_on, "voucher": i.voucher}
                         for i in db.session.scalars(sa.select(Installment).where(
                             Installment.contract_id == contract.id).order_by(Installment.position))],
        "amendments": [(a.id, a.number, a.added_amount, a.document_id is not None) for a in db.session.scalars(
            sa.select(Amendment).where(Amendment.contract_id == contract.id).order_by(Amendment.number))],
        "reports": [(r.id, r.period_start, r.late, r.file_id is not None) for r in db.session.scalars(
            sa.select(ServiceReport).where(ServiceReport.contract_id == contract.id))],
    }
    db.session.rollback()
    return facts


# --- Page helpers ----------------------------------------------------------------------------------------------


def refusal(page: Page) -> str:
    """The text of the error flash the page shows (there must be one)."""
    alert = page.locator("main > .alert-danger")
    expect(alert.first).to_be_visible()
    return " ".join(alert.all_inner_texts())


def fill_terms(page: Page, *, last_share: str, bond: str) -> None:
    """The long-term grounds, the bond, the schedule (its last share as given) and the yearly budget lines."""
    page.check("#budget_secured")
    page.check("#service_stable")
    page.fill("#long_term_note", GROUNDS_NOTE)
    page.fill("#performance_bond", bond)
    for row, (percent, gate, condition) in enumerate(SCHEDULE):
        page.fill(f"#installments-{row}-percent", last_share if row == len(SCHEDULE) - 1 else percent)
        page.select_option(f"#installments-{row}-gate", gate)
        page.fill(f"#installments-{row}-condition", condition)
    for row, (year, amount) in enumerate(LINES.items()):
        page.fill(f"#budget_lines-{row}-fiscal_year", str(year))
        page.fill(f"#budget_lines-{row}-amount", amount)


def pdf_words(data: bytes, tmp_path: Path, *known: str) -> list[str]:
    """The runs of Latin letters in a PDF's text once its numbers, references and hashes are taken out."""
    source = tmp_path / "document.pdf"
    source.write_bytes(data)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "合同" in text, text[:500]
    for token in known:
        text = text.replace(token, " ")
    text = re.sub(r"\b[0-9a-f]{64}\b", " ", text)  # the SHA-256 in the footer
    text = text.replace("SHA-256", " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def post_form(page: Page, action: str, values: dict[str, str]) -> None:
    """Submit a form the page does not offer (a forged request) and wait for the answer."""
    with page.expect_navigation():
        page.evaluate("""([action, values]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of Object.entries(values)) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""", [action, values])


# --- The journey -----------------------------------------------------------------------------------------------


def test_officer_and_ngo_draft_sign_amend_and_follow_a_three_year_agreement(page, people, cast, awarded, clock,
                                                                            screenshot, tmp_path):
    tender_id, award_id, supplier_name = awarded["tender"], awarded["award"], awarded["supplier"]
    days_left = rules.days_left_to_sign(awarded["award_letter_on"], START.date())
    assert days_left == 15

    # 1. The officer opens the award page and follows "draft the contract".
    journey_support.sign_in(page, "officer")
    page.goto(f"/tenders/{tender_id}/award")
    click_through(page, f"/awards/{award_id}/contract/new")
    expect(page.locator("main")).to_contain_text(supplier_name)
    expect(page.locator("main")).to_contain_text(format_money(AMOUNT))
    expect(page.locator("#title")).to_have_value(TITLE)
    new_url = page.url

    # A 36-month term without the grounds of 102-24 is refused.
    page.fill("#start_date", START_DAY.isoformat())
    page.fill("#end_date", END_DAY.isoformat())
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect(page).to_have_url(new_url)
    message = refusal(page)
    assert "102-24" in message and "36" in message, message
    expect(page.locator("main details")).to_have_attribute("open", "")  # the grounds unfold
    screenshot("contract-1-draft-refused-term")
    assert stored(tender_id) == {}

    # With the grounds and the budget lines, a schedule of 90 percent and a bond over 10 percent are refused.
    fill_terms(page, last_share="20", bond=BOND_TOO_HIGH)
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    message = refusal(page)
    assert "90" in message and "R48" in message and "18000.00" in message, message
    assert "102-24" not in message, message
    expect(page.locator("#installments-3-percent")).to_have_value("20")  # what was typed is kept
    screenshot("contract-1-draft-refused-schedule")
    assert stored(tender_id) == {}

    # Fixed (20/25/25/30, a bond of 5 percent): the draft is saved, with the days left to sign.
    page.fill("#installments-3-percent", "30")
    page.fill("#performance_bond", BOND)
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    contract = stored(tender_id)
    base = f"/contracts/{contract['id']}"
    expect(page).to_have_url(re.compile(re.escape(base) + "$"))
    assert contract["status"] == "draft" and contract["amount"] == AMOUNT
    assert contract["term"] == (START_DAY, END_DAY) and contract["grounds"] == (True, True)
    assert contract["bond"] == Decimal(BOND)
    assert contract["lines"] == {year: Decimal(amount) for year, amount in LINES.items()}
    assert [(i["percent"], i["gate"], i["amount"], i["met"]) for i in contract["installments"]] == [
        (Decimal(20), "signing", Decimal("36000.00"), False), (Decimal(25), "review", Decimal("45000.00"), False),
        (Decimal(25), "review", Decimal("45000.00"), False), (Decimal(30), "acceptance", Decimal("54000.00"), False)]
    signing = page.locator("main section.card").first
    expect(signing.locator(".badge")).to_contain_text(str(days_left))
    expect(signing).to_contain_text(rules.signing_due(awarded["award_letter_on"]).isoformat())
    expect(page.locator("main")).to_contain_text(GROUNDS_NOTE)
    expect(page.locator(f"main a[href='{base}/contract.pdf']")).to_have_count(0)  # no PDF before both sign
    screenshot("contract-1-draft")
    # The award page now leads to the contract instead of offering a second draft.
    page.goto(f"/tenders/{tender_id}/award")
    expect(page.locator(f"main a[href='/awards/{award_id}/contract/new']")).to_have_count(0)
    click_through(page, base)

    # 2. The officer signs with their own password; a wrong one is refused.
    click_through(page, f"{base}/sign")
    expect(page.locator("main")).to_contain_text(format_money(AMOUNT))
    page.fill("#password", "not-the-password")
    page.check("#agree")
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    refusal(page)
    assert stored(tender_id)["status"] == "draft"
    page.fill("#password", DEMO_PASSWORD)
    page.check("#agree")
    snap(page, "contract-2-sign")
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_flash(page)
    expect(page).to_have_url(re.compile(re.escape(base) + "$"))
    expect(page.locator(f"main a[href='{base}/sign']")).to_have_count(0)
    assert stored(tender_id)["status"] == "draft"  # waiting for the NGO

    # The NGO finds the contract in its list and countersigns.
    ngo = people("ngo1")
    ngo.goto("/contracts")
    click_through(ngo, base)
    expect(ngo.locator("main section.card").first.locator(".badge")).to_contain_text(str(days_left))
    click_through(ngo, f"{base}/sign")
    ngo.fill("#password", DEMO_PASSWORD)
    ngo.check("#agree")
    submit(ngo, ngo.locator("main form[method=post] button[type=submit]"))
    expect_flash(ngo)
    expect(ngo).to_have_url(re.compile(re.escape(base) + "$"))
    contract = stored(tender_id)
    assert contract["status"] == "signed" and contract["document"]
    assert [i["met"] for i in contract["installments"]] == [True, False, False, False]  # the signing gate

    # The contract PDF: the same bytes every time, whose SHA-256 the page shows; Chinese only.
    page.goto(base)
    pdf_href = f"{base}/contract.pdf"
    shown_hash = page.locator("main li", has=page.locator(f"a[href='{pdf_href}']")).locator("code").inner_text()
    first = download(page, pdf_href)
    page.goto(base)
    second = download(page, pdf_href)
    assert first.startswith(b"%PDF") and first == second
    assert hashlib.sha256(first).hexdigest() == shown_hash.strip()
    assert download(ngo, pdf_href) == first  # the NGO downloads the same file
    if shutil.which("pdftotext"):
        leftovers = pdf_words(first, tmp_path, contract["reference"], contract["document"],
                              awarded["tender_reference"], awarded["credit_code"])
        assert not leftovers, f"Latin words in the Chinese contract: {leftovers}"
    screenshot("contract-2-signed")

    # 3. The officer publishes the contract notice (合同公告); the public reads it on the board.
    submit(page, form_button(page, f"{base}/notice"))
    expect_flash(page)
    assert stored(tender_id)["notice"]
    expect(form_button(page, f"{base}/notice")).to_have_count(0)
    public = people(None)
    public.goto("/notices")
    notice_link = public.locator("main a:not([href$='.pdf'])", has_text=f"{TITLE}（合同公告）")
    expect(notice_link).to_have_count(1)
    snap(public, "contract-3-notice-board")
    submit(public, notice_link)
    notice = public.locator("main")
    expect(notice).to_contain_text(format_money(AMOUNT))
    expect(notice).to_contain_text(supplier_name)
    expect(notice).to_contain_text(contract["reference"])
    expect(notice).to_contain_text(f"{START_DAY.isoformat()}至{END_DAY.isoformat()}")
    snap(public, "contract-3-notice")
    notice_pdf = download(public, public.url[public.url.index("/notices/"):] + ".pdf")
    if shutil.which("pdftotext"):
        leftovers = pdf_words(notice_pdf, tmp_path, contract["reference"], awarded["tender_reference"],
                              awarded["credit_code"], *re.findall(r"[A-Z]+-\d{4}-\d{5}", public.inner_text("main")))
        assert not leftovers, f"Latin words in the Chinese contract notice: {leftovers}"

    # The contract's own pages stay private: the public is sent to sign in, another NGO is refused.
    public.goto(base)
    expect(public).to_have_url(re.compile(r"/login"))
    other = people("ngo2")
    assert other.goto(base).status == 403
    assert other.goto(pdf_href).status == 403

    # 4. The officer records the payment of the installment due on signing.
    first_row, review_row = contract["installments"][0], contract["installments"][1]
    page.goto(base)
    pay = page.locator(f"main form[action='/contracts/installments/{first_row['id']}/payment']")
    expect(pay.locator(f"#pay{first_row['id']}-amount")).to_have_value("36000.00")
    pay.locator(f"#pay{first_row['id']}-voucher").fill("ZF20260901-001")
    submit(page, pay.locator("button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    expect(page.locator("#installment-1 .badge")).to_have_class(re.compile("text-bg-success"))
    expect(page.locator("#installment-1")).to_contain_text("ZF20260901-001")
    # The installment due after a performance review has no form; a forged request is refused.
    review_action = f"/contracts/installments/{review_row['id']}/payment"
    expect(page.locator(f"main form[action='{review_action}']")).to_have_count(0)
    expect(page.locator("#installment-2 .badge")).to_have_class(re.compile("text-bg-light"))
    screenshot("contract-4-payments")
    prefix = f"pay{review_row['id']}-"  # the prefix the panel gives each installment's form
    token = page.locator("main input[name$='csrf_token']").first.get_attribute("value")  # the page's own token
    post_form(page, review_action, {f"{prefix}csrf_token": token, f"{prefix}paid_on": START_DAY.isoformat(),
                                    f"{prefix}amount": "45000.00", f"{prefix}voucher": "ZF20260901-002"})
    message = refusal(page)
    assert "2" in message, message
    snap(page, "contract-4-payment-refused")
    contract = stored(tender_id)
    assert contract["installments"][0]["paid_on"] == START_DAY
    assert contract["installments"][0]["voucher"] == "ZF20260901-001"
    assert contract["installments"][1]["paid_on"] is None

    # 5. The officer amends: more than 10 percent added in all is refused (L49); 5 percent is proposed, and the
    # NGO confirms it with its password.
    page.goto(base)
    click_through(page, f"{base}/amend")
    page.fill("#reason", AMEND_REASON)
    page.fill("#added_amount", f"{ADD_TOO_MUCH:.2f}")
    page.fill("#budget_lines", "\n".join(
        f"{year}: {Decimal(amount) + (ADD_TOO_MUCH if year == 2029 else 0):.2f}" for year, amount in LINES.items()))
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    message = refusal(page)
    assert "L49" in message and "18000.00" in message, message
    screenshot("contract-5-amendment-refused")
    assert stored(tender_id)["amendments"] == []
    page.fill("#added_amount", f"{ADD:.2f}")
    page.fill("#budget_lines", "\n".join(
        f"{year}: {Decimal(amount) + (ADD if year == 2029 else 0):.2f}" for year, amount in LINES.items()))
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    # Proposed only: nothing changes until the NGO agrees with its own password (民法典 543).
    contract = stored(tender_id)
    [(amendment_id, number, added, with_document)] = contract["amendments"]
    assert (number, added, with_document) == (1, ADD, False) and contract["amount"] == AMOUNT
    amendment_url = f"/contracts/amendments/{amendment_id}"
    expect(page).to_have_url(re.compile(re.escape(amendment_url) + "$"))
    ngo.goto(amendment_url)
    ngo.check("#agree")
    ngo.fill("#password", DEMO_PASSWORD)
    submit(ngo, ngo.locator(f"main form[action='{amendment_url}/confirm'] button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    contract = stored(tender_id)
    [(amendment_id, number, added, with_document)] = contract["amendments"]
    assert (number, added, with_document) == (1, ADD, True)
    assert contract["amount"] == AMOUNT + ADD and contract["lines"][2029] == Decimal("49000.00")
    assert contract["installments"][-1]["amount"] == ADD and contract["installments"][-1]["gate"] == "acceptance"
    page.goto(amendment_url)
    expect(page.locator("main")).to_contain_text(AMEND_REASON)
    expect(page.locator("main table")).to_contain_text("49,000.00")
    amendment_pdf = download(page, f"{amendment_url}/amendment.pdf")
    assert amendment_pdf.startswith(b"%PDF")
    shown_hash = page.locator("main dd", has=page.locator(f"a[href='{amendment_url}/amendment.pdf']")).locator(
        "code").inner_text()
    assert hashlib.sha256(amendment_pdf).hexdigest() == shown_hash.strip()
    if shutil.which("pdftotext"):
        leftovers = pdf_words(amendment_pdf, tmp_path, contract["reference"], awarded["tender_reference"],
                              awarded["credit_code"], *re.findall(r"BG-\d{4}-\d{5}", page.inner_text("main")))
        assert not leftovers, f"Latin words in the Chinese amendment: {leftovers}"
    screenshot("contract-5-amendment")

    # The NGO reads the history from the contract page, and the amendment's PDF.
    ngo.goto(base)
    history = ngo.locator("main #amendments")
    expect(history).to_contain_text(AMEND_REASON)
    expect(history).to_contain_text(format_money(ADD))
    expect(ngo.locator(f"main a[href='{base}/amend']")).to_have_count(0)
    expect(ngo.locator("main")).to_contain_text(format_money(AMOUNT + ADD))
    click_through(ngo, amendment_url)
    assert download(ngo, f"{amendment_url}/amendment.pdf") == amendment_pdf
    assert other.goto(amendment_url).status == 403

    # 6. Past the due day of the first quarterly report (10 December), the NGO submits it with a PDF: late.
    clock.move_to(REPORT_DAY)
    journey_support.sign_in(ngo, "ngo1")
    ngo.goto(base)
    period = START_DAY.isoformat()
    submit_href = f"{base}/reports/submit?period={period}"
    expect(ngo.locator("main #delivery tbody tr").first.locator(".badge")).to_have_class(re.compile("text-bg-danger"))
    link = ngo.locator(f"main a[href='{submit_href}']")
    expect(link).to_be_visible()
    submit(ngo, link)
    expect(ngo.locator("#period")).to_have_value(period)
    ngo.fill("#summary", REPORT_SUMMARY)
    ngo.set_input_files("#attachment", files=[{"name": "2026年第一季度服务报告.pdf", "mimeType": "application/pdf",
                                               "buffer": PDF_BYTES}])
    submit(ngo, ngo.locator("main form[enctype='multipart/form-data'] button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    [(report_id, period_start, late, with_file)] = stored(tender_id)["reports"]
    assert (period_start, late, with_file) == (START_DAY, True, True)
    report_url = f"/contracts/reports/{report_id}"
    expect(ngo).to_have_url(re.compile(re.escape(report_url) + "$"))
    expect(ngo.locator("main .badge.text-bg-warning")).to_be_visible()  # late
    snap(ngo, "contract-6-report")

    # The officer reads it from the contract page, with its attachment.
    journey_support.sign_in(page, "officer")
    page.goto(base)
    row = page.locator("main #delivery tbody tr").first
    expect(row.locator(".badge")).to_have_class(re.compile("text-bg-warning"))
    click_through(page, report_url)
    expect(page.locator("main")).to_contain_text(REPORT_SUMMARY)
    assert download(page, f"{report_url}/file") == PDF_BYTES
    screenshot("contract-6-report-officer")
    journey_support.sign_in(other, "ngo2")
    assert other.goto(report_url).status == 403
