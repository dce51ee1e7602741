"""The funding plan (资金安排, issue 8) through its services: the plan, its candidate projects and their facts, the
district tilt from the confirmed yearly assessments of the year before, the allocation with and without tilts, the
explanation of each line checked against its numbers, reward grants from the confirmed commendation list, approval
(frozen amounts, PDF), publication (notice, notifications) and every refusal."""

from __future__ import annotations

import io
import json
import re
import subprocess
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from portal.accounts.models import OrgKind
from portal.assessment import funding, funding_export
from portal.assessment.models import (
    Assessment,
    AssessmentStatus,
    Commendation,
    FundingLine,
    FundingPlan,
    ListStatus,
    PlanStatus,
    RewardGrant,
    SubjectKind,
)
from portal.assessment.rules import TiltSettings
from portal.audit import AuditEntry, verify_chain
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.projects.models import ProjectStatus
from tests.funding_builders import assessment, commendation_list, district, project

pytestmark = pytest.mark.usefixtures("english_messages")

POOL = 1_000_000


# --- The scenario -----------------------------------------------------------------------------------------------------
#
# Four candidate projects of fiscal year 2027 (pool 1,000,000 yuan):
#   A 中牟县 (graded 优秀 in 2026): request 500,000, base 70, poor village, remote area, 350 poor households:
#     +30% +20% +15% +15% = +80%, weight 126
#   B 登封市 (graded 不合格 in 2026): request 600,000, base 70: -10%, weight 63
#   C 新郑市 (only a draft assessment): request 800,000, base 100: no tilt, weight 100
#   D the city itself: budget 50,000.50 -> request 50,000, base 20, poor village: +30%, weight 26
# With the tilts, round 1 shares 1,000,000 over 315: D's 82,539.68 reaches its 50,000 (capped). Round 2 shares
# 950,000 over 289: A 414,186.85, B 207,093.43, C 328,719.72; floors 949,998, the 2 yuan left go to A (.85) and
# C (.72): A 414,187, B 207,093, C 328,720.
# Without the tilts (weights 70, 70, 100, 20 = 260), D is capped again; round 2 shares 950,000 over 240:
# 277,083.33 / 277,083.33 / 395,833.33, the 1 yuan left goes to the higher weight (C): 277,083, 277,083, 395,834.
TILTED = {"A": 414_187, "B": 207_093, "C": 328_720, "D": 50_000}
UNTILTED = {"A": 277_083, "B": 277_083, "C": 395_834, "D": 50_000}


@pytest.fixture
def officer(create_user, city_bureau):
    user = create_user("officer", organisation_id=city_bureau.id, display_name="王科长")
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def world(create_org, create_user, city_bureau, now):
    zhongmu = district(create_org, city_bureau, "中牟县民政局")
    dengfeng = district(create_org, city_bureau, "登封市民政局")
    xinzheng = district(create_org, city_bureau, "新郑市民政局")
    assessment(city_bureau, zhongmu, 2026, "excellent", now=now)
    assessment(city_bureau, dengfeng, 2026, "fail", now=now)
    assessment(city_bureau, xinzheng, 2026, "good", status=AssessmentStatus.DRAFT)
    assessment(city_bureau, xinzheng, 2025, "excellent", now=now)  # another year: no tilt in 2027
    projects = {
        "A": project(zhongmu, "大孟村留守儿童关爱", budget=500_000, base_priority=70, poor_village=True,
                     remote_area=True, poor_households=350),
        "B": project(dengfeng, "困难老人关爱", budget=600_000, base_priority=70),
        "C": project(xinzheng, "社区矫正社会工作", budget=800_000, base_priority=100, status=ProjectStatus.DRAFT),
        "D": project(city_bureau, "市本级孤儿关爱", budget=Decimal("50000.50"), base_priority=20, poor_village=True),
    }
    # Not candidates: archived, another fiscal year, another city's district.
    project(zhongmu, "已归档项目", budget=90_000, base_priority=90, status=ProjectStatus.ARCHIVED)
    project(zhongmu, "上一年度项目", budget=90_000, base_priority=90, fiscal_year=2026)
    other_city = create_org(OrgKind.BUREAU, name="洛阳市民政局", level="city")
    project(district(create_org, other_city, "孟津区民政局"), "外市项目", budget=90_000, base_priority=90)
    officers = {"zhongmu": create_user("officer", organisation_id=zhongmu.id),
                "dengfeng": create_user("officer", organisation_id=dengfeng.id),
                "other_city": create_user("officer", organisation_id=other_city.id)}
    return {"projects": projects, "zhongmu": zhongmu, "dengfeng": dengfeng, "xinzheng": xinzheng,
            "other_city": other_city, "officers": officers}


@pytest.fixture
def plan(officer, city_bureau, world, now):
    made = funding.create_plan(city_bureau, fiscal_year=2027, pool=POOL, title="", actor=officer, now=now)
    funding.add_candidates(made, actor=officer, now=now)
    db.session.commit()
    return made


def by_key(result, world) -> dict:
    ids = {p.id: key for key, p in world["projects"].items()}
    return {ids[r.line.project_id]: r for r in result.lines}


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


# --- The plan ---------------------------------------------------------------------------------------------------------


def test_a_city_officer_creates_one_plan_per_year_with_a_whole_yuan_pool(officer, city_bureau, now):
    plan = funding.create_plan(city_bureau, fiscal_year=2027, pool=Decimal("1000000"), title="", actor=officer,
                               now=now)
    db.session.commit()
    assert (plan.title, plan.pool, plan.status) == ("2027年度社会工作服务项目资金安排", Decimal("1000000"),
                                                    PlanStatus.DRAFT)
    assert audits("funding.plan_created")[0].new_values
    with pytest.raises(Conflict, match="already has a funding plan for 2027"):
        funding.create_plan(city_bureau, fiscal_year=2027, pool=5, actor=officer, now=now)


