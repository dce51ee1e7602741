"""Test helpers for evaluation: a committee built straight through the models (every member declared, the
qualification review closed), and score sheets filled in and submitted through the scoring services."""

from __future__ import annotations

import json
from decimal import Decimal

from portal.evaluation import scoring
from portal.evaluation.models import Committee, CommitteeMember, MemberKind, MemberStatus
from portal.extensions import db
from portal.tenders.models import TenderStatus


def build_committee(tender, experts, *, chair_index: int = 0, representatives=(), now) -> Committee:
    """A committee of ``experts`` (then ``representatives``), all ACTIVE, chaired by ``experts[chair_index]``,
    its qualification review closed; an opened tender moves to EVALUATING. Committed."""
    committee = Committee(tender_id=tender.id, size=len(experts) + len(representatives), specialty="elderly_care",
                          seed="test-seed", pool=json.dumps(sorted(u.id for u in experts)), formed_at=now,
                          formed_by_id=tender.opening_started_by_id or experts[0].id, qualification_closed_at=now)
    seats = [(user, MemberKind.EXPERT) for user in experts] + [(u, MemberKind.REPRESENTATIVE) for u in representatives]
    committee.members = [
        CommitteeMember(user_id=user.id, kind=kind, status=MemberStatus.ACTIVE, position=position, declared_at=now,
                        draw_seed=f"test-seed/{position}" if kind == MemberKind.EXPERT else "")
        for position, (user, kind) in enumerate(seats, start=1)]
    db.session.add(committee)
    db.session.flush()
    committee.chair_id = committee.members[chair_index].id
    if tender.status == TenderStatus.OPENED:
        tender.status = TenderStatus.EVALUATING
    db.session.commit()
    return committee


def submit_scores(committee: Committee, member: CommitteeMember, points_by_bid_criterion, now):
    """Save the member's points ({(bid_id, criterion_id): points}) and submit the sheet. Committed."""
    entries = {key: Decimal(str(points)) for key, points in points_by_bid_criterion.items()}
    scoring.save_scores(committee, member, entries, {}, actor=member.user, now=now)
    sheet = scoring.submit_sheet(committee, member, actor=member.user, now=now)
    db.session.commit()
    return sheet
