"""The city officer runs the yearly assessment (年度考核) of 2026, commends an NGO after five working days of public
comment (表彰公示), and builds, compares, approves and publishes the tilted funding plan (资金安排) of 2027 in the
browser; the public comments and reads; a district officer and an NGO see only what is theirs (issue 8, "Done when").

The starting state is the demo cast seeded on the travelled clock (Tuesday 1 September 2026), without the demo's own
assessment stage (``seed_assessment``: a confirmed 2026 assessment, a commendation list and a 2027 plan), which this
journey makes in the browser instead. The demo leaves the NGO of ngo1 (郑州市中原区阳光社会工作服务中心) with one
contract of 郑州市民政局 signed in 2026 and two reviews graded in 2026, 优秀 (95.00) and 良好 (85.00): the candidate
the rules propose. On top, through the projects service, four service projects of fiscal year 2027: two of the city
bureau and two of 中原区民政局 (the district of district_officer), each with its own poor-village, remote-area,
poor-household and base-priority facts. Then, each person in their own browser context:

1. (1 September) the city officer opens the yearly assessment, creates the year's drafts and opens the NGO's: every
   computed figure links to its records (a review link is followed and opens); the officer enters the points of the
   two entered indicators (95 and 90) and confirms: 86.50 points, 良好. 中原区, which has no procurement of its own yet,
   is judged on its work report alone (computed indicators weighted 0, the entered one 100, 92 points): 92.00, 优秀;
2. the officer opens the commendation list of 2026: the NGO (and 中原区, now 优秀) are proposed by rule; the officer
   adds the NGO at the first level and publicises the list: its 公示 runs until the 5th working day, 8 September;
3. (2 September) an anonymous visitor finds the 公示 on the notice board, opens the public list and comments;
4. (8 September, the last day) confirming is refused; the officer answers the comment; (9 September) the list is
   confirmed, the comment form is gone and the certificate PDF downloads from the public page;
5. the officer creates the funding plan of 2027 with a pool of 1,000,000 yuan (1,400,000 requested), adds the
   candidate projects and the reward grant of the commended NGO (一等, 50,000), reads a line's explanation, opens the
   comparison with the same pool untilted, downloads the Excel (read back with openpyxl) and the PDF, approves and
   publishes; the public notice board lists the 资金安排 notice;
6. the district officer sees its own confirmed assessment and nothing else; the NGO's user sees its own assessment,
   but the plan is closed to it (403).

The allocation, worked by hand (weights: base priority × (1 + tilts)):
    A city, 贫困村 + 边远 + 420 households (+30 +20 +20 = +70%): 80 → 136, requests 600,000
    B city, no tilt: 70 → 70, requests 400,000
    C 中原区 (优秀 +15%), 贫困村 + 230 households (+30 +10 +15 = +55%): 60 → 93, requests 200,000
    D 中原区 (优秀 +15%): 50 → 57.5, requests 200,000
    Round 1: 1,000,000 × 93 ÷ 356.5 ≈ 260,869.57 ≥ 200,000: C is capped at 200,000.
    Round 2: 800,000 over 263.5: A 412,903.23, B 212,523.72, D 174,573.06 -> 412,903 + 212,524 + 174,573 (the one
    yuan left goes to the largest remainder, B's .72).
    Untilted (80, 70, 60, 50): C capped (230,769 ≥ 200,000), then D capped (800,000 × 50 ÷ 200 = 200,000), then A
    320,000 and B 280,000.

The interface is Chinese (the default) and its catalogue is being completed: assertions are on data (names, numbers,
dates, the Chinese words the services themselves write), on ids, URLs, form actions and status codes.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

import portal.seed
import portal.seed_assessment
from portal.accounts.models import Organisation, User
from portal.assessment.models import (
    Assessment,
    AssessmentStatus,
    Commendation,
    CommendationList,
    FundingLine,
    FundingPlan,
    PublicComment,
    RewardGrant,
)
from portal.calendar import load_calendar
from portal.contracts.models import Contract, ContractStatus
from portal.db import transaction
from portal.extensions import db
from portal.notices import Notice
from portal.projects import services as project_services
from portal.reviews.models import Rectification, Review, ReviewStatus
from portal.tenders.rules import beijing_instant
from tests.e2e.journey_support import (
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

YEAR, FISCAL_YEAR = 2026, 2027
CITY, DISTRICT = "郑州市民政局", "中原区民政局"
NGO = "ngo1"  # 郑州市中原区阳光社会工作服务中心: the demo's 2026 reviews of it are 优秀 (95.00) and 良好 (85.00)
DEMO_REVIEW_SCORES = [Decimal("85.00"), Decimal("95.00")]
DISTRICT_OFFICER = "district_officer"  # 张伟 of 中原区民政局

# The NGO's assessment: the computed indicators (name -> points) the demo records give, and the officer's points.
NGO_REVIEW_MEAN, NGO_CONTRACTS = "绩效评估平均分", "承接合同数量"
NGO_RECTIFICATIONS, NGO_TERMINATIONS = "整改情况", "合同解除情况"
NGO_ENTERED = {"服务对象投诉处理": "95", "年检与信用": "90"}  # weights 10 and 10
NGO_SCORE = Decimal("86.50")  # 40 × 90 + 10 × 20 + 15 × 100 + 15 × 100 + 10 × 95 + 10 × 90, over 100
# 中原区: no procurement yet, judged on its work report alone.
DISTRICT_ENTERED, DISTRICT_POINTS, DISTRICT_SCORE = "工作总结与创新", "92", Decimal("92.00")
DISTRICT_NOTE = "本年度尚无政府购买服务合同，按年度工作总结考核。"

PUBLICISED_ON, PUBLICITY_ENDS_ON = date(2026, 9, 1), date(2026, 9, 8)  # the 5th working day after 1 September
COMMENT_AT = beijing_instant(date(2026, 9, 2), time(10))
LAST_DAY_AT = beijing_instant(PUBLICITY_ENDS_ON, time(15))
CONFIRM_AT = beijing_instant(date(2026, 9, 9), time(9, 30))
COMMENT = {"name": "李女士", "contact": "13903710000",
           "text": "建议在公示中写明该机构在贫困村开展服务的具体成效，便于群众监督。"}
ANSWER = "感谢监督。该机构2026年度两次绩效评估的得分和等次已在表彰理由中列明，评估报告可在门户查询。"

# The projects of fiscal year 2027: (key, bureau, title, plan, budget, base priority, poor village, remote area,
# poor households, township).
PROJECTS = [
    ("A", CITY, "E2E 山区贫困村社会工作服务站项目", "talent_poor_areas", 600_000, 80, True, True, 420, "巩义市西村镇"),
    ("B", CITY, "E2E 城区困境儿童关爱服务项目", "left_behind_children", 400_000, 70, False, False, 0, "丰庆路街道"),
    ("C", DISTRICT, "E2E 中原区石佛镇贫困村留守老人关爱项目", "elderly", 200_000, 60, True, False, 230, "石佛镇"),
    ("D", DISTRICT, "E2E 中原区社区困难群众救助服务项目", "social_assistance", 200_000, 50, False, False, 0, "林山寨"),
]
POOL, REQUESTED = 1_000_000, 1_400_000
WEIGHTS = {"A": "136", "B": "70", "C": "93", "D": "57.5"}
TILTED = {"A": 412_903, "B": 212_524, "C": 200_000, "D": 174_573}
UNTILTED = {"A": 320_000, "B": 280_000, "C": 200_000, "D": 200_000}
REWARD = 50_000  # a first-level commendation (REWARD_GRANTS: first=50000)


def yuan(amount: int) -> str:
    return f"{amount:,}"


def signed(amount: int) -> str:
    return f"{amount:+,}" if amount else "0"


# --- The starting state, and what the server stored ---------------------------------------------------------


@pytest.fixture
def world(clock, request, monkeypatch) -> dict:
    """The demo cast without its assessment stage, and the four projects of fiscal year 2027. Returns the ids the
    journey needs."""
    skip_stage = lambda now: 0  # noqa: E731
    monkeypatch.setattr(portal.seed_assessment, "seed_assessment", skip_stage)
    monkeypatch.setattr(portal.seed, "seed_assessment", skip_stage, raising=False)  # should seed.py import it early
    request.getfixturevalue("cast")  # seeds the demo (seed() imports seed_assessment when it runs)
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(["officer", DISTRICT_OFFICER, NGO, "ngo2"])))}
    city, ngo = users["officer"].organisation, users[NGO].organisation
    district = users[DISTRICT_OFFICER].organisation
    assert (city.name, district.name, district.parent_id) == (CITY, DISTRICT, city.id)
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 0, "the demo's assessment stage ran"

    # What the demo left for the NGO in 2026 (the journey's figures rest on it).
    start, end = beijing_instant(date(YEAR, 1, 1), time(0)), beijing_instant(date(YEAR + 1, 1, 1), time(0))
    reviews = db.session.scalars(
        sa.select(Review).join(Contract, Review.contract_id == Contract.id)
        .where(Contract.supplier_id == ngo.id, Review.status == ReviewStatus.GRADED,
               Review.graded_at >= start, Review.graded_at < end).order_by(Review.id)).all()
    assert sorted(r.score for r in reviews) == DEMO_REVIEW_SCORES, "the demo's reviews of the NGO changed"
    assert sorted(r.grade for r in reviews) == ["excellent", "good"]
    contracts = db.session.scalars(sa.select(Contract).where(
        Contract.supplier_id == ngo.id, Contract.signed_at >= start, Contract.signed_at < end)).all()
    assert len(contracts) == 1 and contracts[0].bureau_id == city.id, "the demo's contracts of the NGO changed"
    assert not db.session.scalar(sa.select(sa.func.count(Rectification.id)).join(
        Contract, Rectification.contract_id == Contract.id).where(Contract.supplier_id == ngo.id))
    assert not db.session.scalar(sa.select(sa.func.count(Contract.id)).where(
        Contract.supplier_id == ngo.id, Contract.status == ContractStatus.TERMINATED))
    assert not db.session.scalar(sa.select(sa.func.count(Contract.id)).where(Contract.bureau_id == district.id))

    facts = {"city": city.id, "district": district.id, "ngo": ngo.id, "ngo_name": ngo.name,
             "district_name": district.name, "reviews": [r.id for r in reviews], "contract": contracts[0].id,
             "projects": {}}
    bureaus = {CITY: (city, users["officer"]), DISTRICT: (district, users[DISTRICT_OFFICER])}
    with transaction():
        for n, (key, bureau, title, plan, budget, priority, poor, remote, households, township) in enumerate(PROJECTS):
            organisation, actor = bureaus[bureau]
            project = project_services.create_project(organisation, {
                "title": title, "plan": plan, "fiscal_year": FISCAL_YEAR, "budget": Decimal(budget),
                "duration_months": 12, "base_priority": priority, "poor_village": poor, "remote_area": remote,
                "poor_households": households, "district": organisation.name.removesuffix("民政局"),
                "township": township, "target_groups": "困难群众", "description": "依据需求评估确定的年度服务需求。"},
                actor=actor, now=START - timedelta(days=1, minutes=-n))
            facts["projects"][key] = project.id
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    return facts


def stored_assessment(organisation_id: int) -> dict:
    """The organisation's assessment of the year as the server stored it (read, then released)."""
    db.session.rollback()
    assessment = db.session.scalar(sa.select(Assessment).where(
        Assessment.organisation_id == organisation_id, Assessment.year == YEAR)
        .execution_options(populate_existing=True))
    if assessment is None:
        db.session.rollback()
        return {}
    facts = {"id": assessment.id, "status": assessment.status, "score": assessment.score, "grade": assessment.grade,
             "indicators": {i.name: {"id": i.id, "computed": i.computed, "weight": i.weight, "points": i.points,
                                     "figure": i.figure, "sources": i.sources}
                            for i in sorted(assessment.indicators, key=lambda i: i.position)}}
    db.session.rollback()
    return facts


