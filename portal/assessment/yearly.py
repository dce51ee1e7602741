"""The yearly assessment (年度考核) of the district/county bureaus and the NGOs, run by the city bureau (issue 8).

Each assessment has indicators with weights adding up to 100 and points out of 100: computed ones, figured from the
year's records (contracts, reviews, notices, challenges, rectifications, terminations), each with its figure, its
points, the basis in words and the records it came from (``sources``: [label, path] pairs linking to the contract,
review, notice, challenge and rectification pages); and entered ones, whose points the city officer enters. The
score is the weighted sum (``rules.assessment_score``); the grade uses the bands of performance reviews (the setting
PORTAL_REVIEW_GRADE_BANDS, RULES-CN I.40). Figures refresh while the assessment is a draft; confirmation freezes
them.

"The year" of a record is the Beijing calendar year of its date: a contract's signing, a review's grading, a
challenge's answer, a rectification's opening, a contract's end. The NGOs are assessed on their contracts with the
city bureau and the bureaus under it.

Services never commit: they flush, audit and queue notifications; the caller commits. Links are plain paths (services
also run without a request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import BureauLevel, Organisation, OrgKind, OrgStatus
from portal.assessment import rules
from portal.assessment.common import FIRST_YEAR, city_bureau_ids, in_year, shown, users_with_role
from portal.assessment.models import (
    Assessment,
    AssessmentIndicator,
    AssessmentStatus,
    SubjectKind,
    is_city_officer,
)
from portal.contracts import services as contract_services
from portal.contracts.models import Contract, ContractStatus
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation.models import Challenge, ChallengeStatus
from portal.extensions import db
from portal.notify import notify_many
from portal.permissions import Role
from portal.projects.models import ProjectStatus, ServiceProject
from portal.reviews.grading import bands
from portal.reviews.models import GRADE_LABELS, Rectification, Review, ReviewStatus
from portal.reviews.rules import GRADE_NAMES, mean_score
from portal.tenders.models import Tender
from portal.tenders.rules import local_date

ENTERED = "entered"  # the code of an indicator the city officer scores
NAME_MAX = 200
NOTE_MAX = 1000
MAX_INDICATORS = 20
FIGURE_MAX = 200  # AssessmentIndicator.figure

# Points rules of the computed indicators (house rules of the portal, issue 8), each out of 100.
CONTRACT_POINTS = Decimal("20")  # per contract signed in the year, at most 100: five contracts earn full points
CHALLENGE_DEDUCTION = Decimal("20")  # per challenge (质疑) against the bureau's procurement upheld in the year
BUREAU_RECTIFICATION_DEDUCTION = Decimal("10")  # per rectification (整改) opened on the bureau's contracts
NGO_RECTIFICATION_DEDUCTION = Decimal("20")  # per rectification opened on the NGO's contracts
TERMINATION_DEDUCTION = Decimal("50")  # per contract of the NGO terminated (解除) in the year


@dataclass(frozen=True)
class Figure:
    """What a computed indicator shows: its figure, its points, how the points follow (in words) and its records."""

    figure: str
    points: Decimal
    basis: str
    sources: list[tuple[str, str]]


@dataclass(frozen=True)
class Scope:
    """What an indicator is computed over: the subject, the bureaus whose contracts count, the year and today."""

    organisation: Organisation
    bureau_ids: tuple[int, ...]
    year: int
    today: date


@dataclass(frozen=True)
class IndicatorSpec:
    """An indicator of the yearly assessment with its default weight: computed (``compute`` set) or entered."""

    code: str
    name: str  # Chinese: the assessment is the bureau's record, like a review rubric
    weight: Decimal
    guidance: str = ""  # for an entered indicator: what the officer judges
    compute: Callable[[Scope], Figure] | None = None

    @property
    def computed(self) -> bool:
        return self.compute is not None


# --- The year's records ------------------------------------------------------------------------------------------


def _yuan(amount) -> str:
    return f"{Decimal(amount):,.2f}元"


def contract_source(contract: Contract, note: str = "") -> tuple[str, str]:
    return (f"{contract.reference} {contract.title}" + (f"（{note}）" if note else ""),
            contract_services.contract_link(contract))


def _signed_contracts(scope: Scope, *, bureau: bool) -> list[Contract]:
    """Contracts signed in the year: the bureau's own, or the NGO's with the city's bureaus."""
    owner = (Contract.bureau_id == scope.organisation.id if bureau
             else sa.and_(Contract.supplier_id == scope.organisation.id, Contract.bureau_id.in_(scope.bureau_ids)))
    return list(db.session.scalars(
        sa.select(Contract).where(owner, Contract.signed_at.is_not(None), in_year(Contract.signed_at, scope.year))
        .options(selectinload(Contract.tender).selectinload(Tender.project), selectinload(Contract.notice),
                 selectinload(Contract.bureau))
        .order_by(Contract.signed_at, Contract.id)))


