"""Each of the four methods walked whole in the browser, from the need to the public board (issue 10, item 1).

The other journeys prove each stage on a prepared starting state; this one chains them on one tender, with the
real demo roles in turn, so that what one stage leaves behind is what the next one works on:

1. the officer records the need and creates the tender (invited: draws the suppliers, negotiation: invites
   them, single source: names the supplier) and publishes it;
2. an NGO asks a question and the officer answers it with a clarification the NGO reads (single source: another
   NGO objects to the notice, the officer answers it and the objector reads the answer on the tender page,
   which never shows who objected or what they wrote; the approval follows the notice);
3. the NGOs seal their bids; the deadline passes (time_machine moves the clock); two officers open them;
4. the committee (谈判小组 for the negotiation and the single source) is drawn, every member declares no conflict,
   the chair records the qualification review; the members score (open, invited), the negotiation asks for final
   quotes which two officers open, the single source records the agreed price; the chair closes and every member
   confirms the report with their password;
5. the officer confirms the award (result notice and award letter at once); a losing NGO challenges (质疑) and
   reads the answer (the single source has no loser);
6. after the challenge period the officer drafts the contract, both sides sign, the officer publishes the
   contract notice; the mid-term review is scored by an expert, graded, and its installment paid;
7. an anonymous visitor finds the tender's notice, result notice and contract notice on the board, and the
   process in /ocds/<ocid>.json.

Screenshots: test-artifacts/screenshots/full-<method>-NN-<step>.png. Fields and buttons are found by ids and form
actions, as in the other journeys; the step helpers of those journeys are reused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app
from playwright.sync_api import Page, expect

from portal.accounts.models import Organisation, User
from portal.contracts.models import Contract, Gate, Installment
from portal.evaluation.award import active_award
from portal.evaluation.models import Challenge
from portal.extensions import db
from portal.i18n import format_money
from portal.reviews.models import Review
from portal.reviews.rules import ReviewKind
from portal.seed import DEMO_PASSWORD
from portal.tenders.models import Bid, Tender, TenderCriterion
from portal.tenders.rules import beijing_instant, local_date
from tests.e2e.journey_support import (
    click_through,
    expect_flash,
    expect_no_form_errors,
    form_button,
    sign_in,
    snap,
    submit,
)
from tests.e2e.test_evaluation_journey import seats
from tests.e2e.test_review_journey import assign_expert, declare_no_conflict, fill_sheet, leaves, stored_review
from tests.e2e.test_tender_journeys import (
    after_deadline,
    create_tender,
    expect_status,
    open_bids,
    place_bid,
    publish,
    record_need,
    tender_facts,
)

METHODS = {"open": "公开招标", "invited": "邀请招标", "negotiation": "竞争性谈判", "single_source": "单一来源"}
GROUNDS = {"open": None, "invited": "few_suppliers", "negotiation": "price_unknown", "single_source": "only_supplier"}
BUDGET = "480000"
SHARES = (Decimal("0.936"), Decimal("0.911001"), Decimal("0.9446"))  # of the budget: the bids, one with fen
QUOTE_SHARES = (Decimal("0.84"), Decimal("0.86"), Decimal("0.88"))  # of the budget: the final quotes, lowest wins
POINT_SHARES = (Decimal("0.9"), Decimal("0.8"), Decimal("0.7"))  # of each criterion's maximum, by bidder
AGREED = "451000"
QUESTION = "服务对象名单是否由街道提供？"
CLARIFICATION = "服务对象名单由街道办事处提供，中标（成交）机构应在合同签订后10日内完成核对。"
OBJECTION = "辖区内另有具备同类服务能力的机构，请说明采用单一来源的理由。"
OBJECTION_ANSWER = "经专家论证，该机构是唯一承接过本项目前期服务且具备持证社工团队的机构，论证意见已随公示发布。"
CHALLENGE = "我方认为评审结果未充分考虑我方在本区同类服务的团队配置与督导安排，请求复核。"
CHALLENGE_ANSWER = "经组织原评审小组复核，评审符合采购文件规定的标准和程序，质疑不成立。"
REVIEWER = "expert1"  # 孙立新: no tie to the demo NGOs
REVIEW_SHARE = Decimal("0.85")  # of every indicator's maximum: 85.00 points, 良好


@dataclass
class Run:
    """One journey: its method and tender, the people's pages, what the server stored, the screenshot count."""

    method: str
    officer: Page
    people: object
    cast: object
    clock: object
    title: str = ""
    tender_id: int = 0
    bidders: list[str] = field(default_factory=list)  # organisation names, the intended winner first
    ngos: dict[str, Page] = field(default_factory=dict)  # by username
    experts: dict[str, Page] = field(default_factory=dict)
    shots: int = 0

    @property
    def base(self) -> str:
        return f"/tenders/{self.tender_id}/evaluation"

    def shot(self, page: Page, step: str) -> None:
        self.shots += 1
        snap(page, f"full-{self.method}-{self.shots:02d}-{step}")

    def ngo(self, org_name: str) -> Page:
        """The NGO's page, signed in (again, after the clock jumped)."""
        username = self.cast.ngo_by_org[org_name]
        if username not in self.ngos:
            self.ngos[username] = self.people(username)
        else:
            sign_in(self.ngos[username], username)
        return self.ngos[username]


