"""The committee and its qualification review: the recorded random draw, declarations of no conflict,
replacements, the chair, the pass/fail finding on every requirement, and low-price justifications.

Services apply ``portal.evaluation.rules``, change objects, flush, audit and queue notifications; the caller
commits. They take the actor and the clock and never need a request (links are plain paths). Numbers live
in the rules module; the minimum of qualified bids is the tenders' (L36, 87-44, 74-37).
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import SPECIALTY_LABELS, ExpertAffiliation, ExpertProfile, User
from portal.accounts.services import active_users
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import rules
from portal.evaluation.models import (
    Committee,
    CommitteeMember,
    LowPriceInquiry,
    MemberKind,
    MemberStatus,
    QualificationCheck,
    ScoreSheet,
)
from portal.evaluation.results import committee_for, failed_requirements, opened_bids, qualified_bids
from portal.extensions import db
from portal.notify import notify_many
from portal.pdf import BEIJING
from portal.permissions import Role
from portal.tenders import bidding
from portal.tenders import rules as tender_rules
from portal.tenders import services as tender_services
from portal.tenders.models import Bid, EvaluationMethod, Method, Tender, TenderStatus

# The translated message for each evaluation rule problem (rules.Problem.code); the article is appended.
PROBLEM_MESSAGES = {
    "committee_too_small": _l("The committee must have at least %(min)s members (now %(size)s)."),
    "committee_even": _l("The committee must have an odd number of members (now %(size)s)."),
    "experts_too_few": _l("At least two thirds of the members must be experts drawn from the pool: at least "
                          "%(min)s experts (now %(experts)s)."),
    "expert_pool_too_small": _l("The expert pool holds only %(available)s eligible expert(s) (not conflicted and "
                                "not drawn before); %(needed)s are needed."),
    "chair_purchaser_representative": _l("The purchaser's representative (采购人代表) may not chair the committee."),
    "chair_not_member": _l("The chair must be a sitting member of the committee."),
}

# A tender with committee work to do: opened bids (open, invited, negotiation), a negotiation or an approved
# single source, or an evaluation under way.
FORMABLE = {
    TenderStatus.OPENED: frozenset({Method.OPEN, Method.INVITED, Method.NEGOTIATION}),
    TenderStatus.NEGOTIATING: frozenset({Method.NEGOTIATION, Method.SINGLE_SOURCE}),
    TenderStatus.EVALUATING: frozenset(Method),
}
# While the committee still works: after these the committee's records are frozen.
WORKING = frozenset({TenderStatus.OPENED, TenderStatus.NEGOTIATING, TenderStatus.EVALUATING})
NOTE_MIN = 2  # characters of a reason or note (two hanzi say "回避")
JUSTIFICATION_MIN = 20  # characters of a written low-price justification


def raise_problems(problems: list[tender_rules.Problem], error_class: type[DomainError] = DomainError) -> None:
    """Turn evaluation rule problems into one error with translated messages and the articles they come from."""
    tender_services.raise_problems(problems, error_class, messages=PROBLEM_MESSAGES)


def evaluation_link(tender: Tender, page: str = "") -> str:
    """A page of the tender's evaluation, for notifications (services also run in jobs, without url_for)."""
    return f"/tenders/{tender.id}/evaluation" + (f"/{page}" if page else "")


