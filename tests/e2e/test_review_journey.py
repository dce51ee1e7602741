"""An officer, an NGO and two experts plan, evidence, score and grade performance reviews of a service agreement in
the browser; the grade opens a payment; a failed review is appealed and rectified; another bureau reads the NGO's
record (issue 7, "Done when").

The starting state is built through the services on the travelled clock: a single-source procedure of 郑州市民政局
with the NGO of ngo4 (登封市嵩阳社会工作服务中心), awarded on Monday 12 January 2026 at 180,000 yuan; the contract
(1 March 2026 to 28 February 2027, quarterly reports; 40 percent on signing, 30 after the mid-term review, 30 after
the final acceptance) drafted on 2 February and signed by both parties on 3 February, which planned its reviews
(a needs assessment, four supervision reviews, the mid-term review due on 30 August and the final review). Expert
吴海燕 (expert3) has been the NGO's supervisor (督导) since 2025. Then, in the browser, each person in their own
browser context, on Tuesday 1 September 2026:

1. the officer follows the contract page's reviews panel to the review plan and opens the mid-term review; changes
   one indicator of its rubric (满意度调查结果: scored out of 100, the satisfaction rate, still weighing 10); assigns
   孙立新 (expert1) and 周文华 (expert2), while 吴海燕 is refused for a tie to the NGO; starts the review, after
   which the rubric can no longer be edited;
2. the NGO uploads its self-assessment report (PDF) and enters a satisfaction survey (46 of 50: 92.00 percent);
3. each expert declares no conflict from "my reviews" (the evidence opens only then) and scores every indicator
   alone: 周文华 sees neither 孙立新's points nor comments before submitting, then sees both sheets;
4. the officer grades the review: 80.95 points, 良好; the report PDF downloads; the contract page shows the
   mid-term installment payable and the officer records its payment;
5. the second supervision review (June to August) is scored 50 and 55 (a low point without a comment is refused
   first): 52.50, 不合格, which opens a rectification (plan due 15 September, 10 working days).

On Thursday 3 September (inside the 5 working days, until 8 September) the NGO reads the rectification and files an
appeal; the officer dismisses it with an answer; the NGO submits its plan (completed by 30 October), the officer
accepts it and the re-review (整改复评) appears in the plan with the same two experts. Finally an officer of
中原区民政局 opens the NGO's performance record and finds both grades, while the reviews themselves stay closed to
that officer, to another NGO and to the expert who was refused.

The interface is Chinese (the default): assertions are on data (names, numbers, dates), on ids, URLs and form
actions, and on the grade labels' Chinese words that the source strings themselves carry (良好, 不合格).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from portal.accounts import services as account_services
from portal.accounts.models import AffiliationKind, ExpertProfile, User
from portal.contracts import services as contract_services
from portal.contracts.models import Contract, ContractStatus, Gate, Installment
from portal.db import transaction
from portal.evaluation import award as awards
from portal.extensions import db
from portal.reviews.models import (
    Appeal,
    Rectification,
    Review,
    Reviewer,
    ReviewIndicator,
)
from portal.reviews.rules import ReviewKind
from portal.tenders.models import Tender
from portal.tenders.rules import beijing_instant
from tests.award_builders import complete_report, make_committee
from tests.e2e.journey_support import (
    PDF_BYTES,
    START,
    click_through,
    download,
    expect_flash,
    expect_no_form_errors,
    form_button,
    sign_in,
    snap,
    submit,
)
from tests.evaluation_factories import make_single_source

NGO = "ngo4"  # 登封市嵩阳社会工作服务中心: no demo contract, so its record holds only this journey's reviews
TIED_EXPERT, EXPERTS = "expert3", ("expert1", "expert2")  # 吴海燕 is the NGO's supervisor; 孙立新, 周文华 review
OTHER_BUREAU_OFFICER = "district_officer"  # 张伟 of 中原区民政局
TITLE = "E2E 绩效 登封市困难老年人关爱服务采购"
AMOUNT = Decimal("180000.00")
AWARDED_AT = beijing_instant(date(2026, 1, 12), time(10))  # a Monday
DRAFTED_AT = beijing_instant(date(2026, 2, 2), time(10))
SIGNED_AT = beijing_instant(date(2026, 2, 3), time(10))
START_DAY, END_DAY = date(2026, 3, 1), date(2027, 2, 28)  # 12 months: a mid-term review, no long-term grounds
SCHEDULE = [(Decimal("40"), Gate.SIGNING, "合同签订后"), (Decimal("30"), Gate.REVIEW, "中期评估合格后"),
            (Decimal("30"), Gate.ACCEPTANCE, "项目终期验收合格后")]
APPEAL_AT = beijing_instant(date(2026, 9, 3), time(10))  # a Thursday, 2 working days after the grades

# The one indicator the officer changes: scored out of 100 (the satisfaction rate), still weighing 10.
EDITED = "满意度调查结果"
EDITED_GUIDANCE = "按服务对象满意度调查的满意率计分，满意率92%计92分（满分100分，按权重10折算）。"

# The mid-term review's points by indicator (expert1, expert2): 83.20 and 78.70 out of 100, a mean of 80.95 (良好).
MIDTERM_ROWS = (
    ("项目计划与执行进度", "7", "6"), ("制度建设与档案管理", "5", "5"), ("风险管理与安全保障", "5", "4"),
    ("服务目标完成情况", "8", "8"), ("服务指标达成", "9", "8"), ("服务对象改变与社会影响", "8", "7"),
    ("专业方法运用", "4", "4"), ("人员配置与持证比例", "4", "4"), ("专业督导与培训", "4", "3.5"),
    ("专业伦理与隐私保护", "4", "4"), ("预算执行与专款专用", "8", "8"), ("财务制度与票据规范", "4", "4"),
    (EDITED, "92", "92"), ("意见反馈与处理", "4", "4"),
)
MIDTERM_POINTS = {expert: {name: points[n] for name, *points in MIDTERM_ROWS} for n, expert in enumerate(EXPERTS)}
MIDTERM_TOTALS = {"expert1": Decimal("83.20"), "expert2": Decimal("78.70")}
MIDTERM_SCORE = Decimal("80.95")
# 孙立新's comment, hidden from 周文华 until submitting.
PRIVATE_COMMENT = "入户探访人次超出合同指标，小组活动记录完整。"
# The failed review: every indicator at 50 and 55 percent of its maximum, each explained.
FAILED_SHARES = {"expert1": Decimal("0.50"), "expert2": Decimal("0.55")}
FAILED_SCORE = Decimal("52.50")
LOW_COMMENT = "服务记录不完整，部分活动未按计划开展。"

SURVEY = {"title": "2026年上半年服务对象满意度调查", "surveyed_on": "2026-08-20", "method": "入户问卷",
          "respondents": "50", "satisfied": "46"}
APPEAL_REASONS = ("督导评估期间恰逢机构集中开展入户探访，部分纸质服务记录尚未归档，并非未开展服务，"
                  "请求对服务成效和项目管理两项指标重新评分。")
APPEAL_ANSWER = "经核查，评估时缺失的服务记录在评估期限内仍未提交，评分依据充分，维持原评估结果。"
PLAN = ("一、两周内补齐6月至8月全部服务记录并建立每周归档制度；二、增配一名督导助理，负责服务记录的审核；"
        "三、每月向民政局报送整改进展。")
PLAN_DUE = date(2026, 10, 30)
ACCEPT_NOTE = "整改方案可行，请按期完成，届时组织整改复评。"


# --- The starting state, and what the server stored ---------------------------------------------------------


@pytest.fixture
def contracted(cast, clock) -> dict:
    """The contract of the NGO of ngo4, signed on 3 February 2026 with its review plan; expert3 tied to the NGO.
    Returns the ids the journey needs."""
    names = ["officer", NGO, TIED_EXPERT, *EXPERTS, OTHER_BUREAU_OFFICER, "expert7", "expert8", "expert9"]
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_(names)))}
    officer, ngo = users["officer"], users[NGO]
    tender = make_single_source(officer.organisation, ngo.organisation, now=AWARDED_AT - timedelta(days=1),
                                price=AMOUNT)
    tender.title = TITLE
    db.session.commit()
    committee = make_committee(tender, [users[f"expert{n}"] for n in (7, 8, 9)], formed_by=officer,
                               at=AWARDED_AT - timedelta(hours=20))
    complete_report(committee, AWARDED_AT - timedelta(hours=2))
    with transaction():
        award = awards.confirm_award(db.session.get(Tender, tender.id), actor=officer, now=AWARDED_AT)
    assert award.challenge_last_day < DRAFTED_AT.date()
    values = {"title": TITLE, "service_content": "为登封市困难老年人提供入户探访、生活照料和心理支持服务。",
              "targets": "每月探访困难老年人不少于200人次；服务对象满意率不低于90%。", "start_date": START_DAY,
              "end_date": END_DAY, "budget_secured": False, "service_stable": False, "long_term_note": "",
              "report_interval": "quarterly", "performance_bond": None,
              "breach_terms": contract_services.DEFAULT_BREACH_TERMS}
    with transaction():
        contract = contract_services.draft_contract(
            award, values, SCHEDULE, contract_services.default_budget_lines(AMOUNT, START_DAY, END_DAY),
            actor=officer, now=DRAFTED_AT)
    with transaction():
        contract_services.sign(contract, actor=officer, now=SIGNED_AT)
        contract_services.sign(contract, actor=ngo, now=SIGNED_AT + timedelta(hours=5))  # plans the reviews
    tied = users[TIED_EXPERT]
    with transaction():
        account_services.add_affiliation(
            db.session.get(ExpertProfile, tied.id),
            {"organisation_id": ngo.organisation_id, "kind": AffiliationKind.SUPERVISOR,
             "start_date": date(2025, 3, 1), "end_date": None}, actor=tied, now=SIGNED_AT)
    reviews = {r.kind: r for r in db.session.scalars(sa.select(Review).where(Review.contract_id == contract.id)
                                                   .order_by(Review.due_on))
               if r.kind != ReviewKind.SUPERVISION or r.period_start == date(2026, 6, 1)}
    facts = {"contract": contract.id, "reference": contract.reference, "ngo_org": ngo.organisation_id,
             "ngo_name": ngo.organisation.name, "midterm": reviews[ReviewKind.MIDTERM].id,
             "midterm_title": reviews[ReviewKind.MIDTERM].title, "supervision": reviews[ReviewKind.SUPERVISION].id,
             "supervision_title": reviews[ReviewKind.SUPERVISION].title,
             "ids": {name: user.id for name, user in users.items()},
             "names": {name: user.name for name, user in users.items()}}
    assert contract.status == ContractStatus.SIGNED
    assert reviews[ReviewKind.MIDTERM].due_on == date(2026, 8, 30) and reviews[ReviewKind.MIDTERM].opens_payment
    assert reviews[ReviewKind.SUPERVISION].due_on == date(2026, 8, 31)
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    return facts


def stored_review(review_id: int) -> dict:
    """A review as the server stored it (read, then released): its state, rubric, reviewers, appeals and the
    rectification its failure opened."""
    db.session.rollback()
    review = db.session.execute(sa.select(Review).where(Review.id == review_id)
                                .execution_options(populate_existing=True)).scalar_one()
    rectification = db.session.scalar(sa.select(Rectification).where(Rectification.review_id == review_id))
    facts = {
        "status": review.status, "score": review.score, "grade": review.grade, "report": review.document_id,
        "gate": review.gate_installment_id, "termination_proposed": review.termination_proposed_at is not None,
        "indicators": {i.name: (i.id, i.parent_id, Decimal(i.weight), Decimal(i.max_score), i.guidance)
                       for i in db.session.scalars(sa.select(ReviewIndicator).where(
                           ReviewIndicator.review_id == review_id).order_by(ReviewIndicator.position))},
        "reviewers": {r.user.username: (r.status, r.declared_at is not None, r.submitted_at is not None)
                      for r in db.session.scalars(sa.select(Reviewer).where(Reviewer.review_id == review_id))},
        "appeals": [(a.id, a.status, a.grade_before) for a in db.session.scalars(
            sa.select(Appeal).where(Appeal.review_id == review_id).order_by(Appeal.id))],
        "rectification": None if rectification is None else {
            "id": rectification.id, "status": rectification.status, "plan_due_on": rectification.plan_due_on,
            "due_on": rectification.due_on, "re_review": rectification.re_review_id},
    }
    db.session.rollback()
    return facts


def stored_installments(contract_id: int) -> list[dict]:
    db.session.rollback()
    rows = [{"id": i.id, "position": i.position, "gate": i.gate, "amount": i.amount,
             "met": i.gate_met_at is not None, "source": i.gate_source, "paid_on": i.paid_on, "voucher": i.voucher}
            for i in db.session.scalars(sa.select(Installment).where(Installment.contract_id == contract_id)
                                        .order_by(Installment.position))]
    db.session.rollback()
    return rows


def stored_grades(org_id: int) -> dict[str, int]:
    """How many graded reviews of the organisation's contracts (every bureau) have each grade."""
    db.session.rollback()
    rows = db.session.execute(sa.select(Review.grade, sa.func.count(Review.id))
                              .join(Contract, Review.contract_id == Contract.id)
                              .where(Contract.supplier_id == org_id, Review.grade.is_not(None))
                              .group_by(Review.grade)).all()
    db.session.rollback()
    return dict(rows)


