"""The review plan of a contract (绩效评估计划): made when the contract is signed, then kept by the contracting bureau's
officers, who add, change, cancel and start reviews. A review's rubric is frozen once it starts.

Services take the actor and the clock, check who may act, lock the contract row where writes must serialise,
flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.audit import AuditEntry
from portal.contracts import rules as contract_rules
from portal.contracts.models import Contract, ContractStatus
from portal.contracts.services import lock_contract
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import notify_many
from portal.reviews import rubrics, rules
from portal.reviews.common import lock_review, ngo_users, officers, require_manager, review_link
from portal.reviews.models import (
    Review,
    ReviewerStatus,
    ReviewIndicator,
    ReviewStatus,
    RubricTemplate,
    TemplateIndicator,
)
from portal.reviews.rules import ReviewKind
from portal.tenders.rules import local_date

log = logging.getLogger(__name__)

TITLE_MAX = 200  # Review.title
THIRD_PARTY_MAX = 200  # Review.third_party
CANCEL_REASON_MIN_CHARS = 5  # a cancellation says why (house rule)
DUE_SOON_DAYS = 7  # officers are reminded a week before a review is due (house rule, issue 7)
OPEN_STATUSES = (ReviewStatus.PLANNED, ReviewStatus.STARTED)  # not graded, not cancelled: can be overdue
REMINDED_DUE = "review.reminded_due"
REMINDED_OVERDUE = "review.reminded_overdue"

# --- The portal's default rubric ---------------------------------------------------------------------------------

DEFAULT_TEMPLATE_NAME = "社会工作服务项目绩效评估指标（默认）"
DEFAULT_TEMPLATE_DESCRIPTION = ("政府购买社会工作服务项目通用评估指标：一级指标权重合计100分，二级指标分值等于其权重，"
                                "评估得分为各二级指标得分之和。")

# (name, weight, guidance, [(name, weight = maximum score, guidance), ...]): the first levels add up to 100; each
# scored (second-level) indicator's maximum equals its weight, so a sheet's total is the plain sum of its points.
DEFAULT_TEMPLATE: tuple = (
    ("项目管理", 20, "项目组织、计划执行与内部管理。", (
        ("项目计划与执行进度", 8, "年度/季度计划完整，服务按计划推进，进度与合同约定一致。"),
        ("制度建设与档案管理", 6, "项目管理制度健全，服务档案、会议记录等资料完整规范。"),
        ("风险管理与安全保障", 6, "有服务风险预案，安全事件及时处置并记录。"),
    )),
    ("服务成效", 30, "合同约定的服务目标与指标的完成情况及其效果。", (
        ("服务目标完成情况", 10, "合同约定的服务目标逐项达成。"),
        ("服务指标达成", 10, "服务人次、个案、小组、社区活动等数量指标完成情况。"),
        ("服务对象改变与社会影响", 10, "服务对象的改变有记录可查；项目获得社区认可或宣传报道。"),
    )),
    ("专业服务与人员配置", 20, "社会工作专业方法的运用与团队建设。", (
        ("专业方法运用", 5, "个案、小组、社区工作方法运用恰当，服务记录规范。"),
        ("人员配置与持证比例", 5, "按合同配置人员，持证社工比例达到约定。"),
        ("专业督导与培训", 5, "定期开展专业督导与培训，有记录。"),
        ("专业伦理与隐私保护", 5, "遵守社会工作伦理，服务对象个人信息妥善保护。"),
    )),
    ("财务管理", 15, "项目资金的使用与管理。", (
        ("预算执行与专款专用", 10, "资金按预算使用，专款专用，无挪用。"),
        ("财务制度与票据规范", 5, "财务制度健全，账目清晰，票据合法合规。"),
    )),
    ("服务对象满意度", 15, "服务对象及相关方对服务的评价。", (
        ("满意度调查结果", 10, "服务对象满意度调查的满意率（见录入的满意度调查）。"),
        ("意见反馈与处理", 5, "有意见收集渠道，意见与投诉及时回应、处理。"),
    )),
)


def default_rows() -> list[rubrics.RubricRow]:
    """The default rubric as rubric rows (first levels each followed by their second levels)."""
    rows = []
    for name, weight, guidance, children in DEFAULT_TEMPLATE:
        rows.append(rubrics.RubricRow(1, name, Decimal(weight), Decimal(weight), guidance))
        rows += [rubrics.RubricRow(2, c, Decimal(w), Decimal(w), g) for c, w, g in children]
    return rows


def default_template() -> RubricTemplate:
    """The portal's default rubric (no bureau, read-only), created the first time it is needed."""
    template = db.session.scalars(sa.select(RubricTemplate).where(RubricTemplate.bureau_id.is_(None))
                                  .order_by(RubricTemplate.id).limit(1)).first()
    if template is not None:
        return template
    template = RubricTemplate(name=DEFAULT_TEMPLATE_NAME, description=DEFAULT_TEMPLATE_DESCRIPTION)
    db.session.add(template)
    db.session.flush()
    rows = rubrics.clean_rows(default_rows())
    rubrics.insert_indicators(rows, [template.id], TemplateIndicator, "template_id")
    db.session.expire(template, ["indicators"])
    return template