def _lock(committee: Committee) -> Committee:
    """Lock the committee row (SELECT ... FOR UPDATE on PostgreSQL) and reload it, so writers serialise."""
    return db.session.execute(
        sa.select(Committee).where(Committee.id == committee.id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()


# --- Who may do what ------------------------------------------------------------------------------------------


def can_form_committee(tender: Tender) -> bool:
    """Whether the tender is at a stage where its committee (or negotiation group) can be formed."""
    return tender.method in FORMABLE.get(tender.status, frozenset())


def is_chair(committee: Committee, user) -> bool:
    """Whether ``user`` holds the chair's seat and has declared no conflict."""
    member = committee.member_for(user)
    return member is not None and member.is_active and committee.chair_id == member.id


def can_read_bids(committee: Committee, user) -> bool:
    """Bid prices and files: only members who declared no conflict, once the bids are opened (87-48)."""
    member = committee.member_for(user)
    return member is not None and member.is_active and committee.tender.is_opened


def can_view_committee(committee: Committee, user) -> bool:
    """The committee's page: the bureau's overseers and any sitting member (names stay hidden from the rest)."""
    return committee.tender.can_oversee(user) or committee.member_for(user) is not None


def bidder_ids(tender: Tender) -> list[int]:
    """The suppliers an expert must have no tie to: the opened bidders, or the single source."""
    if tender.method == Method.SINGLE_SOURCE:
        return [tender.single_source_supplier_id] if tender.single_source_supplier_id else []
    return sorted({bid.supplier_id for bid in opened_bids(tender)})


# --- Forming the committee (87-45 to 87-48, R39, 74-7) ------------------------------------------------------


def open_tender_threshold() -> Decimal:
    return Decimal(current_app.config["OPEN_TENDER_THRESHOLD"])


def _pool_rows():
    return db.session.execute(
        sa.select(User.id, ExpertProfile.specialties).join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.role == Role.EVALUATOR, User.active.is_(True), User.approved.is_(True),
               ExpertProfile.in_pool.is_(True))).all()


def pool_sizes() -> dict[str, int]:
    """How many active experts the pool holds for each specialty ("" for all of them)."""
    sizes: dict[str, int] = defaultdict(int)
    rows = _pool_rows()
    for _user_id, specialties in rows:
        for specialty in {s for s in specialties.split(",") if s}:
            sizes[specialty] += 1
    return dict(sizes) | {"": len(rows)}


def expert_pool(specialty: str = "") -> list[int]:
    """The active experts in the pool with ``specialty`` (every one in the pool when it is empty), sorted."""
    return sorted(user_id for user_id, specialties in _pool_rows()
                  if not specialty or specialty in [s for s in specialties.split(",") if s])


def affiliations_of(expert_ids) -> dict[int, list[rules.Affiliation]]:
    """Each expert's recorded ties to organisations (those naming an organisation of the portal)."""
    ids = list(expert_ids)
    ties: dict[int, list[rules.Affiliation]] = defaultdict(list)
    if not ids:
        return {}
    for row in db.session.scalars(sa.select(ExpertAffiliation).where(
            ExpertAffiliation.expert_id.in_(ids), ExpertAffiliation.organisation_id.is_not(None))):
        ties[row.expert_id].append(rules.Affiliation(row.organisation_id, row.kind, row.start_date, row.end_date))
    return dict(ties)


def conflicted_in_pool(tender: Tender, pool: list[int], now: datetime) -> set[int]:
    """The experts of the pool with a tie to a bidder that obliges recusal on the Beijing day of ``now`` (R9)."""
    return rules.conflicted_experts(affiliations_of(pool), bidder_ids(tender), tender_rules.local_date(now))


def _representatives(tender: Tender, user_ids: list[int]) -> list[User]:
    if len(set(user_ids)) != len(user_ids):
        raise DomainError(_l("Name each representative only once."))
    users = list(db.session.scalars(sa.select(User).where(User.id.in_(user_ids)).order_by(User.id))) if user_ids \
        else []
    if len(users) != len(user_ids) or not all(u.is_active and tender.can_manage(u) for u in users):
        raise DomainError(_l("The purchaser's representatives must be active officers of the tender's bureau."))
    return sorted(users, key=lambda u: user_ids.index(u.id))


def _notify_drawn(users: list[User], tender: Tender, *, now: datetime) -> None:
    notify_many(users, "committee_drawn", {"title": tender.title, "reference": tender.reference},
                link=evaluation_link(tender, "declaration"), now=now)


def form_committee(tender: Tender, *, size: int, specialty: str, representative_ids: list[int], actor: User,
                   now: datetime, seed: str | None = None) -> Committee:
    """Form the committee: check its size and make-up, leave out conflicted experts, draw the rest at random.

    The pool, the excluded experts and the seed are stored, so anyone can replay the draw (``replay_draw``).
    The seed is fresh and random unless one is given (the demo data gives fixed ones).
    An open or invited tender whose bids were opened moves to evaluation.
    """
    tender = db.session.execute(sa.select(Tender).where(Tender.id == tender.id).with_for_update()
                                .execution_options(populate_existing=True)).scalar_one()
    if not tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can form its committee."))
    if not can_form_committee(tender):
        raise Conflict(_l("A committee can be formed only after the bids are opened (or, for a single source, "
                          "once it is approved) and before the award."))
    if db.session.scalar(sa.select(Committee.id).where(Committee.tender_id == tender.id)) is not None:
        raise Conflict(_l("This tender already has a committee; replace members instead of forming it again."))
    if specialty and specialty not in SPECIALTY_LABELS:
        raise DomainError(_l("Choose a specialty from the list."))
    representatives = _representatives(tender, list(representative_ids))
    experts = size - len(representatives)
    if size < 1 or experts < 0:
        raise DomainError(_l("The committee needs more seats than representatives."))
    raise_problems(rules.committee_size_problems(
        size, experts, method=tender.method, budget=tender.budget, complex=tender.complex,
        open_tender_threshold=open_tender_threshold()))
    pool = expert_pool(specialty)
    conflicted = conflicted_in_pool(tender, pool, now)
    exclude = conflicted | {u.id for u in representatives}
    raise_problems(rules.expert_draw_problems(pool, experts, exclude))
    seed = seed or secrets.token_hex(16)
    drawn = rules.draw_experts(pool, experts, seed, exclude)
    committee = Committee(tender_id=tender.id, size=size, specialty=specialty, seed=seed, pool=json.dumps(pool),
                          excluded=json.dumps(sorted(conflicted)), formed_at=now, formed_by_id=actor.id)
    db.session.add(committee)
    db.session.flush()
    seats = [(user_id, MemberKind.EXPERT, seed) for user_id in drawn]
    seats += [(user.id, MemberKind.REPRESENTATIVE, "") for user in representatives]
    for position, (user_id, kind, draw_seed) in enumerate(seats, start=1):
        committee.members.append(CommitteeMember(user_id=user_id, kind=kind, status=MemberStatus.DRAWN,
                                                 position=position, draw_seed=draw_seed))
    db.session.flush()
    audit.record("committee.formed", committee, actor=actor, now=now,
                 new={"tender_id": tender.id, "size": size, "specialty": specialty, "pool": pool,
                      "excluded": sorted(conflicted), "seed": seed, "drawn": drawn,
                      "representatives": [u.id for u in representatives]})
    _notify_drawn(list(db.session.scalars(sa.select(User).where(User.id.in_([s[0] for s in seats])))), tender,
                  now=now)
    if tender.method in rules.TENDER_METHODS and tender.status == TenderStatus.OPENED:
        tender_services._transition(tender, TenderStatus.EVALUATING, actor=actor, now=now,
                                    action="tender.evaluation_started")
    return committee


def replay_draw(committee: Committee) -> list[int]:
    """Re-run the committee's first draw from its stored pool, exclusions and seed: anyone can check it."""
    first = [m for m in committee.members if m.replacement_of_id is None]
    experts = [m for m in first if m.kind == MemberKind.EXPERT]
    representatives = {m.user_id for m in first if m.kind == MemberKind.REPRESENTATIVE}
    return rules.draw_experts(committee.pool_ids, len(experts), committee.seed,
                              set(committee.excluded_ids) | representatives)


# --- Declarations and replacements (R9, 87-48, 87-49) -------------------------------------------------------


def _check_working(committee: Committee) -> None:
    if committee.tender.status not in WORKING or committee.report_completed_at is not None:
        raise Conflict(_l("The committee's work on this tender is over; its members can no longer change."))


def _unavailable(pool: list[int]) -> set[int]:
    """Experts of the stored pool who have since left it or whose account is no longer active."""
    available = set(db.session.scalars(
        sa.select(User.id).join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.id.in_(pool), User.active.is_(True), User.approved.is_(True), ExpertProfile.in_pool.is_(True))))
    return set(pool) - available