def _graded_reviews(scope: Scope, *, bureau: bool) -> list[Review]:
    owner = (Contract.bureau_id == scope.organisation.id if bureau
             else sa.and_(Contract.supplier_id == scope.organisation.id, Contract.bureau_id.in_(scope.bureau_ids)))
    return list(db.session.scalars(
        sa.select(Review).join(Contract, Review.contract_id == Contract.id)
        .where(owner, Review.status == ReviewStatus.GRADED, Review.graded_at.is_not(None),
               in_year(Review.graded_at, scope.year))
        .options(selectinload(Review.contract)).order_by(Review.graded_at, Review.id)))


def _rectifications(scope: Scope, *, bureau: bool) -> list[Rectification]:
    owner = (Contract.bureau_id == scope.organisation.id if bureau
             else sa.and_(Contract.supplier_id == scope.organisation.id, Contract.bureau_id.in_(scope.bureau_ids)))
    return list(db.session.scalars(
        sa.select(Rectification).join(Contract, Rectification.contract_id == Contract.id)
        .where(owner, in_year(Rectification.created_at, scope.year))
        .options(selectinload(Rectification.contract), selectinload(Rectification.review))
        .order_by(Rectification.created_at, Rectification.id)))


# --- Computed indicators -------------------------------------------------------------------------------------------


def poor_village_share(scope: Scope) -> Figure:
    """The share of the year's contract amounts whose project serves a poor village (贫困村)."""
    contracts = _signed_contracts(scope, bureau=True)
    poor = [c for c in contracts if c.tender.project.poor_village]
    whole = sum((c.amount for c in contracts), Decimal("0"))
    part = sum((c.amount for c in poor), Decimal("0"))
    points = rules.share_points(part, whole)
    if not contracts:
        return Figure("本年度未签订合同", points, "本年度未签订服务合同，无资金可计，得0分。", [])
    return Figure(
        f"{shown(points)}%（贫困村项目 {_yuan(part)} / 全部合同 {_yuan(whole)}）", points,
        f"得分 = 服务对象为贫困村的项目的合同金额 ÷ 本年度签订的全部合同金额 × 100（四舍五入保留两位小数）。"
        f"本年度签订合同{len(contracts)}份，其中贫困村项目{len(poor)}份。",
        [contract_source(c, f"贫困村项目，{_yuan(c.amount)}" if c.tender.project.poor_village else _yuan(c.amount))
         for c in contracts])


def projects_and_contracts(scope: Scope) -> Figure:
    """The bureau's service projects of the fiscal year and its contracts signed in the year."""
    contracts = _signed_contracts(scope, bureau=True)
    projects = list(db.session.scalars(sa.select(ServiceProject).where(
        ServiceProject.bureau_id == scope.organisation.id, ServiceProject.fiscal_year == scope.year,
        ServiceProject.status != ProjectStatus.DRAFT).order_by(ServiceProject.id)))
    points = min(Decimal("100"), CONTRACT_POINTS * len(contracts)).quantize(rules.CENT)
    return Figure(
        f"{len(projects)}个服务项目，{len(contracts)}份合同", points,
        f"本年度每签订一份服务合同得{CONTRACT_POINTS.normalize():f}分，最高100分；"
        f"本财政年度的服务项目（不含草稿）数量列示备查，不另计分。",
        [(f"服务项目：{p.title}", f"/projects/{p.id}") for p in projects]
        + [contract_source(c, f"签订于{local_date(c.signed_at).isoformat()}") for c in contracts])