@pytest.mark.parametrize("pool", [0, -5, Decimal("1000.50"), "abc", None, 10**13])
def test_the_pool_must_be_whole_yuan_above_zero(officer, city_bureau, now, pool):
    with pytest.raises(DomainError, match="whole number of yuan greater than 0"):
        funding.create_plan(city_bureau, fiscal_year=2027, pool=pool, actor=officer, now=now)


def test_only_an_officer_of_the_city_bureau_makes_a_plan(create_user, create_org, city_bureau, now):
    county = district(create_org, city_bureau, "中牟县民政局")
    for user in (create_user("officer", organisation_id=county.id), create_user("admin"), create_user("supplier")):
        with pytest.raises(NotAllowed):
            funding.create_plan(city_bureau, fiscal_year=2027, pool=1000, actor=user, now=now)
    with pytest.raises(NotAllowed):  # a district's officer for its own bureau: only city bureaus plan
        funding.create_plan(county, fiscal_year=2027, pool=1000,
                            actor=create_user("officer", organisation_id=county.id), now=now)


def test_the_fiscal_year_and_title_are_checked(officer, city_bureau, now):
    with pytest.raises(DomainError, match="fiscal year"):
        funding.create_plan(city_bureau, fiscal_year=1999, pool=1000, actor=officer, now=now)
    with pytest.raises(DomainError, match="at most 200 characters"):
        funding.create_plan(city_bureau, fiscal_year=2027, pool=1000, title="长" * 201, actor=officer, now=now)


def test_a_draft_plan_changes_its_pool_and_title(plan, officer, now):
    funding.update_plan(plan, pool="2000000", title="2027年度资金安排（调整）", actor=officer, now=now)
    db.session.commit()
    assert (plan.pool, plan.title) == (Decimal("2000000"), "2027年度资金安排（调整）")
    entry = audits("funding.plan_updated")[0]
    assert json.loads(entry.old_values)["pool"] == 1_000_000 and json.loads(entry.new_values)["pool"] == 2_000_000


# --- Candidates ---------------------------------------------------------------------------------------------------


def test_candidates_are_the_years_projects_of_the_city_and_its_districts(plan, world):
    lines = funding.plan_lines(plan)
    assert {line.project_id for line in lines} == {p.id for p in world["projects"].values()}
    line = {line.project_id: line for line in lines}
    a, d = line[world["projects"]["A"].id], line[world["projects"]["D"].id]
    assert (a.requested, a.base_priority, a.poor_village, a.remote_area, a.poor_households) == (
        Decimal("500000"), 70, True, True, 350)
    assert d.requested == Decimal("50000")  # the fen of the budget dropped: never more than asked
    grades = {key: line[p.id].district_grade for key, p in world["projects"].items()}
    # Only confirmed assessments of 2026 count: 新郑's is a draft (its 2025 one is another year); the city has none.
    assert grades == {"A": "excellent", "B": "fail", "C": None, "D": None}


def test_adding_candidates_twice_adds_nothing_and_brings_the_grades_up_to_date(plan, officer, world, city_bureau, now):
    assert funding.add_candidates(plan, actor=officer, now=now) == []
    draft = db.session.scalar(sa.select(funding.Assessment).where(
        funding.Assessment.organisation_id == world["xinzheng"].id, funding.Assessment.year == 2026))
    draft.status, draft.score, draft.grade = AssessmentStatus.CONFIRMED, Decimal("85"), "good"
    later = project(world["xinzheng"], "新增项目", budget=120_000, base_priority=60)
    added = funding.add_candidates(plan, actor=officer, now=now)
    db.session.commit()
    assert [line.project_id for line in added] == [later.id]
    grades = {line.project_id: line.district_grade for line in funding.plan_lines(plan)}
    assert grades[world["projects"]["C"].id] == "good" and grades[later.id] == "good"
    entry = audits("funding.candidates_added")[-1]
    new = json.loads(entry.new_values)
    assert new["projects"] == [later.id] and [None, "good"] in new["district_grades"].values()


# --- The allocation and its explanation -----------------------------------------------------------------------------


def test_the_worked_example_with_and_without_tilts(plan, world):
    result = funding.compute(plan)
    rows = by_key(result, world)
    assert {k: r.amount for k, r in rows.items()} == TILTED
    assert {k: r.untilted_amount for k, r in rows.items()} == UNTILTED
    assert {k: r.weight for k, r in rows.items()} == {"A": Decimal("126"), "B": Decimal("63"), "C": Decimal("100"),
                                                      "D": Decimal("26")}
    assert rows["A"].tilt_labels == ["贫困村+30%", "边远/欠发达地区+20%", "服务贫困户350户+15%",
                                     "区县上年度考核优秀+15%"]
    assert rows["B"].tilt_labels == ["区县上年度考核不合格−10%"]
    assert rows["D"].allocation.capped and rows["D"].allocation.round == 1
    assert {k: r.difference for k, r in rows.items()} == {"A": 137_104, "B": -69_990, "C": -67_114, "D": 0}
    t = result.totals
    assert (t.requested, t.allocated, t.untilted, t.unallocated) == (1_950_000, POOL, POOL, 0)
    assert (t.poor_village, t.poor_village_untilted) == (464_187, 327_083)  # A and D
    assert (t.remote_area, t.remote_area_untilted) == (414_187, 277_083)  # A
    assert t.rewards == 0 and t.overall == POOL


