"""Builders of the dashboard tests (issue 9, item 4): small procurement histories with known numbers, written
straight through the models (no services: the figures only read what the other features leave behind).

``world`` builds, under the city bureau and two districts (东区 and 西区), on the clock of the ``now`` fixture
(2026-11-30 10:00 Beijing):

- A (东区): 困难老年人关爱 for a poor village, 公开招标 budget 500,000 published 2026-08-03, opened with valid bids of
  three suppliers (a replaced and a withdrawn bid beside them); awarded 2026-09-10 with its result notice the next
  day; contract 450,000 signed 2026-09-15 and noticed 2026-09-16; 200,000 paid; a review graded 优秀.
- B (西区): 留守儿童关爱 for a remote area, 邀请招标 budget 300,000 published 2026-07-01, five bidders; awarded
  2026-08-10, result notice 2026-08-20 (late); contract 290,000 signed 2026-09-25 (late), no contract notice
  (overdue, so not public); 100,000 paid; a review graded 不合格.
- C (the city): 社会救助 for a poor village in a remote area, 单一来源 budget 200,000 published 2025-11-03; awarded
  2025-12-01 with its notice that day; contract 190,000 signed 2025-12-31 17:00 UTC, which is 2026-01-01 in
  Beijing: a day late, and of the year 2026; noticed 2026-01-05; a review graded 良好.
- D (东区): 竞争性谈判 budget 120,000 published 2026-10-01, opened with two first responses (and a final quote);
  awarded 2026-11-20 without a result notice (overdue); a draft contract of 100,000 still inside its 30 days.
- E (东区): 公开招标 budget 80,000 published 2026-10-12, opened with one valid bid, not awarded.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from portal.contracts.models import Contract, ContractStatus, Gate, Installment
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.projects.models import Plan
from portal.reviews.models import Review, ReviewStatus
from portal.reviews.rules import Grade, ReviewKind
from portal.tenders.models import Bid, BidKind, BidStatus, Method, Tender, TenderStatus
from portal.tenders.rules import local_date
from tests.funding_builders import district, project
from tests.support.web import bj
from tests.tender_factories import make_published_tender

_numbers = itertools.count(1)


@dataclass
class Process:
    """One procurement: its tender, and what followed (award, contract) when there is one."""

    tender: Tender
    award: Award | None = None
    contract: Contract | None = None
    notices: list = field(default_factory=list)


@dataclass
class World:
    city: object
    east: object
    west: object
    officers: dict  # "city", "east", "west" -> an officer of that bureau
    suppliers: list  # five NGO users
    processes: dict  # "A" to "E" -> Process


def tender(bureau, *, method: str, budget: str, published: str, plan: str = Plan.ELDERLY,
           poor_village: bool = False, remote_area: bool = False, opened: str | None = None) -> Tender:
    """A tender for a new project with these tilt facts, published (and opened) on these Beijing days."""
    made = project(bureau, f"服务项目{next(_numbers)}", budget=budget, base_priority=50, poor_village=poor_village,
                   remote_area=remote_area)
    made.plan = plan
    published_at = bj(published)
    result = make_published_tender(bureau, project=made, method=method, budget=Decimal(budget),
                                   deadline=published_at + timedelta(days=20), published_at=published_at)
    if opened:
        result.status, result.opened_at = TenderStatus.EVALUATING, bj(opened)
    db.session.commit()
    return result


def bid(tender: Tender, user, *, status: str = BidStatus.SUBMITTED, kind: str = BidKind.BID,
        price: str = "100000") -> Bid:
    """A bid of ``user``'s organisation, as the opening leaves it (its opened price read)."""
    made = Bid(tender_id=tender.id, supplier_id=user.organisation_id, submitted_by_id=user.id, kind=kind,
               status=status, sealed_price=b"sealed", price_sha256=hashlib.sha256(b"p").hexdigest(),
               receipt_sha256=hashlib.sha256(b"r").hexdigest(), received_at=tender.bid_deadline - timedelta(days=1),
               opened_price=Decimal(price) if tender.opened_at else None)
    db.session.add(made)
    db.session.commit()
    return made


def notice(kind: str, tender: Tender, published_at: datetime) -> Notice:
    made = Notice(kind=kind, bureau_id=tender.bureau_id, tender_id=tender.id, title=f"{tender.title}公告",
                  body="公告正文", published_at=published_at)
    db.session.add(made)
    db.session.commit()
    return made


def award(tender: Tender, supplier, *, amount: str, decided: str, noticed: str | None = None) -> Award:
    """The award of ``tender`` to ``supplier`` decided on a Beijing day, its result notice published on another."""
    made = Award(tender_id=tender.id, supplier_id=supplier.organisation_id, amount=Decimal(amount),
                 status=AwardStatus.ACTIVE, decided_at=bj(decided))
    if noticed:
        made.notice_id = notice(NoticeKind.RESULT, tender, bj(noticed)).id
    tender.status = TenderStatus.AWARDED
    db.session.add(made)
    db.session.commit()
    return made