def _review_mean(reviews: Sequence[Review], whose: str) -> Figure:
    sources = [(f"{r.title}（{r.contract.reference}）：{shown(r.score)}分，{GRADE_NAMES[r.grade]}", f"/reviews/{r.id}")
               for r in reviews]
    if not reviews:
        return Figure("本年度无已评定的绩效评估", Decimal("0.00"),
                      f"{whose}本年度没有评定的绩效评估，得0分（可在编辑时将本指标权重调为0并分配给其他指标）。", [])
    mean = mean_score(Fraction(r.score) for r in reviews)
    return Figure(f"平均{shown(mean)}分（{len(reviews)}次评估）", mean,
                  f"得分 = {whose}本年度评定的{len(reviews)}次绩效评估得分的算术平均值（四舍五入保留两位小数）。",
                  sources)


def bureau_review_mean(scope: Scope) -> Figure:
    return _review_mean(_graded_reviews(scope, bureau=True), "本局合同")


def notices_on_time(scope: Scope) -> Figure:
    """Contract notices (合同公告) published within 2 working days of signing (R50), of the contracts signed in the
    year whose last day has passed or whose notice is out."""
    counted, on_time, not_due, unknown, sources = 0, 0, 0, 0, []
    for contract in _signed_contracts(scope, bureau=True):
        due = contract_services.notice_due_on(contract)
        notice = contract.notice
        published_on = local_date(notice.published_at) if notice is not None else None
        if due is None:
            unknown += 1
            sources.append(contract_source(contract, "缺少工作日历，无法计算公告期限，不计入"))
            continue
        if notice is None and scope.today <= due:
            not_due += 1
            sources.append(contract_source(contract, f"公告期限{due.isoformat()}尚未届满，不计入"))
            continue
        counted += 1
        if notice is not None and published_on <= due:
            on_time += 1
            sources.append((f"{notice.title}（{published_on.isoformat()}发布，期限{due.isoformat()}，按时）",
                            f"/notices/{notice.id}"))
        elif notice is not None:
            sources.append((f"{notice.title}（{published_on.isoformat()}发布，期限{due.isoformat()}，逾期）",
                            f"/notices/{notice.id}"))
        else:
            sources.append(contract_source(contract, f"合同公告未发布，期限{due.isoformat()}已过"))
    points = rules.share_points(Decimal(on_time), Decimal(counted))
    excluded = "".join([f"尚未到期的{not_due}份" if not_due else "",
                        f"无法计算期限的{unknown}份" if unknown else ""])
    basis = ("得分 = 签订后2个工作日内发布合同公告的合同数 ÷ 应发布公告的合同数 × 100（R50）"
             + (f"；{excluded}不计入" if excluded else "") + "。")
    if not counted:
        return Figure("本年度无应发布的合同公告", points, basis + "无应发布的合同公告，得0分。", sources)
    return Figure(f"{on_time}/{counted}份合同公告按时发布", points, basis, sources)


def challenges_upheld(scope: Scope) -> Figure:
    """Challenges (质疑) against the bureau's procurement answered as upheld in the year."""
    upheld = list(db.session.scalars(
        sa.select(Challenge).join(Tender, Challenge.tender_id == Tender.id)
        .where(Tender.bureau_id == scope.organisation.id, Challenge.status == ChallengeStatus.UPHELD,
               Challenge.answered_at.is_not(None), in_year(Challenge.answered_at, scope.year))
        .options(selectinload(Challenge.tender)).order_by(Challenge.answered_at, Challenge.id)))
    points = rules.deduction_points(len(upheld), CHALLENGE_DEDUCTION)
    return Figure(
        f"{len(upheld)}件质疑成立", points,
        f"满分100分，本年度答复成立的质疑每件扣{CHALLENGE_DEDUCTION.normalize():f}分，扣完为止。",
        [(f"质疑（{c.tender.reference} {c.tender.title}），{local_date(c.answered_at).isoformat()}答复成立",
          f"/challenges/{c.id}") for c in upheld])