# --- What the server stored (read, then the read transaction released at once) --------------------------------


def released(read):
    db.session.rollback()
    try:
        return read()
    finally:
        db.session.rollback()


def bid_ids(tender_id: int) -> dict[str, int]:
    """The tender's bids by bidder name."""
    return released(lambda: dict(db.session.execute(
        sa.select(Organisation.name, Bid.id).join(Bid, Bid.supplier_id == Organisation.id)
        .where(Bid.tender_id == tender_id)).all()))


def criteria(tender_id: int) -> list[tuple[int, int]]:
    return released(lambda: [tuple(row) for row in db.session.execute(
        sa.select(TenderCriterion.id, TenderCriterion.weight).where(TenderCriterion.tender_id == tender_id)
        .order_by(TenderCriterion.position))])


def award_facts(tender_id: int) -> dict:
    def read():
        award = active_award(db.session.get(Tender, tender_id))
        return {"id": award.id, "supplier": award.supplier.name, "amount": award.amount,
                "challenge_last_day": award.challenge_last_day,
                "challenges": [c.status for c in db.session.scalars(sa.select(Challenge).where(
                    Challenge.tender_id == tender_id))]}
    return released(read)


def contract_facts(tender_id: int) -> dict:
    def read():
        contract = db.session.scalar(sa.select(Contract).where(Contract.tender_id == tender_id)
                                     .execution_options(populate_existing=True))
        if contract is None:
            return {}
        review = db.session.scalar(sa.select(Review).where(Review.contract_id == contract.id,
                                                           Review.kind == ReviewKind.MIDTERM))
        gated = db.session.scalar(sa.select(Installment).where(Installment.contract_id == contract.id,
                                                               Installment.gate == Gate.REVIEW))
        return {"id": contract.id, "status": contract.status, "notice": contract.notice_id is not None,
                "midterm": review.id if review else None,
                "installment": {"id": gated.id, "position": gated.position, "amount": gated.amount,
                                "met": gated.gate_met_at is not None, "paid_on": gated.paid_on}}
    return released(read)


# --- Steps -----------------------------------------------------------------------------------------------------