def install_rubrics(reviews: list[Review], template: RubricTemplate) -> None:
    """Copy the template's indicators into each of ``reviews`` (internal: callers check who may act)."""
    rows = rubrics.rows_of(template.indicators)
    for review in reviews:
        review.template_id = template.id
    rubrics.insert_indicators(rows, [r.id for r in reviews], ReviewIndicator, "review_id")
    for review in reviews:
        db.session.expire(review, ["indicators"])


# --- Reading ---------------------------------------------------------------------------------------------------------


def review_title(kind: str, *, index: int = 1, start: date | None = None, end: date | None = None,
                 year_index: int | None = None) -> str:
    """A review's Chinese title in the plan, e.g. 第2期督导评估（2027-04-01至2027-06-30）."""
    if kind == ReviewKind.SUPERVISION:
        return f"第{index}期督导评估（{start.isoformat()}至{end.isoformat()}）"
    if kind == ReviewKind.MIDTERM:
        return "中期评估" + (f"（第{year_index}年度）" if year_index else "")
    if kind == ReviewKind.YEARLY:
        return f"第{year_index}年度评估"
    return {ReviewKind.NEEDS: "需求评估", ReviewKind.FINAL: "末期效果评估", ReviewKind.RE_REVIEW: "整改复评",
            ReviewKind.EXTRA: "专项评估"}[ReviewKind(kind)]


def is_overdue(review: Review, today: date) -> bool:
    """Not graded (nor cancelled) by its due day."""
    return review.status in OPEN_STATUSES and review.due_on < today


def contract_reviews(contract: Contract) -> list[Review]:
    """The contract's reviews in due order (one query)."""
    return list(db.session.scalars(sa.select(Review).where(Review.contract_id == contract.id)
                                   .order_by(Review.due_on, Review.id)))


def reviewer_counts(review_ids) -> dict[int, int]:
    """How many reviewers (not withdrawn) each review has (one query)."""
    from portal.reviews.models import Reviewer

    ids = list(review_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Reviewer.review_id, sa.func.count(Reviewer.id))
                              .where(Reviewer.review_id.in_(ids), Reviewer.status != ReviewerStatus.WITHDRAWN)
                              .group_by(Reviewer.review_id))
    return dict(rows.all())


@dataclass(frozen=True)
class PlanSummary:
    """What the contract page shows of its reviews."""

    upcoming: list[Review]  # the next open reviews, in due order
    total: int
    open: int
    overdue: int
    graded: int
    latest: Review | None  # the latest graded review


UPCOMING_SHOWN = 3


def plan_summary(contract: Contract, today: date) -> PlanSummary:
    """The contract's reviews summed up for its page, from one query."""
    reviews = contract_reviews(contract)
    open_reviews = [r for r in reviews if r.status in OPEN_STATUSES]
    graded = [r for r in reviews if r.status == ReviewStatus.GRADED]
    latest = max(graded, key=lambda r: (r.graded_at, r.id)) if graded else None
    return PlanSummary(upcoming=open_reviews[:UPCOMING_SHOWN], total=len(reviews), open=len(open_reviews),
                       overdue=sum(1 for r in open_reviews if is_overdue(r, today)), graded=len(graded),
                       latest=latest)