def _rectification_figure(scope: Scope, *, bureau: bool, deduction: Decimal) -> Figure:
    opened = _rectifications(scope, bureau=bureau)
    points = rules.deduction_points(len(opened), deduction)
    return Figure(
        f"{len(opened)}项整改", points,
        f"满分100分，本年度因评估不合格启动的整改每项扣{deduction.normalize():f}分，扣完为止。",
        [(f"整改（{r.contract.reference}，{r.review.title}），{local_date(r.created_at).isoformat()}启动",
          f"/reviews/rectifications/{r.id}") for r in opened])


def bureau_rectifications(scope: Scope) -> Figure:
    return _rectification_figure(scope, bureau=True, deduction=BUREAU_RECTIFICATION_DEDUCTION)


def ngo_review_mean(scope: Scope) -> Figure:
    return _review_mean(_graded_reviews(scope, bureau=False), "本机构")


def ngo_contracts(scope: Scope) -> Figure:
    contracts = _signed_contracts(scope, bureau=False)
    points = min(Decimal("100"), CONTRACT_POINTS * len(contracts)).quantize(rules.CENT)
    return Figure(
        f"{len(contracts)}份合同", points,
        f"本年度与本市各级民政部门每签订一份服务合同得{CONTRACT_POINTS.normalize():f}分，最高100分。",
        [contract_source(c, f"{c.bureau.name}，签订于{local_date(c.signed_at).isoformat()}") for c in contracts])


def ngo_rectifications(scope: Scope) -> Figure:
    return _rectification_figure(scope, bureau=False, deduction=NGO_RECTIFICATION_DEDUCTION)


def ngo_terminations(scope: Scope) -> Figure:
    ended = list(db.session.scalars(
        sa.select(Contract).where(Contract.supplier_id == scope.organisation.id,
                                  Contract.bureau_id.in_(scope.bureau_ids),
                                  Contract.status == ContractStatus.TERMINATED, Contract.ended_at.is_not(None),
                                  in_year(Contract.ended_at, scope.year))
        .order_by(Contract.ended_at, Contract.id)))
    points = rules.deduction_points(len(ended), TERMINATION_DEDUCTION)
    return Figure(
        f"{len(ended)}份合同被解除", points,
        f"满分100分，本年度被解除（终止）的服务合同每份扣{TERMINATION_DEDUCTION.normalize():f}分，扣完为止。",
        [contract_source(c, f"{local_date(c.ended_at).isoformat()}解除") for c in ended])


# --- The indicators and their default weights (each kind adds up to 100) -------------------------------------------

POOR_VILLAGE_SHARE = IndicatorSpec("poor_village_share", "贫困村服务资金占比", Decimal("20"),
                                   compute=poor_village_share)
PROJECTS_AND_CONTRACTS = IndicatorSpec("projects_contracts", "服务项目与合同数量", Decimal("15"),
                                       compute=projects_and_contracts)
BUREAU_REVIEW_MEAN = IndicatorSpec("review_mean", "项目绩效评估平均分", Decimal("25"), compute=bureau_review_mean)
NOTICES_ON_TIME = IndicatorSpec("notices_on_time", "合同公告按时发布", Decimal("10"), compute=notices_on_time)
CHALLENGES_UPHELD = IndicatorSpec("challenges_upheld", "质疑成立情况", Decimal("10"), compute=challenges_upheld)
BUREAU_RECTIFICATIONS = IndicatorSpec("rectifications", "整改情况", Decimal("10"), compute=bureau_rectifications)
WORK_SUMMARY = IndicatorSpec(ENTERED, "工作总结与创新", Decimal("10"),
                             guidance="由市局根据区县年度工作总结、社会工作服务创新举措评定（0-100分）。")