def test_the_explanations_say_the_worked_example_in_words(plan, world):
    rows = by_key(funding.compute(plan), world)
    assert rows["A"].explanation == (
        "基础优先级70（来自需求评估）。倾斜因素：贫困村+30%；边远/欠发达地区+20%；服务贫困户350户+15%（每满100户+5%，"
        "最多+25%）；区县上年度考核优秀+15%；倾斜合计+80%。权重 = 70 × (1 + 80%) = 126。"
        "第2轮：资金池1,000,000元中，此前各轮已有1个项目按申请金额足额安排，共50,000元，余下950,000元由3个项目按权重分配，权重合计289，"
        "本项目权重126，约占43.60%，按比例应得 950,000 × 126 ÷ 289 ≈ 414,186.85元，低于申请金额500,000元，"
        "取整数414,186元，零头较大补1元，安排414,187元（本轮各项目先取整数元，余下的2元按零头从大到小每项补1元，"
        "使本轮合计恰好为950,000元）。"
        "对照：不倾斜时（权重 = 基础优先级70）同一资金池可安排277,083元，倾斜使本项目多安排137,104元"
        "（414,187 − 277,083）。")
    assert rows["D"].explanation == (
        "基础优先级20（来自需求评估）。倾斜因素：贫困村+30%；倾斜合计+30%。权重 = 20 × (1 + 30%) = 26。"
        "第1轮：资金池1,000,000元由4个项目按权重分配，权重合计315，本项目权重26，约占8.25%，按比例应得 "
        "1,000,000 × 26 ÷ 315 ≈ 82,539.68元，不少于申请金额50,000元，按申请金额足额安排50,000元（封顶）；"
        "超出申请的部分留在余下的资金中，由其他项目再次分配。"
        "对照：不倾斜时（权重 = 基础优先级20）同一资金池可安排50,000元，与倾斜后相同。")
    assert "权重 = 70 × (1 − 10%) = 63" in rows["B"].explanation
    assert "取整数安排207,093元" in rows["B"].explanation
    assert "倾斜使本项目少安排69,990元（277,083 − 207,093）" in rows["B"].explanation
    assert rows["C"].explanation.startswith("基础优先级100（来自需求评估）。无倾斜因素，权重 = 基础优先级 = 100。")


NUMBER = r"([\d,]+(?:\.\d+)?)"


def figures(text: str) -> dict:
    """The numbers an explanation states, read back from its words."""
    def num(pattern):
        match = re.search(pattern, text)
        return None if match is None else [Decimal(g.replace(",", "")) for g in match.groups()]

    tilt_part = re.sub(r"（[^）]*）", "", text.split("倾斜合计")[0])  # without the bracketed rules
    total = re.search(r"倾斜合计([+−])([\d.]+)%", text)
    return {
        "base": num(r"基础优先级" + NUMBER + "（"),
        "tilts": [Decimal(m.replace("−", "-")) for m in re.findall(r"([+−]\d+(?:\.\d+)?)%", tilt_part)],
        "total_tilt": None if total is None else Decimal(total.group(2)) * (-1 if total.group(1) == "−" else 1),
        "weight_formula": num(r"权重 = " + NUMBER + r" × \(1 [+−] ([\d.]+)%\) = " + NUMBER + "。"),
        "plain_weight": num(r"权重 = 基础优先级 = " + NUMBER + "。"),
        "share": num(NUMBER + " × " + NUMBER + " ÷ " + NUMBER + " [=≈] " + NUMBER + "元"),
        "amount": num(r"安排" + NUMBER + r"元(?:（本轮|。)"),
        "capped": num(r"按申请金额足额安排" + NUMBER + "元"),
        "untilted": num(r"同一资金池可安排" + NUMBER + "元"),
        "difference": num(r"[多少]安排" + NUMBER + "元（" + NUMBER + " − " + NUMBER + "）"),
    }


@pytest.mark.parametrize("tilts", [TiltSettings(), TiltSettings(poor_village=Decimal("0.125"),
                                                               remote_area=Decimal("0.5"))])
def test_every_explanation_states_numbers_that_add_up(plan, world, app, officer, now, tilts):
    """Read the numbers back from each line's words: the weight is the base times one plus the tilts, the share is
    what was left times the weight over the round's weights, the amount is the cap or that share to a whole yuan,
    and the comparison is the untilted amount and the difference."""
    line = funding.plan_lines(plan)[1]
    funding.update_line(line, {"requested": 0, "base_priority": 40, "poor_households": 0, "poor_village": False,
                               "remote_area": False}, actor=officer, now=now)  # a line asking nothing says so
    before = app.config["FUNDING_TILTS"]
    app.config["FUNDING_TILTS"] = tilts
    try:
        result = funding.compute(plan)
    finally:
        app.config["FUNDING_TILTS"] = before
    for row in result.lines:
        text, said = row.explanation, figures(row.explanation)
        assert said["base"] == [row.line.base_priority]
        assert sum(said["tilts"], Decimal(0)) / 100 == row.tilt_total
        if row.tilts:
            assert said["total_tilt"] / 100 == row.tilt_total
            base, percent_, weight = said["weight_formula"]
            assert base == row.line.base_priority and weight == row.weight
            assert abs(percent_) == abs(row.tilt_total * 100)
            assert base * (1 + row.tilt_total) == weight
        else:
            assert said["plain_weight"] == [row.weight]
        if row.line.requested == 0:
            assert "申请金额为0元，不安排资金。" in text and row.amount == 0
        else:
            available, weight, total, share = said["share"]
            assert weight == row.weight
            assert Fraction(available) * Fraction(weight) / Fraction(total) == pytest.approx(row.allocation.share,
                                                                                              abs=0.005)
            assert abs(share - Decimal(row.allocation.share.numerator) / row.allocation.share.denominator) < \
                Decimal("0.005")
            if row.allocation.capped:
                assert said["capped"] == [row.line.requested] and row.amount == row.line.requested
            else:
                assert said["amount"][0] == row.amount
                assert abs(row.amount - share) < 1
        assert said["untilted"] == [row.untilted_amount]
        if row.difference:
            diff, left, right = said["difference"]
            assert diff == abs(row.difference) == abs(left - right)
            assert {left, right} == {row.amount, row.untilted_amount}
        else:
            assert "与倾斜后相同" in text
    assert result.totals.allocated == min(POOL, result.totals.requested)


