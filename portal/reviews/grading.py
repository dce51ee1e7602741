"""Grading a performance review, what its grade does, reopening it after an upheld appeal, the officer's decision
on a proposed termination, and the review report PDF.

The review score is the mean of the counting reviewers' exact totals, rounded half up to two places
(``rules.mean_score``); the grade follows the bands of the setting PORTAL_REVIEW_GRADE_BANDS (default 优秀 >= 90,
良好 80 to below 90, 合格 60 to below 80, 不合格 below 60; RULES-CN I.40).

What a grade does (``apply_grade``), in this order:
1. a review of a contract year records that year's outcome (``contracts.delivery.record_year_review``): a failure
   stops the next year until a later review of the year passes;
2. at 合格 or better a review that opens a payment opens the next REVIEW gate of the schedule (a refusal of the
   contracts feature never undoes the grading: the officers are told why no gate opened); a review that opened a
   gate and is graded again below 合格 after an appeal shuts it if it is not paid yet (paid, the officers are told);
3. 不合格 opens a rectification (整改) of a contract in force: the NGO's plan is due within 10 working days;
4. a graded re-review closes the rectification it was planned for;
5. a review re-graded at 合格 or better after an appeal lifts its own rectification;
6. two failed reviews of a contract in force in a row propose termination to the officer, who decides;
7. the NGO is told the grade and the last day to appeal (5 working days).
It can run again after a re-grade: the gate of a review is opened once (same reference, same installment).

Services never commit: they flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.calendar import load_calendar
from portal.contracts import delivery, payments
from portal.contracts.delivery import TerminationCause
from portal.contracts.models import ContractStatus
from portal.errors import Conflict, DomainError
from portal.extensions import db
from portal.notify import notify_many
from portal.pdf import BEIJING, GeneratedDocument, issue_document
from portal.reviews import planning, rules, scoring
from portal.reviews.common import lock_review, ngo_users, officers, require_manager, review_link
from portal.reviews.models import (
    GRADE_LABELS,
    Rectification,
    RectificationStatus,
    Review,
    ReviewerKind,
    ReviewerStatus,
    ReviewStatus,
    require_contract_in_force,
)
from portal.reviews.rules import GRADE_NAMES, GradeBands, ReviewKind
from portal.tenders.rules import local_date

REPORT_PREFIX = "PG"  # 评估报告 document numbers: PG-2026-00001
REPORT_TEMPLATE = "document.html"
TERMINATE, CONTINUE = "terminate", "continue"
DECISIONS = (TERMINATE, CONTINUE)
DECISION_NOTE_MIN = 10  # a decision on a proposed termination says why (termination itself needs 20)
REOPEN_REASON_MIN = 5
LIFTED_RE_REVIEW_REASON = "申诉后重新评定，整改解除"  # the re-review of a lifted rectification is cancelled

# Words of the report, a document in Chinese.
KIND_CN = {ReviewKind.NEEDS: "需求评估", ReviewKind.SUPERVISION: "督导评估", ReviewKind.MIDTERM: "中期评估",
           ReviewKind.YEARLY: "年度评估", ReviewKind.FINAL: "末期效果评估", ReviewKind.RE_REVIEW: "整改复评",
           ReviewKind.EXTRA: "专项评估"}
REVIEWER_KIND_CN = {ReviewerKind.OFFICER: "采购人督导人员", ReviewerKind.EXPERT: "评估专家",
                    ReviewerKind.THIRD_PARTY: "第三方评估人员"}


def bands() -> GradeBands:
    """The grade bands in force (the setting PORTAL_REVIEW_GRADE_BANDS, parsed at start-up)."""
    return current_app.config["REVIEW_GRADE_BANDS"]


def review_ref(review: Review) -> str:
    """How the contracts feature names this review (gate source, year outcome)."""
    return f"review:{review.id}"


def _beijing(instant: datetime | None) -> str:
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if instant else ""


def _shown(value) -> str:
    """Points and scores to two places."""
    return f"{Decimal(value):.2f}"


def _number(value) -> str:
    """A weight or a maximum as written: 8, 7.5."""
    return f"{Decimal(value).normalize():f}"


def rectification_of(review: Review) -> Rectification | None:
    """The rectification opened by this review's failure, if any."""
    return db.session.scalar(sa.select(Rectification).where(Rectification.review_id == review.id))


