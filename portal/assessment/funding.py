"""The funding plan (资金安排) of a fiscal year: the city bureau shares a pool among the year's service projects of the
city and its districts by tilted weight, compares it with the same pool shared without tilts, adds reward grants
(奖补) for the NGOs commended the year before, approves the plan and publishes it.

Every line explains its amount in Chinese words and numbers that add up: the base priority, each tilt by name and
percent, the weight, the round that settled it (what was left, the weights still open, its share), the cap, the
rounding to whole yuan and the difference the tilts made. While the plan is a draft the amounts are computed afresh
on every view; approval freezes them (amount, untilted amount, explanation) on the lines and in the PDF.

Services take the actor and the clock, check who may act, lock the plan row (SELECT ... FOR UPDATE), flush, audit
and queue notifications; the caller commits. The allocation itself is ``rules.allocate`` (pure).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import Organisation
from portal.assessment import rules
from portal.assessment.common import city_bureau_ids, users_with_role
from portal.assessment.models import (
    LEVEL_NAMES_CN,
    Assessment,
    AssessmentStatus,
    Commendation,
    CommendationList,
    FundingLine,
    FundingPlan,
    Level,
    ListStatus,
    PlanStatus,
    RewardGrant,
    SubjectKind,
    _city_officer,
)
from portal.assessment.rules import Allocation, Candidate, Tilt, TiltSettings
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notices import NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import issue_document
from portal.permissions import Role
from portal.projects.models import ProjectStatus, ServiceProject
from portal.reviews.rules import GRADE_NAMES

TITLE_MAX = 200  # FundingPlan.title
POOL_MAX = 999_999_999_999  # Money is Numeric(14, 2)
HOUSEHOLDS_MAX = 10_000_000  # a typing slip, not a county
FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR = 2000, 2100  # the years the working-day calendar accepts
PDF_TEMPLATE = "assessment/funding_pdf.html"  # templates/pdf/assessment/funding_pdf.html
PDF_PREFIX = "ZJAP"  # 资金安排方案 document numbers: ZJAP-2026-00001 (the notices are ZJ-)
TILT_NAMES = {"poor_village": "贫困村", "remote_area": "边远/欠发达地区", "households": "服务贫困户",
              "district": "区县上年度考核"}
FACT_NAMES = {"requested": "申请金额", "base_priority": "基础优先级", "poor_village": "贫困村",
              "remote_area": "边远/欠发达地区", "poor_households": "贫困户数"}
METHOD = ("分配方法：每个项目的权重 = 基础优先级 × (1 + 倾斜合计)；资金池按权重比例分配，任何项目不超过其申请金额；"
          "按比例应得不少于申请金额的项目按申请金额足额安排（封顶），余下的资金在其他项目间再按权重分配，"
          "直至资金或申请分完；金额为整数元，各项目先取整数部分，余下的元按零头从大到小每项补1元（最大余数法），"
          "合计恰好等于资金池或全部申请之和中较小者。对照方案用同一资金池，权重只取基础优先级。")


def plan_link(plan: FundingPlan, page: str = "") -> str:
    """The plan's page (services run without a request: plain paths, served by funding_views)."""
    return f"/assessment/funding/{plan.id}" + (f"/{page}" if page else "")


def default_title(fiscal_year: int) -> str:
    return f"{fiscal_year}年度社会工作服务项目资金安排"


# --- Words and numbers ----------------------------------------------------------------------------------------------


def yuan(amount: int | Decimal) -> str:
    """Whole yuan with thousands separators: 1,000,000."""
    return f"{int(amount):,}"


def fen(value: Fraction) -> tuple[str, bool]:
    """An exact amount shown to the fen (half up), and whether the figure shown is exact: 342,857.14 / 300,000."""
    shown = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    exact = Fraction(shown) == value
    text = f"{int(shown):,}" if shown == shown.to_integral_value() else f"{shown:,.2f}"
    return text, exact


def number(value: Decimal | int) -> str:
    """A weight or priority, exact, without trailing zeros: 126, 78.75."""
    return format(Decimal(value).normalize(), "f")


def percent(share: Decimal) -> str:
    """A tilt as an exact signed percent: +30%, −10%, +12.5%."""
    value = number(Decimal(share) * 100)
    return f"−{value.lstrip('-')}%" if share < 0 else f"+{value}%"


def tilt_label(tilt: Tilt) -> str:
    """The tilt's short Chinese name with its percent, e.g. 贫困村+30%, 服务贫困户350户+15%,
    区县上年度考核不合格−10%."""
    if tilt.code == "households":
        return f"服务贫困户{tilt.detail['households']}户{percent(tilt.share)}"
    if tilt.code == "district":
        return f"区县上年度考核{GRADE_NAMES.get(tilt.detail['grade'], tilt.detail['grade'])}{percent(tilt.share)}"
    return f"{TILT_NAMES[tilt.code]}{percent(tilt.share)}"


def _tilt_sentence(tilt: Tilt, settings: TiltSettings) -> str:
    if tilt.code != "households":
        return tilt_label(tilt)
    hundreds = tilt.detail["hundreds"]
    uncapped = settings.per_hundred_households * hundreds
    rule = f"每满100户{percent(settings.per_hundred_households)}，最多{percent(settings.households_cap)}"
    if uncapped > tilt.share:
        rule += f"；{hundreds}个百户应为{percent(uncapped)}，按上限计"
    return f"{tilt_label(tilt)}（{rule}）"