def test_the_round_figures_match_the_allocation(plan):
    """The rounds rebuilt for the words: what was left and the weights open add up to each line's share."""
    result = funding.compute(plan)
    candidates = [funding.Candidate(r.line.id, r.weight, int(r.line.requested)) for r in result.lines]
    allocation = {r.line.id: r.allocation for r in result.lines}
    rounds = funding.rounds_of(POOL, candidates, allocation)
    assert [(r.number, r.available, r.total_weight, r.count, r.capped_before, r.leftover) for r in rounds.values()] \
        == [(1, 1_000_000, Decimal("315"), 4, 0, 0), (2, 950_000, Decimal("289"), 3, 1, 2)]


def test_a_zero_weight_line_waits_for_every_weighted_line_to_be_capped(officer, city_bureau, now):
    zero = project(city_bureau, "零优先级项目", budget=100_000, base_priority=0)
    small = project(city_bureau, "小项目", budget=30_000, base_priority=50)
    plan = funding.create_plan(city_bureau, fiscal_year=2027, pool=80_000, actor=officer, now=now)
    funding.add_candidates(plan, actor=officer, now=now)
    rows = {r.line.project_id: r for r in funding.compute(plan).lines}
    assert (rows[small.id].amount, rows[zero.id].amount) == (30_000, 50_000)
    assert "有权重的项目均已足额安排，余下50,000元由1个权重为0的项目平均分配，本项目应得 50,000 ÷ 1 = 50,000元" in (
        rows[zero.id].explanation)
    funding.update_plan(plan, pool=20_000, title="", actor=officer, now=now)
    rows = {r.line.project_id: r for r in funding.compute(plan).lines}
    assert rows[zero.id].amount == 0
    assert "本方案资金已分配完毕，未安排资金（0元）" in rows[zero.id].explanation


def test_a_pool_above_the_requests_leaves_the_rest_unallocated(plan, officer, now):
    funding.update_plan(plan, pool=3_000_000, title="", actor=officer, now=now)
    result = funding.compute(plan)
    assert [r.amount for r in result.lines] == [int(r.line.requested) for r in result.lines]
    assert all(r.allocation.capped for r in result.lines)
    assert (result.totals.allocated, result.totals.unallocated) == (1_950_000, 1_050_000)


def test_the_households_cap_is_explained(plan, officer, world, now):
    line = next(x for x in funding.plan_lines(plan) if x.project_id == world["projects"]["A"].id)
    funding.update_line(line, {"requested": 500_000, "base_priority": 70, "poor_households": 620,
                               "poor_village": True, "remote_area": True}, actor=officer, now=now)
    row = by_key(funding.compute(plan), world)["A"]
    assert "服务贫困户620户+25%（每满100户+5%，最多+25%；6个百户应为+30%，按上限计）" in row.explanation
    assert row.weight == Decimal("133")  # 70 x (1 + 0.30 + 0.20 + 0.25 + 0.15)
    assert "倾斜合计+90%。权重 = 70 × (1 + 90%) = 133。" in row.explanation



# --- Correcting a line ----------------------------------------------------------------------------------------------


def values(**changes) -> dict:
    return {"requested": 500_000, "base_priority": 70, "poor_households": 350, "poor_village": True,
            "remote_area": True} | changes


def line_of(plan, world, key: str) -> FundingLine:
    return next(x for x in funding.plan_lines(plan) if x.project_id == world["projects"][key].id)


def test_a_corrected_line_is_audited_marked_and_recomputed(plan, officer, world, now):
    line = line_of(plan, world, "A")
    funding.update_line(line, values(requested=Decimal("300000"), remote_area=False), actor=officer, now=now)
    db.session.commit()
    entry = audits("funding.line_updated")[0]
    assert json.loads(entry.old_values) == {"requested": 500_000, "remote_area": True}
    assert json.loads(entry.new_values) == {"plan_id": plan.id, "project_id": world["projects"]["A"].id,
                                                 "requested": 300_000, "remote_area": False}
    row = by_key(funding.compute(plan), world)["A"]
    assert row.changed_facts == ["requested", "remote_area"]
    assert row.changed_fact_names == ["申请金额", "边远/欠发达地区"]
    assert row.weight == Decimal("112")  # 70 x (1 + 0.30 + 0.15 + 0.15)
    assert funding.compute(plan).totals.allocated == POOL
    assert funding.update_line(line, values(requested=300_000, remote_area=False), actor=officer, now=now) is line
    assert len(audits("funding.line_updated")) == 1  # nothing changed, nothing recorded


@pytest.mark.parametrize(("changes", "message"), [
    ({"requested": 500_001}, "from 0 to the project's budget, 500,000"),
    ({"requested": Decimal("1000.5")}, "whole number of yuan"),
    ({"requested": -1}, "whole number of yuan"),
    ({"requested": None}, "whole number of yuan"),
    ({"base_priority": 101}, "base priority is a whole number from 0 to 100"),
    ({"base_priority": -1}, "base priority"),
    ({"base_priority": None}, "base priority"),
    ({"poor_households": -3}, "poor households"),
    ({"poor_households": "many"}, "poor households"),
])
def test_a_line_refuses_values_out_of_range(plan, officer, world, now, changes, message):
    with pytest.raises(DomainError, match=message):
        funding.update_line(line_of(plan, world, "A"), values(**changes), actor=officer, now=now)


def test_only_the_city_bureaus_officers_change_a_plan(plan, world, create_user, now):
    line = line_of(plan, world, "A")
    for user in (world["officers"]["zhongmu"], world["officers"]["other_city"], create_user("admin")):
        for change in (lambda u: funding.update_line(line, values(), actor=u, now=now),
                       lambda u: funding.remove_line(line, actor=u, now=now),
                       lambda u: funding.add_candidates(plan, actor=u, now=now),
                       lambda u: funding.add_rewards(plan, actor=u, now=now),
                       lambda u: funding.update_plan(plan, pool=5, title="", actor=u, now=now),
                       lambda u: funding.approve(plan, actor=u, now=now),
                       lambda u: funding.publish(plan, actor=u, now=now)):
            with pytest.raises(NotAllowed):
                change(user)


