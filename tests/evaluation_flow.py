"""A whole evaluation driven through the services: committee, declarations, qualification with a low-price
justification, scores with a re-check, the report, the award, a challenge with evidence and a complaint.

The route-matrix walk and the security tests use it to have one object of every kind; each step runs on its
own clock, starting weeks before ``start`` so that nothing lies in the future of the real clock.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from werkzeug.datastructures import FileStorage

from portal.evaluation import award, results, scoring
from portal.evaluation import committee as committees
from portal.evaluation.models import Challenge, Committee, Complaint, LowPriceInquiry, Recheck
from portal.extensions import db
from portal.tenders.models import Bid, Tender
from portal.tenders.rules import local_date
from tests.evaluation_factories import make_opened_tender

HOUR = timedelta(hours=1)
# The first bidder's price is abnormally low (at least 20% under the mean of the others): it must justify it.
PRICES = ("300000.00", "400000.00", "410000.00")
# Points per criterion (weights 40/30/20) for each bidder: the first bidder scores lowest and loses.
POINTS = ((Decimal(20), Decimal(15), Decimal(10)), (Decimal(36), Decimal(27), Decimal(18)),
          (Decimal(34), Decimal(25), Decimal(17)))


@dataclass
class Evaluation:
    tender: Tender
    committee: Committee
    bids: list[Bid]
    inquiry: LowPriceInquiry
    recheck: Recheck
    challenge: Challenge
    complaint: Complaint


def run_evaluation(bureau, officers, suppliers, experts, *, start: datetime) -> Evaluation:
    """``suppliers`` (3 users) bid, ``experts`` (5 evaluators, the whole pool) sit; the first expert chairs.

    The first supplier's bid is abnormally low, justified and accepted, and ranks last; it files a challenge with
    evidence after the award, which stays open, and a complaint is recorded about it.
    """
    at = start - timedelta(days=40)
    tender, bids, opened_at = make_opened_tender(bureau, officers, suppliers, PRICES, now=at)
    at = opened_at + HOUR
    committee = committees.form_committee(tender, size=5, specialty="", representative_ids=[], actor=officers[0],
                                          now=at, seed="route-matrix")
    members = {m.user_id: m for m in committee.members}
    for expert in experts:
        committees.declare(members[expert.id], conflict=False, note="", actor=expert, now=at)
    chair = members[experts[0].id]
    committees.set_chair(committee, chair, actor=officers[0], now=at)
    for bid in bids:
        committees.record_checks(committee, bid, {r.id: (True, "") for r in tender.requirements}, actor=experts[0],
                                 now=at)
    committees.close_qualification(committee, actor=experts[0], now=at)
    inquiry = db.session.scalar(db.select(LowPriceInquiry).where(LowPriceInquiry.committee_id == committee.id))
    committees.justify_low_price(inquiry, "我方人员均为本地专职社工，办公场地由街道无偿提供，报价已覆盖全部服务成本。",
                                 actor=suppliers[0], now=at + HOUR)
    committees.decide_low_price(inquiry, accepted=True, note="说明合理，接受。", actor=experts[0], now=at + 2 * HOUR)
    at += 3 * HOUR
    criteria = tender.criteria
    for expert in experts:
        entries = {(bid.id, c.id): points for bid, row in zip(bids, POINTS, strict=True)
                   for c, points in zip(criteria, row, strict=True)}
        scoring.save_scores(committee, members[expert.id], entries, {}, actor=expert, now=at)
        scoring.submit_sheet(committee, members[expert.id], actor=expert, now=at)
    recheck = scoring.request_recheck(committee, members[experts[1].id], bids[0].id, criteria[0].id,
                                      "请复核该项评分依据。", actor=experts[0], now=at + HOUR)
    scoring.resolve_recheck(recheck, keep=True, note="已复核，维持原评分。", actor=experts[1], now=at + 2 * HOUR)
    at += 3 * HOUR
    scoring.close_scoring(committee, actor=experts[0], now=at)
    for expert in experts:
        scoring.confirm_report(committee, members[expert.id], actor=expert, now=at + HOUR)
    at += timedelta(days=1)
    won = award.confirm_award(tender, actor=officers[0], now=at)
    assert results.results(committee).rows[-1].supplier_id == suppliers[0].organisation_id != won.supplier_id
    evidence = FileStorage(io.BytesIO(b"%PDF-1.4 evidence"), filename="证据材料.pdf")
    grounds = "评标委员会对我方服务方案的评分明显偏低，与评分标准不符，请求复核。"
    challenge = award.file_challenge(tender, grounds=grounds, evidence=evidence, actor=suppliers[0],
                                     now=at + timedelta(days=2))
    complaint = award.record_complaint(tender, challenge_id=challenge.id, supplier_id=suppliers[0].organisation_id,
                                       filed_on=local_date(at + timedelta(days=3)), authority="郑州市财政局",
                                       summary="供应商就评分结果向财政部门投诉。", actor=officers[0],
                                       now=at + timedelta(days=3))
    db.session.commit()
    return Evaluation(tender, committee, bids, inquiry, recheck, challenge, complaint)