# --- Page helpers ----------------------------------------------------------------------------------------------


def refusal(page: Page) -> str:
    """The text of the error flash the page shows (there must be one)."""
    alert = page.locator("main > .alert-danger")
    expect(alert.first).to_be_visible()
    return " ".join(alert.all_inner_texts())


def at_review(page: Page, review_id: int) -> None:
    """The page is the review's own page (a redirect may add an anchor: #reviewers, #appeals)."""
    expect(page).to_have_url(re.compile(rf"/reviews/{review_id}(#\w+)?$"))


def unfold(form) -> None:
    """Open the <details> a form is folded in, as a click on its summary would."""
    form.evaluate("f => { const d = f.closest('details'); if (d) d.open = true; }")


def assign_expert(page: Page, review_id: int, user_id: int) -> None:
    """The officer assigns an evaluator of the pool as an expert reviewer, from the review page."""
    form = page.locator(f"main form[action='/reviews/{review_id}/reviewers']")
    unfold(form)
    form.locator("select[name=user_id]").select_option(str(user_id))
    form.locator("select[name=kind]").select_option("expert")
    submit(page, form.locator("button[type=submit]"))
    at_review(page, review_id)


def declare_no_conflict(page: Page, review_id: int) -> None:
    """An expert finds the review under "my reviews", declares no conflict and lands on their sheet."""
    page.goto("/reviews/mine")
    click_through(page, f"/reviews/{review_id}/declare")
    page.check("main input[name=conflict][value=no]")
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_flash(page)
    expect(page).to_have_url(re.compile(rf"/reviews/{review_id}/sheet$"))