def _replace(committee: Committee, member: CommitteeMember, *, reason: str, actor: User, now: datetime,
             successor: User | None = None) -> CommitteeMember:
    """Put a new member in ``member``'s seat: an expert by a new recorded draw of 1, a representative by name."""
    tender = committee.tender
    new_values: dict = {}
    if member.kind == MemberKind.EXPERT:
        number = 1 + sum(1 for m in committee.members if m.kind == MemberKind.EXPERT and m.replacement_of_id)
        seed = f"{committee.seed}/r{number}"
        ever = {m.user_id for m in committee.members}  # never draw anyone twice on one committee
        unavailable = _unavailable(committee.pool_ids)
        exclude = ever | set(committee.excluded_ids) | unavailable
        raise_problems(rules.expert_draw_problems(committee.pool_ids, 1, exclude), Conflict)
        [user_id] = rules.draw_experts(committee.pool_ids, 1, seed, exclude)
        new_values = {"seed": seed, "exclude": sorted(exclude), "unavailable": sorted(unavailable)}
        new = CommitteeMember(user_id=user_id, kind=MemberKind.EXPERT, draw_seed=seed)
    else:
        new = CommitteeMember(user_id=successor.id, kind=MemberKind.REPRESENTATIVE, draw_seed="")
    was_chair = committee.chair_id == member.id
    old_status = member.status
    member.status, member.replaced_at, member.replaced_reason = MemberStatus.REPLACED, now, reason
    if was_chair:
        committee.chair = None
    new.status, new.replacement_of_id = MemberStatus.DRAWN, member.id
    new.position = 1 + max(m.position for m in committee.members)
    committee.members.append(new)
    db.session.flush()
    audit.record("committee.member_replaced", committee, actor=actor, now=now,
                 old={"member": member.id, "user": member.user_id, "status": old_status, "chair": was_chair},
                 new={"member": new.id, "user": new.user_id, "kind": new.kind, "reason": reason, **new_values})
    if committee.scoring_closed_at is not None:
        _reopen_scoring(committee, actor=actor, now=now)
    _notify_drawn([db.session.get(User, new.user_id)], tender, now=now)
    return new