def assessment_ids(city_id: int) -> dict[int, tuple[int, str]]:
    """organisation id -> (assessment id, kind) of the city's assessments of the year."""
    db.session.rollback()
    rows = db.session.execute(sa.select(Assessment.organisation_id, Assessment.id, Assessment.kind).where(
        Assessment.city_id == city_id, Assessment.year == YEAR)).all()
    db.session.rollback()
    return {org: (ident, kind) for org, ident, kind in rows}


def stored_list(city_id: int) -> dict:
    db.session.rollback()
    lst = db.session.scalar(sa.select(CommendationList).where(
        CommendationList.bureau_id == city_id, CommendationList.year == YEAR)
        .execution_options(populate_existing=True))
    if lst is None:
        db.session.rollback()
        return {}
    facts = {"id": lst.id, "status": lst.status, "ends_on": lst.publicity_ends_on,
             "publicity_notice": lst.publicity_notice_id, "notice": lst.notice_id,
             "entries": [(c.id, c.subject, c.organisation_id, c.level, c.certificate_id) for c in db.session.scalars(
                 sa.select(Commendation).where(Commendation.list_id == lst.id).order_by(Commendation.id))],
             "comments": [(c.id, c.name, c.responded_at is not None) for c in db.session.scalars(
                 sa.select(PublicComment).where(PublicComment.list_id == lst.id).order_by(PublicComment.id))]}
    db.session.rollback()
    return facts


