"""Scoring (综合评分法), re-checks and lawful changes, tie decisions, closing the scoring, and the evaluation
report (评标报告 / 谈判报告 / 单一来源谈判记录) with every member's confirmation.

Each member scores alone (87-61, R41). Who sees a score sheet:
- its member, always;
- another sitting member, once it is submitted and once that member's own sheet is submitted;
- the bureau's overseers (``Tender.can_oversee``), once the scoring is closed;
- suppliers never (each sees its own result on the award pages).

After submission a score changes only for the lawful reasons of 87-64 (``rules.change_allowed``), each change
recorded and audited; once the report is complete every score is frozen. Totals, price scores and the
ranking are never stored: ``portal.evaluation.results`` computes them from the submitted sheets; the report
PDF freezes them once every sitting member has confirmed it.

Services never commit: they flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from portal import audit
from portal.accounts.models import User
from portal.calendar import CalendarYearMissing, load_calendar
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import results, rules
from portal.evaluation.committee import evaluation_link, is_chair
from portal.evaluation.models import (
    Committee,
    CommitteeMember,
    LowPriceInquiry,
    MemberKind,
    MemberStatus,
    QualificationCheck,
    Recheck,
    Score,
    ScoreChange,
    ScoreSheet,
    TieBreak,
)
from portal.extensions import db
from portal.i18n import format_money
from portal.notify import notify, notify_many
from portal.pdf import BEIJING, GeneratedDocument, issue_document
from portal.permissions import Role
from portal.tenders import services as tender_services
from portal.tenders.models import Bid, EvaluationMethod, Method, Tender, TenderStatus
from portal.tenders.rules import Problem, local_date

REPORT_PREFIX = "PB"  # 评标报告 document numbers: PB-2026-00001
# Reasons of 87-64 that rest on the committee's finding, not the member's own correction: the chair's re-check
# of the score records that finding (an addition error or a score outside its range the member corrects alone).
COMMITTEE_FINDINGS = frozenset({rules.ChangeReason.OBJECTIVE_INCONSISTENT, rules.ChangeReason.ABNORMAL_SCORE})
REPORT_TEMPLATE = "document.html"

# The translated message of each problem the scoring and the results can raise; the article is appended.
PROBLEM_MESSAGES = {
    "score_missing": _l("Give points for “%(criterion)s” of %(bidder)s."),
    "score_invalid": _l("The points for “%(criterion)s” of %(bidder)s are not a number."),
    "score_out_of_range": _l("The points for “%(criterion)s” of %(bidder)s must be from 0 to %(max)s."),
    "score_precision": _l("The points for “%(criterion)s” of %(bidder)s may have at most %(places)s decimal "
                          "places."),
    "score_unknown_criterion": _l("“%(criterion)s” is not a scoring criterion of this tender."),
    "qualification_open": _l("The qualification and compliance review (资格性和符合性审查) is not closed yet."),
    "justification_pending": _l("A bid priced abnormally low is awaiting its supplier's written justification or "
                                "the committee's decision on it."),
    "declarations_pending": _l("Not every member has signed the declaration of no conflict yet."),
    "scoring_incomplete": _l("Not every member has submitted a complete score sheet yet."),
    "final_quotes_pending": _l("The final quotes (最后报价) have not been opened yet."),
    "agreement_pending": _l("The agreed price has not been recorded yet."),
    "too_few_final_quotes": _l("Only %(count)s supplier(s) that passed the qualification and compliance review "
                               "gave a final quote; with fewer than %(min)s the negotiation ends."),
    "tie_undecided": _l("%(bidders)s tie: the bureau must record how the tie is decided, by the method in the "
                        "tender documents or else by lot."),
}

# Words of the report, a legal document written in Chinese.
METHOD_CN = {Method.OPEN: "公开招标", Method.INVITED: "邀请招标", Method.NEGOTIATION: "竞争性谈判",
             Method.SINGLE_SOURCE: "单一来源采购"}
KIND_CN = {MemberKind.EXPERT: "评审专家", MemberKind.REPRESENTATIVE: "采购人代表"}
CHANGE_REASON_CN = {
    rules.ChangeReason.ADDITION_ERROR: "分值汇总计算错误",
    rules.ChangeReason.OUT_OF_RANGE: "分项评分超出评分标准规定的评分范围",
    rules.ChangeReason.OBJECTIVE_INCONSISTENT: "评标委员会成员对客观评审因素评分不一致",
    rules.ChangeReason.ABNORMAL_SCORE: "经评标委员会认定评分畸高、畸低",
}


# --- Helpers ------------------------------------------------------------------------------------------------


def _beijing(instant: datetime | None) -> str:
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if instant else ""


def _points(value: Decimal) -> str:
    return f"{value:.2f}"


def _display(value: Decimal | None) -> str:
    return "" if value is None else str(rules.for_display(value))


def _in_chair(committee: Committee, member: CommitteeMember | None) -> bool:
    return member is not None and committee.chair_id == member.id


def is_comprehensive(tender: Tender) -> bool:
    """Scored on sheets (综合评分法): open and invited tenders."""
    return tender.method in rules.TENDER_METHODS and tender.evaluation_method == EvaluationMethod.COMPREHENSIVE


def _message(problem: Problem, **names) -> str:
    params = {**problem.params, **names}
    template = PROBLEM_MESSAGES[problem.code]
    text = str(template) % params if "%(" in str(template) else str(template)
    return f"{text} ({problem.article})" if problem.article else text


def _bidder_names(bids) -> dict[int, str]:
    return {bid.id: bid.supplier.name for bid in bids}


def _opened_bid_names(tender: Tender) -> dict[int, str]:
    return _bidder_names(results.opened_bids(tender))


def problem_messages(problems: list[Problem], tender: Tender) -> list[str]:
    """The results' problems as translated sentences (tied bids named by their bidders)."""
    names = _opened_bid_names(tender) if any(p.code == "tie_undecided" for p in problems) else {}
    lines = []
    for problem in problems:
        if problem.code == "tie_undecided":
            lines.append(_message(problem, bidders="、".join(names.get(i, str(i)) for i in problem.params["ids"])))
        else:
            lines.append(_message(problem))
    return lines


def _raise_results_problems(problems: list[Problem], tender: Tender, error_class=DomainError) -> None:
    if problems:
        raise error_class(" ".join(problem_messages(problems, tender)))