# --- Grading -------------------------------------------------------------------------------------------------------


def grading_problems(review: Review) -> list[str]:
    """Why the review cannot be graded yet (translated): every reviewer not withdrawn has submitted, at least one."""
    if review.status != ReviewStatus.STARTED:
        return [str(_l("Only a review under way can be graded."))]
    waiting = [r.user.name for r in scoring.counting_reviewers(review, submitted_only=False) if r.submitted_at is None]
    if waiting:
        return [str(_l("Not every reviewer has submitted their sheet: %(names)s.", names="、".join(waiting)))]
    if not scoring.counting_reviewers(review):
        return [str(_l("At least one reviewer must submit a sheet before the review is graded."))]
    return []


def finalise(review: Review, *, actor, now: datetime) -> Review:
    """The officer grades a started review once every reviewer not withdrawn has submitted: the score is the mean
    of their totals, the grade follows the bands; the report PDF is issued; then ``apply_grade``."""
    review = lock_review(review)
    require_manager(review, actor)
    require_contract_in_force(review.contract)
    if review.status != ReviewStatus.STARTED:
        raise Conflict(_l("Only a review under way can be graded."))
    problems = grading_problems(review)
    if problems:
        raise DomainError(" ".join(problems))
    # The appeal window and the rectification plan are counted in working days: refuse before any change if the
    # calendar of a year they need is missing (CalendarYearMissing tells the administrator what to enter).
    calendar = load_calendar()
    rules.plan_last_day(local_date(now), calendar)
    counting = scoring.counting_reviewers(review)
    totals = {r.id: scoring.reviewer_total(r) for r in counting}
    score = rules.mean_score(totals.values())
    grade = rules.grade_for(score, bands())
    old = {"status": review.status, "round": review.round}
    review.status, review.score, review.grade = ReviewStatus.GRADED, score, grade
    review.graded_at, review.graded_by_id = now, actor.id
    db.session.flush()
    document = issue_document(f"review-report:{review.id}:{review.round}", REPORT_TEMPLATE, report_context(review),
                              prefix=REPORT_PREFIX, now=now, issued_by=actor)
    review.document_id = document.id
    db.session.flush()
    audit.record("review.graded", review, actor=actor, now=now, old=old, new={
        "status": review.status, "round": review.round, "score": score, "grade": grade,
        "totals": {str(k): str(rules.to_decimal(v)) for k, v in totals.items()},
        "bands": [str(b) for b in (bands().excellent, bands().good, bands().passing)],
        "document": document.number, "sha256": document.content_sha256})
    apply_grade(review, actor=actor, now=now)
    return review


# --- What a grade does -----------------------------------------------------------------------------------------------


def _close(rectification: Rectification, reason: str, *, actor, now: datetime) -> None:
    old = rectification.status
    rectification.status, rectification.closed_at, rectification.closed_reason = (
        RectificationStatus.CLOSED, now, reason)
    db.session.flush()
    audit.record("rectification.closed", rectification, actor=actor, now=now, old={"status": old},
                 new={"status": rectification.status, "reason": reason})


def _graded_grades(review: Review) -> list[str]:
    """The grades of the contract's graded reviews, oldest grading first."""
    return list(db.session.scalars(sa.select(Review.grade).where(
        Review.contract_id == review.contract_id, Review.status == ReviewStatus.GRADED)
        .order_by(Review.graded_at, Review.id)))


def _lifted(rectification: Rectification) -> bool:
    """The rectification was lifted: closed, and the review whose failure opened it now stands at 合格 or better
    (re-graded after an upheld appeal)."""
    failed = rectification.review
    return (rectification.status == RectificationStatus.CLOSED and failed.status == ReviewStatus.GRADED
            and failed.grade is not None and rules.passes(failed.grade))


