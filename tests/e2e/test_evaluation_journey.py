"""A committee evaluates an open tender end to end in the browser; the bureau awards and publishes; a losing
bidder challenges the result and the bureau answers (issue 5, "Done when").

The starting state is built through the services on the travelled clock (the browser steps up to the opening
are walked by test_tender_journeys): an open tender with comprehensive scoring (price 10 + 40/30/20 points) of
郑州市民政局 whose three bids, from the NGOs of ngo1, ngo2 and ngo3, were opened by officer and officer2 the day
before. Then everything happens in the browser, each person in their own browser context:

1. the officer forms the committee (5 members, any specialty: the 9 demo experts);
2. each drawn expert declares no conflict from the dashboard, except one who declares a conflict and is
   replaced by a new draw; a member who has not declared sees the bidders' names and no price; the officer
   records the chair once the members have declared;
3. the chair records the qualification review (every bid passes) and closes it;
4. each member fills and submits the score sheet, alone (another member's sheet is refused until one's own is
   in); the chair reads the deviations and closes the scoring;
5. each member confirms the report with their password (a wrong one is refused); the report PDF is issued;
6. the officer confirms the award: the result notice with the members' names is on the public board, and the
   winner downloads the award letter;
7. a losing NGO reads its own result (not the others'), files a challenge with a PDF as evidence, the officer
   answers it (not upheld) and the challenger reads the answer.

Everything happens on Tuesday 1 September 2026, within the 8-hour session: nobody needs to sign in again.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from portal.accounts.models import Organisation, User
from portal.evaluation.models import Challenge, Committee, CommitteeMember, MemberStatus
from portal.extensions import db
from portal.i18n import format_money
from portal.seed import DEMO_PASSWORD
from portal.tenders.models import Tender
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
from tests.evaluation_factories import make_opened_tender

TITLE = "E2E 评审 社区困难老年人关爱服务采购"
BIDDERS = ("ngo1", "ngo2", "ngo3")
PRICES = {"ngo1": Decimal("452000.00"), "ngo2": Decimal("468000.00"), "ngo3": Decimal("475000.00")}
PRICE_WEIGHT = 10  # tests.tender_factories: comprehensive tenders weigh the price at 10 points
# Points on the three criteria (40, 30, 20) by bidder; each member moves them by its own offset, so that the
# deviations from the median are not all nil. ngo1 ranks first, ngo2 second, ngo3 third.
POINTS = {"ngo1": (Decimal(36), Decimal(27), Decimal(18)), "ngo2": (Decimal(32), Decimal(24), Decimal(16)),
          "ngo3": (Decimal(30), Decimal(22), Decimal(15))}
OFFSETS = (Decimal("-0.5"), Decimal(0), Decimal("0.5"), Decimal("-0.5"), Decimal(0))  # by seat, in turn
CONFLICT_NOTE = "本人2024年曾担任该机构的督导顾问，需要回避。"
GROUNDS = ("我方认为评标委员会对我方服务方案的评分明显偏低，"
           "未考虑我方在本区开展同类服务的团队配置与督导安排，请求复核评分。")
ANSWER = "经组织原评标委员会复核，评分符合招标文件规定的评分标准，不存在评分错误，质疑不成立。"


# --- The starting state, and what the server stored ---------------------------------------------------------


@pytest.fixture
def opened_tender(cast, clock) -> dict:
    """The tender whose bids were opened yesterday; returns its id and each bidder's bid id and organisation."""
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(["officer", "officer2", *BIDDERS])))}
    bureau = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    tender, bids, opened_at = make_opened_tender(
        bureau, [users["officer"], users["officer2"]], [users[u] for u in BIDDERS],
        [PRICES[u] for u in BIDDERS], now=START - timedelta(days=2), title=TITLE)
    assert opened_at < START and tender.status == "opened"
    facts = {"id": tender.id, "bids": {u: bid.id for u, bid in zip(BIDDERS, bids, strict=True)},
             "orgs": {u: cast.org_by_ngo[u] for u in BIDDERS},
             "criteria": [c.id for c in tender.criteria], "weights": [c.weight for c in tender.criteria]}
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    assert facts["weights"] == [40, 30, 20]
    return facts