def settings_words(settings: TiltSettings) -> str:
    """The tilt settings the plan was computed with, in words."""
    district = "、".join(f"{GRADE_NAMES.get(g, g)}{percent(s)}" for g, s in settings.district.items() if s)
    return (f"倾斜设置：贫困村{percent(settings.poor_village)}；边远/欠发达地区{percent(settings.remote_area)}；"
            f"每服务100户贫困户{percent(settings.per_hundred_households)}，最多{percent(settings.households_cap)}；"
            f"区县上年度考核{district or '无'}。")


# --- The rounds of an allocation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """One sharing round of ``rules.allocate``, rebuilt from its result: what was left, who shared it and how."""

    number: int
    available: int  # whole yuan left to share at the start of the round
    total_weight: Decimal  # the weights of those sharing (their count when weight-0 lines share equally)
    count: int  # how many lines shared in this round
    equal: bool  # weight-0 lines sharing equally what the weighted ones left
    capped_before: int  # lines settled at their request in the earlier rounds
    capped_before_amount: int
    leftover: int  # yuan handed out one each to the largest remainders (the last round only)


def rounds_of(pool: int, candidates: list[Candidate], result: dict) -> dict[int, Round]:
    """Rebuild each round of ``rules.allocate(pool, candidates)`` from its result (see its docstring): those settled
    in round r or later shared what the earlier rounds left, the weighted ones by weight, weight-0 ones equally once
    every weighted one was capped."""
    numbers = sorted({a.round for a in result.values() if a.round >= 1})
    rounds = {}
    for r in numbers:
        earlier = [c for c in candidates if 1 <= result[c.key].round < r]
        available = pool - sum(result[c.key].amount for c in earlier)
        sharing = [c for c in candidates if c.request > 0 and result[c.key].round >= r]
        weighted = [c for c in sharing if c.weight > 0]
        equal = not weighted
        members = sharing if equal else weighted
        total_weight = Decimal(len(members)) if equal else sum((c.weight for c in members), Decimal("0"))
        settled_here = [c for c in members if result[c.key].round == r]
        leftover = 0
        if settled_here and not any(result[c.key].capped for c in settled_here):
            leftover = sum(result[c.key].amount - math.floor(result[c.key].share) for c in settled_here)
        rounds[r] = Round(r, available, total_weight, len(members), equal, len(earlier),
                          sum(result[c.key].amount for c in earlier), leftover)
    return rounds


# --- The explanation of one line ------------------------------------------------------------------------------------


def weight_words(base_priority: int, tilts: list[Tilt], weight: Decimal, settings: TiltSettings, *,
                 untilted: bool = False) -> str:
    """How the weight follows from the base priority and the tilts (``untilted``: the comparison, tilts ignored)."""
    text = f"基础优先级{base_priority}（来自需求评估）。"
    if untilted:
        return text + f"对照方案不计倾斜，权重 = 基础优先级 = {number(weight)}。"
    if not tilts:
        return text + f"无倾斜因素，权重 = 基础优先级 = {number(weight)}。"
    tilt_sum = sum((t.share for t in tilts), Decimal("0"))
    text += "倾斜因素：" + "；".join(_tilt_sentence(t, settings) for t in tilts) + f"；倾斜合计{percent(tilt_sum)}。"
    if 1 + tilt_sum < 0:
        return text + f"1 + 倾斜合计小于0，按0计，权重 = {base_priority} × 0 = 0。"
    sign = "+" if tilt_sum >= 0 else "−"
    return text + f"权重 = {base_priority} × (1 {sign} {percent(tilt_sum)[1:]}) = {number(weight)}。"


def allocation_words(*, weight: Decimal, request: int, allocation: Allocation, rounds: dict[int, Round]) -> str:
    """How the amount follows from the rounds: the share, the cap, the rounding to whole yuan."""
    if request == 0:
        return "申请金额为0元，不安排资金。"
    stage = rounds.get(allocation.round)
    if stage is None or (allocation.amount == 0 and allocation.share == 0):
        if weight == 0:
            return ("权重为0的项目只分配有权重的项目全部足额安排后余下的资金；"
                    "本方案资金已分配完毕，未安排资金（0元）。")
        return "没有可分配的资金，未安排资金（0元）。"
    if stage.number == 1:
        text = "第1轮："
    else:
        text = (f"第{stage.number}轮：资金池{yuan(stage.available + stage.capped_before_amount)}元中，此前各轮已有"
                f"{stage.capped_before}个项目按申请金额足额安排，共{yuan(stage.capped_before_amount)}元，")
    share_text, exact = fen(allocation.share)
    sign = "=" if exact else "≈"
    if stage.equal:
        lead = "有权重的项目均已足额安排，余下" if stage.number > 1 else "没有权重大于0的项目，资金池"
        text += (f"{lead}{yuan(stage.available)}元由{stage.count}个权重为0的项目平均分配，"
                 f"本项目应得 {yuan(stage.available)} ÷ {stage.count} {sign} {share_text}元")
    else:
        exact_portion = Fraction(weight) * 100 / Fraction(stage.total_weight)
        portion = (Decimal(weight) * 100 / stage.total_weight).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        about = "" if Fraction(portion) == exact_portion else "约"
        what = "资金池" if stage.number == 1 else "余下"
        text += (f"{what}{yuan(stage.available)}元由{stage.count}个项目按权重分配，"
                 f"权重合计{number(stage.total_weight)}，本项目权重{number(weight)}，{about}占{portion}%，按比例应得 "
                 f"{yuan(stage.available)} × {number(weight)} ÷ {number(stage.total_weight)} {sign} {share_text}元")
    if allocation.capped:
        return text + (f"，不少于申请金额{yuan(request)}元，按申请金额足额安排{yuan(request)}元（封顶）；超出申请的部分"
                       "留在余下的资金中，由其他项目再次分配。")
    text += f"，低于申请金额{yuan(request)}元"
    floor = math.floor(allocation.share)
    if exact and allocation.share == floor:
        return text + f"，安排{yuan(allocation.amount)}元。"
    rounding = (f"（本轮各项目先取整数元，余下的{stage.leftover}元按零头从大到小每项补1元，使本轮合计恰好为"
                f"{yuan(stage.available)}元）")
    if allocation.amount > floor:
        return text + f"，取整数{yuan(floor)}元，零头较大补1元，安排{yuan(allocation.amount)}元{rounding}。"
    return text + f"，取整数安排{yuan(allocation.amount)}元{rounding}。"