def prepare_and_publish(run: Run) -> None:
    """The need, the tender (and who may bid), the publication."""
    officer, method = run.officer, run.method
    sign_in(officer, "officer")
    project_id = record_need(officer, f"{run.title}（需求）", BUDGET)
    supplier = run.cast.org_by_ngo["ngo1"] if method == "single_source" else None
    run.tender_id = create_tender(officer, project_id, title=run.title, method=method, budget=BUDGET,
                                  ground=GROUNDS[method], supplier=supplier)
    run.shot(officer, "draft")
    if method == "invited":
        submit(officer, officer.locator(f"main a[href='/tenders/{run.tender_id}/draw']"))
        officer.select_option("#pool_source", "database")
        officer.fill("#count", "3")
        officer.select_option("#witness", label="李秀梅")  # officer2 types the password at the officer's desk
        officer.fill("#witness_password", DEMO_PASSWORD)
        submit(officer, officer.locator("main form[method=post] button[type=submit]"))
        expect_flash(officer)
        invited = tender_facts(run.tender_id)["invited"]
    elif method == "negotiation":
        submit(officer, officer.locator(f"main a[href='/tenders/{run.tender_id}/invite']"))
        invited = sorted(run.cast.org_by_ngo[u] for u in ("ngo1", "ngo2", "ngo3"))
        for org_name in invited:
            officer.get_by_label(org_name, exact=True).check()
        officer.fill("#reason", "业务主管部门书面推荐，近三年承接同类服务且无不良记录。")
        submit(officer, officer.locator("main form[method=post] button[type=submit]"))
        expect_flash(officer)
    elif method == "open":
        invited = sorted(run.cast.org_by_ngo[u] for u in ("ngo1", "ngo2", "ngo3"))
    else:
        invited = [supplier]
    run.bidders = sorted(invited)
    publish(officer, run.tender_id)
    run.shot(officer, "published")


def question_and_clarification(run: Run) -> None:
    """An NGO asks, the officer publishes the clarification, the NGO reads the answer."""
    tender_id, officer = run.tender_id, run.officer
    asker = run.ngo(run.bidders[1])
    asker.goto(f"/tenders/{tender_id}")
    asker.fill(f"form[action='/tenders/{tender_id}/questions'] #text", QUESTION)
    submit(asker, form_button(asker, f"/tenders/{tender_id}/questions"))
    expect_flash(asker)
    officer.goto(f"/tenders/{tender_id}")
    click_through(officer, f"/tenders/{tender_id}/clarify")
    expect(officer.locator("main")).to_contain_text(QUESTION)
    officer.fill("#text", CLARIFICATION)
    officer.locator("main input[name=questions]").first.check()
    submit(officer, officer.locator("main button[name=preview]"))
    expect_no_form_errors(officer)
    submit(officer, officer.locator("main button[name=confirm]"))
    expect_flash(officer)
    asker.goto(f"/tenders/{tender_id}")
    expect(asker.locator("main")).to_contain_text(CLARIFICATION)
    run.shot(asker, "clarification")


def seal_bids(run: Run, files) -> None:
    prices = [str((Decimal(BUDGET) * share).quantize(Decimal("0.01"))) for share in SHARES]
    for n, (org_name, price) in enumerate(zip(run.bidders, prices, strict=True)):
        ngo = run.ngo(org_name)
        place_bid(ngo, run.tender_id, run.title, price, files)
        if n == 0:
            run.shot(ngo, "bid-receipt")


def open_after_deadline(run: Run) -> None:
    after_deadline(run.clock, tender_facts(run.tender_id)["bid_deadline"])
    sign_in(run.officer, "officer")
    officer2 = run.people("officer2")
    open_bids(run.officer, officer2, run.tender_id)
    expect_status(officer2, "opened")
    expect(officer2.locator("main table tbody tr")).to_have_count(len(run.bidders))
    run.shot(officer2, "opening")


