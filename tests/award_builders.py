"""Evaluated tenders built straight through the models, for the award and challenge tests.

An open tender whose three bids were opened, a committee of five active experts, every sheet submitted, scoring
closed and the report confirmed at ``report_at``: ``results.results(committee)`` then ranks the bids. Also a
negotiation with its final quotes opened and a single source with its price agreed, each with a completed report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from portal.evaluation.models import Committee, CommitteeMember, MemberKind, MemberStatus, Score, ScoreSheet
from portal.extensions import db
from portal.tenders.models import Method, Tender, TenderStatus
from tests.evaluation_factories import make_opened_tender, make_pool, make_single_source, negotiate_to_final_quotes

PRICES = ("400000.00", "380000.00", "450000.00")
# Each member's points per criterion (40/30/20 points) for each bid, members differing slightly so the means are
# not whole numbers. Totals with the price score (weight 10, lowest price 380000):
#   bid 0: quality 81.40 + 9.50 = 90.90; bid 1: 70.20 + 10.00 = 80.20; bid 2: 85.40 + 8.444... = 93.844...
# Ranking: supplier 2, supplier 0, supplier 1.
POINTS = (
    ((36, 27, 18), (36, 28, 18), (37, 27, 18), (36, 27, 18), (36, 27, 18)),
    ((30, 24, 16), (31, 24, 16), (30, 24, 16), (30, 25, 16), (30, 24, 15)),
    ((38, 28, 19), (38, 29, 19), (39, 28, 19), (38, 28, 19), (38, 28, 19)),
)


@dataclass
class Evaluated:
    tender: Tender
    committee: Committee
    bids: list
    suppliers: list  # the bidders' users, in bid order
    officers: list
    experts: list


def make_committee(tender: Tender, experts, *, formed_by, at: datetime) -> Committee:
    """A committee of ``experts``, all ACTIVE (declared), qualification closed at ``at``."""
    committee = Committee(tender_id=tender.id, size=len(experts), specialty="elderly_care", seed="award-tests",
                          pool=json.dumps(sorted(e.id for e in experts)), formed_at=at, formed_by_id=formed_by.id,
                          qualification_closed_at=at)
    db.session.add(committee)
    db.session.flush()
    for position, expert in enumerate(experts, 1):
        db.session.add(CommitteeMember(committee_id=committee.id, user_id=expert.id, kind=MemberKind.EXPERT,
                                       status=MemberStatus.ACTIVE, position=position,
                                       draw_seed=f"award-tests/{position}", declared_at=at))
    # No chair is set: the award does not need one (and on SQLite the test teardown cannot delete a chaired
    # committee, whose chair_id and members reference each other).
    db.session.commit()
    db.session.refresh(committee)
    return committee


def submit_sheets(committee: Committee, bids, points=POINTS, *, at: datetime) -> None:
    """Every member's submitted sheet: ``points[bid][member][criterion]``."""
    criteria = committee.tender.criteria
    for index, member in enumerate(committee.members):
        sheet = ScoreSheet(committee_id=committee.id, member_id=member.id, submitted_at=at)
        sheet.scores = [Score(bid_id=bid.id, criterion_id=criterion.id, points=Decimal(points[b][index][c]))
                        for b, bid in enumerate(bids) for c, criterion in enumerate(criteria)]
        db.session.add(sheet)
    db.session.commit()


def complete_report(committee: Committee, at: datetime) -> None:
    """Scoring closed and every member confirmed the report at ``at``."""
    committee.scoring_closed_at = committee.report_completed_at = at
    for member in committee.members:
        member.report_confirmed_at = at
    db.session.commit()


def evaluated_open_tender(bureau, create_user, *, now: datetime, report_at: datetime | None = None,
                          experts=None, prices=PRICES, points=POINTS, method: str = Method.OPEN) -> Evaluated:
    """An open (or invited) tender with three opened bids, scored by five experts, the report done at ``report_at``
    (a day after the opening unless given), status EVALUATING."""
    officers = [create_user("officer", organisation_id=bureau.id) for _ in range(2)]
    suppliers = [create_user("supplier") for _ in prices]
    experts = experts or make_pool(create_user, 5)
    tender, bids, opened_at = make_opened_tender(bureau, officers, suppliers, prices, now=now, method=method)
    tender.status = TenderStatus.EVALUATING
    committee = make_committee(tender, experts, formed_by=officers[0], at=opened_at)
    submit_sheets(committee, bids, points, at=opened_at + timedelta(hours=2))
    complete_report(committee, report_at or opened_at + timedelta(days=1))
    return Evaluated(tender, committee, bids, suppliers, officers, experts)


def evaluated_negotiation(bureau, create_user, *, now: datetime, quotes=("455000.00", "461000.00", "449999.99"),
                          report_at: datetime | None = None) -> Evaluated:
    """A competitive negotiation with three final quotes opened (status EVALUATING), a group of three, report done."""
    officers = [create_user("officer", organisation_id=bureau.id) for _ in range(2)]
    suppliers = [create_user("supplier") for _ in quotes]
    experts = make_pool(create_user, 3)
    tender, bids, opened_at = make_opened_tender(bureau, officers, suppliers, ("480000", "470000", "490000"),
                                                 now=now, method=Method.NEGOTIATION)
    opened = negotiate_to_final_quotes(tender, officers, suppliers, quotes, at=opened_at)
    committee = make_committee(tender, experts, formed_by=officers[0], at=opened)
    complete_report(committee, report_at or opened + timedelta(hours=2))
    return Evaluated(tender, committee, bids, suppliers, officers, experts)


def evaluated_single_source(bureau, create_user, *, now: datetime, report_at: datetime | None = None) -> Evaluated:
    """A single source with its price agreed (status NEGOTIATING), three negotiators, the record confirmed."""
    officers = [create_user("officer", organisation_id=bureau.id) for _ in range(2)]
    supplier = create_user("supplier")
    experts = make_pool(create_user, 3)
    tender = make_single_source(bureau, supplier.organisation, now=now)
    committee = make_committee(tender, experts, formed_by=officers[0], at=now)
    complete_report(committee, report_at or now)
    return Evaluated(tender, committee, [], [supplier], officers, experts)
