"""Reviewers of a performance review and their score sheets.

The contracting bureau's officer assigns the reviewers: officers of the bureau (督导), experts of the pool, or a
third-party assessor (第三方评估) named with the assessing organisation. Nobody with a tie to the NGO reviews it:
an expert's recorded ties are checked as for an evaluation committee (``evaluation.rules.conflicted``), and an
assessing organisation may not be the NGO itself. Each reviewer declares no conflict before seeing the evidence
(a declared conflict withdraws them), then scores every scored indicator alone.

Who sees a sheet (``visible_sheets``):
- its reviewer, always;
- another reviewer, once it is submitted and once their own is submitted;
- the parties (the bureau, the NGO) and the overseers, once the review is graded.

A reviewer's total and the review score are never stored: they are computed from the sheets (``rules.sheet_total``,
``rules.mean_score``); the graded score is kept on the review by ``portal.reviews.grading``.

Services never commit: they flush, audit and queue notifications; the caller commits. Writers lock the contract row
first, then the review (``lock_review``), so assignments, sheets and the grading of one contract serialise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.accounts.models import User
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import rules as evaluation_rules
from portal.evaluation.committee import affiliations_of
from portal.extensions import db
from portal.notify import notify, notify_many
from portal.permissions import Role
from portal.reviews import rules
from portal.reviews.common import lock_review, officers, require_manager, review_link
from portal.reviews.models import (
    Review,
    ReviewerKind,
    ReviewerStatus,
    ReviewScore,
    ReviewStatus,
    require_contract_in_force,
)
from portal.reviews.models import (
    Reviewer as ReviewerRow,
)
from portal.reviews.rubrics import to_rule_indicators
from portal.tenders.rules import Problem, local_date

# House rule (issue 7): points below 60 percent of an indicator's maximum are explained in a comment.
LOW_POINTS_SHARE = Decimal("0.6")
CONFLICT_NOTE_MIN = 5  # a declared conflict names the tie
REASON_MIN = 5  # a removal says why
COMMENT_MAX = 2000
ORGANISATION_MAX = 200  # Reviewer.organisation_name
ASSIGNABLE = (ReviewStatus.PLANNED, ReviewStatus.STARTED)

# The translated message of each problem of a sheet.
PROBLEM_MESSAGES = {
    "points_missing": _l("Give points for “%(name)s”."),
    "points_out_of_range": _l("The points for “%(name)s” must be from 0 to %(max)s, with at most two decimal "
                              "places."),
    "comment_required": _l("Explain the points for “%(name)s” in a comment: they are below 60 percent of its "
                           "maximum (house rule)."),
    "comment_without_points": _l("Give points for “%(name)s” before commenting on them."),
}


# --- Helpers -----------------------------------------------------------------------------------------------------


def context(review: Review, **values) -> dict:
    """What every review notification names: the review and its contract."""
    contract = review.contract
    return {"review": review.title, "reference": contract.reference, "title": contract.title,
            "supplier": contract.supplier.name, **values}


def _reload(reviewer: ReviewerRow) -> ReviewerRow:
    return db.session.execute(sa.select(ReviewerRow).where(ReviewerRow.id == reviewer.id)
                              .execution_options(populate_existing=True)).scalar_one()


def _message(problem: Problem) -> str:
    template = str(PROBLEM_MESSAGES[problem.code])
    return template % problem.params


def _points(value: Decimal) -> str:
    return f"{value:.2f}"


def _same_name(a: str, b: str) -> bool:
    """Two organisation names are the same once spaces and case are ignored (全角 brackets as 半角)."""
    def plain(name: str) -> str:
        return "".join(name.replace("（", "(").replace("）", ")").split()).casefold()
    return plain(a) == plain(b)


def indicators(review: Review) -> list[rules.Indicator]:
    """The review's rubric as rule indicators (key = indicator id)."""
    return to_rule_indicators(list(review.indicators))