def test_a_removed_line_can_come_back_with_the_candidates(plan, officer, world, now):
    funding.remove_line(line_of(plan, world, "B"), actor=officer, now=now)
    db.session.commit()
    assert len(funding.plan_lines(plan)) == 3
    assert json.loads(audits("funding.line_removed")[0].old_values)["title"] == "困难老人关爱"
    added = funding.add_candidates(plan, actor=officer, now=now)
    assert [line.project_id for line in added] == [world["projects"]["B"].id]


def test_a_line_removed_meanwhile_is_not_written_again(plan, officer, world, now):
    line = line_of(plan, world, "B")
    db.session.execute(sa.delete(FundingLine).where(FundingLine.id == line.id))  # another officer's removal
    with pytest.raises(Conflict, match="removed from the plan meanwhile"):
        funding.update_line(line, values(requested=1), actor=officer, now=now)


# --- Reward grants ------------------------------------------------------------------------------------------------


@pytest.fixture
def commended(create_org, city_bureau, world):
    ngos = [create_org(name="阳光社工服务中心"), create_org(name="同心社工事务所"), create_org(name="春晖社工")]
    commendation_list(city_bureau, 2026, [(ngos[0], "first", SubjectKind.NGO), (ngos[1], "third", SubjectKind.NGO),
                                          (world["zhongmu"], "first", SubjectKind.BUREAU)])
    commendation_list(world["other_city"], 2026, [(ngos[2], "first", SubjectKind.NGO)])  # another city's list
    return ngos


def test_reward_grants_follow_the_confirmed_commendations_of_the_year_before(plan, officer, commended, now):
    added = funding.add_rewards(plan, actor=officer, now=now)
    db.session.commit()
    assert [(g.commendation.organisation.name, g.amount) for g in added] == [
        ("阳光社工服务中心", Decimal("50000")), ("同心社工事务所", Decimal("10000"))]  # NGOs only, by level
    assert funding.add_rewards(plan, actor=officer, now=now) == []  # no double grant
    result = funding.compute(plan)
    assert (result.totals.rewards, result.totals.allocated, result.totals.overall) == (60_000, POOL, 1_060_000)
    assert json.loads(audits("funding.rewards_added")[0].new_values)["total"] == 60_000
    funding.remove_reward(added[1], actor=officer, now=now)
    assert funding.compute(plan).totals.rewards == 50_000


def test_reward_amounts_are_a_setting(plan, officer, commended, app, now):
    before = app.config["REWARD_GRANTS"]
    app.config["REWARD_GRANTS"] = {"first": Decimal("80000"), "second": Decimal("40000"), "third": Decimal("20000")}
    try:
        added = funding.add_rewards(plan, actor=officer, now=now)
    finally:
        app.config["REWARD_GRANTS"] = before
    assert [g.amount for g in added] == [Decimal("80000"), Decimal("20000")]


@pytest.mark.parametrize("status", [ListStatus.DRAFT, ListStatus.PUBLICISED])
def test_no_reward_grant_before_the_list_is_confirmed(plan, officer, city_bureau, create_org, now, status):
    commendation_list(city_bureau, 2026, [(create_org(name="某社工"), "first", SubjectKind.NGO)], status=status)
    with pytest.raises(DomainError, match="no confirmed commendation list"):
        funding.add_rewards(plan, actor=officer, now=now)


def test_a_list_of_another_year_gives_no_reward(plan, officer, city_bureau, create_org, now):
    commendation_list(city_bureau, 2025, [(create_org(name="某社工"), "first", SubjectKind.NGO)])
    with pytest.raises(DomainError, match="of 2026"):
        funding.add_rewards(plan, actor=officer, now=now)


# --- Approval -------------------------------------------------------------------------------------------------------


def pdf_text(data: bytes, tmp_path) -> str:
    source = tmp_path / "plan.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_approval_freezes_the_amounts_and_issues_the_pdf(plan, officer, create_user, world, commended, now, tmp_path):
    colleague = create_user("officer", organisation_id=officer.organisation_id)
    colleague.locale = "en"
    funding.add_rewards(plan, actor=officer, now=now)
    funding.approve(plan, actor=officer, now=now)
    db.session.commit()
    assert (plan.status, plan.approved_by_id) == (PlanStatus.APPROVED, officer.id)
    frozen = {key: (int(line_of(plan, world, key).amount), int(line_of(plan, world, key).untilted_amount))
              for key in TILTED}
    assert frozen == {key: (TILTED[key], UNTILTED[key]) for key in TILTED}
    assert line_of(plan, world, "A").explanation.startswith("基础优先级70")
    document = db.session.get(GeneratedDocument, plan.document_id)
    assert document.number.startswith("ZJAP-2026-") and document.template == funding.PDF_TEMPLATE
    text = pdf_text(document.file.read_bytes(), tmp_path)
    for words in ("2027年度社会工作服务项目资金安排", "大孟村留守儿童关爱", "414,187", "277,083", "阳光社工服务中心",
                  "50,000", "1,060,000", "王科长", "分配方法"):
        assert words in text, words
    assert "草稿" not in text
    entry = json.loads(audits("funding.plan_approved")[0].new_values)
    assert (entry["allocated"], entry["rewards"], entry["document"]) == (POOL, 60_000, document.number)
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == colleague.id)).all()
    assert [n.subject for n in notes] == ["Funding plan approved: 2027年度社会工作服务项目资金安排"]
    assert "1,000,000 yuan allocated among 4 projects" in notes[0].body
    assert not db.session.scalars(sa.select(Notification).where(Notification.user_id == officer.id)).all()
    assert verify_chain().ok