# --- Helpers of the services -----------------------------------------------------------------------------------------


def plan_link(contract: Contract) -> str:
    return f"/reviews/contracts/{contract.id}"


def _context(review: Review) -> dict:
    contract = review.contract
    return {"reference": contract.reference, "contract_title": contract.title, "supplier": contract.supplier.name,
            "title": review.title, "due_on": review.due_on.isoformat(), "kind": review.kind}


def _snapshot(review: Review) -> dict:
    return {"kind": review.kind, "title": review.title, "due_on": review.due_on, "period_start": review.period_start,
            "period_end": review.period_end, "opens_payment": review.opens_payment, "year_index": review.year_index,
            "third_party": review.third_party}


def final_review_last_day(contract: Contract) -> date:
    """The last due day of a final review: one month before the contract ends (RULES-CN I.40), as the plan at
    signing places it (``rules.review_plan``; never before the start of a very short term)."""
    day = contract_rules.add_months(contract.end_date + timedelta(days=1), -rules.FINAL_REVIEW_LEAD_MONTHS)
    return max(contract.start_date, min(day, contract.end_date))


def _clean(contract: Contract, values: dict, today: date, *, new: bool) -> dict:
    """Check a review's plan values against its contract; return them cleaned."""
    kind = values.get("kind")
    if kind not in {k.value for k in ReviewKind}:
        raise DomainError(_l("Choose the kind of review."))
    title = " ".join((values.get("title") or "").split())
    if len(title) > TITLE_MAX:
        raise DomainError(_l("A review's title takes at most %(max)s characters."), max=TITLE_MAX)
    start, end, due = values.get("period_start"), values.get("period_end"), values.get("due_on")
    if start is None or end is None or due is None:
        raise DomainError(_l("Give the review's period and its due date."))
    if end < start:
        raise DomainError(_l("The period under review ends before it starts."))
    if start < contract.start_date or end > contract.end_date:
        raise DomainError(_l("The period under review must lie within the contract's term (%(start)s to %(end)s)."),
                          start=contract.start_date.isoformat(), end=contract.end_date.isoformat())
    if due < start:
        raise DomainError(_l("A review cannot be due before the period it reviews starts (%(date)s)."),
                          date=start.isoformat())
    if due > contract.end_date:
        raise DomainError(_l("A review cannot be due after the contract ends (%(date)s)."),
                          date=contract.end_date.isoformat())
    final_last_day = final_review_last_day(contract)
    if kind == ReviewKind.FINAL and due > final_last_day:
        raise DomainError(_l("The final review is due at least %(n)s month(s) before the contract ends: on "
                             "%(date)s at the latest (RULES-CN I.40)."),
                          n=rules.FINAL_REVIEW_LEAD_MONTHS, date=final_last_day.isoformat())
    if new and due < today:
        raise DomainError(_l("A new review cannot be due in the past."))
    years = len(contract_rules.contract_years(contract.start_date, contract.end_date))
    year_index = values.get("year_index")
    if year_index is not None and not 1 <= year_index <= years:
        raise DomainError(_l("The contract year decided must be between 1 and %(n)s."), n=years)
    if year_index is not None and years < 2:
        raise DomainError(_l("Only a multi-year contract has yearly reviews that decide its next year."))
    third_party = " ".join((values.get("third_party") or "").split())
    if len(third_party) > THIRD_PARTY_MAX:
        raise DomainError(_l("The assessing organisation's name takes at most %(max)s characters."),
                          max=THIRD_PARTY_MAX)
    if not title:
        title = review_title(kind, index=1, start=start, end=end, year_index=year_index)
    return {"kind": kind, "title": title, "due_on": due, "period_start": start, "period_end": end,
            "opens_payment": bool(values.get("opens_payment")), "year_index": year_index, "third_party": third_party}


# --- The plan at signing ---------------------------------------------------------------------------------------------