def _reopen_scoring(committee: Committee, *, actor: User, now: datetime) -> None:
    """A member replaced after the scoring was closed: the replaced member's opinions are void (87-49), so the
    scoring reopens for the new member and every confirmation of the report is cleared."""
    confirmed = [m.id for m in committee.members if m.report_confirmed_at is not None]
    old = {"scoring_closed_at": committee.scoring_closed_at, "confirmed": confirmed}
    committee.scoring_closed_at = None
    for seat in committee.members:
        seat.report_confirmed_at, seat.report_dissent = None, ""
    db.session.flush()
    audit.record("committee.scoring_reopened", committee, actor=actor, now=now, old=old,
                 new={"scoring_closed_at": None, "reason": "member replaced after the scoring was closed"})
    tender = committee.tender
    notify_many([m.user for m in committee.sitting if m.is_active], "scoring_reopened",
                {"title": tender.title, "reference": tender.reference}, link=evaluation_link(tender), now=now)


def declare(member: CommitteeMember, *, conflict: bool, note: str, actor: User, now: datetime
            ) -> CommitteeMember | None:
    """The member's own declaration before seeing any bid: no conflict seats them; a conflict replaces them.

    Returns the replacement drawn for a declared conflict, else None. A representative with a conflict is
    replaced by an officer of the bureau, who names the successor (``replace_member``).
    """
    committee = _lock(member.committee)
    if actor.id != member.user_id:
        raise NotAllowed(_l("Only the member can make their own declaration."))
    _check_working(committee)
    if member.status != MemberStatus.DRAWN:
        raise Conflict(_l("You have already made your declaration for this committee."))
    if not conflict:
        member.status, member.declared_at = MemberStatus.ACTIVE, now
        db.session.flush()
        audit.record("committee.declared", committee, actor=actor, now=now,
                     old={"member": member.id, "status": MemberStatus.DRAWN},
                     new={"member": member.id, "status": MemberStatus.ACTIVE, "conflict": False})
        return None
    note = (note or "").strip()
    if len(note) < NOTE_MIN:
        raise DomainError(_l("Describe the conflict of interest (your tie to a bidder)."))
    if member.kind == MemberKind.REPRESENTATIVE:
        raise DomainError(_l("A purchaser's representative with a conflict is replaced by an officer of the "
                             "bureau, who names the successor. Ask an officer to replace you."))
    member.conflict_note, member.declared_at = note, now
    audit.record("committee.conflict_declared", committee, actor=actor, now=now,
                 new={"member": member.id, "note": note})
    return _replace(committee, member, reason=f"声明与投标人存在利害关系：{note}", actor=actor, now=now)


def replace_member(member: CommitteeMember, *, reason: str, actor: User, now: datetime,
                   representative_id: int | None = None) -> CommitteeMember:
    """An officer replaces a sitting member (found conflicted, absent...); their opinions become void (87-49).

    An expert's seat goes to a new random draw of 1. A representative is never replaced by a draw: the officer
    names the officer of the bureau who takes the seat (``representative_id``), so the committee keeps its size.
    """
    committee = _lock(member.committee)
    tender = committee.tender
    if not tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can replace a member."))
    _check_working(committee)
    if member.status == MemberStatus.REPLACED:
        raise Conflict(_l("This member has already been replaced."))
    reason = (reason or "").strip()
    if len(reason) < NOTE_MIN:
        raise DomainError(_l("Give the reason for the replacement."))
    successor = None
    if member.kind == MemberKind.REPRESENTATIVE:
        if representative_id is None:
            raise DomainError(_l("A representative is not replaced by a draw: name the officer of the bureau who "
                                 "takes the seat."))
        [successor] = _representatives(tender, [representative_id])
        if any(m.user_id == successor.id for m in committee.members):
            raise DomainError(_l("This officer already sits, or sat, on the committee."))
    return _replace(committee, member, reason=reason, actor=actor, now=now, successor=successor)