def scored_indicators(review: Review) -> list[rules.Indicator]:
    """The indicators a reviewer gives points for, in rubric order."""
    return rules.leaves(indicators(review))


def needs_comment(indicator: rules.Indicator, points: Decimal) -> bool:
    """Points below 60 percent of the maximum are explained (house rule, ``LOW_POINTS_SHARE``)."""
    return points < indicator.max_score * LOW_POINTS_SHARE


# --- Reviewers ---------------------------------------------------------------------------------------------------


def has_conflict(review: Review, user: User, *, organisation_name: str = "", now: datetime) -> bool:
    """Whether ``user`` (or the assessing organisation named) has a tie to the review's NGO on the Beijing day of
    ``now``: a recorded expert tie that obliges recusal (R9, as for an evaluation committee), membership of the
    NGO, or an assessing organisation that is the NGO itself."""
    contract = review.contract
    if user.organisation_id == contract.supplier_id:
        return True
    ties = affiliations_of([user.id]).get(user.id, [])
    if evaluation_rules.conflicted(ties, [contract.supplier_id], local_date(now)):
        return True
    return bool(organisation_name) and _same_name(organisation_name, contract.supplier.name)


def assign_reviewer(review: Review, user: User, *, kind: str, organisation_name: str = "", actor,
                    now: datetime) -> ReviewerRow:
    """The officer assigns a reviewer to a planned or started review: an officer of the contracting bureau (kind
    officer) or an evaluator (kind expert, or third_party with the assessing organisation's name). Nobody with a
    conflict with the NGO, nobody twice. A reviewer assigned to a started review is told at once (the start tells
    those assigned before it)."""
    review = lock_review(review)
    require_manager(review, actor)
    require_contract_in_force(review.contract)
    if review.status not in ASSIGNABLE:
        raise Conflict(_l("Reviewers can be assigned only before the review is graded."))
    try:
        kind = ReviewerKind(kind)
    except ValueError as exc:
        raise DomainError(_l("Choose the kind of reviewer.")) from exc
    organisation_name = " ".join((organisation_name or "").split())
    if not user.is_active:
        raise DomainError(_l("%(name)s's account is not active: an inactive user cannot review."), name=user.name)
    if user.role == Role.SUPPLIER:
        raise DomainError(_l("A supplier's user cannot be a reviewer of a performance review."))
    if kind == ReviewerKind.OFFICER:
        if not review.can_manage(user):
            raise DomainError(_l("An officer reviewer must be an officer of the contracting bureau."))
        organisation_name = ""
    elif user.role != Role.EVALUATOR:
        raise DomainError(_l("An expert or a third-party assessor must be an evaluator of the portal."))
    elif kind == ReviewerKind.THIRD_PARTY:
        if not organisation_name:
            raise DomainError(_l("Name the assessing organisation of the third-party assessor (第三方评估机构)."))
        if len(organisation_name) > ORGANISATION_MAX:
            raise DomainError(_l("The organisation's name may have at most %(max)s characters."),
                              max=ORGANISATION_MAX)
    else:
        organisation_name = ""
    if any(r.user_id == user.id for r in review.reviewers):
        raise Conflict(_l("%(name)s is already a reviewer of this review (or has withdrawn from it)."),
                       name=user.name)
    if has_conflict(review, user, organisation_name=organisation_name, now=now):
        raise DomainError(_l("%(name)s has a conflict of interest with %(ngo)s (a tie to the NGO, or the NGO is "
                             "the assessing organisation): a reviewer with a conflict cannot be assigned."),
                          name=user.name, ngo=review.contract.supplier.name)
    reviewer = ReviewerRow(review_id=review.id, user_id=user.id, kind=kind, organisation_name=organisation_name,
                           status=ReviewerStatus.ASSIGNED, assigned_by_id=actor.id, assigned_at=now)
    db.session.add(reviewer)
    db.session.flush()
    audit.record("review.reviewer_assigned", review, actor=actor, now=now, new={
        "reviewer_id": reviewer.id, "user_id": user.id, "kind": kind, "organisation": organisation_name})
    if review.status == ReviewStatus.STARTED:
        notify(user, "review_assigned", context(review, due=review.due_on.isoformat()),
               link=review_link(review, "declare"), now=now)
    return reviewer