def plan_contract(contract: Contract, *, actor, now: datetime) -> list[Review]:
    """Plan the contract's reviews from ``rules.review_plan`` (its term and reporting interval), each with a copy of
    the default rubric. Runs once: a contract already planned gets nothing more (returns []). Called when the
    contract is signed, inside the signing transaction (the actor may be either party)."""
    contract = lock_contract(contract)
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Reviews are planned once the contract is signed."))
    planned_before = db.session.scalar(sa.select(sa.func.count(Review.id)).where(
        Review.contract_id == contract.id, Review.created_by_id.is_(None), Review.kind != ReviewKind.RE_REVIEW))
    if planned_before:
        return []
    plan = rules.review_plan(contract.start_date, contract.end_date, contract.report_interval)
    reviews, supervision = [], 0
    for item in plan:
        if item.kind == ReviewKind.SUPERVISION:
            supervision += 1
        title = review_title(item.kind, index=supervision, start=item.period_start, end=item.period_end,
                             year_index=item.year_index)
        reviews.append(Review(contract_id=contract.id, kind=item.kind, title=title, status=ReviewStatus.PLANNED,
                              due_on=item.due_on, period_start=item.period_start, period_end=item.period_end,
                              year_index=item.year_index, opens_payment=item.opens_payment, created_at=now,
                              updated_at=now))
    db.session.add_all(reviews)
    db.session.flush()
    install_rubrics(reviews, default_template())
    audit.record("review.planned", contract, actor=actor, now=now, new={
        "count": len(reviews), "kinds": [r.kind for r in reviews],
        "due": [r.due_on for r in reviews], "interval": contract.report_interval})
    return reviews


def on_contract_signed(contract: Contract, *, actor, now: datetime, **_extra) -> None:
    """Receiver of ``portal.contracts.signals.contract_signed``: plan the contract's reviews."""
    plan_contract(contract, actor=actor, now=now)


# --- The officer's changes -------------------------------------------------------------------------------------------


def add_review(contract: Contract, *, kind: str, title: str = "", due_on: date, period_start: date, period_end: date,
               opens_payment: bool = False, year_index: int | None = None, third_party: str = "",
               template: RubricTemplate | None = None, actor, now: datetime) -> Review:
    """An officer adds a review to a signed contract's plan (e.g. a third-party spot check), its rubric copied from
    ``template`` (the default rubric when None)."""
    contract = lock_contract(contract)
    require_manager(contract, actor)
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Reviews can be added only to a signed contract in force."))
    template = template or default_template()
    if not (template.is_default or template.bureau_id == contract.bureau_id):
        raise NotAllowed(_l("Only the default rubric or one of your bureau's templates can be copied."))
    if not template.indicators:
        raise DomainError(_l("This template has no indicators yet."))
    values = _clean(contract, {"kind": kind, "title": title, "due_on": due_on, "period_start": period_start,
                               "period_end": period_end, "opens_payment": opens_payment, "year_index": year_index,
                               "third_party": third_party}, local_date(now), new=True)
    review = Review(contract_id=contract.id, status=ReviewStatus.PLANNED, created_by_id=actor.id, created_at=now,
                    updated_at=now, **values)
    db.session.add(review)
    db.session.flush()
    install_rubrics([review], template)
    audit.record("review.added", review, actor=actor, now=now,
                 new=_snapshot(review) | {"contract_id": contract.id, "template_id": template.id})
    return review


EDITABLE = ("title", "due_on", "period_start", "period_end", "opens_payment", "year_index", "third_party")


def update_review(review: Review, values: dict, *, actor, now: datetime) -> Review:
    """Change a planned review's title, dates, period, payment gate, contract year or assessing organisation
    (missing keys keep their value); its kind stays."""
    review = lock_review(review)
    require_manager(review.contract, actor)
    if review.status != ReviewStatus.PLANNED:
        raise Conflict(_l("Only a planned review can be changed."))
    old = _snapshot(review)
    merged = old | {k: v for k, v in values.items() if k in EDITABLE}
    cleaned = _clean(review.contract, merged, local_date(now), new=merged["due_on"] != old["due_on"])
    for key in EDITABLE:
        setattr(review, key, cleaned[key])
    db.session.flush()
    new = _snapshot(review)
    changed = {k: v for k, v in new.items() if old[k] != v}
    if changed:
        audit.record("review.updated", review, actor=actor, now=now, old={k: old[k] for k in changed}, new=changed)
    return review