def stored_plan(city_id: int) -> dict:
    db.session.rollback()
    plan = db.session.scalar(sa.select(FundingPlan).where(
        FundingPlan.bureau_id == city_id, FundingPlan.fiscal_year == FISCAL_YEAR)
        .execution_options(populate_existing=True))
    if plan is None:
        db.session.rollback()
        return {}
    facts = {"id": plan.id, "status": plan.status, "pool": plan.pool, "document": plan.document_id,
             "notice": plan.notice_id,
             "lines": {line.project_id: {"id": line.id, "requested": line.requested, "grade": line.district_grade,
                                         "amount": line.amount, "untilted": line.untilted_amount}
                       for line in db.session.scalars(sa.select(FundingLine).where(FundingLine.plan_id == plan.id)
                                                      .execution_options(populate_existing=True))},
             "rewards": [(g.id, g.commendation.organisation_id, g.amount) for g in db.session.scalars(
                 sa.select(RewardGrant).where(RewardGrant.plan_id == plan.id))]}
    db.session.rollback()
    return facts


def stored_notice(notice_id: int) -> dict:
    db.session.rollback()
    notice = db.session.get(Notice, notice_id)
    facts = {"kind": notice.kind, "title": notice.title, "body": notice.body, "runs_until": notice.runs_until}
    db.session.rollback()
    return facts


# --- Page helpers ----------------------------------------------------------------------------------------------


def follow(page: Page, href: str) -> int:
    """Follow the first link to ``href`` on the page; the status of the page it opens."""
    link = page.locator(f"main a[href='{href}']").first
    expect(link).to_be_visible()
    with page.expect_navigation() as navigation:
        link.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    return navigation.value.status


def from_nav(page: Page, href: str) -> None:
    """Follow the main navigation's link to ``href``."""
    link = page.locator(f"nav a[href='{href}']").first
    expect(link).to_be_visible()
    submit(page, link)
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))


def indicator_row(page: Page, name: str):
    """The row of the assessment page's indicator table named ``name`` (the indicator's Chinese name is data)."""
    return page.locator("main #indicators tbody tr").filter(has=page.locator("th", has_text=name))