def fill_sheet(page: Page, points: dict[int, Decimal], comments: dict[int, str]) -> None:
    for key, value in points.items():
        page.fill(f"#points_{key}", f"{value}")
        page.fill(f"#comment_{key}", comments.get(key, ""))


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


def sheet_button(page: Page, name: str):
    """The sheet's "save" or "submit_sheet" button."""
    return page.locator(f"main form[method=post] button[name={name}]")


def leaves(indicators: dict) -> dict[str, tuple]:
    """The scored indicators of a stored rubric: name -> (id, parent, weight, maximum, guidance)."""
    parents = {parent for (_id, parent, *_rest) in indicators.values() if parent is not None}
    return {name: row for name, row in indicators.items() if row[1] is not None or row[0] not in parents}


def weighted_total(scored: dict[str, tuple], points: dict[str, Decimal]) -> Decimal:
    total = sum((Fraction(w) * Fraction(points[name]) / Fraction(m) for name, (_i, _p, w, m, _g) in scored.items()),
                Fraction(0))
    return (Decimal(total.numerator) / Decimal(total.denominator)).quantize(Decimal("0.01"))


def pdf_text(data: bytes, tmp_path: Path) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    source = tmp_path / "report.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


# --- The journey -----------------------------------------------------------------------------------------------