def comparison_words(*, base_priority: int, amount: int, untilted_amount: int) -> str:
    """The difference the tilts made, against the same pool shared by base priority alone."""
    text = f"对照：不倾斜时（权重 = 基础优先级{base_priority}）同一资金池可安排{yuan(untilted_amount)}元，"
    difference = amount - untilted_amount
    if difference > 0:
        return text + f"倾斜使本项目多安排{yuan(difference)}元（{yuan(amount)} − {yuan(untilted_amount)}）。"
    if difference < 0:
        return text + f"倾斜使本项目少安排{yuan(-difference)}元（{yuan(untilted_amount)} − {yuan(amount)}）。"
    return text + "与倾斜后相同。"


# --- The computed plan ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineResult:
    line: FundingLine
    tilts: list[Tilt]
    tilt_total: Decimal  # the sum of the tilts' shares
    weight: Decimal
    allocation: Allocation
    untilted: Allocation  # the same pool, weight = base priority
    amount: int  # the allocation (frozen once approved)
    untilted_amount: int
    explanation: str  # Chinese words and numbers (frozen once approved)
    untilted_explanation: str
    changed_facts: list[str] = field(default_factory=list)  # facts edited away from the project's record
    frozen_labels: tuple[str, ...] | None = None  # the tilt labels frozen at approval (None: a draft's)

    @property
    def difference(self) -> int:
        return self.amount - self.untilted_amount

    @property
    def tilt_labels(self) -> list[str]:
        if self.frozen_labels is not None:
            return list(self.frozen_labels)
        return [tilt_label(t) for t in self.tilts]

    @property
    def changed_fact_names(self) -> list[str]:
        return [FACT_NAMES[name] for name in self.changed_facts]


@dataclass(frozen=True)
class Totals:
    requested: int
    allocated: int
    untilted: int
    poor_village: int  # amounts to projects in poor villages, with the tilts
    poor_village_untilted: int
    remote_area: int
    remote_area_untilted: int
    unallocated: int  # what is left of the pool when the requests are smaller
    rewards: int  # the reward grants (a separate line, not from the pool)

    @property
    def overall(self) -> int:
        return self.allocated + self.rewards


@dataclass(frozen=True)
class PlanResult:
    plan: FundingPlan
    pool: int
    lines: list[LineResult]
    rewards: list[RewardGrant]
    totals: Totals
    settings: TiltSettings  # today's settings (a draft is computed with them)
    frozen: bool  # approved: amounts and explanations are those frozen at approval
    stale: bool  # frozen explanations (and amounts) that the tilt settings of today would no longer give
    settings_text: str  # the settings in words: today's for a draft, those frozen at approval otherwise
    method: str = METHOD


def plan_lines(plan: FundingPlan) -> list[FundingLine]:
    """The plan's lines with their projects and bureaus (three queries, whatever the number of lines)."""
    return list(db.session.scalars(
        sa.select(FundingLine).where(FundingLine.plan_id == plan.id)
        .options(selectinload(FundingLine.project).selectinload(ServiceProject.bureau))
        .order_by(FundingLine.id).execution_options(populate_existing=True)))


def plan_rewards(plan: FundingPlan) -> list[RewardGrant]:
    """The plan's reward grants with their commendations and NGOs."""
    return list(db.session.scalars(
        sa.select(RewardGrant).where(RewardGrant.plan_id == plan.id)
        .options(selectinload(RewardGrant.commendation).selectinload(Commendation.organisation))
        .order_by(RewardGrant.id)))


def tilt_settings() -> TiltSettings:
    return current_app.config["FUNDING_TILTS"]


@dataclass(frozen=True)
class FrozenTilts:
    """What an approved line shows of its tilts, as frozen at approval."""

    labels: tuple[str, ...]
    shares: tuple[Decimal, ...]
    tilt_total: Decimal
    weight: Decimal


def freeze_tilts(row: LineResult) -> str:
    """The JSON frozen on FundingLine.frozen_tilts at approval."""
    return json.dumps({"tilts": [[tilt_label(t), str(t.share)] for t in row.tilts],
                       "tilt_total": str(row.tilt_total), "weight": str(row.weight)}, ensure_ascii=False)