def remove_reviewer(reviewer: ReviewerRow, *, reason: str, actor, now: datetime) -> ReviewerRow:
    """The officer removes a reviewer who has not submitted their sheet, with the reason; they are told."""
    review = lock_review(reviewer.review)
    reviewer = _reload(reviewer)
    require_manager(review, actor)
    if review.status not in ASSIGNABLE:
        raise Conflict(_l("Reviewers can be removed only before the review is graded."))
    if reviewer.status == ReviewerStatus.WITHDRAWN:
        raise Conflict(_l("This reviewer has already withdrawn or been removed."))
    if reviewer.submitted_at is not None:
        raise Conflict(_l("A reviewer who has submitted their sheet cannot be removed."))
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise DomainError(_l("Say why the reviewer is removed (at least %(n)s characters)."), n=REASON_MIN)
    old = reviewer.status
    reviewer.status, reviewer.withdrawn_reason = ReviewerStatus.WITHDRAWN, reason
    db.session.flush()
    audit.record("review.reviewer_removed", review, actor=actor, now=now, old={"reviewer_id": reviewer.id,
                 "status": old}, new={"reviewer_id": reviewer.id, "status": reviewer.status, "reason": reason})
    notify(reviewer.user, "review_reviewer_removed", context(review, reason=reason), link=review_link(review),
           now=now)
    return reviewer


def declare(reviewer: ReviewerRow, *, conflict: bool, note: str, actor, now: datetime) -> ReviewerRow:
    """The reviewer's own declaration before seeing the evidence: no conflict lets them score; a conflict (named
    in the note) withdraws them and tells the bureau's officers."""
    review = lock_review(reviewer.review)
    reviewer = _reload(reviewer)
    if actor is None or reviewer.user_id != actor.id:
        raise NotAllowed(_l("Only the reviewer can make their own declaration."))
    if review.status not in ASSIGNABLE:
        raise Conflict(_l("This review is no longer open for declarations."))
    if reviewer.status != ReviewerStatus.ASSIGNED:
        raise Conflict(_l("You have already made your declaration for this review."))
    note = (note or "").strip()
    if not conflict:
        reviewer.status, reviewer.declared_at = ReviewerStatus.ACTIVE, now
        db.session.flush()
        audit.record("review.reviewer_declared", review, actor=actor, now=now,
                     old={"reviewer_id": reviewer.id, "status": ReviewerStatus.ASSIGNED},
                     new={"reviewer_id": reviewer.id, "status": reviewer.status, "conflict": False})
        return reviewer
    if len(note) < CONFLICT_NOTE_MIN:
        raise DomainError(_l("Describe the conflict of interest (your tie to the NGO)."))
    reviewer.status, reviewer.declared_at = ReviewerStatus.WITHDRAWN, now
    reviewer.withdrawn_reason = f"声明与被评估机构存在利害关系：{note}"
    db.session.flush()
    audit.record("review.conflict_declared", review, actor=actor, now=now,
                 old={"reviewer_id": reviewer.id, "status": ReviewerStatus.ASSIGNED},
                 new={"reviewer_id": reviewer.id, "status": reviewer.status, "conflict": True, "note": note})
    notify_many(officers(review.contract), "review_conflict_declared",
                context(review, reviewer=reviewer.user.name, note=note), link=review_link(review), now=now)
    return reviewer


# --- Sheets ------------------------------------------------------------------------------------------------------