NGO_REVIEW_MEAN = IndicatorSpec("review_mean", "绩效评估平均分", Decimal("40"), compute=ngo_review_mean)
NGO_CONTRACTS = IndicatorSpec("contracts", "承接合同数量", Decimal("10"), compute=ngo_contracts)
NGO_RECTIFICATIONS = IndicatorSpec("rectifications", "整改情况", Decimal("15"), compute=ngo_rectifications)
NGO_TERMINATIONS = IndicatorSpec("terminations", "合同解除情况", Decimal("15"), compute=ngo_terminations)
COMPLAINTS = IndicatorSpec(ENTERED, "服务对象投诉处理", Decimal("10"),
                           guidance="由市局根据服务对象投诉的受理、处理和回访情况评定（0-100分）。")
INSPECTION_AND_CREDIT = IndicatorSpec(ENTERED, "年检与信用", Decimal("10"),
                                      guidance="由市局根据社会组织年度检查结论和信用记录评定（0-100分）。")

INDICATORS: dict[str, tuple[IndicatorSpec, ...]] = {
    SubjectKind.BUREAU: (POOR_VILLAGE_SHARE, PROJECTS_AND_CONTRACTS, BUREAU_REVIEW_MEAN, NOTICES_ON_TIME,
                         CHALLENGES_UPHELD, BUREAU_RECTIFICATIONS, WORK_SUMMARY),
    SubjectKind.NGO: (NGO_REVIEW_MEAN, NGO_CONTRACTS, NGO_RECTIFICATIONS, NGO_TERMINATIONS, COMPLAINTS,
                      INSPECTION_AND_CREDIT),
}
_COMPUTED = {(kind, spec.code): spec for kind, specs in INDICATORS.items() for spec in specs if spec.computed}


# --- Who ---------------------------------------------------------------------------------------------------------


def can_run(user) -> bool:
    """The yearly assessment is run by the officers of a city bureau (for the bureaus under it and the NGOs)."""
    return is_city_officer(user)


def _require_manager(assessment: Assessment, actor) -> None:
    if not assessment.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the city bureau can change the yearly assessment."))


def _require_draft(assessment: Assessment) -> None:
    if assessment.status != AssessmentStatus.DRAFT:
        raise Conflict(_l("A confirmed assessment is frozen: it cannot change."))


def districts(city: Organisation) -> list[Organisation]:
    """The active district/county bureaus under the city bureau."""
    return list(db.session.scalars(sa.select(Organisation).where(
        Organisation.parent_id == city.id, Organisation.kind == OrgKind.BUREAU,
        Organisation.level == BureauLevel.DISTRICT, Organisation.status == OrgStatus.ACTIVE)
        .order_by(Organisation.name)))


def assessed_ngos(city: Organisation, year: int) -> list[Organisation]:
    """Every NGO with a contract signed, or a review graded, in the year with the city's bureaus."""
    bureau_ids = city_bureau_ids(city)
    signed = sa.select(Contract.supplier_id).where(
        Contract.bureau_id.in_(bureau_ids), Contract.signed_at.is_not(None), in_year(Contract.signed_at, year))
    reviewed = (sa.select(Contract.supplier_id).join(Review, Review.contract_id == Contract.id)
                .where(Contract.bureau_id.in_(bureau_ids), Review.status == ReviewStatus.GRADED,
                       Review.graded_at.is_not(None), in_year(Review.graded_at, year)))
    return list(db.session.scalars(sa.select(Organisation).where(
        Organisation.kind == OrgKind.SUPPLIER, sa.or_(Organisation.id.in_(signed), Organisation.id.in_(reviewed)))
        .order_by(Organisation.name)))


# --- Computing ---------------------------------------------------------------------------------------------------


def _scope(assessment: Assessment, today: date) -> Scope:
    return Scope(assessment.organisation, city_bureau_ids(assessment.city), assessment.year, today)


def _store(indicator: AssessmentIndicator, figure: Figure) -> None:
    indicator.figure = figure.figure[:FIGURE_MAX]
    indicator.points = figure.points
    indicator.basis = figure.basis
    indicator.sources = json.dumps([list(s) for s in figure.sources], ensure_ascii=False)


def _recompute(assessment: Assessment, today: date) -> dict:
    """Figure every computed indicator afresh; returns {code: [old points, new points]} of those that changed."""
    scope = _scope(assessment, today)
    changed = {}
    for indicator in assessment.indicators:
        spec = _COMPUTED.get((assessment.kind, indicator.code)) if indicator.computed else None
        if spec is None:
            continue
        old = indicator.points
        _store(indicator, spec.compute(scope))
        if old != indicator.points:
            changed[indicator.code] = [old, indicator.points]
    return changed