def cancel_review(review: Review, *, reason: str, actor, now: datetime) -> Review:
    """Drop a review from the plan, with a reason: while planned, or started before any reviewer submitted a sheet.
    Its reviewers and the NGO are told."""
    review = lock_review(review)
    require_manager(review.contract, actor)
    if review.status not in OPEN_STATUSES:
        raise Conflict(_l("Only a planned or started review can be cancelled."))
    if any(r.submitted_at is not None and r.status != ReviewerStatus.WITHDRAWN for r in review.reviewers):
        raise Conflict(_l("A reviewer has already submitted a score sheet: this review can no longer be "
                          "cancelled."))
    reason = " ".join((reason or "").split())
    if len(reason) < CANCEL_REASON_MIN_CHARS:
        raise DomainError(_l("Say why the review is cancelled (at least %(n)s characters)."),
                          n=CANCEL_REASON_MIN_CHARS)
    if _rechecks_open_rectification(review):
        raise Conflict(_l("This review is the re-review of a rectification still open: it cannot be cancelled, or "
                          "the rectification would never be closed."))
    return cancel(review, reason=reason, actor=actor, now=now)


def _rechecks_open_rectification(review: Review) -> bool:
    from portal.reviews.models import Rectification, RectificationStatus

    return db.session.scalar(sa.select(sa.func.count(Rectification.id)).where(
        Rectification.re_review_id == review.id, Rectification.status != RectificationStatus.CLOSED)) > 0


def cancellable(review: Review) -> bool:
    """Planned, or started before any reviewer submitted a sheet."""
    return review.status in OPEN_STATUSES and not any(
        r.submitted_at is not None and r.status != ReviewerStatus.WITHDRAWN for r in review.reviewers)


def cancel(review: Review, *, reason: str, actor, now: datetime, tell_ngo: bool = True) -> Review:
    """Cancel an open review with ``reason`` (internal: the callers checked who may act and why; used by
    ``cancel_review``, by grading when a rectification is lifted and when the contract ends). Audited; its reviewers
    (and the NGO, unless ``tell_ngo`` is false) are told."""
    old_status = review.status
    review.status, review.cancelled_reason = ReviewStatus.CANCELLED, reason
    db.session.flush()
    audit.record("review.cancelled", review, actor=actor, now=now, old={"status": old_status},
                 new={"status": review.status, "reason": reason})
    reviewers = [r.user for r in review.reviewers if r.status != ReviewerStatus.WITHDRAWN]
    suppliers = ngo_users(review.contract) if tell_ngo else []
    notify_many([*reviewers, *suppliers], "review_plan_cancelled",
                _context(review) | {"reason": reason}, link=review_link(review), now=now)
    return review


def on_contract_ended(contract: Contract, *, actor, now: datetime, reason: str, **_extra) -> None:
    """Receiver of ``portal.contracts.signals.contract_ended`` (termination or completion, inside that
    transaction): the contract's planned and started reviews are cancelled and its open rectifications closed, each
    with ``reason`` naming the end. The NGO was told of the end itself; the reviewers are told of their reviews."""
    from portal.reviews.models import Rectification, RectificationStatus

    for review in db.session.scalars(sa.select(Review).where(
            Review.contract_id == contract.id, Review.status.in_(OPEN_STATUSES)).order_by(Review.id)):
        cancel(review, reason=f"{reason}，评估取消", actor=actor, now=now, tell_ngo=False)
    for rectification in db.session.scalars(sa.select(Rectification).where(
            Rectification.contract_id == contract.id, Rectification.status != RectificationStatus.CLOSED)
            .order_by(Rectification.id)):
        old = rectification.status
        rectification.status, rectification.closed_at = RectificationStatus.CLOSED, now
        rectification.closed_reason = f"{reason}，整改关闭"
        db.session.flush()
        audit.record("rectification.closed", rectification, actor=actor, now=now, old={"status": old},
                     new={"status": rectification.status, "reason": rectification.closed_reason})