def objection_and_approval(run: Run) -> None:
    """Single source: another NGO objects while the notice runs, the officer answers; after the notice the
    approval is recorded."""
    tender_id, officer = run.tender_id, run.officer
    supplier = run.ngo(run.bidders[0])  # the named supplier reads the notice that names it
    supplier.goto(f"/tenders/{tender_id}")
    expect(supplier.locator("main")).to_contain_text(run.bidders[0])
    objector = run.people("ngo2")
    objector.goto(f"/tenders/{tender_id}")
    form = objector.locator(f"main form[action='/tenders/{tender_id}/objections']")
    form.locator("#name").fill("王女士")
    form.locator("#contact").fill("0371-67180000")
    form.locator("#text").fill(OBJECTION)
    submit(objector, form.locator("button[type=submit]"))
    expect_flash(objector)
    officer.goto(f"/tenders/{tender_id}")
    answer = officer.locator("main form[action^='/objections/'][action$='/answer']")
    answer.locator("#response").fill(OBJECTION_ANSWER)
    submit(officer, answer.locator("button[type=submit]"))
    expect_flash(officer)
    expect(officer.locator("main")).to_contain_text(OBJECTION_ANSWER)
    run.shot(officer, "objection-answered")
    objector.goto(f"/tenders/{tender_id}")  # the answer is public; who objected and their words are not
    expect(objector.locator("main")).to_contain_text(OBJECTION_ANSWER)
    expect(objector.locator("main")).not_to_contain_text("0371-67180000")
    expect(objector.locator("main")).not_to_contain_text(OBJECTION)

    notice_until = tender_facts(tender_id)["notice_until"]
    run.clock.move_to(beijing_instant(notice_until + timedelta(days=1), time(9)))
    sign_in(officer, "officer")
    officer.goto(f"/tenders/{tender_id}")
    approve = officer.locator(f"main form[action='/tenders/{tender_id}/approve']")
    approve.locator("#approval_document").fill("郑财采〔2026〕88号")
    approve.locator("#approval_date").fill((notice_until + timedelta(days=1)).isoformat())
    approve.locator("#approval_body").fill("郑州市财政局")
    submit(officer, approve.locator("button[type=submit]"))
    expect_flash(officer)
    expect_status(officer, "negotiating")