def set_chair(committee: Committee, member: CommitteeMember, *, actor: User, now: datetime) -> None:
    """Record the chair (评标委员会组长): a member who declared no conflict, never the representative (87-45)."""
    committee = _lock(committee)
    if not committee.tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can record the chair."))
    _check_working(committee)
    representatives = [m.id for m in committee.members if m.kind == MemberKind.REPRESENTATIVE]
    raise_problems(rules.chair_problems(member.id, [m.id for m in committee.sitting], representatives))
    if not member.is_active:
        raise DomainError(_l("The chair must first declare that they have no conflict of interest."))
    old = committee.chair_id
    committee.chair = member
    db.session.flush()
    audit.record("committee.chair_set", committee, actor=actor, now=now, old={"chair": old},
                 new={"chair": member.id, "user": member.user_id})
    tender = committee.tender
    notify_many([member.user], "committee_chair", {"title": tender.title, "reference": tender.reference},
                link=evaluation_link(tender), now=now)


# --- Qualification and compliance review (87-44, 87-63, 74-37) -----------------------------------------------


def _check_chair(committee: Committee, actor: User) -> None:
    if not is_chair(committee, actor):
        raise NotAllowed(_l("Only the committee's chair records the committee's findings."))


def _check_review_open(committee: Committee) -> None:
    tender = committee.tender
    if tender.method == Method.SINGLE_SOURCE:
        raise DomainError(_l("A single-source procedure has no qualification review: its one supplier's terms are "
                             "settled in the negotiation record."))
    if tender.status not in WORKING:
        raise Conflict(_l("The committee's work on this tender is over."))
    if committee.qualification_closed_at is not None:
        raise Conflict(_l("The qualification review has been closed; its findings can no longer change."))


def checks_by_bid(committee: Committee) -> dict[int, dict[int, QualificationCheck]]:
    """The recorded findings, by bid id and then requirement id."""
    found: dict[int, dict[int, QualificationCheck]] = defaultdict(dict)
    for check in db.session.scalars(sa.select(QualificationCheck).where(QualificationCheck.committee_id ==
                                                                        committee.id)):
        found[check.bid_id][check.requirement_id] = check
    return dict(found)


def record_checks(committee: Committee, bid: Bid, results: dict[int, tuple[bool, str]], *, actor: User,
                  now: datetime) -> None:
    """The chair records the committee's pass or fail on every requirement for one opened bid; a fail needs a reason.

    Recording again before the review closes replaces the earlier findings (audited with both).
    """
    committee = _lock(committee)
    _check_chair(committee, actor)
    _check_review_open(committee)
    tender = committee.tender
    if bid.id not in {b.id for b in opened_bids(tender)}:
        raise DomainError(_l("Only the opened bids of this tender are reviewed."))
    requirement_ids = {r.id for r in tender.requirements}
    if set(results) != requirement_ids:
        raise DomainError(_l("Record a finding (pass or fail) for every requirement."))
    findings = {rid: (bool(passed), (reason or "").strip()) for rid, (passed, reason) in results.items()}
    if any(not passed and not reason for passed, reason in findings.values()):
        raise DomainError(_l("Give the reason for every requirement the bid fails."))
    existing = checks_by_bid(committee).get(bid.id, {})
    old = {rid: [c.passed, c.reason] for rid, c in existing.items()}
    for rid, (passed, reason) in findings.items():
        check = existing.get(rid)
        if check is None:
            check = QualificationCheck(committee_id=committee.id, bid_id=bid.id, requirement_id=rid)
            db.session.add(check)
        check.passed, check.reason = passed, reason
        check.recorded_by_id, check.recorded_at = actor.id, now
    db.session.flush()
    audit.record("qualification.recorded", committee, actor=actor, now=now, old={"bid": bid.id, "checks": old}
                 if old else None, new={"bid": bid.id, "checks": {rid: list(f) for rid, f in findings.items()}})


