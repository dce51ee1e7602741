"""Pure rules for tenders: periods, method constraints, scoring criteria, draws, bids, opening.

No Flask, no session: values in, values out. Every number cites its source in
``../shared/RULES-CN.md`` (L = 政府采购法, R = 实施条例, 87/74 = 财政部令87号/74号, 46 = 财库〔2020〕46号).
Dates are Beijing calendar days; instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from portal.calendar import WorkingCalendar
from portal.tenders.models import (
    BidStatus,
    EvaluationMethod,
    FactorType,
    Method,
    MethodGround,
    PoolSource,
    TenderStatus,
)

BEIJING = ZoneInfo("Asia/Shanghai")

# --- Periods -----------------------------------------------------------------------------------------
NOTICE_MIN_WORKING_DAYS = 5  # 采购公告 runs at least 5 WD (87-16, 101-8)
DOCUMENTS_MIN_WORKING_DAYS = 5  # documents available at least 5 WD (R31, 87-18)
BID_PERIOD_MIN_DAYS = 20  # at least 20 days from issuing documents to the bid deadline (L35)
CLARIFICATION_MIN_DAYS = 15  # clarifications that affect bids: at least 15 days before the deadline (R31, 87-27)
NEGOTIATION_RESPONSE_MIN_WORKING_DAYS = 3  # 谈判: documents to first response at least 3 WD (74-29)
NEGOTIATION_CLARIFICATION_MIN_WORKING_DAYS = 3  # 谈判: clarifications at least 3 WD before (74-29)
SINGLE_SOURCE_NOTICE_MIN_WORKING_DAYS = 5  # 单一来源公示 at least 5 WD before approval (R38, 74-38)

# --- Minimums ----------------------------------------------------------------------------------------
MIN_INVITED_SUPPLIERS = 3  # 邀请招标: at least 3 drawn at random (L34, 87-14)
DRAW_POOL_FACTOR = 2  # database or recommendation pools at least twice the draw (87-14)
MIN_NEGOTIATION_SUPPLIERS = 3  # 谈判: at least 3 suppliers invited and remaining (L38, 74-12, 74-37)
MIN_BIDS_TO_OPEN = 3  # fewer than 3 bids: do not open, the tender fails (L36, 87-41, 87-43)
PRICE_WEIGHT_MIN_SERVICES = 10  # price weight for services at least 10% (87-55)
TOTAL_POINTS = 100
OPENING_OFFICERS = 2  # opening needs two different officers of the bureau (DESIGN: sealed bids)

# The criterion factor types that are unlawful as scoring points (RULES-CN B, rule 8).
BANNED_FACTORS = {
    FactorType.REGIONAL_AWARD: "R20(4)",
    FactorType.SIZE: "87-17, 46-5",
    FactorType.QUALIFICATION: "87-55",
    # Commendations (表彰), yearly assessment and review grades and funding tilts (资金倾斜) move funding, never bid
    # points (RULES-CN B rule 8 and I.40; issue 8, item 5).
    FactorType.COMMENDATION: "R20(4); issue 8",
}
SIZE_TERMS = (
    "注册资本", "注册资金", "资产总额", "净资产", "营业收入", "营业额",
    "从业人员数", "从业人员总", "从业人数", "人员总数", "员工人数", "职工人数", "人员规模", "机构规模",
    "利润", "纳税额", "纳税", "股权", "成立年限", "经营年限", "成立时间", "成立满",
    "registered capital", "revenue", "turnover", "profit", "tax paid", "number of employees",
    "staff numbers", "headcount", "years in business", "years of operation",
)
REGION_TERMS = (
    "本地", "本市", "本省", "本区", "本县", "当地", "郑州市", "河南省", "省内", "辖区内",
    "省级", "市级", "区级", "县级",
    "local", "in this city", "in this province", "in this district",
)
AWARD_TERMS = ("获奖", "奖项", "荣誉", "表彰", "称号", "业绩", "award", "honour", "honor", "performance record")
INDUSTRY_AWARD_TERMS = ("行业内获奖", "行业奖", "系统内表彰", "industry award")
# The honours the commendation certificates print (copied from portal/assessment/commendations.py HONOUR_CN: the
# tenders never import the assessment).
HONOUR_NAMES = ("优秀社会工作服务机构", "优秀社会工作服务项目", "社会工作服务先进单位")
# The portal's own outcomes, which belong to fund allocation (issue 8): found before a region is looked for, so
# that "上年度获市级表彰" is named for what it is. Words of lawful criteria (需求评估, 服务方案优秀的得10分,
# 根据需求评估结果制定个案计划) are not here: 评估结果 is an outcome only after 绩效/项目/履约.
COMMENDATION_TERMS = (
    "年度考核", "考核等次", "考核等级", "考核结果", "考核为优秀", "评估等次", "评估等级", "评估为优秀",
    "评估结果为优秀", "评估结果为良好", "评估均为", "评估得分", "绩效评估结果", "项目评估结果", "履约评估结果",
    "表彰名单", "表彰奖励", "获评", "评为优秀", "评为先进", "评为示范", "奖补", "资金倾斜", "倾斜资金",
    *HONOUR_NAMES,
    "yearly assessment", "annual assessment", "assessment grade", "assessment result", "review grade",
    "review result", "review score", "funding tilt", "reward grant",
)
YEAR_TERMS = ("年度", "去年", "annual", "yearly", "last year")  # a year's 表彰 is the commendation list
# The bidder having been commended (获/受/被…表彰), not a service that commends volunteers (志愿者表彰机制).
COMMENDED = re.compile(r"(获|受|被|得到)[^，。；,.;]{0,15}表彰|commendation|commended", re.IGNORECASE)

GROUNDS_BY_METHOD = {
    Method.OPEN: frozenset(),
    Method.INVITED: frozenset({MethodGround.FEW_SUPPLIERS, MethodGround.COST_DISPROPORTIONATE}),
    Method.NEGOTIATION: frozenset({MethodGround.TENDER_FAILED, MethodGround.CANNOT_SPECIFY, MethodGround.URGENT,
                                   MethodGround.PRICE_UNKNOWN}),
    Method.SINGLE_SOURCE: frozenset({MethodGround.ONLY_SUPPLIER, MethodGround.EMERGENCY, MethodGround.ADD_ON}),
}

EVALUATION_BY_METHOD = {
    Method.OPEN: EvaluationMethod.COMPREHENSIVE,  # 综合评分法 for social work (R34, 87-55)
    Method.INVITED: EvaluationMethod.COMPREHENSIVE,
    Method.NEGOTIATION: EvaluationMethod.LOWEST_PRICE,  # lowest compliant final quote wins (74-35)
    Method.SINGLE_SOURCE: EvaluationMethod.LOWEST_PRICE,
}

TRANSITIONS: dict[str, frozenset[str]] = {
    TenderStatus.DRAFT: frozenset({TenderStatus.PUBLISHED, TenderStatus.CANCELLED}),
    TenderStatus.PUBLISHED: frozenset({TenderStatus.OPENED, TenderStatus.NEGOTIATING, TenderStatus.FAILED,
                                       TenderStatus.CANCELLED}),
    TenderStatus.NEGOTIATING: frozenset({TenderStatus.OPENED, TenderStatus.EVALUATING, TenderStatus.AWARDED,
                                         TenderStatus.FAILED}),
    TenderStatus.OPENED: frozenset({TenderStatus.EVALUATING, TenderStatus.NEGOTIATING, TenderStatus.FAILED}),
    TenderStatus.EVALUATING: frozenset({TenderStatus.AWARDED, TenderStatus.FAILED}),
    # An upheld challenge (质疑成立) sends the result back to the committee or ends the procurement (94-16).
    TenderStatus.AWARDED: frozenset({TenderStatus.CONCLUDED, TenderStatus.EVALUATING, TenderStatus.FAILED}),
    TenderStatus.CONCLUDED: frozenset(),
    TenderStatus.FAILED: frozenset(),
    TenderStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class Problem:
    """A broken rule: a code for the message, the article it comes from, and values for the message."""

    code: str
    article: str = ""
    params: dict = field(default_factory=dict)


def local_date(instant: datetime) -> date:
    """The Beijing calendar day of a UTC instant."""
    return instant.astimezone(BEIJING).date()


def beijing_instant(day: date, at: time) -> datetime:
    """A Beijing wall-clock time on a day, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=BEIJING).astimezone(UTC)