def _lock_committee(committee: Committee) -> Committee:
    """Lock the committee row (FOR UPDATE on PostgreSQL) and reload it with its members, so writers serialise."""
    committee = db.session.execute(
        sa.select(Committee).where(Committee.id == committee.id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()
    db.session.scalars(sa.select(CommitteeMember).where(CommitteeMember.committee_id == committee.id)
                       .execution_options(populate_existing=True)).all()
    return committee


def _lock_sheet(sheet: ScoreSheet) -> ScoreSheet:
    return db.session.execute(sa.select(ScoreSheet).where(ScoreSheet.id == sheet.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def _active_members(committee: Committee) -> list[CommitteeMember]:
    return [m for m in committee.members if m.status == MemberStatus.ACTIVE]


def _bureau_officers(tender: Tender) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(
        User.organisation_id == tender.bureau_id, User.role == Role.OFFICER, User.active.is_(True),
        User.approved.is_(True)).order_by(User.id)))


def _member_users(members) -> list[User]:
    return [m.user for m in members]


def _sheets_by_member(committee: Committee) -> dict[int, ScoreSheet]:
    return {s.member_id: s for s in db.session.scalars(
        sa.select(ScoreSheet).where(ScoreSheet.committee_id == committee.id))}


def _check_own_member(committee: Committee, member: CommitteeMember, actor) -> None:
    if member.committee_id != committee.id or actor is None or member.user_id != actor.id:
        raise NotAllowed(_l("Only the member can do this, with their own account."))
    if member.status != MemberStatus.ACTIVE:
        raise NotAllowed(_l("Only a member who has declared no conflict, and has not been replaced, can score."))


def _check_not_frozen(committee: Committee) -> None:
    if committee.report_completed_at is not None:
        raise Conflict(_l("The evaluation report has been confirmed by every member: the scores are frozen."))


def _check_scoring_open(committee: Committee) -> None:
    """Sheets are filled in while the tender is under evaluation, after the qualification review, until closing."""
    tender = committee.tender
    if not is_comprehensive(tender):
        raise Conflict(_l("This procedure has no score sheets: it is decided by price."))
    _check_not_frozen(committee)
    if committee.scoring_closed_at is not None:
        raise Conflict(_l("The scoring has been closed."))
    if tender.status != TenderStatus.EVALUATING:
        raise Conflict(_l("The tender is not under evaluation."))
    if committee.qualification_closed_at is None:
        _raise_results_problems([Problem("qualification_open")], tender, Conflict)
    if results.pending_low_prices(committee):
        _raise_results_problems([Problem("justification_pending", "87-60")], tender, Conflict)


def _points_by_key(sheet: ScoreSheet) -> dict[str, str]:
    """A sheet's points for the audit log: "bid_id/criterion_id" -> points."""
    return {f"{s.bid_id}/{s.criterion_id}": _points(s.points) for s in sheet.scores}


# --- Sheets ------------------------------------------------------------------------------------------------


def scoring_refusal(committee: Committee) -> DomainError | None:
    """Why no sheet can be filled in now (a translated error), or None while the scoring is open."""
    try:
        _check_scoring_open(committee)
    except DomainError as exc:
        return exc
    return None


def own_sheet(committee: Committee, member: CommitteeMember) -> ScoreSheet | None:
    """The member's sheet with its scores, if they have started one (reading never creates it)."""
    return db.session.scalar(sa.select(ScoreSheet).where(
        ScoreSheet.committee_id == committee.id, ScoreSheet.member_id == member.id)
        .options(selectinload(ScoreSheet.scores).selectinload(Score.changes)))


def sheet_for(committee: Committee, member: CommitteeMember) -> ScoreSheet:
    """The member's score sheet, created empty on first use."""
    query = sa.select(ScoreSheet).where(ScoreSheet.committee_id == committee.id, ScoreSheet.member_id == member.id)
    sheet = db.session.scalar(query)
    if sheet is not None:
        return sheet
    try:
        with db.session.begin_nested():
            sheet = ScoreSheet(committee_id=committee.id, member_id=member.id)
            db.session.add(sheet)
            db.session.flush()
    except IntegrityError:  # another request of the same member created it at the same moment
        sheet = db.session.scalar(query)
    return sheet


def save_scores(committee: Committee, member: CommitteeMember, entries: Mapping[tuple[int, int], Decimal | None],
                comments: Mapping[tuple[int, int], str], *, actor: User, now: datetime) -> ScoreSheet:
    """Save the member's draft points, keyed by (bid id, criterion id); None clears a point. Partial is fine."""
    _check_own_member(committee, member, actor)
    _check_scoring_open(committee)
    sheet = _lock_sheet(sheet_for(committee, member))
    if sheet.submitted_at is not None:
        raise Conflict(_l("Your sheet has been submitted: a score now changes only for one of the lawful reasons "
                          "(87-64)."))
    bids = {bid.id: bid for bid in results.qualified_bids(committee)}
    criteria = {c.id: c for c in committee.tender.criteria}
    keys = set(entries) | set(comments)
    if any(bid_id not in bids or criterion_id not in criteria for bid_id, criterion_id in keys):
        raise DomainError(_l("Only the qualified bids can be scored, and only on this tender's criteria."))
    existing = {(s.bid_id, s.criterion_id): s for s in sheet.scores}
    lines = []
    for (bid_id, criterion_id), points in sorted(entries.items()):
        if points is None:
            continue
        if not isinstance(points, Decimal):
            raise TypeError("points must be Decimal")
        for problem in rules.score_problems(points, criteria[criterion_id].weight):
            lines.append(_message(problem, bidder=bids[bid_id].supplier.name, criterion=criteria[criterion_id].name))
    for key, text in sorted(comments.items()):
        scored = entries.get(key) if key in entries else getattr(existing.get(key), "points", None)
        if text.strip() and scored is None:
            lines.append(str(_l("Give points for “%(criterion)s” of %(bidder)s before commenting on them.",
                                criterion=criteria[key[1]].name, bidder=bids[key[0]].supplier.name)))
    if lines:
        raise DomainError(" ".join(lines))
    for (bid_id, criterion_id), points in entries.items():
        score = existing.get((bid_id, criterion_id))
        if points is None:
            if score is not None:
                sheet.scores.remove(score)
                existing.pop((bid_id, criterion_id))
        elif score is None:
            existing[(bid_id, criterion_id)] = Score(bid_id=bid_id, criterion_id=criterion_id, points=points,
                                                     comment="")
            sheet.scores.append(existing[(bid_id, criterion_id)])
        else:
            score.points = points
    for key, text in comments.items():
        if key in existing:
            existing[key].comment = text.strip()
    db.session.flush()
    audit.record("score_sheet.saved", sheet, actor=actor, now=now,
                 new={"member_id": member.id, "points": _points_by_key(sheet)})
    return sheet


def sheet_problems(committee: Committee, sheet: ScoreSheet) -> list[str]:
    """What keeps the sheet from being submitted: every qualified bid scored on every criterion (87-61, R41)."""
    bids = results.qualified_bids(committee)
    criteria = {c.id: c for c in committee.tender.criteria}
    maximum = {c.id: c.weight for c in criteria.values()}
    by_bid: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for score in sheet.scores:
        by_bid[score.bid_id][score.criterion_id] = score.points
    missing: list[str] = []
    lines = []
    for bid in bids:
        for problem in rules.sheet_problems(by_bid.get(bid.id, {}), maximum):
            name = criteria[problem.params["criterion"]].name if problem.params["criterion"] in criteria else "?"
            if problem.code == "score_missing":
                missing.append(f"{bid.supplier.name}：{name}")
            else:
                lines.append(_message(problem, bidder=bid.supplier.name, criterion=name))
    if missing:
        lines.insert(0, str(_l("Points are missing for: %(items)s.", items="; ".join(missing))))
    return lines


def submit_sheet(committee: Committee, member: CommitteeMember, *, actor: User, now: datetime) -> ScoreSheet:
    """Submit the member's sheet, complete; from now on the others' submitted sheets are visible to them."""
    _check_own_member(committee, member, actor)
    _check_scoring_open(committee)
    sheet = _lock_sheet(sheet_for(committee, member))
    if sheet.submitted_at is not None:
        raise Conflict(_l("Your sheet has already been submitted."))
    lines = sheet_problems(committee, sheet)
    if lines:
        raise DomainError(" ".join([str(_l("The sheet cannot be submitted yet.")), *lines]))
    sheet.submitted_at = now
    db.session.flush()
    audit.record("score_sheet.submitted", sheet, actor=actor, now=now,
                 new={"member_id": member.id, "points": _points_by_key(sheet)})
    sheets = _sheets_by_member(committee)
    if committee.chair is not None and committee.chair.is_active and all(
            m.id in sheets and sheets[m.id].submitted_at is not None for m in _active_members(committee)):
        tender = committee.tender
        notify(committee.chair.user, "scoring_complete", {"title": tender.title, "reference": tender.reference},
               link=evaluation_link(tender, "deviations"), now=now)
    return sheet


# --- Who sees which sheet ------------------------------------------------------------------------------------


def _sheet_visibility(committee: Committee, viewer) -> Callable[[ScoreSheet], bool]:
    member = committee.member_for(viewer)
    own_submitted = False
    if member is not None:
        own_submitted = db.session.scalar(sa.select(ScoreSheet.submitted_at).where(
            ScoreSheet.committee_id == committee.id, ScoreSheet.member_id == member.id)) is not None
    may_compare = member is not None and member.is_active and own_submitted
    overseer = committee.scoring_closed_at is not None and committee.tender.can_oversee(viewer)

    def visible(sheet: ScoreSheet) -> bool:
        if sheet.committee_id != committee.id:
            return False
        if member is not None and sheet.member_id == member.id:
            return True
        return sheet.submitted_at is not None and (may_compare or overseer)

    return visible


def can_see_sheet(committee: Committee, viewer, sheet: ScoreSheet) -> bool:
    """Its member always; other members once their own is submitted; overseers once the scoring is closed."""
    return _sheet_visibility(committee, viewer)(sheet)


def visible_sheets(committee: Committee, user) -> list[ScoreSheet]:
    """The sitting members' sheets the user may see, in seat order, scores and members loaded."""
    visible = _sheet_visibility(committee, user)
    sheets = db.session.scalars(
        sa.select(ScoreSheet).join(CommitteeMember, ScoreSheet.member_id == CommitteeMember.id)
        .where(ScoreSheet.committee_id == committee.id, CommitteeMember.status == MemberStatus.ACTIVE)
        .options(selectinload(ScoreSheet.scores), joinedload(ScoreSheet.member).joinedload(CommitteeMember.user))
        .order_by(CommitteeMember.position)).unique()
    return [sheet for sheet in sheets if visible(sheet)]


def can_see_deviations(committee: Committee, user) -> bool:
    """The chair, once the chair's own sheet is submitted."""
    if not (is_comprehensive(committee.tender) and is_chair(committee, user)):
        return False
    member = committee.member_for(user)
    return db.session.scalar(sa.select(ScoreSheet.submitted_at).where(
        ScoreSheet.committee_id == committee.id, ScoreSheet.member_id == member.id)) is not None


def deviations(committee: Committee) -> dict[int, dict[int, dict]]:
    """Per criterion, per bid: each member's points, the median and each member's deviation from it."""
    sheets = results.submitted_sheets(committee)
    out: dict[int, dict[int, dict]] = {}
    for criterion in committee.tender.criteria:
        per_bid = {}
        for bid_id, members in sheets.items():
            points = {member: sheet[criterion.id] for member, sheet in members.items() if criterion.id in sheet}
            if not points:
                continue
            deviation = rules.deviation_from_median(points)
            some = next(iter(points))
            per_bid[bid_id] = {"points": points, "median": points[some] - deviation[some], "deviations": deviation}
        out[criterion.id] = per_bid
    return out


# --- Re-checks and lawful changes (87-64, R44) ---------------------------------------------------------------


def _score_of(committee: Committee, member_id: int, bid_id: int, criterion_id: int) -> Score | None:
    return db.session.scalar(sa.select(Score).join(ScoreSheet, Score.sheet_id == ScoreSheet.id).where(
        ScoreSheet.committee_id == committee.id, ScoreSheet.member_id == member_id, Score.bid_id == bid_id,
        Score.criterion_id == criterion_id))


def request_recheck(committee: Committee, member: CommitteeMember, bid_id: int, criterion_id: int, note: str, *,
                    actor: User, now: datetime) -> Recheck:
    """The chair asks a member to re-check one submitted score (a deviation from the median); they are told."""
    chair = committee.chair
    if chair is None or chair.user_id != actor.id or not chair.is_active or not can_see_deviations(committee, actor):
        raise NotAllowed(_l("Only the chair, once their own sheet is submitted, can ask for a re-check."))
    # Also after the closing, until the report is complete: a score the committee finds abnormal or an objective
    # item scored inconsistently is corrected only on its finding (87-64), which a re-check records.
    _check_not_frozen(committee)
    if member.committee_id != committee.id or member.status != MemberStatus.ACTIVE:
        raise DomainError(_l("Choose a sitting member of this committee."))
    if not note.strip():
        raise DomainError(_l("Say what should be re-checked."))
    sheet = _sheets_by_member(committee).get(member.id)
    if sheet is None or sheet.submitted_at is None:
        raise Conflict(_l("A re-check can be asked for only on a submitted sheet."))
    if _score_of(committee, member.id, bid_id, criterion_id) is None:
        raise DomainError(_l("That member has no such score."))
    if _open_recheck(committee, member.id, bid_id, criterion_id) is not None:
        raise Conflict(_l("A re-check of this score is already open."))
    recheck = Recheck(committee_id=committee.id, member_id=member.id, bid_id=bid_id, criterion_id=criterion_id,
                      note=note.strip(), requested_by_id=actor.id, requested_at=now)
    db.session.add(recheck)
    db.session.flush()
    audit.record("score.recheck_requested", recheck, actor=actor, now=now,
                 new={"member_id": member.id, "bid_id": bid_id, "criterion_id": criterion_id, "note": recheck.note})
    tender = committee.tender
    notify(member.user, "scoring_recheck", {"title": tender.title, "reference": tender.reference,
                                            "bidder": recheck.bid.supplier.name, "criterion": recheck.criterion.name,
                                            "note": recheck.note},
           link=evaluation_link(tender, "sheet"), now=now)
    return recheck


def _open_recheck(committee: Committee, member_id: int, bid_id: int, criterion_id: int) -> Recheck | None:
    return db.session.scalar(sa.select(Recheck).where(
        Recheck.committee_id == committee.id, Recheck.member_id == member_id, Recheck.bid_id == bid_id,
        Recheck.criterion_id == criterion_id, Recheck.resolved_at.is_(None)))


def open_rechecks(committee: Committee, member: CommitteeMember | None = None) -> list[Recheck]:
    """The re-checks not yet answered (of one member, or of everyone), oldest first."""
    query = (sa.select(Recheck).where(Recheck.committee_id == committee.id, Recheck.resolved_at.is_(None))
             .options(joinedload(Recheck.bid).joinedload(Bid.supplier), joinedload(Recheck.criterion),
                      joinedload(Recheck.member).joinedload(CommitteeMember.user))
             .order_by(Recheck.requested_at, Recheck.id))
    if member is not None:
        query = query.where(Recheck.member_id == member.id)
    return list(db.session.scalars(query))


def resolve_recheck(recheck: Recheck, *, keep: bool, new_points: Decimal | None = None, reason: str | None = None,
                    note: str = "", actor: User, now: datetime) -> Recheck:
    """The member keeps the score, or changes it for a lawful reason (through change_score); the chair is told."""
    member = recheck.member
    committee = db.session.get(Committee, recheck.committee_id)
    if member.user_id != actor.id or member.status != MemberStatus.ACTIVE:
        raise NotAllowed(_l("Only the member asked can answer a re-check."))
    _check_not_frozen(committee)
    if recheck.resolved_at is not None:
        raise Conflict(_l("This re-check has already been answered."))
    if keep:
        resolution = "kept"
    else:
        score = _score_of(committee, member.id, recheck.bid_id, recheck.criterion_id)
        if score is None:
            raise Conflict(_l("That member has no such score."))
        change_score(score, new_points, reason=reason, note=note, actor=actor, now=now)
        resolution = "changed"
    recheck.resolved_at, recheck.resolution = now, resolution
    db.session.flush()
    audit.record("score.recheck_resolved", recheck, actor=actor, now=now,
                 new={"resolution": resolution, "note": note.strip()})
    if committee.chair is not None:
        tender = committee.tender
        notify(committee.chair.user, "scoring_recheck_resolved",
               {"title": tender.title, "reference": tender.reference, "member": member.user.name,
                "bidder": recheck.bid.supplier.name, "criterion": recheck.criterion.name, "kept": keep},
               link=evaluation_link(tender, "deviations"), now=now)
    return recheck


def change_score(score: Score, new_points: Decimal | None, *, reason: str | None, note: str, actor: User,
                 now: datetime) -> ScoreChange:
    """Change a submitted score, by its member, only for a lawful reason of 87-64 with a note; recorded and audited.

    After the scoring was closed the report's confirmations are cleared (the members confirm the corrected
    report); if the change leaves the ranking undecided (a new tie), the scoring is reopened.
    """
    sheet = _lock_sheet(score.sheet)
    committee = _lock_committee(db.session.get(Committee, sheet.committee_id))
    member = sheet.member
    if member.user_id != actor.id:
        raise NotAllowed(_l("Only the member who gave a score can change it."))
    if member.status != MemberStatus.ACTIVE:
        raise NotAllowed(_l("A replaced member's scores are void and cannot be changed."))
    _check_not_frozen(committee)
    if sheet.submitted_at is None:
        raise Conflict(_l("This sheet has not been submitted: change the draft instead."))
    if not rules.change_allowed(reason):
        raise DomainError(_l("A submitted score changes only for one of the lawful reasons: an addition error, a "
                             "score outside its range, an objective item scored inconsistently, or a score the "
                             "committee finds abnormally high or low (87-64, R44)."))
    if reason in COMMITTEE_FINDINGS and _open_recheck(committee, member.id, score.bid_id, score.criterion_id) is None:
        raise DomainError(_l("An objective item scored inconsistently or a score found abnormally high or low is "
                             "changed only on the committee's finding: the chair must first ask you to re-check "
                             "this score (87-64). An addition error or a score outside its range you may correct "
                             "yourself."))
    if not note.strip():
        raise DomainError(_l("Explain the change."))
    if new_points is None:
        raise DomainError(_l("Enter the new points."))
    criterion = score.criterion
    problems = rules.score_problems(new_points, criterion.weight)
    if problems:
        bid = db.session.get(Bid, score.bid_id)
        raise DomainError(" ".join(_message(p, bidder=bid.supplier.name, criterion=criterion.name)
                                   for p in problems))
    if new_points == score.points:
        raise DomainError(_l("The new points are the same as the old ones."))
    old = score.points
    change = ScoreChange(score_id=score.id, old_points=old, new_points=new_points, reason=reason, note=note.strip(),
                         changed_by_id=actor.id, changed_at=now)
    score.points = new_points
    db.session.add(change)
    db.session.flush()
    audit.record("score.changed", score, actor=actor, now=now,
                 old={"points": _points(old)},
                 new={"points": _points(new_points), "reason": reason, "article": rules.LAWFUL_CHANGE_REASONS[reason],
                      "note": change.note, "member_id": member.id, "bid_id": score.bid_id,
                      "criterion_id": score.criterion_id})
    if committee.scoring_closed_at is not None:
        _after_change_when_closed(committee, actor=actor, now=now)
    return change


def _after_change_when_closed(committee: Committee, *, actor: User, now: datetime) -> None:
    """The report changed: confirmations are cleared; the scoring reopens if the ranking is no longer decided."""
    tender = committee.tender
    confirmed = [m.id for m in committee.members if m.report_confirmed_at is not None]
    for member in committee.members:
        member.report_confirmed_at, member.report_dissent = None, ""
    ranked = results.results(committee).ranked
    if not ranked:
        committee.scoring_closed_at = None
    db.session.flush()
    audit.record("evaluation_report.confirmations_cleared", committee, actor=actor, now=now,
                 old={"confirmed": confirmed}, new={"scoring_reopened": not ranked})
    notify_many(_member_users(committee.sitting), "report_changed",
                {"title": tender.title, "reference": tender.reference, "reopened": not ranked},
                link=evaluation_link(tender, "report" if ranked else "sheet"), now=now)


# --- Ties (87-57, 87-68, 74-35) --------------------------------------------------------------------------------


def undecided_ties(committee: Committee) -> list[list[int]]:
    """The groups of tied bid ids with no recorded decision in the committee's current round."""
    return [p.params["ids"] for p in results.results(committee).problems if p.code == "tie_undecided"]


def decide_tie(committee: Committee, *, order: list[int] | None, note: str, actor: User, now: datetime,
               ids: list[int] | None = None) -> list[TieBreak]:
    """The bureau records the order of tied bids: ``order`` by the method in the tender documents (with a note),
    or ``order=None`` by lot from a fresh recorded seed (87-68). ``ids`` picks the tied group for a lot (by
    default the first); the group must tie now."""
    tender = committee.tender
    if not tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau records how a tie is decided."))
    committee = _lock_committee(committee)
    _check_not_frozen(committee)
    if committee.scoring_closed_at is not None:
        raise Conflict(_l("The scoring has been closed."))
    groups = undecided_ties(committee)
    wanted = set(order) if order is not None else (set(ids) if ids is not None else None)
    if order is not None and len(order) != len(set(order)):
        raise DomainError(_l("Give each tied bid its own place."))
    group = next((g for g in groups if wanted is None or set(g) == wanted), None)
    if group is None:
        raise Conflict(_l("These bids do not tie, or their tie has already been decided."))
    if order is not None and not note.strip():
        raise DomainError(_l("Say which rule of the tender documents decides the tie."))
    seed = ""
    if order is None:
        seed = secrets.token_hex(16)
        positions = rules.draw_tie_order(group, seed)
    else:
        positions = {bid_id: position for position, bid_id in enumerate(order, start=1)}
    stale = list(db.session.scalars(sa.select(TieBreak).where(
        TieBreak.committee_id == committee.id, TieBreak.round == committee.round, TieBreak.bid_id.in_(group))))
    for row in stale:  # a decision of an earlier, different tie between some of these bids
        db.session.delete(row)
    db.session.flush()
    rows = [TieBreak(committee_id=committee.id, round=committee.round, bid_id=bid_id, position=position, seed=seed,
                     note=note.strip(), decided_by_id=actor.id, decided_at=now)
            for bid_id, position in sorted(positions.items(), key=lambda item: item[1])]
    db.session.add_all(rows)
    db.session.flush()
    audit.record("evaluation.tie_decided", committee, actor=actor, now=now,
                 old={"positions": {str(r.bid_id): r.position for r in stale}} if stale else None,
                 new={"round": committee.round, "by": "lot" if order is None else "documents", "seed": seed,
                      "positions": {str(bid_id): position for bid_id, position in positions.items()},
                      "note": note.strip()})
    if committee.chair is not None:
        notify(committee.chair.user, "scoring_tie_decided", {"title": tender.title, "reference": tender.reference},
               link=evaluation_link(tender, "report"), now=now)
    return rows


# --- Closing the scoring ----------------------------------------------------------------------------------


def _closing_problems(committee: Committee) -> None:
    """Raise what keeps the chair from closing, method by method (apart from the ranking itself)."""
    tender = committee.tender
    if any(m.status == MemberStatus.DRAWN for m in committee.members):
        _raise_results_problems([Problem("declarations_pending")], tender, Conflict)
    if tender.method == Method.SINGLE_SOURCE:
        # NEGOTIATING once the price is agreed; EVALUATING again after an upheld challenge sent it back (94-16).
        if tender.status not in (TenderStatus.NEGOTIATING, TenderStatus.EVALUATING):
            raise Conflict(_l("This single-source procedure is not in negotiation."))
        if tender.agreed_price is None:
            _raise_results_problems([Problem("agreement_pending")], tender, Conflict)
        return
    if tender.method == Method.NEGOTIATION and tender.status == TenderStatus.NEGOTIATING:
        _raise_results_problems([Problem("final_quotes_pending")], tender, Conflict)
    if tender.status != TenderStatus.EVALUATING:
        raise Conflict(_l("The tender is not under evaluation."))
    if committee.qualification_closed_at is None:
        _raise_results_problems([Problem("qualification_open")], tender, Conflict)
    if not is_comprehensive(tender):
        return
    sheets = _sheets_by_member(committee)
    waiting = [m.user.name for m in _active_members(committee)
               if m.id not in sheets or sheets[m.id].submitted_at is None]
    if waiting:
        raise Conflict(_l("These members have not submitted their sheets yet: %(names)s.", names="、".join(waiting)))
    waiting = _open_rechecks_of_sitting(committee)
    if waiting:
        raise Conflict(_l("%(count)s re-check(s) have not been answered yet.", count=waiting))


def _open_rechecks_of_sitting(committee: Committee) -> int:
    active = {m.id for m in _active_members(committee)}
    return db.session.scalar(sa.select(sa.func.count(Recheck.id)).where(
        Recheck.committee_id == committee.id, Recheck.resolved_at.is_(None), Recheck.member_id.in_(active)))


def close_scoring(committee: Committee, *, actor: User, now: datetime) -> str:
    """The chair closes the scoring once the ranking is decided; the members are asked to confirm the report.

    Returns "closed", or "tie" when only a tie keeps the ranking undecided: the bureau's officers are then
    told to record a decision (87-68), and the scoring stays open; or "failed" when fewer than 3 suppliers that
    passed the qualification review gave a final quote: the negotiation ends (74-37).
    """
    committee = _lock_committee(committee)
    tender = committee.tender
    _check_not_frozen(committee)
    if committee.scoring_closed_at is not None:
        raise Conflict(_l("The scoring has already been closed."))
    chair = committee.chair
    if chair is None:
        raise DomainError(_l("The committee has no chair yet: the bureau must name one before the scoring can be "
                             "closed."))
    if chair.user_id != actor.id or chair.status != MemberStatus.ACTIVE:
        raise NotAllowed(_l("Only the chair closes the scoring."))
    _closing_problems(committee)
    outcome = results.results(committee)
    too_few = next((p for p in outcome.problems if p.code == "too_few_final_quotes"), None)
    if too_few is not None:
        audit.record("scoring.closed", committee, actor=actor, now=now,
                     new={"round": committee.round, "outcome": "failed", "final_quotes": too_few.params["count"]})
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # the reason is published in the notice
            reason = _("Only %(count)s supplier(s) that passed the qualification and compliance review gave a final "
                       "quote; with fewer than %(min)s the negotiation ends (74-37).", **too_few.params)
        tender_services.fail_tender(tender, reason=reason, actor=actor, now=now)
        return "failed"
    if not outcome.ranked:
        if outcome.problems and all(p.code == "tie_undecided" for p in outcome.problems):
            groups = [p.params["ids"] for p in outcome.problems]
            audit.record("scoring.tie_found", committee, actor=actor, now=now, new={"ties": groups})
            notify_many(_bureau_officers(tender), "scoring_tie",
                        {"title": tender.title, "reference": tender.reference,
                         "problems": " ".join(problem_messages(outcome.problems, tender))},
                        link=evaluation_link(tender, "tie"), now=now)
            return "tie"
        _raise_results_problems(outcome.problems, tender, Conflict)
    committee.scoring_closed_at = now
    for member in committee.members:
        # a new closing (e.g. after a re-evaluation) needs new confirmations
        member.report_confirmed_at, member.report_dissent = None, ""
    db.session.flush()
    frozen = {"agreed_price": tender.agreed_price} if tender.method == Method.SINGLE_SOURCE else {}
    audit.record("scoring.closed", committee, actor=actor, now=now,
                 new={"round": committee.round, "ranking": [
                     {"rank": row.rank, "supplier_id": row.supplier_id, "bid_id": row.bid_id, "price": row.price,
                      "total": row.total} for row in outcome.rows]} | frozen)
    notify_many(_member_users(committee.sitting), "report_confirm",
                {"title": tender.title, "reference": tender.reference},
                link=evaluation_link(tender, "report"), now=now)
    return "closed"


# --- The report -------------------------------------------------------------------------------------------


def report_title(tender: Tender) -> str:
    if tender.method == Method.SINGLE_SOURCE:
        return "单一来源谈判记录"
    if tender.method == Method.NEGOTIATION:
        return "谈判报告"
    return "评标报告"


def _member_role(committee: Committee, member: CommitteeMember) -> str:
    return KIND_CN[member.kind] + ("（组长）" if _in_chair(committee, member) else "")


def _member_label(committee: Committee, member: CommitteeMember) -> str:
    return f"{_member_role(committee, member)} {member.user.name}"


def _members_section(committee: Committee) -> dict:
    body = "谈判小组" if committee.tender.method in rules.GROUP_METHODS else "评标委员会"
    rows = []
    for member in committee.members:
        if member.status == MemberStatus.REPLACED:
            status = "已更换，其评审意见无效" + (f"：{member.replaced_reason}" if member.replaced_reason else "")
        elif member.status == MemberStatus.ACTIVE:
            status = "已声明无利害关系" + (f"（{_beijing(member.declared_at)}）" if member.declared_at else "")
        else:
            status = "尚未声明"
        rows.append([str(member.position), member.user.name, KIND_CN[member.kind],
                     "组长" if _in_chair(committee, member) else "成员", status])
    return {"heading": f"{body}成员",
            "paragraphs": [f"{body}由 {len(committee.sitting)} 名成员组成，其中评审专家 "
                           f"{sum(1 for m in committee.sitting if m.kind == MemberKind.EXPERT)} 名。"
                           "被更换成员的评审意见无效，不计入评审结果（财政部令第87号第49条）。"],
            "columns": ["序号", "姓名", "身份", "职务", "状态"], "rows": rows}


def _qualification_sections(committee: Committee) -> list[dict]:
    tender = committee.tender
    failed = results.failed_requirements(committee)
    inquiries = list(db.session.scalars(sa.select(LowPriceInquiry).where(
        LowPriceInquiry.committee_id == committee.id).order_by(LowPriceInquiry.id)))
    rejected = {i.bid_id for i in inquiries if i.accepted is False}
    checks = db.session.scalar(sa.select(sa.func.count(QualificationCheck.id)).where(
        QualificationCheck.committee_id == committee.id))
    rows = []
    for bid in results.opened_bids(tender):
        reasons = [f"{check.requirement.text}：{check.reason}" for check in failed.get(bid.id, [])]
        if bid.id in rejected:
            reasons.append("报价明显低于其他通过符合性审查投标人的报价，且未能证明其报价合理性（财政部令第87号第60条）")
        rows.append([bid.supplier.name, format_money(bid.opened_price), "不通过" if reasons else "通过",
                     "；".join(reasons)])
    sections = [{"heading": "资格性和符合性审查",
                 "paragraphs": [f"逐项审查投标文件是否满足采购文件的资格条件和实质性要求，共记录审查意见 {checks} 项。"
                                "未通过任何一项的投标无效。"],
                 "columns": ["投标人", "报价", "结论", "未通过的要求及理由"], "rows": rows}]
    if inquiries:
        outcome = {True: "说明合理，接受", False: "不能证明其报价合理性，投标无效", None: "尚未决定"}
        sections.append({"heading": "异常低价审查", "paragraphs": [
            "评标委员会认为投标报价明显低于其他投标人的报价、有可能影响服务质量或者不能诚信履约的，要求其在合理期限内"
            "提供书面说明及必要的证明材料（财政部令第87号第60条）。"],
            "columns": ["投标人", "书面说明", "结论", "评审意见"],
            "rows": [[i.bid.supplier.name, i.justification, outcome[i.accepted], i.decision_note] for i in inquiries]})
    return sections


def _sheet_sections(committee: Committee, bids: list[Bid]) -> list[dict]:
    criteria = committee.tender.criteria
    sheets = db.session.scalars(
        sa.select(ScoreSheet).join(CommitteeMember, ScoreSheet.member_id == CommitteeMember.id)
        .where(ScoreSheet.committee_id == committee.id, CommitteeMember.status == MemberStatus.ACTIVE,
               ScoreSheet.submitted_at.is_not(None))
        .options(selectinload(ScoreSheet.scores), joinedload(ScoreSheet.member).joinedload(CommitteeMember.user))
        .order_by(CommitteeMember.position)).unique()
    sections = []
    for sheet in sheets:
        points = {(s.bid_id, s.criterion_id): s.points for s in sheet.scores}
        totals = rules.member_totals({bid.id: {c.id: points[(bid.id, c.id)] for c in criteria} for bid in bids})
        rows = [[bid.supplier.name, *[_points(points[(bid.id, c.id)]) for c in criteria], _display(totals[bid.id])]
                for bid in bids]
        sections.append({"heading": f"评分表：{_member_label(committee, sheet.member)}",
                         "paragraphs": [f"提交时间：{_beijing(sheet.submitted_at)}"],
                         "columns": ["投标人", *[f"{c.name}（{c.weight}分）" for c in criteria], "合计"],
                         "rows": rows})
    return sections


def _summary_section(committee: Committee, outcome: results.Results) -> dict:
    tender = committee.tender
    criteria = tender.criteria
    lowest = min((row.price for row in outcome.rows), default=None)
    rows = [[str(row.rank or ""), row.supplier_name, format_money(row.price),
             *[_display(row.criterion_means.get(c.id)) for c in criteria], _display(row.price_score),
             _display(row.total)] for row in outcome.rows]
    return {"heading": "评分汇总及排名",
            "paragraphs": [f"评标基准价为满足采购文件要求且价格最低的投标报价 {format_money(lowest)}。"
                           f"价格分 = 评标基准价 ÷ 投标报价 × {tender.price_weight}；"
                           "总分 = 各评审因素全体有效成员评分的平均分之和 + 价格分（财政部令第87号第55条）。"
                           "分数按全精度计算，显示保留两位小数（四舍五入）。排名按总分由高到低；"
                           "总分相同的，按投标报价由低到高；仍相同的，按记录的决定（财政部令第87号第57条、第68条）。"],
            "columns": ["排名", "投标人", "报价", *[f"{c.name}平均分" for c in criteria], "价格分", "总分"],
            "rows": rows}


def _changes_section(committee: Committee) -> dict | None:
    changes = list(db.session.scalars(
        sa.select(ScoreChange).join(Score, ScoreChange.score_id == Score.id)
        .join(ScoreSheet, Score.sheet_id == ScoreSheet.id).where(ScoreSheet.committee_id == committee.id)
        .options(joinedload(ScoreChange.score).joinedload(Score.sheet).joinedload(ScoreSheet.member)
                 .joinedload(CommitteeMember.user), joinedload(ScoreChange.score).joinedload(Score.criterion))
        .order_by(ScoreChange.id)))
    if not changes:
        return None
    names = _opened_bid_names(committee.tender)
    rows = [[c.score.sheet.member.user.name, names.get(c.score.bid_id, ""), c.score.criterion.name,
             _points(c.old_points), _points(c.new_points), CHANGE_REASON_CN[c.reason], c.note, _beijing(c.changed_at)]
            for c in changes]
    return {"heading": "评分修改记录", "paragraphs": [
        "评审结果汇总后，仅因分值汇总计算错误、分项评分超出评分标准规定的评分范围、客观评审因素评分不一致或经评标委员会"
        "认定评分畸高畸低的情形修改评分（财政部令第87号第64条、政府采购法实施条例第44条）。"],
        "columns": ["成员", "投标人", "评审因素", "原分值", "修改后分值", "修改理由", "说明", "时间"], "rows": rows}


def _ties_section(committee: Committee, outcome: results.Results) -> dict | None:
    if not outcome.ties:
        return None
    names = _opened_bid_names(committee.tender)
    rows = []
    for decision in sorted(outcome.ties, key=lambda d: (d.rows[0].decided_at, d.rows[0].id)):
        carried = f"（第 {decision.round} 次评审时决定，沿用）" if decision.round != committee.round else ""
        rows += [[names.get(t.bid_id, ""), str(t.position),
                  (f"抽签（随机种子 {t.seed}）" if t.seed else "按采购文件规定的方法") + carried, t.note,
                  _beijing(t.decided_at)] for t in decision.rows]
    return {"heading": "并列名次的决定", "paragraphs": [
        "得分且投标报价相同的，由采购人按采购文件规定的方法确定，采购文件未规定的，随机抽取确定（财政部令第87号第68条）。"],
        "columns": ["投标人", "名次", "决定方式", "说明", "决定时间"], "rows": rows}


def _negotiation_section(committee: Committee, outcome: results.Results) -> dict:
    first = {bid.id: bid.opened_price for bid in results.opened_bids(committee.tender)}
    rows = [[str(row.rank or ""), row.supplier_name, format_money(first.get(row.bid_id)), format_money(row.price)]
            for row in outcome.rows]
    return {"heading": "最后报价及排名", "paragraphs": [
        "谈判结束后，谈判小组要求所有继续参加谈判的供应商在规定时间内提交最后报价，按照符合采购需求、质量和服务相等且"
        "报价最低的原则确定成交候选人（财政部令第74号第35条）。"],
        "columns": ["排名", "供应商", "首次响应报价", "最后报价"], "rows": rows}


def _single_source_sections(committee: Committee) -> list[dict]:
    tender = committee.tender
    supplier = tender.single_source_supplier
    negotiators = "、".join(m.user.name for m in committee.sitting)
    record = [line for line in (tender.negotiation_record or "").splitlines() if line.strip()]
    return [{"heading": "成交结果",
             "paragraphs": [f"供应商：{supplier.name if supplier else ''}",
                            f"成交价格：{format_money(tender.agreed_price)}", f"参加谈判人员：{negotiators}"],
             "amount": tender.agreed_price},
            {"heading": "谈判情况记录", "paragraphs": record or ["（无）"]}]


def report_context(committee: Committee) -> dict:
    """The plain data of the report PDF (pdf/document.html), in Chinese: members, qualification, sheets, totals,
    ranking, changes, tie decisions; for a negotiation the final quotes; for single source the agreed price."""
    tender = committee.tender
    outcome = results.results(committee)
    evaluation = ("综合评分法" if is_comprehensive(tender) else
                  "最后报价最低的成交" if tender.method == Method.NEGOTIATION else "单一来源谈判")
    lead = (f"项目编号：{tender.reference}；项目名称：{tender.title}；采购方式：{METHOD_CN[tender.method]}；"
            f"评审方法：{evaluation}；采购人：{tender.bureau.name}。")
    if committee.round > 1:
        lead += f"本报告为第 {committee.round} 次评审的结果。"
    if committee.scoring_closed_at is not None:
        lead += f"评审结束时间：{_beijing(committee.scoring_closed_at)}。"
    sections = [_members_section(committee)]
    if tender.method == Method.SINGLE_SOURCE:
        sections += _single_source_sections(committee)
    else:
        sections += _qualification_sections(committee)
        if is_comprehensive(tender):
            bids = results.qualified_bids(committee)
            sections += _sheet_sections(committee, bids)
            sections.append(_summary_section(committee, outcome))
            sections += [s for s in (_changes_section(committee),) if s]
        else:
            sections.append(_negotiation_section(committee, outcome))
        sections += [s for s in (_ties_section(committee, outcome),) if s]
    sections.append({"heading": "成员确认", "paragraphs": ["本报告由全体在任成员分别以本人账户（输入本人密码）确认。"],
                     "columns": ["姓名", "身份", "确认时间"],
                     "rows": [[m.user.name, _member_role(committee, m), _beijing(m.report_confirmed_at) or "尚未确认"]
                              for m in committee.sitting]})
    dissents = [m for m in committee.sitting if m.report_dissent]
    if dissents:
        sections.append({"heading": "不同意见",
                         "paragraphs": ["以下成员对评审结论持不同意见，签署并说明理由（87号令第六十二条）。"],
                         "columns": ["姓名", "不同意见及理由"],
                         "rows": [[m.user.name, m.report_dissent] for m in dissents]})
    signatures = [_member_label(committee, m) for m in committee.sitting]
    return {"issuer": tender.bureau.name, "title": report_title(tender), "lead": lead, "sections": sections,
            "signatures": signatures}


def can_read_report(committee: Committee, user) -> bool:
    """The sitting members and the bureau's overseers, once the scoring is closed (or the report complete)."""
    if committee.scoring_closed_at is None and committee.report_completed_at is None:
        return False
    member = committee.member_for(user)
    return (member is not None and member.is_active) or committee.tender.can_oversee(user)


def report_document(committee: Committee) -> GeneratedDocument | None:
    if committee.report_document_id is None:
        return None
    return db.session.get(GeneratedDocument, committee.report_document_id)


def confirm_report(committee: Committee, member: CommitteeMember, *, actor: User, now: datetime, dissent: str = ""
                   ) -> GeneratedDocument | None:
    """A sitting member confirms the report with their own account (the view checks their password), once.

    When the last sitting member confirms, the report PDF is issued, the report is complete and the bureau's
    officers are told that the award clock (5 working days, R43, 87-68) runs. Returns the PDF then, else None.
    """
    committee = _lock_committee(committee)
    member = db.session.get(CommitteeMember, member.id)
    if member.committee_id != committee.id or member.user_id != actor.id:
        raise NotAllowed(_l("Only the member can confirm the report, with their own account."))
    if member.status != MemberStatus.ACTIVE:
        raise NotAllowed(_l("Only a sitting member who has declared no conflict confirms the report."))
    _check_not_frozen(committee)
    if committee.scoring_closed_at is None:
        raise Conflict(_l("The scoring has not been closed yet: there is no report to confirm."))
    if member.report_confirmed_at is not None:
        raise Conflict(_l("You have already confirmed this report."))
    outcome = results.results(committee)
    if not outcome.ranked:  # no report is issued on an incomplete or undecided scoring
        _raise_results_problems(outcome.problems or [Problem("scoring_incomplete")], committee.tender, Conflict)
    waiting = _open_rechecks_of_sitting(committee)
    if waiting:
        raise Conflict(_l("%(count)s re-check(s) have not been answered yet: the report waits for them.",
                          count=waiting))
    member.report_confirmed_at, member.report_dissent = now, dissent.strip()
    db.session.flush()
    audit.record("evaluation_report.confirmed", committee, actor=actor, now=now,
                 new={"member_id": member.id, "dissent": member.report_dissent, "round": committee.round})
    if any(m.report_confirmed_at is None for m in committee.sitting):
        return None
    tender = committee.tender
    document = issue_document(f"evaluation-report:{committee.id}:{committee.round}", REPORT_TEMPLATE,
                              report_context(committee), prefix=REPORT_PREFIX, now=now, issued_by=actor)
    committee.report_document_id, committee.report_completed_at = document.id, now
    db.session.flush()
    audit.record("evaluation_report.completed", committee, actor=actor, now=now,
                 new={"round": committee.round, "document": document.number, "sha256": document.content_sha256})
    try:
        last_day = rules.confirmation_last_day(local_date(now), load_calendar()).isoformat()
    except CalendarYearMissing:
        last_day = ""
    notify_many(_bureau_officers(tender), "report_completed",
                {"title": tender.title, "reference": tender.reference, "number": document.number,
                 "last_day": last_day}, link=evaluation_link(tender, "report"), now=now)
    return document


# --- Progress, for the overview page ----------------------------------------------------------------------


def scoring_progress(committee: Committee, user, outcome: results.Results | None = None) -> dict:
    """What the scoring panel shows this user: who submitted (never their points), and what they may do next.

    ``outcome`` is ``results.results(committee)`` when the page has computed it already (a 100-bid evaluation takes
    a noticeable time to add up)."""
    tender = committee.tender
    member = committee.member_for(user)
    sheets = _sheets_by_member(committee)
    own = sheets.get(member.id) if member is not None else None
    comprehensive = is_comprehensive(tender)
    members = [{"name": m.user.name, "kind": m.kind, "chair": _in_chair(committee, m), "status": m.status,
                "submitted_at": sheets[m.id].submitted_at if m.id in sheets else None,
                "confirmed_at": m.report_confirmed_at} for m in committee.sitting]
    outcome = outcome if outcome is not None else results.results(committee)
    overseer = tender.can_oversee(user)
    # Totals come from the members' points: a member sees them once their own sheet is in, the bureau once the
    # scoring is closed. A ranking by price (negotiation, single source) holds no member's opinion: the members see
    # it at once, the bureau also only once the scoring is closed.
    if comprehensive:
        ranking_visible = outcome.ranked and (committee.scoring_closed_at is not None or (
            member is not None and own is not None and own.submitted_at is not None))
    else:
        ranking_visible = outcome.ranked and (member is not None or (overseer and (
            committee.scoring_closed_at is not None or committee.report_completed_at is not None)))
    ties = [p for p in outcome.problems if p.code == "tie_undecided"]
    return {
        "comprehensive": comprehensive,
        "member": member,
        "is_chair": is_chair(committee, user),
        "own_submitted": own is not None and own.submitted_at is not None,
        "members": members,
        "ranking": outcome.rows if ranking_visible else [],
        "problems": problem_messages(outcome.problems, tender) if (member is not None or overseer) else [],
        "tie": bool(ties) and tender.can_manage(user),
        "can_score": comprehensive and member is not None and member.is_active and committee.scoring_closed_at is None,
        "can_see_deviations": can_see_deviations(committee, user),
        # The button shows once only the chair's closing (or the bureau's tie decision) is missing.
        "can_close": (is_chair(committee, user) and committee.scoring_closed_at is None
                      and committee.report_completed_at is None
                      and all(p.code in ("tie_undecided", "too_few_final_quotes") for p in outcome.problems)),
        "can_read_report": can_read_report(committee, user),
        "must_confirm": (member is not None and member.is_active and committee.scoring_closed_at is not None
                         and committee.report_completed_at is None and member.report_confirmed_at is None),
        "closed_at": committee.scoring_closed_at,
        "completed_at": committee.report_completed_at,
    }