def test_an_approved_plan_no_longer_changes(plan, officer, world, commended, now):
    funding.approve(plan, actor=officer, now=now)
    line = line_of(plan, world, "A")
    for change in (lambda: funding.update_line(line, values(), actor=officer, now=now),
                   lambda: funding.remove_line(line, actor=officer, now=now),
                   lambda: funding.add_candidates(plan, actor=officer, now=now),
                   lambda: funding.add_rewards(plan, actor=officer, now=now),
                   lambda: funding.update_plan(plan, pool=5, title="", actor=officer, now=now),
                   lambda: funding.approve(plan, actor=officer, now=now)):
        with pytest.raises(Conflict):
            change()


def test_an_approved_plan_keeps_its_amounts_when_the_settings_change(plan, officer, world, app, now):
    funding.approve(plan, actor=officer, now=now)
    db.session.commit()
    before = app.config["FUNDING_TILTS"]
    app.config["FUNDING_TILTS"] = TiltSettings(poor_village=Decimal("0.90"))
    try:
        result = funding.compute(plan)
    finally:
        app.config["FUNDING_TILTS"] = before
    rows = by_key(result, world)
    assert {k: r.amount for k, r in rows.items()} == TILTED
    assert rows["A"].explanation == line_of(plan, world, "A").explanation
    assert result.frozen and result.stale
    assert not funding.compute(plan).stale


@pytest.mark.parametrize(("damage", "message"), [
    ("archive", "was archived since it was added"),
    ("year", "now belongs to fiscal year 2028"),
    ("zero", "requests nothing"),
])
def test_approval_checks_every_line(plan, officer, world, now, damage, message):
    project_b = world["projects"]["B"]
    if damage == "archive":
        project_b.status = ProjectStatus.ARCHIVED
    elif damage == "year":
        project_b.fiscal_year = 2028
    else:
        funding.update_line(line_of(plan, world, "B"), values(requested=0, poor_village=False, remote_area=False,
                                                              poor_households=0), actor=officer, now=now)
    db.session.commit()
    assert any(message in p for p in funding.approval_problems(plan))
    with pytest.raises(DomainError, match=message):
        funding.approve(plan, actor=officer, now=now)
    assert plan.status == PlanStatus.DRAFT


def test_an_empty_plan_cannot_be_approved(officer, city_bureau, now):
    plan = funding.create_plan(city_bureau, fiscal_year=2030, pool=1000, actor=officer, now=now)
    with pytest.raises(DomainError, match="has no line"):
        funding.approve(plan, actor=officer, now=now)


# --- Publication -----------------------------------------------------------------------------------------------------


def test_publication_posts_the_notice_and_tells_districts_and_ngos(plan, officer, world, commended, create_user, now,
                                                                  tmp_path):
    ngo_user = create_user("supplier", organisation_id=commended[0].id)
    ngo_user.locale = "en"
    zhongmu = world["officers"]["zhongmu"]
    zhongmu.locale = "en"
    db.session.commit()
    with pytest.raises(Conflict, match="Only an approved funding plan"):
        funding.publish(plan, actor=officer, now=now)
    funding.add_rewards(plan, actor=officer, now=now)
    funding.approve(plan, actor=officer, now=now)
    funding.publish(plan, actor=officer, now=now)
    db.session.commit()
    notice = db.session.get(Notice, plan.notice_id)
    assert (plan.status, notice.kind, notice.title) == (PlanStatus.PUBLISHED, NoticeKind.FUNDING,
                                                        "2027年度社会工作服务项目资金安排公告")
    body = notice.body
    assert "资金池1,000,000元，4个项目申请1,950,000元，安排1,000,000元" in body
    assert ("1. 大孟村留守儿童关爱（中牟县民政局）：申请500,000元，基础优先级70，倾斜因素贫困村+30%、"
            "边远/欠发达地区+20%、服务贫困户350户+15%、区县上年度考核优秀+15%，权重126，"
            "安排414,187元（不倾斜时277,083元）") in body
    assert "其中贫困村项目安排464,187元（不倾斜时327,083元）" in body
    assert "阳光社工服务中心（一等）50,000元；同心社工事务所（三等）10,000元；合计60,000元" in body
    assert "资金安排总额1,060,000元（项目1,000,000元 + 奖补60,000元）" in body
    assert "不作为政府采购评审加分条件" in body
    text = pdf_text(notice.document.file.read_bytes(), tmp_path)
    assert "414,187" in text and "合计" in text
    district_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == zhongmu.id)).one()
    assert district_note.link == f"/notices/{notice.id}"
    assert "1 project(s) receive 414,187 yuan in total: 大孟村留守儿童关爱 414,187元" in district_note.body
    ngo_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == ngo_user.id)).one()
    assert ngo_note.subject == "Reward grant (奖补) of 50,000 yuan" and "一等 commendation of 2026" in ngo_note.body
    assert json.loads(audits("funding.plan_published")[0].new_values)["notice_id"] == notice.id
    with pytest.raises(Conflict):
        funding.publish(plan, actor=officer, now=now)


def test_the_plan_rows_and_totals_of_the_documents_add_up(plan, officer, commended, now):
    funding.add_rewards(plan, actor=officer, now=now)
    result = funding.compute(plan)
    rows = funding_export.plan_rows(result)
    assert sum(r["amount"] for r in rows) == result.totals.allocated
    assert sum(r["difference"] for r in rows) == result.totals.allocated - result.totals.untilted
    summary = {label: (tilted, untilted) for label, tilted, untilted in funding_export.summary_rows(result)}
    overall = summary["资金安排总额（项目 + 奖补，元）"][0]
    assert overall == summary["安排金额合计（元）"][0] + summary["奖补资金合计（元）"][0]
    assert summary["资金池未分配余额（元）"] == (0, 0)
    context = funding_export.pdf_context(result)
    assert context["draft"] is True and context["approved_on"] is None