def can_transition(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


# --- Method and threshold --------------------------------------------------------------------------


def method_problems(method: str, budget: Decimal, threshold: Decimal, *, ground: str | None,
                    approval_document: str, approval_date: date | None, approval_body: str,
                    single_source_supplier: int | None) -> list[Problem]:
    """Whether the chosen method is lawful for this budget and is properly grounded and approved (A.1-A.5)."""
    problems = []
    if method != Method.OPEN:
        if ground not in GROUNDS_BY_METHOD[Method(method)]:
            problems.append(Problem("ground_missing", "L29-L31, R26-R27"))
        if budget >= threshold and not (approval_document.strip() and approval_date and approval_body.strip()):
            problems.append(Problem("approval_missing", "L27, R23, 74-4", {"threshold": threshold}))
    if method == Method.SINGLE_SOURCE and not single_source_supplier:
        problems.append(Problem("single_source_supplier", "R38, 74-38"))
    return problems


# --- Timetable ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timetable:
    published_on: date  # the day the notice goes out (Beijing)
    notice_until: date | None
    documents_from: date | None
    documents_until: date | None
    deadline: datetime | None  # bid deadline / first response / (none for single source)


def earliest_deadline_day(method: str, documents_from: date, calendar: WorkingCalendar) -> date:
    """The first lawful day for the bid deadline (or a negotiation's first response)."""
    if method == Method.NEGOTIATION:
        return calendar.add_working_days(documents_from, NEGOTIATION_RESPONSE_MIN_WORKING_DAYS)
    if method in (Method.OPEN, Method.INVITED):
        # At least 20 days; a last day that is not a working day moves to the next one (87-85).
        return calendar.add_days(documents_from, BID_PERIOD_MIN_DAYS)
    raise ValueError(f"no bid deadline for {method}")


def timetable_problems(method: str, timetable: Timetable, calendar: WorkingCalendar) -> list[Problem]:
    """Every period rule of the method, checked against the working-day calendar (C.9-C.11, H.34-H.35).

    Raises CalendarYearMissing when a date falls in a year nobody entered.
    """
    t = timetable
    problems = []
    if method == Method.SINGLE_SOURCE:
        needed = calendar.add_working_days(t.published_on, SINGLE_SOURCE_NOTICE_MIN_WORKING_DAYS)
        if t.notice_until is None or t.notice_until < needed:
            problems.append(Problem("single_source_notice", "R38, 74-38",
                                    {"days": SINGLE_SOURCE_NOTICE_MIN_WORKING_DAYS, "date": needed}))
        return problems
    if t.documents_from is None or t.documents_until is None or t.deadline is None:
        return [Problem("dates_missing")]
    if t.documents_from < t.published_on:
        problems.append(Problem("documents_before_notice", "87-18"))
    if method == Method.OPEN:
        needed = calendar.add_working_days(t.published_on, NOTICE_MIN_WORKING_DAYS)
        if t.notice_until is None or t.notice_until < needed:
            problems.append(Problem("notice_period", "87-16, 101-8", {"days": NOTICE_MIN_WORKING_DAYS, "date": needed}))
    if method in (Method.OPEN, Method.INVITED):
        needed = calendar.add_working_days(t.documents_from, DOCUMENTS_MIN_WORKING_DAYS)
        if t.documents_until < needed:
            problems.append(Problem("documents_period", "R31, 87-18",
                                    {"days": DOCUMENTS_MIN_WORKING_DAYS, "date": needed}))
    deadline_day = local_date(t.deadline)
    earliest = earliest_deadline_day(method, t.documents_from, calendar)
    if deadline_day < earliest:
        article = "74-29" if method == Method.NEGOTIATION else "L35"
        days = NEGOTIATION_RESPONSE_MIN_WORKING_DAYS if method == Method.NEGOTIATION else BID_PERIOD_MIN_DAYS
        problems.append(Problem("deadline_too_early", article, {"days": days, "date": earliest}))
    elif not calendar.is_working_day(deadline_day):
        problems.append(Problem("deadline_not_working_day", "87-85", {"date": deadline_day}))
    if t.documents_until > deadline_day:
        problems.append(Problem("documents_after_deadline"))
    return problems


def deadline_after_clarification(method: str, issued_on: date, deadline: datetime,
                                 calendar: WorkingCalendar) -> datetime:
    """The deadline once a clarification affecting bids is issued on ``issued_on``.

    Tenders need 15 days between the clarification and the deadline (R31, 87-27); negotiations
    3 working days (74-29). If there are fewer, the deadline moves to the first lawful day at the
    same Beijing time; otherwise it stays.
    """
    if method == Method.NEGOTIATION:
        earliest = calendar.add_working_days(issued_on, NEGOTIATION_CLARIFICATION_MIN_WORKING_DAYS)
    else:
        earliest = calendar.add_days(issued_on, CLARIFICATION_MIN_DAYS)
    deadline_day = local_date(deadline)
    if deadline_day >= earliest:
        return deadline
    return beijing_instant(earliest, deadline.astimezone(BEIJING).timetz().replace(tzinfo=None))


# --- Criteria ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionSpec:
    factor_type: str
    name: str
    weight: int
    description: str = ""


_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def _normalise(text: str) -> str:
    return _NOISE.sub("", text).lower()


def _mentions(text: str, terms) -> bool:
    lowered = text.lower()
    return any(term.lower() in lowered for term in terms)


def criterion_banned_reason(criterion: CriterionSpec, requirements: list[str]) -> str | None:
    """Which banned kind a criterion is (by its type or by what its words say), or None."""
    if criterion.factor_type in BANNED_FACTORS:
        return criterion.factor_type
    text = f"{criterion.name} {criterion.description}"
    if _mentions(text, SIZE_TERMS):
        return FactorType.SIZE
    if _mentions(text, COMMENDATION_TERMS) or (_mentions(text, YEAR_TERMS) and COMMENDED.search(text)):
        return FactorType.COMMENDATION
    if (_mentions(text, REGION_TERMS) and _mentions(text, AWARD_TERMS)) or _mentions(text, INDUSTRY_AWARD_TERMS):
        return FactorType.REGIONAL_AWARD
    if COMMENDED.search(text):  # a commendation without a region named
        return FactorType.COMMENDATION
    name, full = _normalise(criterion.name), _normalise(text)
    for requirement in requirements:
        req = _normalise(requirement)
        # A requirement repeated inside a criterion, or a criterion named after (part of) a requirement;
        # short generic names such as 服务方案 are not taken for a requirement.
        if len(req) >= 4 and (req in full or name == req or (len(name) >= 6 and name in req)):
            return FactorType.QUALIFICATION
    return None


def criteria_problems(method: str, evaluation_method: str, price_weight: int, criteria: list[CriterionSpec],
                      requirements: list[str]) -> list[Problem]:
    """Lawful scoring: the right evaluation method, weights adding up, price weight, no banned factors."""
    problems = []
    expected = EVALUATION_BY_METHOD[Method(method)]
    if evaluation_method != expected:
        problems.append(Problem("evaluation_method", "R34, 87-55, 74-35", {"method": expected}))
    for criterion in criteria:
        reason = criterion_banned_reason(criterion, requirements)
        if reason:
            problems.append(Problem(f"banned_{reason}", BANNED_FACTORS[FactorType(reason)], {"name": criterion.name}))
        if criterion.weight <= 0:
            problems.append(Problem("weight_positive", params={"name": criterion.name}))
    names = [_normalise(c.name) for c in criteria]
    if len(set(names)) != len(names):
        problems.append(Problem("duplicate_criterion"))
    if evaluation_method == EvaluationMethod.COMPREHENSIVE:
        if price_weight < PRICE_WEIGHT_MIN_SERVICES:
            problems.append(Problem("price_weight", "87-55", {"min": PRICE_WEIGHT_MIN_SERVICES}))
        if not criteria:
            problems.append(Problem("criteria_missing", "87-55"))
        total = price_weight + sum(c.weight for c in criteria)
        if total != TOTAL_POINTS:
            problems.append(Problem("weights_total", "87-55", {"total": total}))
    return problems


# --- Invited tender: the draw ------------------------------------------------------------------------


def draw_problems(pool_size: int, count: int, pool_source: str) -> list[Problem]:
    """At least 3 drawn; a database or recommendation pool at least twice the draw (L34, 87-14)."""
    problems = []
    if count < MIN_INVITED_SUPPLIERS:
        problems.append(Problem("draw_too_few", "L34, 87-14", {"min": MIN_INVITED_SUPPLIERS}))
    needed = count * DRAW_POOL_FACTOR if pool_source in (PoolSource.DATABASE, PoolSource.RECOMMENDATION) else count
    if pool_size < needed:
        problems.append(Problem("pool_too_small", "87-14", {"needed": needed, "size": pool_size}))
    return problems


def draw_suppliers(pool: list[int], count: int, seed: str) -> list[int]:
    """Draw ``count`` ids from the pool at random; the same pool and seed always give the same result."""
    return random.Random(seed).sample(sorted(pool), count)  # noqa: S311 - fairness, not secrecy: the seed is published


# --- Bids and opening -------------------------------------------------------------------------------


def bidding_open(now: datetime, deadline: datetime | None) -> bool:
    """Bids are taken strictly before the deadline; at the deadline and after, never (87-33, 发改委令20号)."""
    return deadline is not None and now < deadline


def price_problems(price: Decimal, cap: Decimal) -> list[Problem]:
    """A price is positive, in fen, and not above the ceiling or the budget (87-63)."""
    if price <= 0:
        return [Problem("price_not_positive")]
    if price.normalize().as_tuple().exponent < -2:  # 350000.000 is whole fen; 100.001 is not
        return [Problem("price_precision")]
    if price > cap:
        return [Problem("price_above_cap", "87-63", {"cap": cap})]
    return []


def opening_problems(now: datetime, deadline: datetime | None, *, starter_id: int | None,
                     confirmer_id: int | None) -> list[Problem]:
    """Opening happens at or after the deadline and needs two different officers."""
    if deadline is None or now < deadline:
        return [Problem("opening_before_deadline", "87-39")]
    if starter_id is not None and confirmer_id is not None and starter_id == confirmer_id:
        return [Problem("opening_same_officer")]
    return []


def too_few_bids(live_bids: int) -> bool:
    """Fewer than 3 bids: the tender fails without opening (L36, 87-41, 87-43)."""
    return live_bids < MIN_BIDS_TO_OPEN


def live(status: str) -> bool:
    return status == BidStatus.SUBMITTED


# --- Single source ----------------------------------------------------------------------------------


def single_source_approval_problems(today: date, notice_until: date | None, unanswered_objections: int,
                                    ) -> list[Problem]:
    """Approval only after the whole 公示 and with every objection answered (R38, 74-38, 74-39)."""
    problems = []
    if notice_until is None or today <= notice_until:
        problems.append(Problem("notice_running", "R38", {"date": notice_until}))
    if unanswered_objections:
        problems.append(Problem("objections_open", "74-39", {"count": unanswered_objections}))
    return problems


def agreed_price_problems(price: Decimal, budget: Decimal) -> list[Problem]:
    """The negotiated single-source price may not exceed the budget (74-43)."""
    if price <= 0:
        return [Problem("price_not_positive")]
    if price > budget:
        return [Problem("agreed_above_budget", "74-43", {"budget": budget})]
    return []


# --- Phase ------------------------------------------------------------------------------------------


def phase(status: str, method: str, now: datetime, *, deadline: datetime | None, notice_until: date | None) -> str:
    """What stage a tender is in, from its stored state and the clock (so deadlines hold without jobs)."""
    if status != TenderStatus.PUBLISHED:
        return status
    if method == Method.SINGLE_SOURCE:
        if notice_until is not None and local_date(now) <= notice_until:
            return "public_notice"
        return "awaiting_approval"
    if bidding_open(now, deadline):
        return "bidding"
    return "closed"  # deadline passed, waiting for the opening


def day_start(day: date) -> datetime:
    """Midnight in Beijing as a UTC instant."""
    return beijing_instant(day, time(0, 0))


ONE_MICROSECOND = timedelta(microseconds=1)