def _moot(review: Review) -> Rectification | None:
    """For a re-review: the rectification it was planned for, when that rectification has been lifted meanwhile
    (its failed review re-graded at 合格 after an appeal). Such a re-review's grade changes nothing."""
    if review.kind != ReviewKind.RE_REVIEW:
        return None
    planned_for = db.session.scalar(sa.select(Rectification).where(Rectification.re_review_id == review.id))
    return planned_for if planned_for is not None and _lifted(planned_for) else None


def _cancel_re_review(rectification: Rectification, *, actor, now: datetime) -> int | None:
    """A lifted rectification's re-review is cancelled while it can be (planned, or started before any sheet was
    submitted); one already scored is left to be graded, and its grade then changes nothing (``_moot``)."""
    re_review = rectification.re_review
    if re_review is None or not planning.cancellable(re_review):
        return None
    planning.cancel(re_review, reason=LIFTED_RE_REVIEW_REASON, actor=actor, now=now)
    return re_review.id


def _clear_lapsed_proposals(review: Review) -> list[int]:
    """The run of failures behind a proposal is broken: every undecided proposal on the contract's reviews lapses."""
    lapsed = list(db.session.scalars(sa.select(Review).where(
        Review.contract_id == review.contract_id, Review.termination_proposed_at.is_not(None),
        Review.proposal_decision == "").order_by(Review.id)))
    for proposed in lapsed:
        proposed.termination_proposed_at = None
    return [r.id for r in lapsed]


def apply_grade(review: Review, *, actor, now: datetime) -> dict:
    """What the review's grade does (see the module's docstring); returns what was done, as audited."""
    contract = review.contract
    grade, ref = review.grade, review_ref(review)
    passed = rules.passes(grade)
    calendar = load_calendar()
    graded_on = local_date(review.graded_at or now)
    outcome: dict = {"grade": grade, "round": review.round}
    moot = _moot(review)
    if moot is not None:
        # A re-review of a rectification lifted meanwhile: no year outcome, gate, rectification or proposal.
        outcome["moot_rectification"] = moot.id
    # (1) A contract year's review decides whether the next year goes ahead.
    if review.year_index and moot is None:
        delivery.record_year_review(contract, year_index=review.year_index, passed=passed, review_ref=ref,
                                    actor=actor, now=now)
        outcome["year"] = {"index": review.year_index, "passed": passed}
    # (2) A review gate of the payment schedule at 合格 or better.
    if passed and review.opens_payment and moot is None:
        try:
            with db.session.begin_nested():
                installment = payments.open_review_gate(contract, review_ref=ref, grade=grade, actor=actor, now=now)
        except DomainError as exc:
            with force_locale("en"):
                outcome["gate_refused"] = str(exc)
            notify_many(officers(review.contract), "review_gate_refused", scoring.context(review, reason=exc),
                        link=review_link(review), now=now)
        else:
            review.gate_installment_id = installment.id if installment is not None else review.gate_installment_id
            outcome["gate"] = installment.position if installment is not None else None
    # (2b) Graded again below 合格 after an upheld appeal: the gate the earlier grade opened shuts if not paid yet.
    if not passed and review.gate_installment_id is not None:
        reason = f"{review.title}经申诉重新评定为{GRADE_NAMES[grade]}（{_shown(review.score)}分）"
        installment = payments.close_review_gate(contract, review_ref=ref, reason=reason, actor=actor, now=now)
        if installment is not None and installment.paid_on is None:
            review.gate_installment_id = None
            outcome["gate_closed"] = installment.position
        elif installment is not None:
            outcome["gate_paid_before_regrade"] = installment.position
    # (3) 不合格 opens a rectification, once per review.
    rectification = rectification_of(review)
    in_force = contract.status == ContractStatus.SIGNED  # an ended contract is not rectified nor terminated again
    if not passed and rectification is None and in_force and moot is None:
        rectification = Rectification(review_id=review.id, contract_id=contract.id,
                                      status=RectificationStatus.AWAITING_PLAN,
                                      plan_due_on=rules.plan_last_day(graded_on, calendar),
                                      created_at=now, updated_at=now)
        db.session.add(rectification)
        db.session.flush()
        audit.record("rectification.opened", rectification, actor=actor, now=now, new={
            "review_id": review.id, "plan_due_on": rectification.plan_due_on})
        outcome["rectification"] = rectification.id
    # (4) A graded re-review closes the rectification it was planned for.
    if review.kind == ReviewKind.RE_REVIEW:
        for planned_for in db.session.scalars(sa.select(Rectification).where(
                Rectification.re_review_id == review.id, Rectification.status != RectificationStatus.CLOSED)):
            _close(planned_for, f"整改复评评定为{GRADE_NAMES[grade]}（{_shown(review.score)}分）", actor=actor, now=now)
            outcome.setdefault("closed", []).append(planned_for.id)
    # (5) Re-graded at 合格 or better (after an appeal): the review's own rectification is lifted.
    if passed and rectification is not None and rectification.status != RectificationStatus.CLOSED:
        _close(rectification, f"重新评定为{GRADE_NAMES[grade]}（{_shown(review.score)}分），整改解除", actor=actor,
               now=now)
        outcome.setdefault("closed", []).append(rectification.id)
        cancelled = _cancel_re_review(rectification, actor=actor, now=now)
        if cancelled is not None:
            outcome["re_review_cancelled"] = cancelled
    # (6) Two failures in a row propose termination. The run is recomputed at every grading: once it is broken
    # (a pass, or an earlier failure re-graded as a pass), every undecided proposal of the contract lapses.
    grades = _graded_grades(review)
    proposes = rules.proposes_termination(grades)
    if (not passed and in_force and proposes and moot is None and review.termination_proposed_at is None):
        review.termination_proposed_at = now
        outcome["termination_proposed"] = rules.consecutive_failures(grades)
        notify_many(officers(review.contract), "review_termination_proposed",
                    scoring.context(review, failures=rules.consecutive_failures(grades)),
                    link=review_link(review, "proposal"), now=now)
    elif not proposes:
        lapsed = _clear_lapsed_proposals(review)
        if lapsed:
            outcome["termination_proposal_lifted"] = True
            outcome["termination_proposals_lapsed"] = lapsed
    db.session.flush()
    # (7) The NGO: its grade and the last day to appeal (and, on a failure, the plan's last day).
    values = {"score": _shown(review.score), "grade": GRADE_LABELS[grade],
              "appeal_last_day": rules.appeal_last_day(graded_on, calendar).isoformat()}
    if passed or rectification is None or rectification.status != RectificationStatus.AWAITING_PLAN:
        notify_many(ngo_users(review.contract), "review_graded", scoring.context(review, **values),
                    link=review_link(review), now=now)
    else:
        values["plan_due_on"] = rectification.plan_due_on.isoformat()
        notify_many(ngo_users(review.contract), "review_failed", scoring.context(review, **values),
                    link=review_link(review), now=now)
    audit.record("review.grade_applied", review, actor=actor, now=now, new=outcome)
    return outcome