def seats(tender_id: int) -> list[dict]:
    """The committee's members in seat order, as stored (read, then the read transaction released)."""
    db.session.rollback()
    committee = db.session.scalar(sa.select(Committee).where(Committee.tender_id == tender_id))
    rows = [{"id": m.id, "username": m.user.username, "name": m.user.name, "status": m.status,
             "replacement_of": m.replacement_of_id, "kind": m.kind}
            for m in db.session.scalars(sa.select(CommitteeMember).where(CommitteeMember.committee_id == committee.id)
                                        .order_by(CommitteeMember.position))]
    db.session.rollback()
    return rows


def stored(tender_id: int) -> dict:
    db.session.rollback()
    tender = db.session.get(Tender, tender_id, populate_existing=True)
    committee = db.session.scalar(sa.select(Committee).where(Committee.tender_id == tender_id))
    facts = {"status": tender.status, "qualification_closed": committee.qualification_closed_at is not None,
             "scoring_closed": committee.scoring_closed_at is not None,
             "report_completed": committee.report_completed_at is not None,
             "challenges": [(c.id, c.status, c.evidence_file_id is not None) for c in db.session.scalars(
                 sa.select(Challenge).where(Challenge.tender_id == tender_id).order_by(Challenge.id))]}
    db.session.rollback()
    return facts


# --- Page helpers ----------------------------------------------------------------------------------------------