def _check_own_sheet(review: Review, reviewer: ReviewerRow, actor) -> None:
    if actor is None or reviewer.user_id != actor.id:
        raise NotAllowed(_l("Only the reviewer can fill in their own sheet."))
    if reviewer.status != ReviewerStatus.ACTIVE:
        raise NotAllowed(_l("Only a reviewer who has declared no conflict, and has not withdrawn, can score."))
    require_contract_in_force(review.contract)
    if review.status != ReviewStatus.STARTED:
        raise Conflict(_l("Sheets are filled in while the review is under way (started, not yet graded)."))
    if reviewer.submitted_at is not None:
        raise Conflict(_l("Your sheet has been submitted."))


def points_of(reviewer: ReviewerRow) -> dict[int, Decimal]:
    """The reviewer's points by indicator id."""
    return {s.indicator_id: s.points for s in reviewer.scores}


def save_sheet(reviewer: ReviewerRow, entries: Mapping[int, tuple[Decimal | None, str]], *, actor,
               now: datetime) -> ReviewerRow:
    """Save the reviewer's points and comments, keyed by indicator id (None clears the points; partial is fine).

    Each scored indicator's points go from 0 to its maximum with at most two places; points below 60 percent of
    the maximum need a comment (house rule). Every change is audited with the old and new points.
    """
    review = lock_review(reviewer.review)
    reviewer = _reload(reviewer)
    _check_own_sheet(review, reviewer, actor)
    leaves = {i.key: i for i in scored_indicators(review)}
    if any(key not in leaves for key in entries):
        raise DomainError(_l("Only this review's scored indicators can be given points."))
    lines = []
    for key, (points, comment) in sorted(entries.items(), key=lambda item: list(leaves).index(item[0])):
        indicator = leaves[key]
        comment = (comment or "").strip()
        if points is None:
            if comment:
                lines.append(_message(Problem("comment_without_points", params={"name": indicator.name})))
            continue
        if not isinstance(points, Decimal):
            raise TypeError("points must be Decimal")
        problems = rules.points_problems(indicator, points)
        if not problems and needs_comment(indicator, points) and not comment:
            problems = [Problem("comment_required", params={"name": indicator.name})]
        lines += [_message(p) for p in problems]
        if len(comment) > COMMENT_MAX:
            lines.append(str(_l("A comment may have at most %(max)s characters.", max=COMMENT_MAX)))
    if lines:
        raise DomainError(" ".join(lines))
    existing = {s.indicator_id: s for s in reviewer.scores}
    old_points = {key: _points(s.points) for key, s in existing.items()}
    old_comments = {key: s.comment for key, s in existing.items()}
    for key, (points, comment) in entries.items():
        score = existing.get(key)
        comment = (comment or "").strip()
        if points is None:
            if score is not None:
                reviewer.scores.remove(score)
                db.session.delete(score)
        elif score is None:
            reviewer.scores.append(ReviewScore(indicator_id=key, points=points, comment=comment))
        else:
            score.points, score.comment = points, comment
    db.session.flush()
    new_points = {s.indicator_id: _points(s.points) for s in reviewer.scores}
    new_comments = {s.indicator_id: s.comment for s in reviewer.scores}
    changed = sorted(k for k in set(old_points) | set(new_points) if old_points.get(k) != new_points.get(k))
    commented = sorted(k for k in new_comments if old_comments.get(k) != new_comments[k])
    if changed or commented:
        audit.record("review.sheet_saved", reviewer, actor=actor, now=now,
                     old={"round": review.round, "points": {str(k): old_points.get(k) for k in changed}},
                     new={"round": review.round, "points": {str(k): new_points.get(k) for k in changed},
                          "comments": {str(k): new_comments[k] for k in commented}})
    return reviewer