# --- Reopening after an upheld appeal ------------------------------------------------------------------------------


def reopen(review: Review, *, reason: str, actor, now: datetime) -> Review:
    """An upheld appeal reopens the scoring: graded -> started, the next round, score and grade cleared, every
    counting reviewer's sheet unsubmitted so they can change their points (each change audited); they are told.
    The gate opened, the year recorded and the rectification stay until the review is graded again, which confirms
    or undoes them (``apply_grade``)."""
    review = lock_review(review)
    require_manager(review, actor)
    if review.status != ReviewStatus.GRADED:
        raise Conflict(_l("Only a graded review can be reopened."))
    reason = (reason or "").strip()
    if len(reason) < REOPEN_REASON_MIN:
        raise DomainError(_l("Say why the review is reopened (at least %(n)s characters)."), n=REOPEN_REASON_MIN)
    old = {"status": review.status, "round": review.round, "score": review.score, "grade": review.grade,
           "document_id": review.document_id}
    review.status, review.round = ReviewStatus.STARTED, review.round + 1
    review.score = review.grade = review.graded_at = review.graded_by_id = review.document_id = None
    reopened = [r for r in review.reviewers if r.counts]
    for reviewer in reopened:
        reviewer.submitted_at = None
    db.session.flush()
    audit.record("review.reopened", review, actor=actor, now=now, old=old, new={
        "status": review.status, "round": review.round, "reason": reason, "reviewers": [r.id for r in reopened]})
    notify_many([r.user for r in review.reviewers if r.status == ReviewerStatus.ACTIVE], "review_reopened",
                scoring.context(review, reason=reason, round=review.round), link=review_link(review, "sheet"),
                now=now)
    return review