def test_reviews_are_planned_evidenced_scored_graded_appealed_and_rectified(page, people, contracted, clock,
                                                                              tmp_path):
    ids, names = contracted["ids"], contracted["names"]
    contract_url = f"/contracts/{contracted['contract']}"
    plan_url = f"/reviews/contracts/{contracted['contract']}"
    midterm = contracted["midterm"]
    midterm_url = f"/reviews/{midterm}"

    # 1. The officer follows the contract page's reviews panel to the plan, then to the mid-term review.
    sign_in(page, "officer")
    page.goto(contract_url)
    panel = page.locator("main #reviews")
    expect(panel.locator(f"a[href='{plan_url}']")).to_be_visible()
    click_through(page, plan_url)
    midterm_row = page.locator(f"main tr#review-{midterm}")
    expect(midterm_row).to_contain_text(contracted["midterm_title"])
    expect(midterm_row).to_contain_text("2026-08-30")  # due at the middle of the term
    expect(midterm_row.locator(".badge.text-bg-danger")).to_be_visible()  # overdue since 30 August
    expect(page.locator(f"main tr#review-{contracted['supervision']}")).to_contain_text("2026-08-31")
    snap(page, "review-1-plan")
    click_through(page, midterm_url)
    expect(page.locator("main h1")).to_contain_text(contracted["midterm_title"])
    rubric = stored_review(midterm)["indicators"]
    assert len(leaves(rubric)) == 14 and rubric[EDITED][2:4] == (Decimal(10), Decimal(10))

    # It changes one indicator of the review's rubric: 满意度调查结果 is scored out of 100, still weighing 10.
    click_through(page, f"{midterm_url}/rubric")
    name_input = page.locator(f"main input[name$='-name'][value='{EDITED}']")
    expect(name_input).to_have_count(1)
    row = name_input.get_attribute("name").removesuffix("-name")
    expect(page.locator(f"#{row}-weight")).to_have_value("10")
    page.fill(f"#{row}-max_score", "100")
    page.fill(f"#{row}-guidance", EDITED_GUIDANCE)
    submit(page, page.locator(f"main form[action='{midterm_url}/rubric'] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    at_review(page, midterm)
    edited_row = page.locator("main #rubric tbody tr", has_text=EDITED)
    expect(edited_row.locator("td.text-end")).to_have_text(["10", "100"])  # weight, maximum
    expect(edited_row).to_contain_text(EDITED_GUIDANCE)
    expect(page.locator("main #rubric tfoot td.fw-bold")).to_have_text("100")  # the first levels still add up
    rubric = stored_review(midterm)["indicators"]
    assert rubric[EDITED][2:] == (Decimal(10), Decimal(100), EDITED_GUIDANCE)
    assert len(leaves(rubric)) == 14

    # An expert tied to the NGO is refused; 孙立新 and 周文华 are assigned.
    assign_expert(page, midterm, ids[TIED_EXPERT])
    message = refusal(page)
    assert names[TIED_EXPERT] in message and contracted["ngo_name"] in message, message
    snap(page, "review-1-conflict-refused")
    assert TIED_EXPERT not in stored_review(midterm)["reviewers"]
    for expert in EXPERTS:
        assign_expert(page, midterm, ids[expert])
        expect_flash(page)
    reviewers = page.locator("main #reviewers tbody tr")
    expect(reviewers).to_have_count(2)
    expect(reviewers).to_contain_text([names[e] for e in EXPERTS])
    assert stored_review(midterm)["reviewers"] == {e: ("assigned", False, False) for e in EXPERTS}

    # The officer starts the review: the rubric is frozen.
    submit(page, form_button(page, f"{midterm_url}/start"))
    expect_flash(page)
    assert stored_review(midterm)["status"] == "started"
    expect(form_button(page, f"{midterm_url}/start")).to_have_count(0)
    expect(page.locator(f"main a[href='{midterm_url}/rubric']")).to_have_count(0)
    page.goto(f"{midterm_url}/rubric")  # typed by hand: sent back to the review with a warning
    at_review(page, midterm)
    expect(page.locator("main > .alert-warning")).to_be_visible()
    expect(page.locator(f"main form[action='{midterm_url}/rubric']")).to_have_count(0)
    # A forged rubric (one indicator of 100 points), posted with the page's own token, is refused by the server.
    token = page.locator("main input[name=csrf_token]").first.get_attribute("value")
    post_form(page, f"{midterm_url}/rubric", {"csrf_token": token, "rows-0-level": "1", "rows-0-name": "综合评价",
                                              "rows-0-weight": "100", "rows-0-max_score": "100"})
    at_review(page, midterm)
    expect(page.locator("main > .alert-success")).to_have_count(0)
    expect(page.locator("main > .alert-warning, main > .alert-danger").first).to_be_visible()
    assert stored_review(midterm)["indicators"] == rubric

    # 2. The NGO uploads its self-assessment report and enters a satisfaction survey.
    ngo = people(NGO)
    ngo.goto(contract_url)
    click_through(ngo, plan_url)
    click_through(ngo, midterm_url)
    upload = ngo.locator(f"main form[action='{midterm_url}/evidence']")
    unfold(upload)
    upload.locator("select[name=kind]").select_option("self_assessment")
    upload.locator("input[name=attachment]").set_input_files(files=[{
        "name": "2026年上半年项目自评报告.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    upload.locator("input[name=note]").fill("中期自评报告（2026年3月至8月）")
    submit(ngo, upload.locator("button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    evidence_link = ngo.locator("main #evidence a[href^='/reviews/evidence/']")
    expect(evidence_link).to_have_text("2026年上半年项目自评报告.pdf")
    evidence_href = evidence_link.get_attribute("href")
    survey = ngo.locator(f"main form[action='{midterm_url}/surveys']")
    unfold(survey)
    for name, value in SURVEY.items():
        survey.locator(f"input[name={name}]").fill(value)
    submit(ngo, survey.locator("button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    survey_row = ngo.locator("main #surveys tbody tr", has_text=SURVEY["title"])
    expect(survey_row.locator("td.text-end")).to_have_text(["50", "46"])
    expect(ngo.locator("main #surveys")).to_contain_text("92.00")  # the satisfaction rate in percent
    snap(ngo, "review-2-evidence")

    # 3. 孙立新 declares no conflict (the evidence opens only then) and scores alone.
    first, second = (people(e) for e in EXPERTS)
    first.goto(midterm_url)
    expect(first.locator(f"main a[href='{evidence_href}']")).to_have_count(0)  # not before the declaration
    declare_no_conflict(first, midterm)
    scored = leaves(stored_review(midterm)["indicators"])
    assert set(scored) == set(MIDTERM_POINTS["expert1"])
    keys = {name: row[0] for name, row in scored.items()}
    sheet = first.locator("main form[method=post]")
    expect(sheet.locator("input[name^=points_]")).to_have_count(14)
    expect(first.locator(f"main tr#indicator-{keys[EDITED]} td.text-end")).to_have_text("100")  # its maximum
    points = {keys[n]: Decimal(p) for n, p in MIDTERM_POINTS["expert1"].items()}
    fill_sheet(first, points, {keys["服务指标达成"]: PRIVATE_COMMENT})
    submit(first, sheet_button(first, "save"))
    expect_flash(first)
    expect(first.locator("#sheet-total")).to_have_text(f"{MIDTERM_TOTALS['expert1']}")
    assert weighted_total(scored, {n: Decimal(p) for n, p in MIDTERM_POINTS["expert1"].items()}) == \
        MIDTERM_TOTALS["expert1"]
    snap(first, "review-3-sheet")
    submit(first, sheet_button(first, "submit_sheet"))
    expect_flash(first)
    expect(first).to_have_url(re.compile(rf"/reviews/{midterm}/sheet$"))
    expect(first.locator("main form[method=post]")).to_have_count(0)  # submitted: read only
    first.goto(midterm_url)
    assert download(first, evidence_href) == PDF_BYTES  # a declared reviewer reads the evidence

    # 周文华 sees neither 孙立新's points nor comments before submitting.
    second.goto(midterm_url)
    expect(second.locator(f"main a[href='{evidence_href}']")).to_have_count(0)
    expect(second.locator("main #scoring table")).to_have_count(0)  # no totals shown yet
    declare_no_conflict(second, midterm)
    expect(second.locator("main")).not_to_contain_text(PRIVATE_COMMENT)
    for key in points:
        expect(second.locator(f"#points_{key}")).to_have_value("")
    second.goto(f"{midterm_url}/sheets")
    header = second.locator("main table thead th")
    expect(header).to_have_count(3)  # indicator, maximum and their own (empty) sheet only
    expect(second.locator("main table thead")).not_to_contain_text(names["expert1"])
    expect(second.locator("main")).not_to_contain_text(PRIVATE_COMMENT)
    expect(second.locator("main")).not_to_contain_text(f"{MIDTERM_TOTALS['expert1']}")
    snap(second, "review-3-sheets-before-submitting")
    second.goto(f"{midterm_url}/sheet")
    fill_sheet(second, {keys[n]: Decimal(p) for n, p in MIDTERM_POINTS["expert2"].items()}, {})
    submit(second, sheet_button(second, "submit_sheet"))
    expect_flash(second)
    expect(second.locator("#sheet-total")).to_have_text(f"{MIDTERM_TOTALS['expert2']}")
    assert weighted_total(scored, {n: Decimal(p) for n, p in MIDTERM_POINTS["expert2"].items()}) == \
        MIDTERM_TOTALS["expert2"]
    # Once submitted, both sheets are shown, with 孙立新's comment and both totals.
    second.goto(f"{midterm_url}/sheets")
    expect(second.locator("main table thead th")).to_have_count(4)
    expect(second.locator("main table thead")).to_contain_text(names["expert1"])
    expect(second.locator("main table")).to_contain_text(PRIVATE_COMMENT)
    expect(second.locator("main table tfoot tr").first.locator("th.text-end")).to_have_text(
        [f"{MIDTERM_TOTALS[e]}" for e in EXPERTS])
    assert stored_review(midterm)["reviewers"] == {e: ("active", True, True) for e in EXPERTS}

    # 4. The officer grades the review: the mean 80.95, 良好; the report PDF; the mid-term installment payable.
    page.goto(midterm_url)
    submit(page, form_button(page, f"{midterm_url}/finalise"))
    expect_flash(page)
    graded = stored_review(midterm)
    assert (graded["status"], graded["score"], graded["grade"]) == ("graded", MIDTERM_SCORE, "good")
    assert graded["gate"] is not None and graded["report"] is not None and graded["rectification"] is None
    expect(page.locator("main h1")).to_contain_text("良好")
    scoring = page.locator("main #scoring")
    expect(scoring.locator("tbody td.text-end")).to_have_text([f"{MIDTERM_TOTALS[e]}" for e in EXPERTS])
    expect(scoring.locator("tfoot th.text-end")).to_have_text(f"{MIDTERM_SCORE}")
    expect(scoring).to_contain_text("良好")
    expect(page.locator(f"main a[href='{midterm_url}/appeal']")).to_have_count(0)  # the NGO's link only
    snap(page, "review-4-graded")
    report = download(page, f"{midterm_url}/report.pdf")
    assert report.startswith(b"%PDF")
    text = pdf_text(report, tmp_path)
    if text is not None:
        assert f"{MIDTERM_SCORE}" in text and "良好" in text and EDITED in text, text[:800]
        assert names["expert1"] in text and names["expert2"] in text, text[:800]
    ngo.goto(midterm_url)
    expect(ngo.locator("main h1")).to_contain_text("良好")
    assert download(ngo, f"{midterm_url}/report.pdf") == report  # the NGO reads the same report

    installments = stored_installments(contracted["contract"])
    review_installment = next(i for i in installments if i["gate"] == Gate.REVIEW)
    assert review_installment["met"] and review_installment["source"] == f"review:{midterm}"
    assert graded["gate"] == review_installment["id"]
    assert [i["met"] for i in installments] == [True, True, False]
    page.goto(contract_url)
    position = review_installment["position"]
    expect(page.locator(f"#installment-{position} .badge")).to_have_class(re.compile("text-bg-info"))  # payable
    expect(page.locator(f"#installment-{position}")).to_contain_text("54,000.00")
    expect(page.locator("main #reviews")).to_contain_text(f"{MIDTERM_SCORE}")  # the latest grade
    snap(page, "review-4-payable")
    # The officer records the payment.
    pay = page.locator(f"main form[action='/contracts/installments/{review_installment['id']}/payment']")
    expect(pay.locator(f"#pay{review_installment['id']}-amount")).to_have_value("54000.00")
    expect(pay.locator(f"#pay{review_installment['id']}-paid_on")).to_have_value(START.date().isoformat())
    pay.locator(f"#pay{review_installment['id']}-voucher").fill("ZF20260901-017")
    submit(page, pay.locator("button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    expect(page.locator(f"#installment-{position} .badge")).to_have_class(re.compile("text-bg-success"))
    expect(page.locator(f"#installment-{position}")).to_contain_text("ZF20260901-017")
    paid = next(i for i in stored_installments(contracted["contract"]) if i["id"] == review_installment["id"])
    assert (paid["paid_on"], paid["voucher"]) == (START.date(), "ZF20260901-017")

    # 5. The second supervision review is scored 50 and 55: 52.50, 不合格.
    supervision = contracted["supervision"]
    supervision_url = f"/reviews/{supervision}"
    page.goto(plan_url)
    click_through(page, supervision_url)
    for expert in EXPERTS:
        assign_expert(page, supervision, ids[expert])
        expect_flash(page)
    submit(page, form_button(page, f"{supervision_url}/start"))
    expect_flash(page)
    scored = leaves(stored_review(supervision)["indicators"])
    for expert, browser_page in zip(EXPERTS, (first, second), strict=True):
        declare_no_conflict(browser_page, supervision)
        share = FAILED_SHARES[expert]
        low = {row[0]: (row[3] * share).quantize(Decimal("0.01")) for row in scored.values()}
        if expert == "expert1":
            # Points below 60 percent of a maximum need a comment (house rule): refused without, what was typed kept.
            fill_sheet(browser_page, low, {})
            submit(browser_page, sheet_button(browser_page, "save"))
            refusal(browser_page)
            some = next(iter(low))
            assert Decimal(browser_page.input_value(f"#points_{some}")) == low[some]
            assert stored_review(supervision)["reviewers"]["expert1"] == ("active", True, False)
        fill_sheet(browser_page, low, {key: LOW_COMMENT for key in low})
        submit(browser_page, sheet_button(browser_page, "submit_sheet"))
        expect_flash(browser_page)
        expect(browser_page.locator("#sheet-total")).to_have_text(f"{share * 100:.2f}")
    page.goto(supervision_url)
    submit(page, form_button(page, f"{supervision_url}/finalise"))
    expect_flash(page)
    failed = stored_review(supervision)
    assert (failed["status"], failed["score"], failed["grade"]) == ("graded", FAILED_SCORE, "fail")
    assert failed["gate"] is None and not failed["termination_proposed"]  # one failure after a pass
    rectification = failed["rectification"]
    assert rectification["status"] == "awaiting_plan"
    assert rectification["plan_due_on"] == date(2026, 9, 15)  # 10 working days after 1 September
    expect(page.locator("main h1")).to_contain_text("不合格")
    expect(page.locator("main #scoring tfoot th.text-end")).to_have_text(f"{FAILED_SCORE}")
    rectification_url = f"/reviews/rectifications/{rectification['id']}"
    expect(page.locator(f"main #rectification a[href='{rectification_url}']")).to_be_visible()
    snap(page, "review-5-failed")
    assert [i["met"] for i in stored_installments(contracted["contract"])] == [True, True, False]

    # Thursday 3 September, within the 5 working days: the NGO reads the rectification and appeals.
    clock.move_to(APPEAL_AT)
    sign_in(ngo, NGO)
    ngo.goto(supervision_url)
    expect(ngo.locator("main h1")).to_contain_text("不合格")
    expect(ngo.locator("main #appeals")).to_contain_text("2026-09-08")  # the last day to appeal
    click_through(ngo, rectification_url)
    expect(ngo.locator("main")).to_contain_text(contracted["supervision_title"])
    expect(ngo.locator("main dl")).to_contain_text("2026-09-15")  # the plan's due day
    expect(ngo.locator("main dl")).to_contain_text(f"{FAILED_SCORE}")
    expect(ngo.locator(f"main form[action='{rectification_url}/plan']")).to_be_visible()
    snap(ngo, "review-6-rectification")
    ngo.goto(supervision_url)
    click_through(ngo, f"{supervision_url}/appeal")
    expect(ngo.locator("main dl")).to_contain_text("2026-09-08")
    ngo.fill("#reasons", APPEAL_REASONS)
    submit(ngo, ngo.locator(f"main form[action='{supervision_url}/appeal'] button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    at_review(ngo, supervision)
    [(appeal_id, status, grade_before)] = stored_review(supervision)["appeals"]
    assert (status, grade_before) == ("open", "fail")
    expect(ngo.locator(f"main #appeal-{appeal_id}")).to_contain_text(APPEAL_REASONS)
    expect(ngo.locator(f"main a[href='{supervision_url}/appeal']")).to_have_count(0)  # one appeal per grading

    # The officer dismisses it with an answer: the grade stands.
    sign_in(page, "officer")
    page.goto(supervision_url)
    answer_url = f"/reviews/appeals/{appeal_id}/answer"
    click_through(page, answer_url)
    expect(page.locator("main")).to_contain_text(APPEAL_REASONS)
    page.select_option("#decision", "dismiss")
    page.fill("#answer", APPEAL_ANSWER)
    submit(page, page.locator(f"main form[action='{answer_url}'] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    at_review(page, supervision)
    after = stored_review(supervision)
    assert after["appeals"] == [(appeal_id, "dismissed", "fail")]
    assert (after["status"], after["score"], after["grade"]) == ("graded", FAILED_SCORE, "fail")
    ngo.goto(supervision_url)
    expect(ngo.locator(f"main #appeal-{appeal_id}")).to_contain_text(APPEAL_ANSWER)

    # The NGO submits its rectification plan; the officer accepts it and the re-review is planned.
    ngo.goto(rectification_url)
    ngo.fill("#plan", PLAN)
    ngo.fill("#due_on", PLAN_DUE.isoformat())
    submit(ngo, ngo.locator(f"main form[action='{rectification_url}/plan'] button[type=submit]"))
    expect_no_form_errors(ngo)
    expect_flash(ngo)
    expect(ngo.locator("main")).to_contain_text(PLAN)
    assert stored_review(supervision)["rectification"]["status"] == "plan_submitted"
    page.goto(supervision_url)
    click_through(page, rectification_url)
    page.fill("#accept-note", ACCEPT_NOTE)
    submit(page, page.locator(f"main form[action='{rectification_url}/accept'] button[type=submit]"))
    expect_no_form_errors(page)
    expect_flash(page)
    rectification = stored_review(supervision)["rectification"]
    assert (rectification["status"], rectification["due_on"]) == ("in_progress", PLAN_DUE)
    re_review = rectification["re_review"]
    assert re_review is not None
    expect(page.locator(f"main a[href='/reviews/{re_review}']")).to_be_visible()
    expect(page.locator("main")).to_contain_text(ACCEPT_NOTE)
    snap(page, "review-6-rectification-accepted")
    page.goto(plan_url)
    re_row = page.locator(f"main tr#review-{re_review}")
    expect(re_row).to_contain_text(PLAN_DUE.isoformat())
    expect(re_row.locator("td.text-end")).to_have_text("2")  # the failed review's two experts again
    supervision_row = page.locator(f"main tr#review-{supervision}")
    expect(supervision_row).to_contain_text(f"{FAILED_SCORE}")
    expect(supervision_row).to_contain_text("不合格")
    expect(page.locator(f"main tr#review-{midterm}")).to_contain_text(f"{MIDTERM_SCORE}")
    planned = stored_review(re_review)
    assert planned["status"] == "planned" and set(planned["reviewers"]) == set(EXPERTS)
    assert {name: row[2:] for name, row in planned["indicators"].items()} == \
        {name: row[2:] for name, row in stored_review(supervision)["indicators"].items()}

    # Finally an officer of another bureau opens the NGO's performance record and sees both grades.
    other = people(OTHER_BUREAU_OFFICER)
    other.goto("/reviews/organisations")
    other.fill("#q", "嵩阳")
    submit(other, other.locator("main form[role=search] button[type=submit]"))
    record_url = f"/reviews/organisations/{contracted['ngo_org']}/record"
    click_through(other, record_url)
    expect(other.locator("main h1")).to_contain_text(contracted["ngo_name"])
    rows = other.locator("main #reviews tbody tr", has_text=contracted["reference"])
    expect(rows).to_have_count(2)  # latest grade first
    expect(rows.nth(0)).to_contain_text(contracted["supervision_title"])
    expect(rows.nth(0).locator("td.text-end")).to_have_text(f"{FAILED_SCORE}")
    expect(rows.nth(0).locator(".badge")).to_contain_text("不合格")
    expect(rows.nth(1)).to_contain_text(contracted["midterm_title"])
    expect(rows.nth(1).locator("td.text-end")).to_have_text(f"{MIDTERM_SCORE}")
    expect(rows.nth(1).locator(".badge")).to_contain_text("良好")
    grades = stored_grades(contracted["ngo_org"])
    assert grades.get("good", 0) >= 1 and grades.get("fail", 0) >= 1
    for grade in ("excellent", "good", "pass", "fail"):
        expect(other.locator(f"main #summary dd[data-grade={grade}]")).to_have_text(str(grades.get(grade, 0)))
    expect(other.locator("main #rectifications tbody tr", has_text=contracted["reference"])).to_contain_text(
        PLAN_DUE.isoformat())
    snap(other, "review-7-record")
    # The record is all the other bureau reads: the contract's reviews stay with the parties and the overseers.
    assert other.goto(midterm_url).status == 403
    assert other.goto(rectification_url).status == 403
    outsider = people("ngo2")  # another NGO: neither the reviews nor this NGO's record
    for url in (midterm_url, f"{midterm_url}/sheets", rectification_url, record_url):
        assert outsider.goto(url).status == 403, url
    tied = people(TIED_EXPERT)  # refused as a reviewer: no access either
    assert tied.goto(midterm_url).status == 403
    assert tied.goto(f"{midterm_url}/sheet").status == 403