def edit_row(page: Page, indicator_id: int) -> str:
    """The id prefix ("rows-3-") of the edit form's row holding the indicator."""
    name = page.locator(f"main input[name$='-id'][value='{indicator_id}']").get_attribute("name")
    return name.removesuffix("id")


def enter_indicators(page: Page, assessment_id: int, rows: dict[int, dict[str, str]]) -> None:
    """On the edit page, fill the given rows (indicator id -> {"weight", "points", "note"}) and save."""
    page.goto(f"/assessment/yearly/{assessment_id}")
    click_through(page, f"/assessment/yearly/{assessment_id}/edit")
    for indicator_id, values in rows.items():
        prefix = edit_row(page, indicator_id)
        for field, value in values.items():
            page.fill(f"#{prefix}{field}", value)
    submit(page, form_button(page, f"/assessment/yearly/{assessment_id}/edit"))
    expect_no_form_errors(page)
    expect_flash(page)
    expect(page).to_have_url(re.compile(rf"/assessment/yearly/{assessment_id}$"))


def cells(row) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def pdf_text(data: bytes, tmp_path: Path, name: str) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    source = tmp_path / name
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


# --- The journey -----------------------------------------------------------------------------------------------


def test_yearly_assessment_commendations_and_funding_plan(people, world, clock, tmp_path):
    city_id, district_id, ngo_id = world["city"], world["district"], world["ngo"]
    projects = world["projects"]
    officer = people("officer")

    # 1. The yearly assessment of 2026: the drafts.
    officer.goto("/dashboard")
    from_nav(officer, "/assessment/yearly")
    create = officer.locator("main form[action='/assessment/yearly/create']")
    expect(create.locator("select[name=year]")).to_have_value(str(YEAR))
    submit(officer, create.locator("button[type=submit]"))
    expect_flash(officer)
    expect(officer).to_have_url(re.compile(rf"/assessment/yearly\?year={YEAR}$"))
    made = assessment_ids(city_id)
    db.session.rollback()
    districts = db.session.scalars(sa.select(Organisation.id).where(Organisation.parent_id == city_id)).all()
    db.session.rollback()
    assert set(districts) <= set(made) and made[district_id][1] == "bureau" and made[ngo_id][1] == "ngo"
    expect(officer.locator("main table tbody tr")).to_have_count(len(made))
    ngo_assessment, district_assessment = made[ngo_id][0], made[district_id][0]
    ngo_url, district_url = f"/assessment/yearly/{ngo_assessment}", f"/assessment/yearly/{district_assessment}"
    # Running it again creates nothing more.
    submit(officer, form_button(officer, "/assessment/yearly/create"))
    expect_flash(officer)
    assert assessment_ids(city_id) == made

    # The NGO's draft: every computed figure with the records it came from.
    click_through(officer, ngo_url)
    draft = stored_assessment(ngo_id)
    indicators = draft["indicators"]
    assert draft["status"] == AssessmentStatus.DRAFT and draft["score"] is None
    assert {name: i["points"] for name, i in indicators.items() if i["computed"]} == {
        NGO_REVIEW_MEAN: Decimal("90.00"), NGO_CONTRACTS: Decimal("20.00"), NGO_RECTIFICATIONS: Decimal("100.00"),
        NGO_TERMINATIONS: Decimal("100.00")}
    assert {name for name, i in indicators.items() if not i["computed"]} == set(NGO_ENTERED)
    assert sum(i["weight"] for i in indicators.values()) == 100
    mean_row = indicator_row(officer, NGO_REVIEW_MEAN)
    expect(mean_row.locator("td").nth(1)).to_have_text("90.00")  # points out of 100
    for review_id in world["reviews"]:
        expect(mean_row.locator(f"a[href='/reviews/{review_id}']")).to_be_visible()
    expect(indicator_row(officer, NGO_CONTRACTS).locator(f"a[href='/contracts/{world['contract']}']")).to_be_visible()
    for name in NGO_ENTERED:  # entered indicators: not yet entered, so nothing to confirm
        expect(indicator_row(officer, name).locator("td").nth(1)).not_to_have_text(re.compile(r"\d"))
    expect(officer.locator(f"main form[action='{ngo_url}/confirm']")).to_have_count(0)
    expect(officer.locator("main .alert-warning li")).to_have_count(1)  # the points missing
    # A figure's link opens the record it came from.
    assert follow(officer, f"/reviews/{world['reviews'][0]}") == 200
    expect(officer.locator("main h1")).to_be_visible()
    expect(officer.locator("main")).to_contain_text("95.00")
    officer.go_back()
    expect(officer).to_have_url(re.compile(rf"{ngo_url}$"))

    # The officer enters the points of the two entered indicators and confirms: 86.50, 良好.
    enter_indicators(officer, ngo_assessment, {indicators[name]["id"]: {"points": points}
                                               for name, points in NGO_ENTERED.items()})
    expect(officer.locator("main .alert-warning")).to_have_count(0)
    expect(officer.locator("main #indicators tfoot td.fw-bold")).to_have_text(["100", f"{NGO_SCORE}"])
    for name, points in NGO_ENTERED.items():
        expect(indicator_row(officer, name).locator("td").nth(1)).to_have_text(f"{Decimal(points):.2f}")
    submit(officer, form_button(officer, f"{ngo_url}/confirm"))
    expect_flash(officer)
    confirmed = stored_assessment(ngo_id)
    assert (confirmed["status"], confirmed["score"], confirmed["grade"]) == ("confirmed", NGO_SCORE, "good")
    expect(officer.locator("main dd.fw-bold").first).to_have_text(f"{NGO_SCORE}")
    expect(officer.locator("main #indicators tfoot td.fw-bold")).to_have_text(["100", f"{NGO_SCORE}"])
    expect(officer.locator(f"main a[href='{ngo_url}/edit']")).to_have_count(0)  # frozen
    expect(officer.locator(f"main form[action='{ngo_url}/confirm']")).to_have_count(0)
    snap(officer, "assessment-1-ngo-confirmed")

    # 中原区: computed indicators weighted 0 (no procurement yet), the work report 100 with 92 points: 优秀.
    officer.goto(f"/assessment/yearly?year={YEAR}")
    click_through(officer, district_url)
    district_indicators = stored_assessment(district_id)["indicators"]
    rows = {i["id"]: {"weight": "0", "note": DISTRICT_NOTE} for i in district_indicators.values() if i["computed"]}
    rows[district_indicators[DISTRICT_ENTERED]["id"]] = {"weight": "100", "points": DISTRICT_POINTS}
    enter_indicators(officer, district_assessment, rows)
    expect(officer.locator("main #indicators tfoot td.fw-bold")).to_have_text(["100", f"{DISTRICT_SCORE}"])
    submit(officer, form_button(officer, f"{district_url}/confirm"))
    expect_flash(officer)
    district_confirmed = stored_assessment(district_id)
    assert (district_confirmed["status"], district_confirmed["score"], district_confirmed["grade"]) == (
        "confirmed", DISTRICT_SCORE, "excellent")
    expect(officer.locator("main dd.fw-bold").first).to_have_text(f"{DISTRICT_SCORE}")
    snap(officer, "assessment-2-district-confirmed")

    # 2. The commendation list of 2026: the NGO proposed by rule, added at the first level, publicised.
    officer.goto(f"/assessment/yearly?year={YEAR}")
    click_through(officer, "/assessment/commendations")
    opening = officer.locator("main form[action='/assessment/commendations']")
    expect(opening.locator("input[name=year]")).to_have_value(str(YEAR))
    submit(officer, opening.locator("button[type=submit]"))
    expect_flash(officer)
    commendation_list = stored_list(city_id)
    list_id = commendation_list["id"]
    list_url, public_url = f"/assessment/commendations/{list_id}", f"/assessment/public/commendations/{list_id}"
    expect(officer).to_have_url(re.compile(rf"{list_url}$"))
    assert commendation_list["status"] == "draft" and commendation_list["entries"] == []
    candidates = officer.locator("main #candidates [id^=candidate-]")
    expect(candidates).to_have_count(2)  # the NGO by its reviews, 中原区 by its assessment
    candidate = officer.locator(f"main #candidate-ngo-{ngo_id}")
    expect(candidate).to_contain_text(world["ngo_name"])
    expect(candidate).to_contain_text("90.00")  # the mean of its reviews, in the rule's reason
    for review_id in world["reviews"]:
        expect(candidate.locator(f"a[href='/reviews/{review_id}']")).to_be_visible()
    expect(officer.locator(f"main #candidate-bureau-{district_id} a[href='{district_url}']")).to_be_visible()
    candidate.locator("select[name=level]").select_option("first")
    submit(officer, candidate.locator(f"form[action='{list_url}/entries'] button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    [(entry_id, subject, organisation, level, certificate)] = stored_list(city_id)["entries"]
    assert (subject, organisation, level, certificate) == ("ngo", ngo_id, "first", None)
    expect(officer.locator(f"main #entry-{entry_id}")).to_contain_text(world["ngo_name"])
    expect(officer.locator(f"main #candidate-ngo-{ngo_id} form")).to_have_count(0)  # on the list
    submit(officer, form_button(officer, f"{list_url}/publicise"))
    expect_flash(officer)
    publicised = stored_list(city_id)
    assert publicised["status"] == "publicised" and publicised["publicity_notice"] is not None
    assert publicised["ends_on"] == PUBLICITY_ENDS_ON == load_calendar().add_working_days(PUBLICISED_ON, 5)
    publicity_notice = f"/notices/{publicised['publicity_notice']}"
    expect(officer.locator(f"main a[href='{public_url}']")).to_be_visible()
    expect(officer.locator(f"main a[href='{publicity_notice}']")).to_be_visible()
    expect(officer.locator("main #candidates")).to_have_count(0)
    expect(officer.locator(f"main form[action='{list_url}/confirm']")).to_have_count(1)
    snap(officer, "assessment-3-commendations-publicised")

    # 3. Wednesday 2 September: an anonymous visitor finds the 公示 on the notice board and comments.
    clock.move_to(COMMENT_AT)
    visitor = people(None)
    visitor.goto("/notices")
    assert follow(visitor, publicity_notice) == 200
    expect(visitor.locator("main")).to_contain_text(public_url)  # the notice says where to comment
    expect(visitor.locator("main dl")).to_contain_text(PUBLICITY_ENDS_ON.isoformat())
    assert stored_notice(publicised["publicity_notice"])["runs_until"] == PUBLICITY_ENDS_ON
    visitor.goto("/notices")
    click_through(visitor, "/assessment/public/commendations")
    click_through(visitor, public_url)
    expect(visitor.locator("main table tbody tr")).to_have_count(1)
    expect(visitor.locator("main table tbody")).to_contain_text(world["ngo_name"])
    expect(visitor.locator("main dl")).to_contain_text(PUBLICITY_ENDS_ON.isoformat())
    comment_form = visitor.locator(f"main form[action='{public_url}/comments']")
    for name, value in COMMENT.items():
        comment_form.locator(f"[name={name}]").fill(value)
    snap(visitor, "assessment-4-public-list")
    submit(visitor, comment_form.locator("button[type=submit]"))
    expect_no_form_errors(visitor)
    expect_flash(visitor)
    expect(visitor).to_have_url(re.compile(rf"{public_url}$"))
    [(comment_id, commenter, answered)] = stored_list(city_id)["comments"]
    assert (commenter, answered) == (COMMENT["name"], False)
    expect(visitor.locator("main")).not_to_contain_text(COMMENT["contact"])  # not published

    # 4. Tuesday 8 September, the last day of the 公示: confirming is refused; the officer answers the comment.
    clock.move_to(LAST_DAY_AT)
    sign_in(officer, "officer")
    officer.goto(list_url)
    expect(officer.locator(f"main #comment-{comment_id}")).to_contain_text(COMMENT["text"])
    submit(officer, form_button(officer, f"{list_url}/confirm"))
    expect_flash(officer, "danger")
    expect(officer.locator("main > .alert-danger")).to_contain_text(PUBLICITY_ENDS_ON.isoformat())
    assert stored_list(city_id)["status"] == "publicised"
    officer.goto(list_url)
    answer = officer.locator(f"main form[action='/assessment/commendations/comments/{comment_id}/answer']")
    answer.locator("textarea[name=response]").fill(ANSWER)
    submit(officer, answer.locator("button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    assert stored_list(city_id)["comments"] == [(comment_id, COMMENT["name"], True)]
    expect(officer.locator(f"main #comment-{comment_id}")).to_contain_text(ANSWER)
    snap(officer, "assessment-5-comment-answered")

    # Wednesday 9 September: the list is confirmed; the certificate downloads from the public page.
    clock.move_to(CONFIRM_AT)
    sign_in(officer, "officer")
    officer.goto(list_url)
    submit(officer, form_button(officer, f"{list_url}/confirm"))
    expect_flash(officer)
    final = stored_list(city_id)
    assert final["status"] == "confirmed" and final["notice"] is not None
    [(_, _, _, _, certificate)] = final["entries"]
    assert certificate is not None
    certificate_url = f"/assessment/public/certificates/{entry_id}.pdf"
    expect(officer.locator(f"main #entry-{entry_id} a[href='{certificate_url}']")).to_be_visible()
    visitor.goto("/notices")
    expect(visitor.locator(f"main a[href='/notices/{final['notice']}']")).to_be_visible()
    visitor.goto(public_url)
    expect(visitor.locator(f"main form[action='{public_url}/comments']")).to_have_count(0)  # the 公示 is over
    expect(visitor.locator(f"main a[href='/notices/{final['notice']}']")).to_be_visible()
    snap(visitor, "assessment-6-public-list-confirmed")
    pdf = download(visitor, certificate_url)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path, "certificate.pdf")
    if text is not None:
        compact = re.sub(r"\s+", "", text)
        assert world["ngo_name"] in compact and "一等" in compact and CITY in compact, text[:600]

    # 5. The funding plan of 2027: a pool of 1,000,000 for 1,400,000 requested.
    officer.goto(f"/assessment/yearly?year={YEAR}")
    click_through(officer, "/assessment/funding")
    new = officer.locator("main form[action='/assessment/funding/new']")
    expect(new.locator("[name=fiscal_year]")).to_have_value(str(FISCAL_YEAR))
    new.locator("[name=pool]").fill(str(POOL))
    submit(officer, new.locator("button[type=submit]"))
    expect_no_form_errors(officer)
    expect_flash(officer)
    plan = stored_plan(city_id)
    plan_id = plan["id"]
    plan_url = f"/assessment/funding/{plan_id}"
    expect(officer).to_have_url(re.compile(rf"{plan_url}$"))
    assert (plan["status"], plan["pool"], plan["lines"], plan["rewards"]) == ("draft", POOL, {}, [])
    submit(officer, form_button(officer, f"{plan_url}/candidates"))
    expect_flash(officer)
    submit(officer, form_button(officer, f"{plan_url}/rewards"))
    expect_flash(officer)
    expect(officer).to_have_url(re.compile(rf"{plan_url}(#rewards)?$"))
    plan = stored_plan(city_id)
    lines = {key: plan["lines"][project_id] for key, project_id in projects.items()}
    assert set(plan["lines"]) == set(projects.values())  # the four projects of 2027, nothing else
    assert sum(line["requested"] for line in lines.values()) == REQUESTED
    assert {key: line["grade"] for key, line in lines.items()} == {"A": None, "B": None, "C": "excellent",
                                                                    "D": "excellent"}
    [(grant_id, granted, amount)] = plan["rewards"]
    assert (granted, amount) == (ngo_id, REWARD)

    line_ids = {key: line["id"] for key, line in lines.items()}
    for key, (_, _, title, *_rest) in zip(projects, PROJECTS, strict=True):
        row = officer.locator(f"main #line-{line_ids[key]}")
        values = cells(row)
        assert title in values[1], values
        request = next(p[4] for p in PROJECTS if p[0] == key)
        assert values[3] == yuan(request)
        assert values[6] == WEIGHTS[key]
        assert values[7].startswith(yuan(TILTED[key])), values
        assert values[8] == yuan(UNTILTED[key])
        assert values[9] == signed(TILTED[key] - UNTILTED[key])
    assert sum(TILTED.values()) == sum(UNTILTED.values()) == POOL
    expect(officer.locator("main #total-allocated td")).to_have_text([yuan(POOL), yuan(POOL), "0"])
    poor = TILTED["A"] + TILTED["C"], UNTILTED["A"] + UNTILTED["C"]
    expect(officer.locator("main #total-poor-village td")).to_have_text(
        [yuan(poor[0]), yuan(poor[1]), signed(poor[0] - poor[1])])
    expect(officer.locator("main #total-remote-area td")).to_have_text(
        [yuan(TILTED["A"]), yuan(UNTILTED["A"]), signed(TILTED["A"] - UNTILTED["A"])])
    expect(officer.locator("main #total-overall td")).to_have_text([yuan(POOL + REWARD), "", ""])
    expect(officer.locator(f"main #reward-{grant_id}")).to_contain_text(world["ngo_name"])
    expect(officer.locator(f"main #reward-{grant_id} td.text-end")).to_have_text(yuan(REWARD))
    # Each line explains itself: C, capped in the first round.
    capped = officer.locator(f"main #line-{line_ids['C']} + tr.explanation")
    for words in ("基础优先级60", "贫困村+30%", "服务贫困户230户+10%", "区县上年度考核优秀+15%", "倾斜合计+55%",
                  "权重 = 60 × (1 + 55%) = 93", "1,000,000 × 93 ÷ 356.5 ≈ 260,869.57元", "足额安排200,000元（封顶）",
                  "同一资金池可安排200,000元"):
        expect(capped).to_contain_text(words)
    snap(officer, "assessment-7-funding-plan-draft")

    # A line's page: its facts and how its amount is reached (A, settled in the second round).
    line_url = f"/assessment/funding/lines/{line_ids['A']}"
    click_through(officer, line_url)
    for field, value in (("requested", "600000"), ("base_priority", "80"), ("poor_households", "420")):
        expect(officer.locator(f"main #{field}")).to_have_value(value)
    expect(officer.locator("main #poor_village")).to_be_checked()
    expect(officer.locator("main #remote_area")).to_be_checked()
    expect(officer.locator("main section p strong")).to_have_text(yuan(TILTED["A"]))
    explanation = officer.locator("main section p").last
    for words in ("贫困村+30%", "边远/欠发达地区+20%", "服务贫困户420户+20%", "倾斜合计+70%",
                  "权重 = 80 × (1 + 70%) = 136", "第2轮", "共200,000元", "余下800,000元由3个项目按权重分配",
                  "权重合计263.5", "800,000 × 136 ÷ 263.5", "安排412,903元", "多安排92,903元"):
        expect(explanation).to_contain_text(words)
    snap(officer, "assessment-8-funding-line")

    # The comparison with the same pool untilted.
    officer.goto(plan_url)
    click_through(officer, f"{plan_url}/compare")
    for key, (_, _, title, _, request, priority, *_rest) in zip(projects, PROJECTS, strict=True):
        values = cells(officer.locator(f"main #line-{line_ids[key]}"))
        assert values[1:] == [title, CITY if key in "AB" else DISTRICT, yuan(request), str(priority),
                              yuan(UNTILTED[key]), values[6], WEIGHTS[key], yuan(TILTED[key]),
                              signed(TILTED[key] - UNTILTED[key])], values
    expect(officer.locator("main #compare-poor-village td.text-end")).to_have_text(
        [yuan(poor[1]), yuan(poor[0]), signed(poor[0] - poor[1])])
    expect(officer.locator("main #compare-remote-area td.text-end")).to_have_text(
        [yuan(UNTILTED["A"]), yuan(TILTED["A"]), signed(TILTED["A"] - UNTILTED["A"])])
    untilted_d = officer.locator(f"main #line-{line_ids['D']} + tr.explanation")
    expect(untilted_d).to_contain_text("权重 = 基础优先级 = 50")
    expect(untilted_d).to_contain_text("足额安排200,000元（封顶）")  # untilted, D gets all it asks
    snap(officer, "assessment-9-funding-compare")

    # The Excel and the draft PDF.
    officer.goto(plan_url)
    workbook = load_workbook(io.BytesIO(download(officer, f"{plan_url}/plan.xlsx")))
    assert workbook.sheetnames == ["资金安排", "奖补资金", "汇总对照", "说明"]
    sheet = workbook["资金安排"]
    assert sheet.cell(row=2, column=2).value == POOL
    header = [c.value for c in sheet[4]]
    assert header[:4] == ["序号", "项目名称", "区县", "申请金额（元）"], header
    table = {row[1]: row for row in sheet.iter_rows(min_row=5, values_only=True) if row[0] is not None}
    row_a = table[PROJECTS[0][2]]
    assert row_a[2] == CITY and row_a[3] == 600_000 and row_a[4] == 80
    assert (row_a[8], row_a[9], row_a[10]) == (TILTED["A"], UNTILTED["A"], TILTED["A"] - UNTILTED["A"])
    assert (row_a[11], row_a[12]) == ("是", "是") and "412,903" in row_a[13]
    total = next(row for row in sheet.iter_rows(min_row=5, values_only=True) if row[0] == "合计")
    assert (total[3], total[8], total[9]) == (REQUESTED, POOL, POOL)
    rewards_sheet = [row for row in workbook["奖补资金"].iter_rows(min_row=2, values_only=True)]
    assert rewards_sheet[0][1:] == (world["ngo_name"], "一等", REWARD)
    draft_pdf = download(officer, f"{plan_url}/plan.pdf")
    assert draft_pdf.startswith(b"%PDF")

    # Approval freezes the amounts and issues the PDF; publication puts the notice on the board.
    submit(officer, form_button(officer, f"{plan_url}/approve"))
    expect_flash(officer)
    approved = stored_plan(city_id)
    assert approved["status"] == "approved" and approved["document"] is not None
    assert {key: approved["lines"][pid]["amount"] for key, pid in projects.items()} == TILTED
    assert {key: approved["lines"][pid]["untilted"] for key, pid in projects.items()} == UNTILTED
    expect(officer.locator(f"main a[href='{line_url}']")).to_have_count(0)  # lines frozen
    expect(officer.locator(f"main form[action='{plan_url}/approve']")).to_have_count(0)
    issued = download(officer, f"{plan_url}/plan.pdf")
    assert issued.startswith(b"%PDF")
    assert download(officer, f"{plan_url}/plan.pdf") == issued  # the document as issued
    text = pdf_text(issued, tmp_path, "plan.pdf")
    if text is not None:
        assert "412,903" in text and world["ngo_name"] in re.sub(r"\s+", "", text), text[:600]
    submit(officer, form_button(officer, f"{plan_url}/publish"))
    expect_flash(officer)
    published = stored_plan(city_id)
    assert published["status"] == "published" and published["notice"] is not None
    funding_notice = f"/notices/{published['notice']}"
    expect(officer.locator(f"main a[href='{funding_notice}']")).to_be_visible()
    expect(officer.locator(f"main form[action='{plan_url}/publish']")).to_have_count(0)
    for key in projects:
        expect(officer.locator(f"main #line-{line_ids[key]} td").nth(7)).to_contain_text(yuan(TILTED[key]))
    snap(officer, "assessment-10-funding-published")
    notice = stored_notice(published["notice"])
    assert notice["kind"] == "funding"
    visitor.goto("/notices?kind=funding")
    expect(visitor.locator(f"main a[href='{funding_notice}']")).to_have_count(1)
    visitor.goto("/notices")
    assert follow(visitor, funding_notice) == 200
    body = visitor.locator("main .notice-body")
    for key, (_, _, title, *_rest) in zip(projects, PROJECTS, strict=True):
        expect(body).to_contain_text(title)
        expect(body).to_contain_text(f"安排{yuan(TILTED[key])}元（不倾斜时{yuan(UNTILTED[key])}元）")
    expect(body).to_contain_text(f"{world['ngo_name']}（一等）{yuan(REWARD)}元")
    snap(visitor, "assessment-11-funding-notice")
    # The plan's own pages stay with the bureaus' officers.
    for url in (plan_url, f"{plan_url}/compare", f"{plan_url}/plan.xlsx"):
        visitor.goto(url)
        expect(visitor).to_have_url(re.compile(r"/login(\?.*)?$"))

    # 6. The district officer sees its own confirmed assessment, and nothing else of the city's.
    district_officer = people(DISTRICT_OFFICER)
    district_officer.goto("/dashboard")
    from_nav(district_officer, "/assessment/yearly")
    expect(district_officer.locator("main table tbody tr")).to_have_count(1)
    expect(district_officer.locator("main form[action='/assessment/yearly/create']")).to_have_count(0)
    assert follow(district_officer, district_url) == 200
    expect(district_officer.locator("main h1")).to_contain_text(world["district_name"])
    expect(district_officer.locator("main dd.fw-bold").first).to_have_text(f"{DISTRICT_SCORE}")
    expect(district_officer.locator(f"main a[href='{district_url}/edit']")).to_have_count(0)
    expect(district_officer.locator("main form[method=post]")).to_have_count(0)
    snap(district_officer, "assessment-12-district-own")
    for url in (ngo_url, f"{district_url}/edit", plan_url, list_url):
        assert district_officer.goto(url).status == 403, url

    # The NGO's user reads its own assessment; the funding plan is closed to it.
    ngo = people(NGO)
    assert ngo.goto(ngo_url).status == 200
    expect(ngo.locator("main dd.fw-bold").first).to_have_text(f"{NGO_SCORE}")
    for url in (plan_url, f"{plan_url}/compare", f"{plan_url}/plan.xlsx", f"{plan_url}/plan.pdf", district_url,
                list_url):
        assert ngo.goto(url).status == 403, url
    assert people("ngo2").goto(ngo_url).status == 403  # another NGO