# --- The proposed termination --------------------------------------------------------------------------------------


def decide_proposal(review: Review, *, decision: str, note: str, actor, now: datetime) -> Review:
    """The officer decides on the termination proposed after two failed reviews in a row: terminate the contract
    (its grounds: the note; cause failed review) or let it continue, with the reason."""
    review = lock_review(review)
    require_manager(review, actor)
    if review.termination_proposed_at is None:
        raise Conflict(_l("No termination is proposed on this review."))
    if review.proposal_decision:
        raise Conflict(_l("The proposed termination has already been decided."))
    if decision not in DECISIONS:
        raise DomainError(_l("Choose to terminate the contract or to let it continue."))
    note = (note or "").strip()
    if len(note) < DECISION_NOTE_MIN:
        raise DomainError(_l("Give the reasons for the decision (at least %(n)s characters)."), n=DECISION_NOTE_MIN)
    if decision == TERMINATE and len(note) < delivery.GROUNDS_MIN_CHARS:
        raise DomainError(_l("Terminating the contract needs its grounds: give at least %(n)s characters."),
                          n=delivery.GROUNDS_MIN_CHARS)
    if decision == TERMINATE and not rules.proposes_termination(_graded_grades(review)):
        raise Conflict(_l("The failed reviews behind this proposal are no longer in a row (a grade has changed "
                          "since): the contract cannot be terminated on it."))
    if decision == TERMINATE:
        delivery.terminate(review.contract, grounds=note, cause=TerminationCause.FAILED_REVIEW, actor=actor, now=now)
    review.proposal_decision, review.proposal_note = decision, note
    review.proposal_decided_at, review.proposal_decided_by_id = now, actor.id
    db.session.flush()
    audit.record("review.proposal_decided", review, actor=actor, now=now, old={"decision": ""},
                 new={"decision": decision, "note": note})
    return review


# --- The report ------------------------------------------------------------------------------------------------------


def can_read_report(review: Review, user) -> bool:
    """The parties and the overseers (``Contract.can_view``) and the review's reviewers, once a report is issued."""
    if review.document_id is None:
        return False
    reviewer = review.reviewer_for(user)
    return review.contract.can_view(user) or (reviewer is not None and reviewer.status == ReviewerStatus.ACTIVE)


def report_document(review: Review) -> GeneratedDocument | None:
    return db.session.get(GeneratedDocument, review.document_id) if review.document_id is not None else None


def _bands_text(current: GradeBands) -> str:
    e, g, p = (f"{b.normalize():f}" for b in (current.excellent, current.good, current.passing))
    return f"优秀：{e}分及以上；良好：{g}分至{e}分以下；合格：{p}分至{g}分以下；不合格：{p}分以下。"