def sheet_problems(reviewer: ReviewerRow) -> list[str]:
    """What keeps the sheet from being submitted: points for every scored indicator, low points explained."""
    scores = {s.indicator_id: s for s in reviewer.scores}
    missing, lines = [], []
    for indicator in scored_indicators(reviewer.review):
        score = scores.get(indicator.key)
        if score is None:
            missing.append(indicator.name)
        elif needs_comment(indicator, score.points) and not score.comment.strip():
            lines.append(_message(Problem("comment_required", params={"name": indicator.name})))
    if missing:
        lines.insert(0, str(_l("Points are missing for: %(items)s.", items="、".join(missing))))
    return lines


def submit_sheet(reviewer: ReviewerRow, *, actor, now: datetime) -> ReviewerRow:
    """Submit the reviewer's complete sheet; from now on they see the others' submitted sheets. When the last
    reviewer submits, the bureau's officers are told the review can be graded."""
    review = lock_review(reviewer.review)
    reviewer = _reload(reviewer)
    _check_own_sheet(review, reviewer, actor)
    lines = sheet_problems(reviewer)
    if lines:
        raise DomainError(" ".join([str(_l("The sheet cannot be submitted yet.")), *lines]))
    reviewer.submitted_at = now
    db.session.flush()
    audit.record("review.sheet_submitted", reviewer, actor=actor, now=now, new={
        "round": review.round, "points": {str(k): _points(v) for k, v in points_of(reviewer).items()},
        "total": str(rules.to_decimal(reviewer_total(reviewer)))})
    if all(r.submitted_at is not None for r in counting_reviewers(review, submitted_only=False)):
        notify_many(officers(review.contract), "review_scoring_complete", context(review), link=review_link(review),
                    now=now)
    return reviewer


def counting_reviewers(review: Review, *, submitted_only: bool = True) -> list[ReviewerRow]:
    """The reviewers whose sheets count: not withdrawn (and, by default, submitted)."""
    return [r for r in review.reviewers if r.status != ReviewerStatus.WITHDRAWN
            and (r.submitted_at is not None or not submitted_only)]


def reviewer_total(reviewer: ReviewerRow) -> Fraction:
    """The reviewer's weighted total out of 100, exact: complete once the sheet is submitted; on a draft, the
    indicators not scored yet count nothing."""
    given = points_of(reviewer)
    rubric = indicators(reviewer.review)
    points = {i.key: given.get(i.key, Decimal("0")) for i in rules.leaves(rubric)}
    return rules.sheet_total(rubric, points)


def subtotals(reviewer: ReviewerRow) -> dict[int, Fraction]:
    """The weighted points of each first-level indicator on the reviewer's sheet (unscored count nothing)."""
    given = points_of(reviewer)
    out: dict[int, Fraction] = {}
    for leaf in scored_indicators(reviewer.review):
        first = leaf.parent if leaf.parent is not None else leaf.key
        share = Fraction(leaf.weight) * Fraction(given[leaf.key]) / Fraction(leaf.max_score) \
            if leaf.key in given else Fraction(0)
        out[first] = out.get(first, Fraction(0)) + share
    return out


# --- Who sees which sheet ------------------------------------------------------------------------------------


def can_see_sheet(review: Review, user, reviewer: ReviewerRow) -> bool:
    """Its reviewer always; another reviewer once both sheets are submitted; the parties and the overseers once
    the review is graded. A withdrawn reviewer's sheet is never shown."""
    if reviewer.review_id != review.id or reviewer.status == ReviewerStatus.WITHDRAWN:
        return False
    own = review.reviewer_for(user)
    if own is not None and own.id == reviewer.id:
        return True
    if not reviewer.counts:
        return False
    if own is not None and own.counts:
        return True
    return review.status == ReviewStatus.GRADED and review.contract.can_view(user)


def visible_sheets(review: Review, user) -> list[ReviewerRow]:
    """The sheets ``user`` may see, in assignment order (see ``can_see_sheet``)."""
    return [r for r in review.reviewers if can_see_sheet(review, user, r)]