def form_committee(run: Run) -> list[dict]:
    """The officer draws the committee; every member declares no conflict; the first one drawn chairs."""
    officer, base = run.officer, run.base
    officer.goto(f"/tenders/{run.tender_id}")
    officer.goto(base)
    click_through(officer, f"{base}/committee")
    size = "5" if run.method in ("open", "invited") else "3"
    officer.fill("#size", size)
    officer.select_option("#specialty", "")
    submit(officer, officer.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    members = seats(run.tender_id)
    assert len(members) == int(size)
    for member in members:
        expert = run.experts[member["username"]] = run.people(member["username"])
        expert.goto("/dashboard")
        click_through(expert, f"{base}/declaration")
        expert.check("input[name=conflict][value=no]")
        submit(expert, expert.locator("main form[method=post] button[type=submit]"))
        expect_flash(expert)
    chair = members[0]
    officer.goto(base)
    chair_form = officer.locator(f"main form[action='{base}/chair']")
    chair_form.locator("#member_id").select_option(str(chair["id"]))
    submit(officer, chair_form.locator("button[type=submit]"))
    expect_flash(officer)
    run.shot(officer, "committee")
    return members


def qualification(run: Run, chair: Page) -> None:
    """The chair passes every bid on every requirement and closes the review."""
    base = run.base
    chair.goto(base)
    click_through(chair, f"{base}/qualification")
    for bid_id in bid_ids(run.tender_id).values():
        form = chair.locator(f"main form:has(input[name=bid_id][value='{bid_id}'])")
        radios = form.locator("input[type=radio][value=pass]")
        for i in range(radios.count()):
            radios.nth(i).check()
        submit(chair, form.locator("button[type=submit]"))
        expect_no_form_errors(chair)
        expect_flash(chair)
    submit(chair, form_button(chair, f"{base}/qualification/close"))
    expect_flash(chair)
    run.shot(chair, "qualification")


def score(run: Run, members: list[dict]) -> None:
    """Every member fills and submits the sheet: the intended winner best (points by POINT_SHARES)."""
    bids = bid_ids(run.tender_id)
    weights = criteria(run.tender_id)
    for n, member in enumerate(members):
        expert = run.experts[member["username"]]
        expert.goto(run.base)
        click_through(expert, f"{run.base}/sheet")
        for org_name, share in zip(run.bidders, POINT_SHARES, strict=True):
            for criterion_id, weight in weights:
                expert.fill(f"#points_{bids[org_name]}_{criterion_id}", f"{Decimal(weight) * share:.1f}")
        if n == 0:
            run.shot(expert, "score-sheet")
        submit(expert, expert.locator("main button[name=submit_sheet]"))
        expect_no_form_errors(expert)
        expect_flash(expert)


def final_quotes(run: Run) -> None:
    """Negotiation: the officer asks for final quotes, each NGO seals one, two officers open them."""
    tender_id, officer = run.tender_id, run.officer
    officer.goto(f"/tenders/{tender_id}")
    rounds = officer.locator(f"main form[action='/tenders/{tender_id}/rounds']")
    rounds.locator("#changes").fill("服务频次调整为每周两次入户探访，其余条款不变；请于截止时间前提交最后报价。")
    deadline = tender_facts(tender_id)["bid_deadline"] + timedelta(days=2)
    rounds.locator("#final_quote_date").fill(local_date(deadline).isoformat())
    submit(officer, rounds.locator("button[type=submit]"))
    expect_flash(officer)
    for org_name, share in zip(run.bidders, QUOTE_SHARES, strict=True):
        ngo = run.ngo(org_name)
        ngo.goto(f"/tenders/{tender_id}")
        quote = ngo.locator(f"main form[action='/tenders/{tender_id}/final-quote']")
        quote.locator("#price").fill(f"{(Decimal(BUDGET) * share).quantize(Decimal('0.01'))}")
        submit(ngo, quote.locator("button[type=submit]"))
        expect_flash(ngo)
    run.clock.move_to(beijing_instant(local_date(deadline), time(9, 31)))
    sign_in(officer, "officer")
    officer.goto(f"/tenders/{tender_id}")
    opening = officer.locator(f"main form[action='/tenders/{tender_id}/final-quotes/open']")
    opening.locator("#confirmer").select_option(label="李秀梅")
    opening.locator("#confirmer_password").fill(DEMO_PASSWORD)
    submit(officer, opening.locator("button[type=submit]"))
    expect_flash(officer)
    expect(officer.locator("main table").filter(has_text=run.bidders[0])).not_to_have_count(0)
    run.shot(officer, "final-quotes")
    for username in run.experts:  # the experts' sessions are as old as the clock jump
        sign_in(run.experts[username], username)


def agree_price(run: Run) -> None:
    """Single source: the officer records the negotiation and the agreed price."""
    officer = run.officer
    officer.goto(f"/tenders/{run.tender_id}")
    agreement = officer.locator(f"main form[action='/tenders/{run.tender_id}/agreement']")
    agreement.locator("#price").fill(AGREED)
    agreement.locator("#record").fill("谈判小组与该机构就服务内容和价格进行谈判，双方确认成交价451000元。")
    submit(officer, agreement.locator("button[type=submit]"))
    expect_flash(officer)
    expect(officer.locator("main")).to_contain_text(format_money(Decimal(AGREED)))


def close_and_confirm(run: Run, members: list[dict]) -> None:
    """The chair closes; every member confirms the report with their password."""
    chair = run.experts[members[0]["username"]]
    chair.goto(run.base)
    submit(chair, form_button(chair, f"{run.base}/close"))
    expect_flash(chair)
    for member in members:
        expert = run.experts[member["username"]]
        expert.goto(f"{run.base}/report")
        confirm = expert.locator(f"main form[action='{run.base}/report/confirm']")
        confirm.locator("#password").fill(DEMO_PASSWORD)
        submit(expert, confirm.locator("button[type=submit]"))
        expect_flash(expert)
    run.shot(expert, "report")


def award(run: Run) -> dict:
    officer, tender_id = run.officer, run.tender_id
    officer.goto(run.base)
    click_through(officer, f"/tenders/{tender_id}/award")
    submit(officer, form_button(officer, f"/tenders/{tender_id}/award/confirm"))
    expect_flash(officer)
    expect(officer.locator("main section.border-success")).to_contain_text(run.bidders[0])
    run.shot(officer, "award")
    facts = award_facts(tender_id)
    assert facts["supplier"] == run.bidders[0]
    return facts


def challenge(run: Run) -> None:
    """The second-ranked NGO reads its result, challenges it; the officer answers; the NGO reads the answer."""
    tender_id = run.tender_id
    loser = run.ngo(run.bidders[1])
    loser.goto(f"/tenders/{tender_id}")
    click_through(loser, f"/tenders/{tender_id}/award/my-result")
    click_through(loser, f"/tenders/{tender_id}/award/challenge")
    loser.fill("#grounds", CHALLENGE)
    submit(loser, loser.locator("main form[enctype='multipart/form-data'] button[type=submit]"))
    expect_no_form_errors(loser)
    expect_flash(loser)
    challenge_url = loser.url[loser.url.index("/challenges/"):]
    officer = run.officer
    officer.goto(f"/tenders/{tender_id}/award")
    click_through(officer, challenge_url)
    answer = officer.locator(f"main form[action='{challenge_url}/answer']")
    answer.locator("#outcome").select_option("rejected")
    answer.locator("#answer").fill(CHALLENGE_ANSWER)
    submit(officer, answer.locator("button[type=submit]"))
    expect_flash(officer)
    loser.goto(challenge_url)
    expect(loser.locator("main")).to_contain_text(CHALLENGE_ANSWER)
    run.shot(loser, "challenge-answered")
    assert award_facts(tender_id)["challenges"] == ["rejected"]


def sign_contract(run: Run, awarded: dict) -> str:
    """After the challenge period: the officer drafts from the award, both sides sign, the notice is published."""
    run.clock.move_to(beijing_instant(awarded["challenge_last_day"] + timedelta(days=1), time(9)))
    officer = run.officer
    sign_in(officer, "officer")
    officer.goto(f"/tenders/{run.tender_id}/award")
    click_through(officer, f"/awards/{awarded['id']}/contract/new")
    submit(officer, officer.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    base = f"/contracts/{contract_facts(run.tender_id)['id']}"
    for page in (officer, run.ngo(run.bidders[0])):
        page.goto(base)
        click_through(page, f"{base}/sign")
        page.fill("#password", DEMO_PASSWORD)
        page.check("#agree")
        submit(page, page.locator("main form[method=post] button[type=submit]"))
        expect_flash(page)
    officer.goto(base)
    submit(officer, form_button(officer, f"{base}/notice"))
    expect_flash(officer)
    run.shot(officer, "contract-signed")
    facts = contract_facts(run.tender_id)
    assert facts["status"] == "signed" and facts["notice"] and facts["midterm"]
    return base


def review_and_pay(run: Run, contract_url: str) -> None:
    """The officer assigns an expert to the mid-term review and starts it; the expert declares and scores; the
    officer grades it and pays the installment the grade opened."""
    facts = contract_facts(run.tender_id)
    review_url = f"/reviews/{facts['midterm']}"
    officer = run.officer
    officer.goto(contract_url)
    click_through(officer, f"/reviews/contracts/{facts['id']}")
    click_through(officer, review_url)
    reviewer_id = released(lambda: db.session.scalar(sa.select(User.id).where(User.username == REVIEWER)))
    assign_expert(officer, facts["midterm"], reviewer_id)
    expect_flash(officer)
    submit(officer, form_button(officer, f"{review_url}/start"))
    expect_flash(officer)
    expert = run.experts.get(REVIEWER) or run.people(REVIEWER)
    sign_in(expert, REVIEWER)
    declare_no_conflict(expert, facts["midterm"])
    scored = leaves(stored_review(facts["midterm"])["indicators"])
    fill_sheet(expert, {row[0]: (row[3] * REVIEW_SHARE).quantize(Decimal("0.01")) for row in scored.values()}, {})
    submit(expert, expert.locator("main form[method=post] button[name=submit_sheet]"))
    expect_flash(expert)
    run.shot(expert, "review-sheet")
    officer.goto(review_url)
    submit(officer, form_button(officer, f"{review_url}/finalise"))
    expect_flash(officer)
    expect(officer.locator("main h1")).to_contain_text("良好")
    graded = stored_review(facts["midterm"])
    assert (graded["score"], graded["grade"]) == (Decimal("85.00"), "good")
    installment = contract_facts(run.tender_id)["installment"]
    assert installment["met"] and installment["paid_on"] is None
    officer.goto(contract_url)
    pay = officer.locator(f"main form[action='/contracts/installments/{installment['id']}/payment']")
    pay.locator(f"#pay{installment['id']}-voucher").fill("ZF2026-FULL-001")
    submit(officer, pay.locator("button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    expect(officer.locator(f"#installment-{installment['position']}")).to_contain_text("ZF2026-FULL-001")
    run.shot(officer, "payment")
    assert contract_facts(run.tender_id)["installment"]["paid_on"] is not None


def public_finds_it_all(run: Run, awarded: dict) -> None:
    """An anonymous visitor searches the board for the tender and opens its notices and its OCDS process."""
    public = run.people(None)
    public.goto("/notices")
    public.fill("#q", run.title)
    submit(public, public.locator("main form[role=search] button[type=submit]"))
    links = public.locator("main table a:not([href$='.pdf'])")
    titles = links.all_inner_texts()
    assert run.title in titles, titles  # the tender's own notice (公告, 邀请 or 单一来源公示)
    assert any(t.startswith(run.title) and t.endswith("结果公告）") for t in titles), titles
    assert f"{run.title}（合同公告）" in titles, titles
    run.shot(public, "board")
    submit(public, links.filter(has_text="结果公告").first)
    expect(public.locator("main")).to_contain_text(awarded["supplier"])
    expect(public.locator("main")).to_contain_text(format_money(awarded["amount"]))
    reference = released(lambda: db.session.get(Tender, run.tender_id).reference)
    ocid = current_app.config["OCDS_PREFIX"] + reference
    response = public.goto(f"/ocds/{ocid}.json")
    assert response.status == 200
    package = json.loads(response.text())
    tags = {tag for release in package["releases"] for tag in release["tag"]}
    assert {"tender", "award", "contract"} <= tags, tags
    assert all(release["ocid"] == ocid for release in package["releases"])


# --- The journeys ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_whole_procurement_in_the_browser(method, page, people, cast, files, clock):
    run = Run(method, page, people, cast, clock, title=f"E2E 全流程 {METHODS[method]} 困难老年人居家探访服务")
    prepare_and_publish(run)
    if method == "single_source":
        objection_and_approval(run)
    else:
        question_and_clarification(run)
        seal_bids(run, files)
        open_after_deadline(run)
    members = form_committee(run)
    chair = run.experts[members[0]["username"]]
    if method == "single_source":
        agree_price(run)
    else:
        qualification(run, chair)
    if method in ("open", "invited"):
        score(run, members)
    elif method == "negotiation":
        final_quotes(run)
    close_and_confirm(run, members)
    awarded = award(run)
    if method != "single_source":
        challenge(run)
    contract_url = sign_contract(run, awarded)
    review_and_pay(run, contract_url)
    public_finds_it_all(run, awarded)