def _minimum_qualified(tender: Tender) -> int:
    if tender.method == Method.NEGOTIATION:
        return tender_rules.MIN_NEGOTIATION_SUPPLIERS
    return tender_rules.MIN_BIDS_TO_OPEN


def _fail_for_too_few(committee: Committee, count: int, *, actor: User, now: datetime) -> None:
    """废标/终止: fewer than 3 qualified bids (L36, 87-44) or suppliers left in a negotiation (74-37)."""
    tender = committee.tender
    minimum = _minimum_qualified(tender)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # the reason is published in the notice
        if tender.method == Method.NEGOTIATION:
            reason = _("Only %(count)s supplier(s) passed the qualification and compliance review; with fewer than "
                       "%(min)s suppliers the negotiation ends (74-37).", count=count, min=minimum)
        else:
            reason = _("Only %(count)s bid(s) passed the qualification and compliance review; with fewer than "
                       "%(min)s qualified bids the tender fails (L36, 87-44).", count=count, min=minimum)
    tender_services.fail_tender(tender, reason=reason, actor=actor, now=now)


def abnormally_low_threshold() -> Decimal:
    return Decimal(current_app.config.get("ABNORMALLY_LOW_THRESHOLD", rules.ABNORMALLY_LOW_THRESHOLD))


def justification_period() -> timedelta:
    """The time a bidder gets to justify an abnormally low price in writing (a setting; 87-60, house rule)."""
    return timedelta(hours=int(current_app.config.get("LOW_PRICE_JUSTIFICATION_HOURS",
                                                      rules.LOW_PRICE_JUSTIFICATION_HOURS)))


def beijing_text(instant: datetime | None) -> str:
    """A time for a notification or an error message: Beijing time, to the minute."""
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if instant else ""


def justification_overdue(inquiry: LowPriceInquiry, now: datetime) -> bool:
    """Whether the time for the justification has run out with none given."""
    return inquiry.justified_at is None and inquiry.due_at is not None and now >= inquiry.due_at


def close_qualification(committee: Committee, *, actor: User, now: datetime) -> str:
    """The chair closes the review once every opened bid has a finding on every requirement.

    Returns "failed" when fewer than 3 bids qualify (the tender fails, 87-44, 74-37); otherwise "closed", and
    in comprehensive scoring each qualified bid priced abnormally low is asked for a written justification
    (87-60).
    """
    committee = _lock(committee)
    _check_chair(committee, actor)
    _check_review_open(committee)
    if any(m.status == MemberStatus.DRAWN for m in committee.sitting):
        raise DomainError(_l("Every member must declare that they have no conflict of interest before the "
                             "committee's findings are closed."))
    tender = committee.tender
    bids = opened_bids(tender)
    found = checks_by_bid(committee)
    requirement_ids = {r.id for r in tender.requirements}
    missing = [bid.supplier.name for bid in bids if set(found.get(bid.id, {})) != requirement_ids]
    if missing:
        raise DomainError(_l("Record a finding on every requirement for every bid first (missing: %(names)s).",
                             names="、".join(missing)))
    committee.qualification_closed_at = now
    qualified = qualified_bids(committee)
    summary = {"qualified": [b.id for b in qualified],
               "failed": sorted(b.id for b in bids if b.id not in {q.id for q in qualified})}
    if len(qualified) < _minimum_qualified(tender):
        audit.record("qualification.closed", committee, actor=actor, now=now, new=summary | {"outcome": "failed"})
        _fail_for_too_few(committee, len(qualified), actor=actor, now=now)
        return "failed"
    low: set = set()
    if tender.evaluation_method == EvaluationMethod.COMPREHENSIVE:
        low = rules.abnormally_low_bids({b.id: b.opened_price for b in qualified}, abnormally_low_threshold())
    due_at = now + justification_period()
    inquiries = [LowPriceInquiry(committee_id=committee.id, bid_id=bid.id, requested_at=now, due_at=due_at)
                 for bid in qualified if bid.id in low]
    db.session.add_all(inquiries)
    db.session.flush()
    audit.record("qualification.closed", committee, actor=actor, now=now,
                 new=summary | {"outcome": "closed", "low_price_inquiries": [i.bid_id for i in inquiries],
                                "threshold": abnormally_low_threshold(),
                                "justification_due_at": due_at if inquiries else None})
    for inquiry in inquiries:
        notify_many(active_users([inquiry.bid.supplier_id]), "low_price_requested",
                    {"title": tender.title, "reference": tender.reference, "due": beijing_text(due_at)},
                    link=evaluation_link(tender, f"low-price/{inquiry.id}"), now=now)
    comprehensive = tender.evaluation_method == EvaluationMethod.COMPREHENSIVE
    notify_many([m.user for m in committee.sitting if m.is_active], "qualification_closed",
                {"title": tender.title, "reference": tender.reference, "qualified": len(qualified),
                 "scoring": comprehensive, "justifications": len(inquiries)},
                link=evaluation_link(tender, "sheet" if comprehensive and not inquiries else ""), now=now)
    return "closed"