def test_plans_are_listed_for_their_city_and_for_admin(plan, officer, world, create_user):
    assert funding.plans_for(officer) == [plan]
    assert funding.plans_for(create_user("admin")) == [plan]
    assert funding.plans_for(world["officers"]["zhongmu"]) == []
    assert funding.plans_for(world["officers"]["other_city"]) == []
    assert funding.plan_sums([plan.id]) == {plan.id: (4, 1_950_000)}
    assert db.session.scalar(sa.select(sa.func.count(FundingPlan.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(RewardGrant.id))) == 0


# --- Racing writers (PostgreSQL) -----------------------------------------------------------------------------------


def test_two_officers_approving_at_once_approve_once(app, plan, officer, create_user, now):
    from portal.accounts.models import User
    from tests.support.concurrency import postgresql_only, run_concurrently

    postgresql_only()
    other_id = create_user("officer", organisation_id=officer.organisation_id).id
    officer_id, plan_id = officer.id, plan.id

    def approve_as(user_id):
        return lambda: funding.approve(db.session.get(FundingPlan, plan_id), actor=db.session.get(User, user_id),
                                       now=now)

    outcomes = run_concurrently(app, [approve_as(officer_id), approve_as(other_id)])
    assert sorted(type(o).__name__ if o != "ok" else o for o in outcomes) == ["Conflict", "ok"], outcomes
    db.session.expire_all()
    assert len(audits("funding.plan_approved")) == 1
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id)).where(
        GeneratedDocument.key == f"funding-plan:{plan_id}")) == 1


def test_a_line_change_racing_the_approval_is_frozen_or_refused(app, plan, officer, world, now):
    from portal.accounts.models import User
    from tests.support.concurrency import postgresql_only, run_concurrently

    postgresql_only()
    line_id, officer_id, plan_id = line_of(plan, world, "A").id, officer.id, plan.id

    def change():
        funding.update_line(db.session.get(FundingLine, line_id), values(requested=100_000),
                            actor=db.session.get(User, officer_id), now=now)

    def approve():
        funding.approve(db.session.get(FundingPlan, plan_id), actor=db.session.get(User, officer_id), now=now)

    outcomes = run_concurrently(app, [change, approve])
    # Outcomes come in the order the attempts finished: the approval always succeeds, the change before it or not.
    assert outcomes.count("ok") >= 1 and all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    db.session.expire_all()
    approved = db.session.get(FundingPlan, plan_id)
    assert approved.status == PlanStatus.APPROVED
    result = funding.compute(approved)
    assert not result.stale  # the frozen amounts are those of the lines as they stand
    assert result.totals.allocated == POOL


def test_two_plans_of_one_year_created_at_once_make_one(app, officer, city_bureau, now):
    from portal.accounts.models import Organisation, User
    from tests.support.concurrency import postgresql_only, run_concurrently

    postgresql_only()
    officer_id, city_id = officer.id, city_bureau.id
    outcomes = run_concurrently(app, [
        lambda: funding.create_plan(db.session.get(Organisation, city_id), fiscal_year=2027, pool=1000,
                                    actor=db.session.get(User, officer_id), now=now) for _ in range(2)])
    assert sorted(type(o).__name__ if o != "ok" else o for o in outcomes) == ["Conflict", "ok"], outcomes
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(FundingPlan.id))) == 1


# --- Frozen at approval (issue 8 fixes) ------------------------------------------------------------------------------

A_LABELS = ["贫困村+30%", "边远/欠发达地区+20%", "服务贫困户350户+15%", "区县上年度考核优秀+15%"]


def test_an_approved_plan_shows_the_tilts_weights_and_settings_it_was_approved_with(plan, officer, world, app,
                                                                                     now):
    funding.approve(plan, actor=officer, now=now)
    db.session.commit()
    approved_settings = plan.frozen_settings
    assert approved_settings.startswith("倾斜设置：贫困村+30%")
    before = app.config["FUNDING_TILTS"]
    app.config["FUNDING_TILTS"] = TiltSettings(poor_village=Decimal("0.90"))
    try:
        result = funding.compute(plan)
        rows = by_key(result, world)
        assert rows["A"].tilt_labels == A_LABELS
        assert (rows["A"].tilt_total, rows["A"].weight) == (Decimal("0.80"), Decimal("126"))
        assert (rows["D"].tilt_labels, rows["D"].weight) == (["贫困村+30%"], Decimal("26"))
        assert result.settings_text == approved_settings and result.stale
        body = funding_export.notice_body(result)
        assert "倾斜因素贫困村+30%、边远/欠发达地区+20%" in body and "权重126，" in body
        assert "+90%" not in body and approved_settings in body
        context = funding_export.pdf_context(result)
        assert context["settings"] == approved_settings
        assert context["rows"][0]["tilts"] == "、".join(A_LABELS) and context["rows"][0]["weight"] == "126"
        sheet = load_workbook(io.BytesIO(funding_export.workbook_bytes(result)))["资金安排"]
        first = [c.value for c in sheet[funding_export.HEADER_ROW + 1]]
        assert first[5] == "、".join(A_LABELS) and first[6] == "+80%" and first[7] == 126
        funding.publish(plan, actor=officer, now=now)
        notice = db.session.get(Notice, plan.notice_id)
        assert "+90%" not in notice.body and approved_settings in notice.body
    finally:
        app.config["FUNDING_TILTS"] = before