def start_problems(review: Review) -> list[str]:
    """Why the review cannot start yet (translated), for the page and the service: empty when it can."""
    problems = []
    if review.contract.status != ContractStatus.SIGNED:
        problems.append(str(_l("The contract is not in force.")))
    if rules.rubric_problems(rubrics.to_rule_indicators(review.indicators)):
        problems.append(str(_l("The rubric is not complete: the weights must add up to 100.")))
    if not any(r.status != ReviewerStatus.WITHDRAWN for r in review.reviewers):
        problems.append(str(_l("Assign at least one reviewer first.")))
    return problems


def start_review(review: Review, *, actor, now: datetime) -> Review:
    """Start a planned review: the contract is in force, the rubric valid and at least one reviewer assigned. From
    here the rubric is frozen; the reviewers declare and score. The reviewers and the NGO are told."""
    review = lock_review(review)
    require_manager(review.contract, actor)
    if review.status != ReviewStatus.PLANNED:
        raise Conflict(_l("Only a planned review can be started."))
    if review.contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("A review can start only while the contract is in force."))
    rubrics.raise_problems(rules.rubric_problems(rubrics.to_rule_indicators(review.indicators)))
    reviewers = [r for r in review.reviewers if r.status != ReviewerStatus.WITHDRAWN]
    if not reviewers:
        raise DomainError(_l("Assign at least one reviewer before starting the review."))
    review.status, review.started_at, review.started_by_id = ReviewStatus.STARTED, now, actor.id
    db.session.flush()
    audit.record("review.started", review, actor=actor, now=now, old={"status": ReviewStatus.PLANNED},
                 new={"status": review.status, "reviewers": [r.user_id for r in reviewers],
                      "indicators": len(review.indicators)})
    notify_many([r.user for r in reviewers], "review_plan_started", _context(review) | {"reviewer": True},
                link=review_link(review), now=now)
    notify_many(ngo_users(review.contract), "review_plan_started", _context(review) | {"reviewer": False},
                link=review_link(review), now=now)
    return review


# --- Reminders (job) --------------------------------------------------------------------------------------------------


def _reminded(review_ids: list[int]) -> set[tuple[str, int]]:
    """Which reminders were sent already: (action, review id) pairs, from the audit log."""
    if not review_ids:
        return set()
    rows = db.session.execute(sa.select(AuditEntry.action, AuditEntry.subject_id).where(
        AuditEntry.action.in_((REMINDED_DUE, REMINDED_OVERDUE)), AuditEntry.subject_type == Review.__name__,
        AuditEntry.subject_id.in_([str(i) for i in review_ids])))
    return {(action, int(subject_id)) for action, subject_id in rows}


def remind_due_reviews(now: datetime) -> int:
    """Job: tell the bureau's officers once when a planned review is due within a week, and once when a review is
    overdue (planned or started, not graded by its due day). Runs twice without harm. Returns how many reminders
    were sent."""
    today = local_date(now)
    reviews = list(db.session.scalars(
        sa.select(Review).join(Contract, Contract.id == Review.contract_id)
        .where(Review.status.in_(OPEN_STATUSES), Contract.status == ContractStatus.SIGNED,
               Review.due_on <= today + timedelta(days=DUE_SOON_DAYS))
        .order_by(Review.due_on, Review.id)))
    sent = _reminded([r.id for r in reviews])
    bureau_officers: dict[int, list] = {}
    count = 0
    for review in reviews:
        contract = review.contract
        if review.due_on < today:
            action, template = REMINDED_OVERDUE, "review_plan_overdue"
        elif review.status == ReviewStatus.PLANNED:
            action, template = REMINDED_DUE, "review_plan_due"
        else:
            continue
        if (action, review.id) in sent:
            continue
        if contract.bureau_id not in bureau_officers:
            bureau_officers[contract.bureau_id] = officers(contract)
        notify_many(bureau_officers[contract.bureau_id], template,
                    _context(review) | {"days": (review.due_on - today).days}, link=review_link(review), now=now)
        audit.record(action, review, actor=None, now=now, new={"due_on": review.due_on})
        count += 1
    return count