# --- Abnormally low prices (87-60) ------------------------------------------------------------------------------


def inquiry_committee(inquiry: LowPriceInquiry) -> Committee:
    return db.session.get(Committee, inquiry.committee_id)


def justify_low_price(inquiry: LowPriceInquiry, text: str, *, actor: User, now: datetime) -> None:
    """The bidder explains in writing why its price is sound, before the committee decides (87-60)."""
    committee = _lock(inquiry_committee(inquiry))
    if not inquiry.bid.is_own(actor):
        raise NotAllowed(_l("Only the bidder itself can justify its price."))
    if committee.tender.status not in WORKING:
        raise Conflict(_l("The committee's work on this tender is over."))
    if inquiry.decided_at is not None:
        raise Conflict(_l("The committee has already decided on this justification."))
    if inquiry.due_at is not None and now >= inquiry.due_at:
        raise Conflict(_l("The time for the written justification ended at %(time)s (Beijing time) (87-60).",
                          time=beijing_text(inquiry.due_at)))
    text = (text or "").strip()
    if len(text) < JUSTIFICATION_MIN:
        raise DomainError(_l("Write the justification in at least %(n)s characters.", n=JUSTIFICATION_MIN))
    old = {"justification": inquiry.justification} if inquiry.justified_at else None
    inquiry.justification, inquiry.justified_at, inquiry.justified_by_id = text, now, actor.id
    db.session.flush()
    audit.record("low_price.justified", inquiry, actor=actor, now=now, old=old,
                 new={"bid": inquiry.bid_id, "justification": text})
    tender = committee.tender
    chair_users = [committee.chair.user] if committee.chair is not None else []
    notify_many(chair_users, "low_price_justified",
                {"title": tender.title, "reference": tender.reference, "bidder": inquiry.bid.supplier.name},
                link=evaluation_link(tender, f"low-price/{inquiry.id}"), now=now)


def decide_low_price(inquiry: LowPriceInquiry, *, accepted: bool, note: str, actor: User, now: datetime) -> str:
    """The chair records whether the justification is accepted; a rejected bid is invalid (87-60).

    Without a justification the chair can only wait until the inquiry's due time; after it, the chair may find
    the price unjustified (rejected), never accept it. Returns "accepted", "rejected", or "failed" when the
    rejection leaves fewer than 3 qualified bids.
    """
    committee = _lock(inquiry_committee(inquiry))
    _check_chair(committee, actor)
    tender = committee.tender
    if tender.status not in WORKING:
        raise Conflict(_l("The committee's work on this tender is over."))
    if inquiry.decided_at is not None:
        raise Conflict(_l("The committee has already decided on this justification."))
    if inquiry.justified_at is None:
        if not justification_overdue(inquiry, now):
            if inquiry.due_at is not None:
                raise DomainError(_l("The bidder has not given its written justification yet; it has until "
                                     "%(time)s (Beijing time).", time=beijing_text(inquiry.due_at)))
            raise DomainError(_l("The bidder has not given its written justification yet."))
        if accepted:
            raise DomainError(_l("No justification was given in time: the price cannot be accepted as justified; "
                                 "the bid can only be found invalid (87-60)."))
    note = (note or "").strip()
    if not accepted and len(note) < NOTE_MIN:
        raise DomainError(_l("Give the committee's reason for rejecting the justification."))
    inquiry.accepted, inquiry.decision_note = accepted, note
    inquiry.decided_at, inquiry.decided_by_id = now, actor.id
    db.session.flush()
    audit.record("low_price.decided", inquiry, actor=actor, now=now,
                 new={"bid": inquiry.bid_id, "accepted": accepted, "note": note,
                      "justified": inquiry.justified_at is not None, "due_at": inquiry.due_at})
    notify_many(active_users([inquiry.bid.supplier_id]), "low_price_decided",
                {"title": tender.title, "reference": tender.reference, "accepted": accepted, "note": note},
                link=evaluation_link(tender, f"low-price/{inquiry.id}"), now=now)
    if accepted:
        return "accepted"
    remaining = len(qualified_bids(committee))
    if remaining < _minimum_qualified(tender):
        _fail_for_too_few(committee, remaining, actor=actor, now=now)
        return "failed"
    return "rejected"