@pytest.mark.parametrize("damage", ["tilts", "weight", "settings", "amount"])
def test_publication_is_refused_when_the_frozen_figures_do_not_agree(plan, officer, world, now, damage):
    funding.approve(plan, actor=officer, now=now)
    line = line_of(plan, world, "A")
    if damage == "tilts":
        line.frozen_tilts = ""
    elif damage == "weight":
        line.frozen_tilts = json.dumps(json.loads(line.frozen_tilts) | {"weight": "130"})
    elif damage == "settings":
        plan.frozen_settings = ""
    else:
        line.amount = line.requested + 1
    db.session.commit()
    assert funding.frozen_problems(plan)
    with pytest.raises(Conflict, match="cannot be published"):
        funding.publish(plan, actor=officer, now=now)
    assert plan.status == PlanStatus.APPROVED and plan.notice_id is None


def test_approval_brings_the_district_grades_up_to_date(plan, officer, world, city_bureau, now):
    """An assessment confirmed after the candidates were added counts at approval, audited."""
    draft = db.session.scalar(sa.select(Assessment).where(Assessment.organisation_id == world["xinzheng"].id,
                                                          Assessment.year == 2026))
    draft.status, draft.score, draft.grade, draft.confirmed_at = AssessmentStatus.CONFIRMED, Decimal("92"), \
        "excellent", now
    db.session.commit()
    assert line_of(plan, world, "C").district_grade is None
    funding.approve(plan, actor=officer, now=now)
    db.session.commit()
    line = line_of(plan, world, "C")
    assert line.district_grade == "excellent"
    assert "区县上年度考核优秀+15%" in json.loads(line.frozen_tilts)["tilts"][0][0]
    assert json.loads(audits("funding.district_grades_refreshed")[0].new_values)["district_grades"] == {
        str(line.id): [None, "excellent"]}


def test_a_project_commendation_earns_its_ngo_one_reward_grant(plan, officer, city_bureau, create_org, world, now):
    ngo = create_org(name="绿洲社工服务中心")
    listed = commendation_list(city_bureau, 2026, [(ngo, "second", SubjectKind.NGO),
                                                   (world["zhongmu"], "first", SubjectKind.BUREAU)])
    db.session.add(Commendation(list_id=listed.id, subject=SubjectKind.PROJECT, organisation_id=ngo.id,
                                project_id=world["projects"]["A"].id, level="first", rule="project_final_review",
                                reason="末期效果评估优秀。"))
    db.session.commit()
    added = funding.add_rewards(plan, actor=officer, now=now)
    assert sorted((g.commendation.subject, g.commendation.organisation_id, int(g.amount)) for g in added) == [
        (SubjectKind.NGO, ngo.id, 30_000), (SubjectKind.PROJECT, ngo.id, 50_000)]
    assert funding.add_rewards(plan, actor=officer, now=now) == []  # one grant per commendation
    assert all(g.commendation.subject != SubjectKind.BUREAU for g in plan.rewards)


def test_excel_cells_never_hold_a_formula_from_a_title(plan, officer, world, now):
    world["projects"]["B"].title = '=HYPERLINK("http://evil.example","点击")'
    world["projects"]["D"].title = "@SUM(A1)"
    db.session.commit()
    book = load_workbook(io.BytesIO(funding_export.workbook_bytes(funding.compute(plan))))
    cells = [c for row in book["资金安排"].iter_rows() for c in row if isinstance(c.value, str)]
    hyperlink = next(c for c in cells if "HYPERLINK" in c.value)
    assert hyperlink.value == '=HYPERLINK("http://evil.example","点击")' and hyperlink.data_type == "s"
    assert hyperlink.quotePrefix
    at = next(c for c in cells if c.value == "@SUM(A1)")
    assert at.data_type == "s" and at.quotePrefix
    assert not [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.data_type == "f"]


# --- The settings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("poor_village=NaN", "poor_village"), ("remote_area=Infinity", "remote_area"),
    ("households_cap=-inf", "households_cap"), ("poor_village=abc", "poor_village"),
    ("per_hundred_households=-0.05", "per_hundred_households"), ("remote_area=-0.1", "remote_area"),
    ("excellent=1.5", "excellent"), ("fail=-2", "fail"), ("good=nan", "good"), ("poor_village", "poor_village"),
    ("wealth=0.1", "wealth"),
])
def test_bad_funding_tilt_settings_stop_the_start_naming_the_key(text, key):
    from portal.assessment import _tilts

    with pytest.raises(ValueError, match=re.escape(repr(key))):
        _tilts(text)


def test_good_funding_tilt_settings_are_read():
    from portal.assessment import _tilts

    settings = _tilts("poor_village=0.4, households_cap=0, excellent=1, fail=-1")
    assert (settings.poor_village, settings.households_cap) == (Decimal("0.4"), Decimal("0"))
    assert (settings.district["excellent"], settings.district["fail"]) == (Decimal("1"), Decimal("-1"))


@pytest.mark.parametrize(("text", "key"), [
    ("first=NaN,second=30000,third=10000", "first"), ("first=50000,second=Infinity,third=10000", "second"),
    ("first=50000,second=30000,third=-1", "third"), ("first=50000,second=3e4.5,third=10000", "second"),
    ("first=50000,second=30000,third=10000.5", "third"), ("first=50000,second=30000,fourth=1", "fourth"),
    ("first=50000,second,third=1", "second"),
])
def test_bad_reward_grant_settings_stop_the_start_naming_the_key(text, key):
    from portal.assessment import _rewards

    with pytest.raises(ValueError, match=re.escape(repr(key))):
        _rewards(text)
    with pytest.raises(ValueError, match="first, second and third"):
        _rewards("first=50000,second=30000")
    assert _rewards("first=5e4,second=30000,third=0")["first"] == Decimal("50000")


def test_the_demo_plan_skips_reward_grants_without_a_confirmed_list(officer, city_bureau, now):
    from portal.seed_funding import funding_stage

    assert funding.reward_list(FundingPlan(bureau_id=city_bureau.id, fiscal_year=2027)) is None
    plan = funding_stage(city_bureau, officer, now)
    db.session.commit()
    assert plan.status == PlanStatus.PUBLISHED and plan.rewards == [] and plan.lines