def frozen_tilts(line: FundingLine) -> FrozenTilts | None:
    """The line's frozen tilts, or None when nothing (or nothing readable) was frozen."""
    try:
        data = json.loads(line.frozen_tilts or "null")
        if not isinstance(data, dict) or not isinstance(data.get("tilts"), list):
            return None
        labels = tuple(str(label) for label, _share in data["tilts"])
        shares = tuple(Decimal(str(share)) for _label, share in data["tilts"])
        tilt_total, weight = Decimal(str(data["tilt_total"])), Decimal(str(data["weight"]))
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return None
    if not all(v.is_finite() for v in (*shares, tilt_total, weight)):
        return None
    return FrozenTilts(labels, shares, tilt_total, weight)


def _changed_facts(line: FundingLine) -> list[str]:
    project = line.project
    facts = {"requested": (int(line.requested), rules.whole_yuan(project.budget)),
             "base_priority": (line.base_priority, project.base_priority),
             "poor_village": (line.poor_village, project.poor_village),
             "remote_area": (line.remote_area, project.remote_area),
             "poor_households": (line.poor_households, project.poor_households)}
    return [name for name, (mine, theirs) in facts.items() if mine != theirs]


def compute(plan: FundingPlan) -> PlanResult:
    """The plan as it stands: per line its tilts (the FUNDING_TILTS settings), weight, allocation of the pool, the
    same pool without tilts, and the explanation; the totals. An approved plan shows its frozen amounts and
    explanations (``stale`` says whether today's settings would give other amounts)."""
    settings = tilt_settings()
    pool = int(plan.pool)
    lines = plan_lines(plan)
    tilted, untilted, tilts_of = [], [], {}
    for line in lines:
        tilts = rules.tilts_for(poor_village=line.poor_village, remote_area=line.remote_area,
                                poor_households=line.poor_households, district_grade=line.district_grade,
                                settings=settings)
        tilts_of[line.id] = tilts
        tilted.append(Candidate(line.id, rules.weight_of(line.base_priority, tilts), int(line.requested)))
        untilted.append(Candidate(line.id, Decimal(line.base_priority), int(line.requested)))
    result, plain = rules.allocate(pool, tilted), rules.allocate(pool, untilted)
    rounds, plain_rounds = rounds_of(pool, tilted, result), rounds_of(pool, untilted, plain)
    frozen = plan.status != PlanStatus.DRAFT
    rows, stale = [], False
    for line, candidate, bare in zip(lines, tilted, untilted, strict=True):
        tilts, allocation, base = tilts_of[line.id], result[line.id], plain[line.id]
        untilted_words = (weight_words(line.base_priority, [], bare.weight, settings, untilted=True)
                          + allocation_words(weight=bare.weight, request=bare.request, allocation=base,
                                             rounds=plain_rounds))
        amount, untilted_amount = allocation.amount, base.amount
        explanation = (weight_words(line.base_priority, tilts, candidate.weight, settings)
                       + allocation_words(weight=candidate.weight, request=candidate.request, allocation=allocation,
                                          rounds=rounds)
                       + comparison_words(base_priority=line.base_priority, amount=amount,
                                          untilted_amount=untilted_amount))
        tilt_total, weight, labels = sum((t.share for t in tilts), Decimal("0")), candidate.weight, None
        if frozen and line.amount is not None:  # what was approved, whatever the settings say today
            stale = stale or explanation != line.explanation
            amount, untilted_amount, explanation = int(line.amount), int(line.untilted_amount), line.explanation
            kept = frozen_tilts(line)
            if kept is not None:  # the tilts, their total and the weight as approved
                tilt_total, weight, labels = kept.tilt_total, kept.weight, kept.labels
        rows.append(LineResult(line=line, tilts=tilts, tilt_total=tilt_total,
                               weight=weight, allocation=allocation, untilted=base, amount=amount,
                               untilted_amount=untilted_amount, explanation=explanation,
                               untilted_explanation=untilted_words, changed_facts=_changed_facts(line),
                               frozen_labels=labels))
    rewards = plan_rewards(plan)
    allocated = sum(r.amount for r in rows)
    totals = Totals(
        requested=sum(int(r.line.requested) for r in rows), allocated=allocated,
        untilted=sum(r.untilted_amount for r in rows),
        poor_village=sum(r.amount for r in rows if r.line.poor_village),
        poor_village_untilted=sum(r.untilted_amount for r in rows if r.line.poor_village),
        remote_area=sum(r.amount for r in rows if r.line.remote_area),
        remote_area_untilted=sum(r.untilted_amount for r in rows if r.line.remote_area),
        unallocated=pool - allocated, rewards=sum(int(g.amount) for g in rewards))
    today = settings_words(settings)
    settings_text = plan.frozen_settings if frozen and plan.frozen_settings else today
    return PlanResult(plan=plan, pool=pool, lines=rows, rewards=rewards, totals=totals, settings=settings,
                      frozen=frozen, stale=stale or settings_text != today, settings_text=settings_text)


# --- Reading for the pages ------------------------------------------------------------------------------------------


def plans_for(user) -> list[FundingPlan]:
    """The plans the user may see: admin all, a city bureau's officers their bureau's; the newest year first."""
    query = sa.select(FundingPlan).options(selectinload(FundingPlan.bureau))
    if user.role != Role.ADMIN:
        organisation = user.organisation
        if organisation is None or not organisation.is_city_bureau:
            return []
        query = query.where(FundingPlan.bureau_id == organisation.id)
    return list(db.session.scalars(query.order_by(FundingPlan.fiscal_year.desc(), FundingPlan.id.desc())))