def shown(value: Fraction) -> str:
    """A computed score as the portal shows it: two places, rounded half up."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP))


# --- The journey -----------------------------------------------------------------------------------------------


def test_committee_evaluates_bureau_awards_and_a_challenge_is_answered(page, people, cast, opened_tender,
                                                                         screenshot):
    tender_id, bids, orgs = opened_tender["id"], opened_tender["bids"], opened_tender["orgs"]
    criteria = opened_tender["criteria"]
    base = f"/tenders/{tender_id}/evaluation"

    # 1. The officer finds the tender awaiting its committee on the dashboard and forms it.
    journey_support.sign_in(page, "officer")
    page.goto("/dashboard")
    click_through(page, base)
    screenshot("evaluation-1-overview-empty")
    click_through(page, f"{base}/committee")
    page.fill("#size", "5")
    page.select_option("#specialty", "")  # any specialty: the whole pool of 9 demo experts
    submit(page, page.locator("main form[method=post] button[type=submit]"))
    expect_no_form_errors(page)
    expect(page).to_have_url(re.compile(re.escape(base) + "$"))
    expect_flash(page)
    drawn = seats(tender_id)
    assert len(drawn) == 5 and {m["status"] for m in drawn} == {"drawn"} and {m["kind"] for m in drawn} == {"expert"}
    assert all(re.fullmatch(r"expert\d", m["username"]) for m in drawn)
    for member in drawn:
        expect(page.locator("main aside")).to_contain_text(member["name"])
    expect(page.locator(f"main form[action='{base}/chair']")).to_have_count(0)  # nobody has declared yet
    assert stored(tender_id)["status"] == "evaluating"

    # Member names stay hidden from the public until the result notice.
    public = people(None)
    public.goto(f"/tenders/{tender_id}")
    expect(public.locator("main h1")).to_have_text(TITLE)
    for member in drawn:
        expect(public.locator("main")).not_to_contain_text(member["name"])

    # 2. Each drawn expert declares, from the dashboard. The last one has a conflict and is replaced.
    experts: dict[str, Page] = {}
    conflicted = drawn[-1]
    for n, member in enumerate(drawn, start=1):
        expert = experts[member["username"]] = people(member["username"])
        if n == 1:  # not declared yet: the bidders' names, and nothing of their bids
            expert.goto(base)
            main = expert.locator("main")
            for org_name in orgs.values():
                expect(main).to_contain_text(org_name)
            for price in PRICES.values():
                expect(main).not_to_contain_text(format_money(price))
            expect(expert.locator(f"main a[href^='{base}/files/']")).to_have_count(0)
            expect(expert.locator(f"main a[href='{base}/declaration']")).to_be_visible()
            snap(expert, "evaluation-2-undeclared-overview")
            assert expert.goto(f"{base}/qualification").status == 403
        expert.goto("/dashboard")
        click_through(expert, f"{base}/declaration")
        for org_name in orgs.values():
            expect(expert.locator("main")).to_contain_text(org_name)
        if member is conflicted:
            expert.check("input[name=conflict][value=yes]")
            expert.fill("#note", CONFLICT_NOTE)
            snap(expert, "evaluation-2-declaration-conflict")
            submit(expert, expert.locator("main form[method=post] button[type=submit]"))
            expect_flash(expert)
            expect(expert).to_have_url(re.compile(r"/dashboard$"))
            assert expert.goto(base).status == 403  # a replaced member no longer sits
            continue
        expert.check("input[name=conflict][value=no]")
        if n == 1:
            snap(expert, "evaluation-2-declaration")
        submit(expert, expert.locator("main form[method=post] button[type=submit]"))
        expect_flash(expert)
        expect(expert).to_have_url(re.compile(re.escape(base) + "$"))
        for price in PRICES.values():  # declared: now the bids are open to the member
            expect(expert.locator("main")).to_contain_text(format_money(price))

    # The replacement, drawn from the remaining pool, declares no conflict in turn.
    after = seats(tender_id)
    [replacement] = [m for m in after if m["replacement_of"] == conflicted["id"]]
    assert replacement["username"] not in {m["username"] for m in drawn}
    assert next(m for m in after if m["id"] == conflicted["id"])["status"] == MemberStatus.REPLACED
    newcomer = experts[replacement["username"]] = people(replacement["username"])
    click_through(newcomer, f"{base}/declaration")
    newcomer.check("input[name=conflict][value=no]")
    submit(newcomer, newcomer.locator("main form[method=post] button[type=submit]"))
    expect_flash(newcomer)
    sitting = [m for m in seats(tender_id) if m["status"] != MemberStatus.REPLACED]
    assert len(sitting) == 5 and {m["status"] for m in sitting} == {MemberStatus.ACTIVE}
    del experts[conflicted["username"]]

    # The officer records the chair: the first expert drawn.
    chair = sitting[0]
    page.goto(base)
    chair_form = page.locator(f"main form[action='{base}/chair']")
    chair_form.locator("#member_id").select_option(str(chair["id"]))
    submit(page, chair_form.locator("button[type=submit]"))
    expect_flash(page)
    expect(page.locator("main aside li", has_text=chair["name"]).locator(".badge")).to_be_visible()
    screenshot("evaluation-1-overview-committee")

    # 3. The chair records the qualification review: every bid passes every requirement.
    chair_page = experts[chair["username"]]
    chair_page.goto(base)
    click_through(chair_page, f"{base}/qualification")
    proposal = chair_page.locator(f"main a[href^='{base}/files/']", has_text=".pdf").first
    with chair_page.expect_download() as proposal_download:  # the members read the unsealed proposals
        proposal.click()
    assert Path(proposal_download.value.path()).read_bytes().startswith(b"%PDF")
    for bid_id in bids.values():
        form = chair_page.locator(f"main form:has(input[name=bid_id][value='{bid_id}'])")
        radios = form.locator("input[type=radio][value=pass]")
        expect(radios).to_have_count(2)  # the tender's two requirements
        for i in range(radios.count()):
            radios.nth(i).check()
        submit(chair_page, form.locator("button[type=submit]"))
        expect_no_form_errors(chair_page)
        expect_flash(chair_page)
    submit(chair_page, form_button(chair_page, f"{base}/qualification/close"))
    expect_flash(chair_page)
    expect(chair_page.locator("main .badge.text-bg-success")).to_have_count(6)  # 3 bids x 2 requirements
    snap(chair_page, "evaluation-3-qualification")
    assert stored(tender_id)["qualification_closed"]

    # 4. Each member scores alone; the chair last, so the deviations are complete when read.
    order = sitting[1:] + [chair]
    totals: dict[str, Fraction] = {u: Fraction(0) for u in BIDDERS}
    for seat, member in enumerate(order):
        expert = experts[member["username"]]
        if seat > 0:  # before submitting, another member's (submitted) sheet is refused
            assert expert.goto(f"{base}/sheets/{order[0]['id']}").status == 403
        expert.goto(base)
        click_through(expert, f"{base}/sheet")
        for username in BIDDERS:
            for criterion_id, points in zip(criteria, POINTS[username], strict=True):
                given = points + OFFSETS[seat]
                totals[username] += Fraction(given)
                expert.fill(f"#points_{bids[username]}_{criterion_id}", str(given))
        if seat == 0:  # the first saves a draft first: it is kept, and still editable
            expert.fill(f"#comment_{bids['ngo1']}_{criteria[0]}", "服务方案针对性强，入户探访频次安排合理。")
            submit(expert, expert.locator("main button[name=save]"))
            expect_no_form_errors(expert)
            expect_flash(expert)
            expect(expert.locator(f"#points_{bids['ngo1']}_{criteria[0]}")).to_have_value(
                str(POINTS["ngo1"][0] + OFFSETS[0]))
            snap(expert, "evaluation-4-sheet")
        submit(expert, expert.locator("main button[name=submit_sheet]"))
        expect_no_form_errors(expert)
        expect_flash(expert)
        expect(expert.locator("main [role=status]")).to_be_visible()  # "You submitted this sheet on ..."
        if seat == 1:  # once submitted, the other submitted sheets are open to the member
            response = expert.goto(f"{base}/sheets/{order[0]['id']}")
            assert response.status == 200
            expect(expert.locator("main")).to_contain_text(order[0]["name"])

    # The chair reads the deviations from the median and closes the scoring.
    chair_page.goto(base)
    click_through(chair_page, f"{base}/deviations")
    for member in sitting:
        expect(chair_page.locator("main table").first).to_contain_text(member["name"])
    snap(chair_page, "evaluation-4-deviations")
    submit(chair_page, form_button(chair_page, f"{base}/close"))
    expect_flash(chair_page)
    expect(chair_page).to_have_url(re.compile(re.escape(f"{base}/report") + "$"))
    assert stored(tender_id)["scoring_closed"]

    # 5. Each member confirms the report with their own password; a wrong password is refused.
    for n, member in enumerate(order):
        expert = experts[member["username"]]
        expert.goto(base)
        click_through(expert, f"{base}/report")
        confirm = expert.locator(f"main form[action='{base}/report/confirm']")
        if n == 0:
            confirm.locator("#password").fill("not-the-password")
            submit(expert, confirm.locator("button[type=submit]"))
            expect_flash(expert, "danger")
            confirm = expert.locator(f"main form[action='{base}/report/confirm']")
        confirm.locator("#password").fill(DEMO_PASSWORD)
        submit(expert, confirm.locator("button[type=submit]"))
        expect_flash(expert)
        expect(expert.locator(f"main form[action='{base}/report/confirm']")).to_have_count(0)
    last = experts[order[-1]["username"]]
    expect(last.locator(f"main a[href='{base}/report.pdf']")).to_be_visible()
    for org_name in orgs.values():
        expect(last.locator("main article")).to_contain_text(org_name)
    expect(last.locator("main article")).to_contain_text(CONFLICT_NOTE)  # the replaced member, opinions void
    snap(last, "evaluation-5-report")
    assert download(last, f"{base}/report.pdf").startswith(b"%PDF")
    assert stored(tender_id)["report_completed"]

    # 6. The officer confirms the award to the top-ranked bidder.
    page.goto(base)
    click_through(page, f"/tenders/{tender_id}/award")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(orgs["ngo1"])
    screenshot("evaluation-6-award-before")
    submit(page, form_button(page, f"/tenders/{tender_id}/award/confirm"))
    expect_flash(page)
    expect(page.locator("main section.border-success")).to_contain_text(orgs["ngo1"])
    expect(page.locator(f"main a[href='/tenders/{tender_id}/award/letter.pdf']")).to_be_visible()
    screenshot("evaluation-6-award")
    assert stored(tender_id)["status"] == "awarded"

    # The result notice is on the public board, with the members' names (and not the replaced member's).
    public.goto("/notices")
    notice_link = public.locator("main a:not([href$='.pdf'])", has_text=f"{TITLE}（中标结果公告）")
    expect(notice_link).to_have_count(1)
    submit(public, notice_link)
    notice = public.locator("main")
    expect(notice).to_contain_text(orgs["ngo1"])
    expect(notice).to_contain_text(format_money(PRICES["ngo1"]))
    for member in sitting:
        expect(notice).to_contain_text(member["name"])
    expect(notice).not_to_contain_text(conflicted["name"])
    snap(public, "evaluation-6-result-notice")

    # The winner downloads its award letter from its result page.
    winner = people("ngo1")
    winner.goto(f"/tenders/{tender_id}")
    click_through(winner, f"/tenders/{tender_id}/award/my-result")
    assert download(winner, f"/tenders/{tender_id}/award/letter.pdf").startswith(b"%PDF")

    # 7. A losing NGO reads its own result: its price, scores and rank, never another loser's.
    loser = people("ngo2")
    loser.goto(f"/tenders/{tender_id}")
    click_through(loser, f"/tenders/{tender_id}/award/my-result")
    main = loser.locator("main")
    quality = {u: totals[u] / len(order) for u in BIDDERS}
    price_score = {u: Fraction(PRICE_WEIGHT) * Fraction(PRICES["ngo1"]) / Fraction(PRICES[u]) for u in BIDDERS}
    total = {u: quality[u] + price_score[u] for u in BIDDERS}
    assert total["ngo1"] > total["ngo2"] > total["ngo3"]
    expect(main).to_contain_text(format_money(PRICES["ngo2"]))
    expect(main).to_contain_text(shown(quality["ngo2"]))
    expect(main).to_contain_text(shown(price_score["ngo2"]))
    expect(main).to_contain_text(shown(total["ngo2"]))
    expect(main.locator("dl dd").first).to_contain_text("2")  # rank 2 of 3
    expect(main).to_contain_text(orgs["ngo1"])  # the winner is public anyway
    expect(main).not_to_contain_text(orgs["ngo3"])
    expect(main).not_to_contain_text(format_money(PRICES["ngo3"]))
    expect(main).not_to_contain_text(shown(total["ngo3"]))
    expect(main).not_to_contain_text(shown(total["ngo1"]))
    snap(loser, "evaluation-7-my-result")

    # It files a challenge with its grounds and a PDF as evidence.
    click_through(loser, f"/tenders/{tender_id}/award/challenge")
    loser.fill("#grounds", GROUNDS)
    loser.set_input_files("#evidence", files=[{"name": "评分复核申请证据.pdf", "mimeType": "application/pdf",
                                              "buffer": PDF_BYTES}])
    snap(loser, "evaluation-7-challenge-form")
    submit(loser, loser.locator("main form[enctype='multipart/form-data'] button[type=submit]"))
    expect_no_form_errors(loser)
    expect_flash(loser)
    expect(loser).to_have_url(re.compile(r"/challenges/\d+$"))
    challenge_url = loser.url[loser.url.index("/challenges/"):]
    expect(loser.locator("main")).to_contain_text(GROUNDS)
    expect(loser.locator(f"main a[href='{challenge_url}/evidence']")).to_have_text("评分复核申请证据.pdf")
    [(challenge_id, status, with_evidence)] = stored(tender_id)["challenges"]
    assert challenge_url == f"/challenges/{challenge_id}" and status == "open" and with_evidence

    # The officer finds it on the award page, reads the evidence and answers: not upheld.
    page.goto(f"/tenders/{tender_id}/award")
    click_through(page, challenge_url)
    assert download(page, f"{challenge_url}/evidence") == PDF_BYTES
    answer = page.locator(f"main form[action='{challenge_url}/answer']")
    answer.locator("#outcome").select_option("rejected")
    answer.locator("#answer").fill(ANSWER)
    submit(page, answer.locator("button[type=submit]"))
    expect_flash(page)
    expect(page.locator("main")).to_contain_text(ANSWER)
    expect(page.locator(f"main form[action='{challenge_url}/answer']")).to_have_count(0)
    screenshot("evaluation-7-challenge-answered")
    assert stored(tender_id)["challenges"][0][1] == "rejected"

    # The challenger reads the answer.
    loser.goto(f"/tenders/{tender_id}/award/my-result")
    click_through(loser, challenge_url)
    expect(loser.locator("main")).to_contain_text(ANSWER)
    snap(loser, "evaluation-7-challenge-answer")
    assert stored(tender_id)["status"] == "awarded"  # a challenge not upheld leaves the award standing