def sources_of(indicator: AssessmentIndicator) -> list[tuple[str, str]]:
    """The records an indicator came from: (label, path) pairs."""
    return [(str(label), str(path)) for label, path in json.loads(indicator.sources or "[]")]


def _lock(assessment: Assessment) -> Assessment:
    """Lock the assessment row (FOR UPDATE on PostgreSQL) and reload it with its indicators, so two officers'
    changes serialise."""
    locked = db.session.execute(sa.select(Assessment).where(Assessment.id == assessment.id).with_for_update()
                                .execution_options(populate_existing=True)).scalar_one()
    db.session.scalars(sa.select(AssessmentIndicator).where(AssessmentIndicator.assessment_id == locked.id)
                       .execution_options(populate_existing=True)).all()
    db.session.refresh(locked, ["indicators"])
    return locked


def _snapshot(assessment: Assessment) -> list[dict]:
    return [{"id": i.id, "code": i.code, "name": i.name, "weight": i.weight, "points": i.points, "note": i.note}
            for i in assessment.indicators]


# --- Services ------------------------------------------------------------------------------------------------------


def create_assessments(city: Organisation, year: int, *, actor, now: datetime) -> list[Assessment]:
    """Draft assessments for the year: every active district/county bureau under the city and every NGO with a
    contract signed or a review graded in the year with the city's bureaus. Idempotent: a subject already assessed
    that year is left as it is. Returns the new ones."""
    if not (can_run(actor) and actor.organisation_id == city.id):
        raise NotAllowed(_l("Only an officer of the city bureau can run the yearly assessment."))
    today = local_date(now)
    if not (FIRST_YEAR <= year <= today.year):
        raise DomainError(_l("Choose a year from %(first)s to %(last)s."), first=FIRST_YEAR, last=today.year)
    # Two officers creating at once: the second waits here and then finds the first one's drafts.
    city = db.session.execute(sa.select(Organisation).where(Organisation.id == city.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()
    taken = set(db.session.scalars(sa.select(Assessment.organisation_id).where(Assessment.year == year)))
    subjects = ([(SubjectKind.BUREAU, b) for b in districts(city)]
                + [(SubjectKind.NGO, n) for n in assessed_ngos(city, year)])
    created = []
    for kind, organisation in subjects:
        if organisation.id in taken:
            continue
        assessment = Assessment(year=year, city_id=city.id, organisation_id=organisation.id, kind=kind,
                                status=AssessmentStatus.DRAFT, created_by_id=actor.id, created_at=now,
                                updated_at=now)
        assessment.indicators = [
            AssessmentIndicator(position=n, code=spec.code, name=spec.name, computed=spec.computed,
                                weight=spec.weight, basis=spec.guidance)
            for n, spec in enumerate(INDICATORS[kind], 1)]
        db.session.add(assessment)
        db.session.flush()
        _recompute(assessment, today)
        db.session.flush()
        audit.record("assessment.created", assessment, actor=actor, now=now, new={
            "year": year, "kind": kind, "organisation": organisation.id, "indicators": _snapshot(assessment)})
        created.append(assessment)
    return created


def refresh(assessment: Assessment, *, actor, now: datetime) -> Assessment:
    """Figure the computed indicators of a draft afresh from the records."""
    assessment = _lock(assessment)
    _require_manager(assessment, actor)
    _require_draft(assessment)
    changed = _recompute(assessment, local_date(now))
    assessment.updated_at = now
    db.session.flush()
    audit.record("assessment.refreshed", assessment, actor=actor, now=now, new={"changed": changed})
    return assessment


def _number(value, message, name: str, *, blank_ok: bool = False) -> Decimal | None:
    """A weight or points: 0 to 100 with at most two decimal places (``message`` names the indicator)."""
    text = "" if value is None else str(value).strip()
    if not text:
        if blank_ok:
            return None
        raise DomainError(message, name=name)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise DomainError(message, name=name) from None
    if not number.is_finite() or not (0 <= number <= 100) or number != number.quantize(rules.CENT):
        raise DomainError(message, name=name)
    return number.quantize(rules.CENT)


WEIGHT_MESSAGE = _l("“%(name)s”: the weight is a number from 0 to 100 with at most two decimal places.")
POINTS_MESSAGE = _l("“%(name)s”: the points are a number from 0 to 100 with at most two decimal places, or empty.")


def update_indicators(assessment: Assessment, rows: Sequence[dict], *, actor, now: datetime) -> Assessment:
    """The officer's changes to a draft: each row {"id" (None for a new entered indicator), "name", "weight",
    "points", "note", "remove"}. Every indicator takes a weight and a note; an entered one also its name and points
    (empty until judged) and may be removed; a computed one keeps its name and figured points. The weights need to
    add up to 100 only at confirmation."""
    assessment = _lock(assessment)
    _require_manager(assessment, actor)
    _require_draft(assessment)
    old = _snapshot(assessment)
    by_id = {i.id: i for i in assessment.indicators}
    for row in rows:
        ident = row.get("id")
        indicator = by_id.get(ident) if ident else None
        if ident and indicator is None:
            raise DomainError(_l("An indicator of another assessment cannot be changed here."))
        name = (row.get("name") or "").strip() if indicator is None or not indicator.computed else indicator.name
        note = (row.get("note") or "").strip()
        if row.get("remove"):
            if indicator is None:
                continue
            if indicator.computed:
                raise DomainError(_l("“%(name)s” is computed from the records: it cannot be removed (give it the "
                                     "weight 0 instead)."), name=indicator.name)
            assessment.indicators.remove(indicator)
            continue
        if not name:
            raise DomainError(_l("Every entered indicator needs a name."))
        if len(name) > NAME_MAX:
            raise DomainError(_l("An indicator's name takes at most %(max)s characters."), max=NAME_MAX)
        if len(note) > NOTE_MAX:
            raise DomainError(_l("A note takes at most %(max)s characters."), max=NOTE_MAX)
        weight = _number(row.get("weight"), WEIGHT_MESSAGE, name)
        if indicator is None:
            indicator = AssessmentIndicator(code=ENTERED, computed=False, name=name, position=0)
            assessment.indicators.append(indicator)
        if not indicator.computed:
            indicator.name = name
            indicator.points = _number(row.get("points"), POINTS_MESSAGE, name, blank_ok=True)
        indicator.weight, indicator.note = weight, note
    names = [i.name for i in assessment.indicators]
    if len(names) > MAX_INDICATORS:
        raise DomainError(_l("An assessment takes at most %(max)s indicators."), max=MAX_INDICATORS)
    if len(set(names)) != len(names):
        raise DomainError(_l("Two indicators of the assessment have the same name."))
    for position, indicator in enumerate(assessment.indicators, 1):
        indicator.position = position
    assessment.updated_at = now
    db.session.flush()
    audit.record("assessment.indicators_updated", assessment, actor=actor, now=now, old=old,
                 new=_snapshot(assessment))
    return assessment


def _scored(assessment: Assessment) -> list[rules.ScoredIndicator]:
    return [rules.ScoredIndicator(str(i.id), Decimal(i.weight), None if i.points is None else Decimal(i.points))
            for i in assessment.indicators]


def weight_total(assessment: Assessment) -> Decimal:
    return sum((Decimal(i.weight) for i in assessment.indicators), Decimal("0"))


def problems(assessment: Assessment) -> list[str]:
    """What stops the assessment from being confirmed, in words (translated)."""
    messages = []
    for code in rules.assessment_problems(_scored(assessment)):
        if code == "weights_total":
            messages.append(str(_l("The weights add up to %(total)s; they must add up to 100.",
                                   total=shown(weight_total(assessment)))))
        elif code == "weight_negative":
            messages.append(str(_l("A weight cannot be negative.")))
        elif code == "points_missing":
            names = "、".join(i.name for i in assessment.indicators if i.points is None)
            messages.append(str(_l("Enter the points of every entered indicator: %(names)s.", names=names)))
        else:
            messages.append(str(_l("Points are out of 100: each is between 0 and 100.")))
    return messages


def provisional(assessment: Assessment) -> tuple[Decimal, str] | None:
    """The score and grade the assessment would get now (None while something stops it)."""
    scored = _scored(assessment)
    if rules.assessment_problems(scored):
        return None
    score = rules.assessment_score(scored)
    return score, rules.assessment_grade(score, bands())


def weighted_points(indicator: AssessmentIndicator) -> Decimal | None:
    """weight × points ÷ 100, to two places: what the indicator adds to the score."""
    if indicator.points is None:
        return None
    return (Decimal(indicator.weight) * Decimal(indicator.points) / 100).quantize(rules.CENT, rounding=ROUND_HALF_UP)


def subject_users(assessment: Assessment) -> list:
    """Who is told: the district bureau's officers, or the NGO's users."""
    role = Role.OFFICER if assessment.kind == SubjectKind.BUREAU else Role.SUPPLIER
    return users_with_role([assessment.organisation_id], role)


def assessment_link(assessment: Assessment) -> str:
    return f"/assessment/yearly/{assessment.id}"


def confirm(assessment: Assessment, *, actor, now: datetime) -> Assessment:
    """The city officer confirms a draft: the figures are computed a last time, the weights must add up to 100 and
    every points be entered; the score and the grade (review bands) are set and everything is frozen; the subject's
    users are told."""
    assessment = _lock(assessment)
    _require_manager(assessment, actor)
    _require_draft(assessment)
    _recompute(assessment, local_date(now))
    found = problems(assessment)
    if found:
        raise DomainError(" ".join(found))
    scored = _scored(assessment)
    score = rules.assessment_score(scored)
    grade = rules.assessment_grade(score, bands())
    assessment.status, assessment.score, assessment.grade = AssessmentStatus.CONFIRMED, score, grade
    assessment.confirmed_at, assessment.confirmed_by_id, assessment.updated_at = now, actor.id, now
    db.session.flush()
    current = bands()
    audit.record("assessment.confirmed", assessment, actor=actor, now=now, old={"status": AssessmentStatus.DRAFT},
                 new={"status": assessment.status, "score": score, "grade": grade,
                      "bands": [str(b) for b in (current.excellent, current.good, current.passing)],
                      "indicators": [s | {"figure": i.figure} for s, i in
                                     zip(_snapshot(assessment), assessment.indicators, strict=True)]})
    notify_many(subject_users(assessment), "assessment_confirmed", {
        "year": assessment.year, "subject": assessment.organisation.name, "city": assessment.city.name,
        "score": shown(score), "grade": GRADE_LABELS[grade]}, link=assessment_link(assessment), now=now)
    return assessment


# --- Reading ---------------------------------------------------------------------------------------------------------


def confirmed_grade(organisation: Organisation | int, year: int) -> str | None:
    """The grade of the organisation's confirmed yearly assessment of ``year`` (a ``Grade`` value), or None."""
    organisation_id = organisation if isinstance(organisation, int) else organisation.id
    return db.session.scalar(sa.select(Assessment.grade).where(
        Assessment.organisation_id == organisation_id, Assessment.year == year,
        Assessment.status == AssessmentStatus.CONFIRMED))


def assessments_for(user, year: int) -> list[Assessment]:
    """The year's assessments the user may see in a list: all for admin, the city's for its officers, else the
    user's own organisation's confirmed one. Bureaus first, then NGOs, by name."""
    query = (sa.select(Assessment).join(Organisation, Assessment.organisation_id == Organisation.id)
             .where(Assessment.year == year)
             .options(selectinload(Assessment.organisation), selectinload(Assessment.city))
             .order_by(Assessment.kind, Organisation.name, Assessment.id))
    if user.role == Role.ADMIN:
        pass
    elif can_run(user):
        query = query.where(Assessment.city_id == user.organisation_id)
    else:
        query = query.where(Assessment.organisation_id == user.organisation_id,
                            Assessment.status == AssessmentStatus.CONFIRMED)
    return list(db.session.scalars(query))