def report_context(review: Review) -> dict:
    """The plain data of the report PDF (pdf/document.html), in Chinese: the reviewers, every scored indicator with
    each reviewer's points, the comments, each reviewer's weighted total, the mean, the grade."""
    contract = review.contract
    counting = scoring.counting_reviewers(review)
    rubric = scoring.indicators(review)
    first_names = {i.key: i.name for i in rubric if i.parent is None}
    first_levels = [i for i in rubric if i.parent is None]
    points = {r.id: {s.indicator_id: s for s in r.scores} for r in counting}
    labels = [f"评估人{n}" for n in range(1, len(counting) + 1)]  # short column heads; named in the first table
    lead = (f"合同编号：{contract.reference}；项目名称：{contract.title}；采购人：{contract.bureau.name}；"
            f"承接机构：{contract.supplier.name}；评估类型：{KIND_CN[ReviewKind(review.kind)]}；"
            f"评估期间：{review.period_start.isoformat()}至{review.period_end.isoformat()}。")
    if review.third_party:
        lead += f"第三方评估机构：{review.third_party}。"
    if review.round > 1:
        lead += f"本报告为申诉后第 {review.round} 轮评分的结果。"
    lead += f"评定时间：{_beijing(review.graded_at)}。"
    reviewers = {"heading": "评估人员", "columns": ["序号", "姓名", "身份", "所属机构", "提交时间"],
                 "rows": [[label, r.user.name, REVIEWER_KIND_CN[ReviewerKind(r.kind)], r.organisation_name or "—",
                           _beijing(r.submitted_at)] for label, r in zip(labels, counting, strict=True)]}
    rows, comments, shown_first = [], [], set()
    for leaf in rules.leaves(rubric):
        given = [points[r.id][leaf.key].points for r in counting]
        mean = rules.to_decimal(sum((Fraction(p) for p in given), Fraction(0)) / len(given))  # half up
        first = leaf.parent if leaf.parent is not None else leaf.key
        first_cell = "" if first in shown_first else first_names[first]
        shown_first.add(first)
        rows.append([first_cell, leaf.name if leaf.parent is not None else "—", _number(leaf.weight),
                     _number(leaf.max_score), *[_shown(p) for p in given], _shown(mean)])
        comments += [[leaf.name, label, _shown(points[r.id][leaf.key].points), points[r.id][leaf.key].comment]
                     for label, r in zip(labels, counting, strict=True) if points[r.id][leaf.key].comment]
    detail = {"heading": "评分明细",
              "paragraphs": ["各评估人独立评分。指标加权得分 = 指标权重 × 得分 ÷ 满分；"
                             "评估人总分为各评分指标加权得分之和（满分100分）。平均分为各评估人得分的算术平均值。"],
              "columns": ["一级指标", "二级指标", "权重", "满分", *labels, "平均分"], "rows": rows}
    opinions = {"heading": "评审意见", "columns": ["指标", "评估人", "得分", "意见"], "rows": comments} if comments \
        else {"heading": "评审意见", "paragraphs": ["（评估人未填写意见。）"]}
    subtotal_rows = []
    for label, reviewer in zip(labels, counting, strict=True):
        parts = scoring.subtotals(reviewer)
        subtotal_rows.append([f"{label} {reviewer.user.name}",
                              *[_shown(rules.to_decimal(parts.get(f.key, 0))) for f in first_levels],
                              _shown(rules.to_decimal(scoring.reviewer_total(reviewer)))])
    summary = {"heading": "评分汇总",
               "paragraphs": ["评估得分为各评估人总分的算术平均值，按全精度计算后四舍五入保留两位小数。"],
               "columns": ["评估人", *[f"{f.name}（{_number(f.weight)}）" for f in first_levels], "总分"],
               "rows": [*subtotal_rows, ["评估得分", *[""] * len(first_levels), _shown(review.score)]]}
    passed = rules.passes(review.grade)
    conclusion = [f"评估得分：{_shown(review.score)}分；评估等级：{GRADE_NAMES[review.grade]}。",
                  f"等级标准：{_bands_text(bands())}"]
    if passed:
        conclusion.append("评估等级为合格及以上" + ("，满足合同约定的评估付款条件。" if review.opens_payment else "。"))
    else:
        conclusion.append("评估等级为不合格：承接机构应在评定之日起10个工作日内提交整改方案，整改完成后进行复评；"
                          "连续两次评估不合格的，采购人可依约终止合同。")
    if review.year_index:
        conclusion.append(f"本次评估为合同第{review.year_index}年度的评估，"
                          + ("评估合格，下一年度可继续履行。" if passed else "评估不合格，下一年度暂不得继续履行。"))
    conclusion.append(f"承接机构对评估结果有异议的，可在评定之日起{rules.APPEAL_WORKING_DAYS}个工作日内提出申诉。")
    return {"issuer": contract.bureau.name, "title": f"{review.title}报告", "lead": lead,
            "sections": [reviewers, detail, opinions, summary, {"heading": "评估结论", "paragraphs": conclusion}],
            "signatures": [*[f"评估人 {r.user.name}" for r in counting], "采购人（盖章）"],
            "score": _shown(review.score), "grade": GRADE_NAMES[review.grade]}