# --- Negotiation: who may still give a final quote (74-37) -------------------------------------------------------


def failed_qualification(tender: Tender, organisation) -> bool:
    """Whether the organisation's first response failed the committee's closed qualification review."""
    if organisation is None or tender.method == Method.SINGLE_SOURCE:
        return False
    committee = committee_for(tender)
    if committee is None or committee.qualification_closed_at is None:
        return False
    failed = set(failed_requirements(committee))
    return any(bid.id in failed for bid in opened_bids(tender) if bid.supplier_id == organisation.id)


def final_quote_refusal(tender: Tender, organisation) -> DomainError | None:
    """Registered with tenders.bidding: a supplier out after the qualification review gives no final quote."""
    if tender.method != Method.NEGOTIATION or not failed_qualification(tender, organisation):
        return None
    return bidding.NotEligible(_l("Your response did not pass the qualification and compliance review "
                                  "(资格性和符合性审查): you are out of the negotiation and cannot give a final "
                                  "quote."))


# --- Dashboards ---------------------------------------------------------------------------------------------------

SEAT_TASK_LABELS = {
    "declaration": _l("Declare whether you have a conflict of interest"),
    "qualification": _l("Record the qualification review (as chair)"),
    "justifications": _l("Price justifications awaited or to decide"),
    "scoring": _l("Score the qualified bids"),
    "report": _l("Confirm the evaluation report"),
    "waiting": _l("Nothing to do for now"),
    "done": _l("The committee's work is over"),
}


def _seat_task(member: CommitteeMember, submitted: bool, pending_low_price: bool) -> str:
    committee, tender = member.committee, member.committee.tender
    if member.status == MemberStatus.DRAWN:
        return "declaration"
    if tender.status not in WORKING or committee.report_completed_at is not None:
        return "done"
    if committee.scoring_closed_at is not None:  # the report awaits every sitting member's confirmation
        return "waiting" if member.report_confirmed_at else "report"
    if tender.method != Method.SINGLE_SOURCE and committee.qualification_closed_at is None:
        return "qualification" if committee.chair_id == member.id else "waiting"
    if pending_low_price:
        return "justifications"
    comprehensive = tender.evaluation_method == EvaluationMethod.COMPREHENSIVE
    if comprehensive and committee.scoring_closed_at is None and not submitted:
        return "scoring"
    return "waiting"


def member_tasks(user: User, limit: int = 50) -> list[tuple[CommitteeMember, str]]:
    """The user's seats, newest first, each with what awaits them (a key of SEAT_TASK_LABELS)."""
    seats = list(db.session.scalars(
        sa.select(CommitteeMember).where(CommitteeMember.user_id == user.id,
                                         CommitteeMember.status != MemberStatus.REPLACED)
        .options(selectinload(CommitteeMember.committee).selectinload(Committee.tender))
        .order_by(CommitteeMember.id.desc()).limit(limit)))
    if not seats:
        return []
    submitted = set(db.session.scalars(sa.select(ScoreSheet.member_id).where(
        ScoreSheet.member_id.in_([s.id for s in seats]), ScoreSheet.submitted_at.is_not(None))))
    pending = set(db.session.scalars(sa.select(LowPriceInquiry.committee_id).where(
        LowPriceInquiry.committee_id.in_([s.committee_id for s in seats]), LowPriceInquiry.accepted.is_(None))))
    return [(seat, _seat_task(seat, seat.id in submitted, seat.committee_id in pending)) for seat in seats]


def awaiting_committee(tenders: list[Tender]) -> set[int]:
    """The ids of the tenders among ``tenders`` that could have a committee and have none yet."""
    candidates = [t.id for t in tenders if can_form_committee(t)]
    if not candidates:
        return set()
    formed = set(db.session.scalars(sa.select(Committee.tender_id).where(Committee.tender_id.in_(candidates))))
    return set(candidates) - formed