def plan_sums(plan_ids) -> dict[int, tuple[int, int]]:
    """(lines, requested) per plan, from one query."""
    ids = list(plan_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(FundingLine.plan_id, sa.func.count(FundingLine.id),
                                        sa.func.coalesce(sa.func.sum(FundingLine.requested), 0))
                              .where(FundingLine.plan_id.in_(ids)).group_by(FundingLine.plan_id))
    return {plan_id: (count, int(requested)) for plan_id, count, requested in rows}


def district_grades(city: Organisation, year: int, bureau_ids) -> dict[int, str]:
    """The grade of each bureau's CONFIRMED yearly assessment of ``year`` by the city (read from the assessment rows
    directly; a draft does not count)."""
    ids = list(bureau_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Assessment.organisation_id, Assessment.grade).where(
        Assessment.year == year, Assessment.city_id == city.id, Assessment.kind == SubjectKind.BUREAU,
        Assessment.status == AssessmentStatus.CONFIRMED, Assessment.organisation_id.in_(ids)))
    return dict(rows.all())


def reward_list(plan: FundingPlan) -> CommendationList | None:
    """The city's CONFIRMED commendation list of the year before the plan's fiscal year."""
    return db.session.scalar(sa.select(CommendationList).where(
        CommendationList.bureau_id == plan.bureau_id, CommendationList.year == plan.fiscal_year - 1,
        CommendationList.status == ListStatus.CONFIRMED))


# --- Checks ---------------------------------------------------------------------------------------------------------


def _require_manager(plan_or_city, actor) -> None:
    city = plan_or_city.bureau if isinstance(plan_or_city, FundingPlan) else plan_or_city
    if not _city_officer(actor, city):
        raise NotAllowed(_l("Only an officer of the city bureau can change its funding plan (资金安排)."))


def _require_draft(plan: FundingPlan) -> None:
    if plan.status != PlanStatus.DRAFT:
        raise Conflict(_l("The funding plan is approved: its lines and amounts can no longer change."))