def contract(won: Award, officer, *, amount: str, letter: str, signed_at: datetime | None = None,
             noticed: str | None = None, paid: str | None = None) -> Contract:
    """The contract of ``won``: signed at ``signed_at`` (a draft when None), its contract notice published on a
    Beijing day, two installments of which the first is paid ``paid``."""
    tender = db.session.get(Tender, won.tender_id)
    made = Contract(reference=f"HT-DASH-{next(_numbers):04d}", tender_id=tender.id, award_id=won.id,
                    bureau_id=tender.bureau_id, supplier_id=won.supplier_id,
                    status=ContractStatus.SIGNED if signed_at else ContractStatus.DRAFT, title=tender.title,
                    amount=Decimal(amount), start_date=date(2027, 1, 1), end_date=date(2027, 12, 31),
                    award_letter_on=date.fromisoformat(letter), drafted_at=won.decided_at, drafted_by_id=officer.id,
                    signed_at=signed_at)
    half = (Decimal(amount) / 2).quantize(Decimal("0.01"))
    made.installments = [
        Installment(position=1, percent=Decimal(50), amount=half, gate=Gate.SIGNING, gate_met_at=signed_at,
                    paid_on=local_date(signed_at) if paid else None, paid_amount=Decimal(paid) if paid else None),
        Installment(position=2, percent=Decimal(50), amount=Decimal(amount) - half, gate=Gate.ACCEPTANCE)]
    if noticed:
        made.notice_id = notice(NoticeKind.CONTRACT, tender, bj(noticed)).id
    db.session.add(made)
    db.session.commit()
    return made


def graded_review(graded: Contract, grade: str, graded_at: datetime, score: str) -> Review:
    made = Review(contract_id=graded.id, kind=ReviewKind.EXTRA, title="专项评估", status=ReviewStatus.GRADED,
                  due_on=local_date(graded_at), period_start=date(2027, 1, 1), period_end=date(2027, 6, 30),
                  graded_at=graded_at, score=Decimal(score), grade=grade)
    db.session.add(made)
    db.session.commit()
    return made


def world(city, create_org, create_user) -> World:
    east = district(create_org, city, "东区民政局")
    west = district(create_org, city, "西区民政局")
    officers = {"city": create_user("officer", organisation_id=city.id),
                "east": create_user("officer", organisation_id=east.id),
                "west": create_user("officer", organisation_id=west.id)}
    s = [create_user("supplier") for _ in range(5)]
    processes = {"A": _process_a(east, officers["east"], s), "B": _process_b(west, officers["west"], s),
                 "C": _process_c(city, officers["city"], s), "D": _process_d(east, officers["east"], s),
                 "E": _process_e(east, s)}
    return World(city, east, west, officers, s, processes)


def _process_a(bureau, officer, s) -> Process:
    t = tender(bureau, method=Method.OPEN, budget="500000", published="2026-08-03", opened="2026-09-01",
               plan=Plan.ELDERLY, poor_village=True)
    bid(t, s[0], status=BidStatus.REPLACED)
    for user in s[:3]:
        bid(t, user)
    bid(t, s[3], status=BidStatus.WITHDRAWN)
    won = award(t, s[0], amount="450000", decided="2026-09-10", noticed="2026-09-11")
    signed = contract(won, officer, amount="450000", letter="2026-09-10", signed_at=bj("2026-09-15"),
                      noticed="2026-09-16", paid="200000")
    graded_review(signed, Grade.EXCELLENT, bj("2026-11-01"), "92")
    return Process(t, won, signed)


def _process_b(bureau, officer, s) -> Process:
    t = tender(bureau, method=Method.INVITED, budget="300000", published="2026-07-01", opened="2026-08-01",
               plan=Plan.LEFT_BEHIND_CHILDREN, remote_area=True)
    for user in s:
        bid(t, user)
    won = award(t, s[1], amount="290000", decided="2026-08-10", noticed="2026-08-20")
    signed = contract(won, officer, amount="290000", letter="2026-08-10", signed_at=bj("2026-09-25"),
                      paid="100000")
    graded_review(signed, Grade.FAIL, bj("2026-11-10"), "55")
    return Process(t, won, signed)


def _process_c(bureau, officer, s) -> Process:
    t = tender(bureau, method=Method.SINGLE_SOURCE, budget="200000", published="2025-11-03",
               plan=Plan.SOCIAL_ASSISTANCE, poor_village=True, remote_area=True)
    won = award(t, s[2], amount="190000", decided="2025-12-01", noticed="2025-12-01")
    signed = contract(won, officer, amount="190000", letter="2025-12-01",
                      signed_at=datetime.fromisoformat("2025-12-31T17:00:00+00:00"), noticed="2026-01-05")
    graded_review(signed, Grade.GOOD, bj("2026-03-02"), "85")
    return Process(t, won, signed)


def _process_d(bureau, officer, s) -> Process:
    t = tender(bureau, method=Method.NEGOTIATION, budget="120000", published="2026-10-01", opened="2026-10-20")
    for user in s[1:3]:
        bid(t, user)
    bid(t, s[1], kind=BidKind.FINAL_QUOTE)
    won = award(t, s[1], amount="100000", decided="2026-11-20")
    draft = contract(won, officer, amount="100000", letter="2026-11-20")
    return Process(t, won, draft)


def _process_e(bureau, s) -> Process:
    t = tender(bureau, method=Method.OPEN, budget="80000", published="2026-10-12", opened="2026-11-02")
    bid(t, s[4])
    return Process(t)