def lock_plan(plan: FundingPlan) -> FundingPlan:
    """Lock the plan row (FOR UPDATE on PostgreSQL) and reload it, so writers of one plan serialise."""
    return db.session.execute(sa.select(FundingPlan).where(FundingPlan.id == plan.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _reload(model, row):
    """Re-read a line or a grant once its plan is locked (another officer may have changed or removed it)."""
    fresh = db.session.execute(sa.select(model).where(model.id == row.id)
                               .execution_options(populate_existing=True)).scalar_one_or_none()
    if fresh is None:
        raise Conflict(_l("This entry was removed from the plan meanwhile: reload the plan."))
    return fresh


def _whole_yuan(value, *, message, maximum: int = POOL_MAX, minimum: int = 0) -> int:
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if value is not None else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.to_integral_value():
        raise DomainError(message, max=yuan(maximum))
    if not minimum <= amount <= maximum:
        raise DomainError(message, max=yuan(maximum))
    return int(amount)


def _pool(value) -> int:
    return _whole_yuan(value, minimum=1, message=_l(
        "The pool is a whole number of yuan greater than 0 and at most %(max)s (资金池为整数元)."))


def _title(value: str, fiscal_year: int) -> str:
    title = " ".join((value or "").split()) or default_title(fiscal_year)
    if len(title) > TITLE_MAX:
        raise DomainError(_l("A funding plan's title takes at most %(max)s characters."), max=TITLE_MAX)
    return title


# --- The plan -------------------------------------------------------------------------------------------------------


def create_plan(city: Organisation, *, fiscal_year: int, pool, title: str = "", actor, now: datetime) -> FundingPlan:
    """The city bureau's funding plan of ``fiscal_year`` (one per city and year) with a pool of whole yuan."""
    _require_manager(city, actor)
    if not isinstance(fiscal_year, int) or not FIRST_FISCAL_YEAR <= fiscal_year <= LAST_FISCAL_YEAR:
        raise DomainError(_l("Give the fiscal year (%(first)s to %(last)s)."), first=FIRST_FISCAL_YEAR,
                          last=LAST_FISCAL_YEAR)
    pool = _pool(pool)
    title = _title(title, fiscal_year)
    taken = _l("The city bureau already has a funding plan for %(year)s: open it instead.")
    if db.session.scalar(sa.select(FundingPlan.id).where(FundingPlan.bureau_id == city.id,
                                                         FundingPlan.fiscal_year == fiscal_year)) is not None:
        raise Conflict(taken, year=fiscal_year)
    plan = FundingPlan(fiscal_year=fiscal_year, bureau_id=city.id, title=title, pool=Decimal(pool),
                       status=PlanStatus.DRAFT, created_by_id=actor.id, created_at=now, updated_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(plan)
            db.session.flush()
    except IntegrityError as exc:  # another officer created it at the same moment
        raise Conflict(taken, year=fiscal_year) from exc
    audit.record("funding.plan_created", plan, actor=actor, now=now,
                 new={"fiscal_year": fiscal_year, "bureau_id": city.id, "title": title, "pool": pool})
    return plan


def update_plan(plan: FundingPlan, *, pool, title: str, actor, now: datetime) -> FundingPlan:
    """Change a draft plan's pool or title."""
    plan = lock_plan(plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    new = {"pool": _pool(pool), "title": _title(title, plan.fiscal_year)}
    old = {"pool": int(plan.pool), "title": plan.title}
    if new == old:
        return plan
    plan.pool, plan.title, plan.updated_at = Decimal(new["pool"]), new["title"], now
    db.session.flush()
    audit.record("funding.plan_updated", plan, actor=actor, now=now,
                 old={k: v for k, v in old.items() if new[k] != v}, new={k: v for k, v in new.items() if old[k] != v})
    return plan


def add_candidates(plan: FundingPlan, *, actor, now: datetime) -> list[FundingLine]:
    """Add a line for each service project of the plan's fiscal year of the city bureau and its districts (not
    archived, not in the plan yet): its budget in whole yuan as the request, its base priority and tilt facts, and
    its bureau's confirmed assessment grade of the year before. The grades of the lines already in are brought up to
    date too (an assessment confirmed since). Returns the new lines."""
    plan = lock_plan(plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    bureau_ids = city_bureau_ids(plan.bureau)
    grades = district_grades(plan.bureau, plan.fiscal_year - 1, bureau_ids)
    existing = {line.project_id: line for line in plan_lines(plan)}
    projects = db.session.scalars(sa.select(ServiceProject).where(
        ServiceProject.fiscal_year == plan.fiscal_year, ServiceProject.bureau_id.in_(bureau_ids),
        ServiceProject.status != ProjectStatus.ARCHIVED).order_by(ServiceProject.id)).all()
    added = []
    for project in projects:
        if project.id in existing:
            continue
        added.append(FundingLine(plan_id=plan.id, project_id=project.id, requested=Decimal(
            rules.whole_yuan(project.budget)), base_priority=project.base_priority,
            poor_village=project.poor_village, remote_area=project.remote_area,
            poor_households=project.poor_households, district_grade=grades.get(project.bureau_id)))
    regraded = {}
    for line in existing.values():
        grade = grades.get(line.project.bureau_id)
        if line.district_grade != grade:
            regraded[line.id] = [line.district_grade, grade]
            line.district_grade = grade
    db.session.add_all(added)
    db.session.flush()
    db.session.expire(plan, ["lines"])
    if added or regraded:
        plan.updated_at = now
        audit.record("funding.candidates_added", plan, actor=actor, now=now, new={
            "projects": [line.project_id for line in added], "requested": sum(int(x.requested) for x in added),
            "district_grades": {str(k): v for k, v in regraded.items()},
            "assessment_year": plan.fiscal_year - 1})
    return added


def update_line(line: FundingLine, values: dict, *, actor, now: datetime) -> FundingLine:
    """Correct a draft plan's line: the request (whole yuan, 0 to the project's budget), the base priority (0-100),
    the poor households served and the poor-village / remote-area flags. The district grade comes from the
    confirmed assessment only."""
    plan = lock_plan(line.plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    line = _reload(FundingLine, line)
    budget = rules.whole_yuan(line.project.budget)
    new = {
        "requested": _whole_yuan(values.get("requested"), maximum=budget, message=_l(
            "The request is a whole number of yuan from 0 to the project's budget, %(max)s.")),
        "base_priority": _integer(values.get("base_priority"), 0, 100, _l(
            "The base priority is a whole number from 0 to 100 (from the needs assessment).")),
        "poor_households": _integer(values.get("poor_households"), 0, HOUSEHOLDS_MAX, _l(
            "The number of poor households served is a whole number from 0 to %(max)s."), max=HOUSEHOLDS_MAX),
        "poor_village": bool(values.get("poor_village")),
        "remote_area": bool(values.get("remote_area")),
    }
    old = {"requested": int(line.requested), "base_priority": line.base_priority,
           "poor_households": line.poor_households, "poor_village": line.poor_village,
           "remote_area": line.remote_area}
    changed = {k for k in new if new[k] != old[k]}
    if not changed:
        return line
    for name in changed:
        setattr(line, name, Decimal(new[name]) if name == "requested" else new[name])
    plan.updated_at = now
    db.session.flush()
    audit.record("funding.line_updated", line, actor=actor, now=now, old={k: old[k] for k in changed},
                 new={"plan_id": plan.id, "project_id": line.project_id} | {k: new[k] for k in changed})
    return line


def _integer(value, low: int, high: int, message, **params) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DomainError(message, **params)
    try:
        number_ = int(value)
    except ValueError:
        raise DomainError(message, **params) from None
    if not low <= number_ <= high:
        raise DomainError(message, **params)
    return number_


def remove_line(line: FundingLine, *, actor, now: datetime) -> None:
    """Take a project out of a draft plan (it can be added again with the candidates)."""
    plan = lock_plan(line.plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    line = _reload(FundingLine, line)
    audit.record("funding.line_removed", line, actor=actor, now=now, old={
        "plan_id": plan.id, "project_id": line.project_id, "title": line.project.title,
        "requested": int(line.requested)})
    db.session.delete(line)
    plan.updated_at = now
    db.session.flush()
    db.session.expire(plan, ["lines"])


# --- Reward grants (奖补) ---------------------------------------------------------------------------------------------


def add_rewards(plan: FundingPlan, *, actor, now: datetime) -> list[RewardGrant]:
    """One reward grant per commendation of an NGO — the NGO commended itself, or the NGO that delivered a commended
    project — of the city's confirmed commendation list of the year before the fiscal year, the fixed amount of its
    level (REWARD_GRANTS). Bureaus get none. Grants already in are kept. Returns the new ones."""
    plan = lock_plan(plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    commendation_list = reward_list(plan)
    if commendation_list is None:
        raise DomainError(_l("There is no confirmed commendation list (表彰名单) of %(year)s: reward grants follow the "
                             "commendations of the year before the fiscal year."), year=plan.fiscal_year - 1)
    amounts = current_app.config["REWARD_GRANTS"]
    have = set(db.session.scalars(sa.select(RewardGrant.commendation_id).where(RewardGrant.plan_id == plan.id)))
    commendations = db.session.scalars(sa.select(Commendation).where(
        Commendation.list_id == commendation_list.id,
        Commendation.subject.in_((SubjectKind.NGO, SubjectKind.PROJECT)))
        .order_by(Commendation.id)).all()
    added = [RewardGrant(plan_id=plan.id, commendation_id=c.id, amount=Decimal(amounts[Level(c.level)]))
             for c in commendations if c.id not in have]
    if not added:
        return []
    db.session.add_all(added)
    plan.updated_at = now
    db.session.flush()
    db.session.expire(plan, ["rewards"])
    audit.record("funding.rewards_added", plan, actor=actor, now=now, new={
        "list_id": commendation_list.id, "commendations": [g.commendation_id for g in added],
        "amounts": [int(g.amount) for g in added], "total": sum(int(g.amount) for g in added)})
    return added


def remove_reward(grant: RewardGrant, *, actor, now: datetime) -> None:
    """Take a reward grant out of a draft plan (a commended NGO may, not must, receive one)."""
    plan = lock_plan(grant.plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    grant = _reload(RewardGrant, grant)
    audit.record("funding.reward_removed", grant, actor=actor, now=now, old={
        "plan_id": plan.id, "commendation_id": grant.commendation_id,
        "organisation_id": grant.commendation.organisation_id, "amount": int(grant.amount)})
    db.session.delete(grant)
    plan.updated_at = now
    db.session.flush()
    db.session.expire(plan, ["rewards"])


# --- Approval and publication ---------------------------------------------------------------------------------------


def approval_problems(plan: FundingPlan, lines: list[FundingLine] | None = None) -> list[str]:
    """Why the plan cannot be approved yet (translated messages; empty when it can)."""
    lines = plan_lines(plan) if lines is None else lines
    problems = []
    if not lines:
        problems.append(str(_l("Add the candidate projects first: the plan has no line.")))
    bureau_ids = set(city_bureau_ids(plan.bureau)) if lines else set()
    for line in lines:
        project = line.project
        if project.status == ProjectStatus.ARCHIVED:
            problems.append(str(_l("“%(title)s” was archived since it was added: remove its line.",
                                   title=project.title)))
        elif project.fiscal_year != plan.fiscal_year:
            problems.append(str(_l("“%(title)s” now belongs to fiscal year %(year)s: remove its line.",
                                   title=project.title, year=project.fiscal_year)))
        elif project.bureau_id not in bureau_ids:
            problems.append(str(_l("“%(title)s” is no longer a project of the city or its districts: remove its "
                                   "line.", title=project.title)))
        if line.requested <= 0:
            problems.append(str(_l("“%(title)s” requests nothing: give its request or remove its line.",
                                   title=project.title)))
    return problems


def _city_officers(plan: FundingPlan) -> list:
    return users_with_role([plan.bureau_id], Role.OFFICER)


def refresh_district_grades(plan: FundingPlan, *, actor, now: datetime) -> dict[int, list]:
    """Bring each line's district grade up to date with the confirmed assessments of the year before the fiscal
    year (an assessment confirmed or changed since the candidates were added); audited. Returns {line id: [old,
    new]}."""
    grades = district_grades(plan.bureau, plan.fiscal_year - 1, city_bureau_ids(plan.bureau))
    changed = {}
    for line in plan_lines(plan):
        grade = grades.get(line.project.bureau_id)
        if line.district_grade != grade:
            changed[line.id] = [line.district_grade, grade]
            line.district_grade = grade
    if changed:
        db.session.flush()
        audit.record("funding.district_grades_refreshed", plan, actor=actor, now=now, new={
            "district_grades": {str(k): v for k, v in changed.items()}, "assessment_year": plan.fiscal_year - 1})
    return changed


def frozen_problems(plan: FundingPlan, lines: list[FundingLine] | None = None) -> list[str]:
    """Why an approved plan's frozen figures cannot be published as they stand (translated; empty when sound)."""
    lines = plan_lines(plan) if lines is None else lines
    problems = []
    if not lines:
        problems.append(str(_l("The approved plan has no line.")))
    if not plan.frozen_settings:
        problems.append(str(_l("The tilt settings in force at approval were not kept.")))
    if plan.document_id is None:
        problems.append(str(_l("The approved plan's PDF was not issued.")))
    allocated = 0
    for line in lines:
        title = line.project.title
        kept = frozen_tilts(line)
        if line.amount is None or line.untilted_amount is None or not line.explanation or kept is None:
            problems.append(str(_l("“%(title)s”: its amount, explanation or tilts were not frozen at approval.",
                                   title=title)))
            continue
        allocated += int(line.amount)
        weight = Decimal(line.base_priority) * max(Decimal("0"), 1 + kept.tilt_total)
        if (len(kept.labels) != len(kept.shares) or sum(kept.shares, Decimal("0")) != kept.tilt_total
                or kept.weight != weight or not 0 <= line.amount <= line.requested
                or not 0 <= line.untilted_amount <= line.requested):
            problems.append(str(_l("“%(title)s”: its frozen tilts, weight or amounts do not agree.", title=title)))
    if allocated > plan.pool:
        problems.append(str(_l("The frozen amounts add up to more than the pool.")))
    return problems


def approve(plan: FundingPlan, *, actor, now: datetime) -> FundingPlan:
    """Approve a draft plan: every line valid; each line's amount, untilted amount and explanation frozen; the plan's
    PDF issued. The city bureau's other officers are told."""
    plan = lock_plan(plan)
    _require_manager(plan, actor)
    _require_draft(plan)
    problems = approval_problems(plan)
    if problems:
        raise DomainError(_l("The plan cannot be approved yet: %(problems)s"), problems=" ".join(problems))
    from portal.assessment import funding_export  # the documents are built from this module's results

    refresh_district_grades(plan, actor=actor, now=now)
    result = compute(plan)
    for row in result.lines:
        row.line.amount, row.line.untilted_amount = Decimal(row.amount), Decimal(row.untilted_amount)
        row.line.explanation = row.explanation
        row.line.frozen_tilts = freeze_tilts(row)
    plan.frozen_settings = result.settings_text
    plan.status, plan.approved_at, plan.approved_by_id, plan.updated_at = PlanStatus.APPROVED, now, actor.id, now
    db.session.flush()
    result = compute(plan)  # the documents show the frozen values
    context = funding_export.pdf_context(result, approver=actor)
    document = issue_document(f"funding-plan:{plan.id}", PDF_TEMPLATE, context, prefix=PDF_PREFIX, now=now,
                              issued_by=actor)
    plan.document_id = document.id
    db.session.flush()
    totals = result.totals
    audit.record("funding.plan_approved", plan, actor=actor, now=now, old={"status": PlanStatus.DRAFT}, new={
        "status": plan.status, "pool": result.pool, "allocated": totals.allocated, "untilted": totals.untilted,
        "rewards": totals.rewards, "lines": {str(r.line.id): r.amount for r in result.lines},
        "settings": result.settings_text, "document": document.number,
        "sha256": document.content_sha256})
    others = [u for u in _city_officers(plan) if u.id != actor.id]
    notify_many(others, "funding_plan_approved", _notify_context(plan, result) | {"by": actor.name},
                link=plan_link(plan), now=now)
    return plan


def _notify_context(plan: FundingPlan, result: PlanResult) -> dict:
    return {"title": plan.title, "year": plan.fiscal_year, "pool": yuan(result.pool),
            "allocated": yuan(result.totals.allocated), "count": len(result.lines),
            "rewards": yuan(result.totals.rewards), "grants": len(result.rewards)}


def publish(plan: FundingPlan, *, actor, now: datetime) -> FundingPlan:
    """Publish an approved plan as a 资金安排 notice (the table in its text and PDF). Each district bureau's officers
    are told their projects' amounts; each NGO with a reward grant its grant."""
    plan = lock_plan(plan)
    _require_manager(plan, actor)
    if plan.status != PlanStatus.APPROVED:
        raise Conflict(_l("Only an approved funding plan can be published."))
    problems = frozen_problems(plan)
    if problems:
        raise Conflict(_l("The approved plan cannot be published: %(problems)s"), problems=" ".join(problems))
    from portal.assessment import funding_export

    result = compute(plan)
    notice = publish_notice(NoticeKind.FUNDING, bureau=plan.bureau, title=f"{plan.title}公告",
                            body=funding_export.notice_body(result), now=now,
                            extra=funding_export.notice_table(result), actor=actor)
    plan.status, plan.published_at, plan.notice_id, plan.updated_at = PlanStatus.PUBLISHED, now, notice.id, now
    db.session.flush()
    audit.record("funding.plan_published", plan, actor=actor, now=now, old={"status": PlanStatus.APPROVED},
                 new={"status": plan.status, "notice_id": notice.id, "allocated": result.totals.allocated,
                      "rewards": result.totals.rewards})
    link = f"/notices/{notice.id}"
    by_bureau: dict[int, list[LineResult]] = {}
    for row in result.lines:
        by_bureau.setdefault(row.line.project.bureau_id, []).append(row)
    for bureau_id, rows in by_bureau.items():
        recipients = users_with_role([bureau_id], Role.OFFICER)
        projects = "；".join(f"{r.line.project.title} {yuan(r.amount)}元" for r in rows)
        notify_many(recipients, "funding_plan_published", {
            "title": plan.title, "count": len(rows), "amount": yuan(sum(r.amount for r in rows)),
            "projects": projects}, link=link, now=now)
    for grant in result.rewards:
        commendation = grant.commendation
        recipients = users_with_role([commendation.organisation_id], Role.SUPPLIER)
        notify_many(recipients, "funding_reward_granted", {
            "title": plan.title, "amount": yuan(grant.amount), "level": LEVEL_NAMES_CN[Level(commendation.level)],
            "year": plan.fiscal_year - 1}, link=link, now=now)
    return plan
