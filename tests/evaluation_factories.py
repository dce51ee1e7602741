"""Test helpers for evaluation: an expert pool and tenders already opened (or negotiated, or agreed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portal.extensions import db
from portal.tenders import bidding, services
from portal.tenders.models import Method, Tender, TenderCriterion, TenderStatus
from tests.tender_factories import make_published_tender, submit

# Non-price criteria of a comprehensive tender; with the price weight of 10 they make 100 points.
CRITERIA = (("service_plan", "服务方案", 40), ("team", "项目团队与专业能力", 30), ("experience", "同类项目经验", 20))


def make_pool(create_user, count: int = 9, specialty: str = "elderly_care") -> list:
    """``count`` evaluators in the pool with ``specialty``."""
    experts = []
    for _ in range(count):
        user = create_user("evaluator")
        user.expert_profile.specialties = specialty
        user.expert_profile.in_pool = True
        experts.append(user)
    db.session.commit()
    return experts


def add_criteria(tender: Tender, criteria=CRITERIA) -> None:
    tender.criteria = [TenderCriterion(position=i, factor_type=kind, name=name, weight=weight)
                       for i, (kind, name, weight) in enumerate(criteria, 1)]
    db.session.commit()


def open_bids(tender: Tender, officers, at) -> None:
    bidding.start_opening(tender, actor=officers[0], now=at)
    bidding.confirm_opening(tender, actor=officers[1], now=at)
    db.session.commit()


def make_opened_tender(bureau, officers, suppliers, prices, *, now, method: str = Method.OPEN,
                       budget: Decimal = Decimal("500000.00"), criteria=CRITERIA, **tender_values):
    """A comprehensive (or negotiation) tender with ``criteria`` whose bids at ``prices`` were opened.

    Bids arrive at ``now``; the deadline is a day later and the opening a minute after it. Returns
    (tender, bids, opened_at).
    """
    invited = [s.organisation for s in suppliers] if method != Method.OPEN else ()
    tender = make_published_tender(bureau, method=method, deadline=now + timedelta(days=1), budget=budget,
                                   invited=invited, **tender_values)
    if method in (Method.OPEN, Method.INVITED):
        add_criteria(tender, criteria)
    bids = [submit(tender, user, price, now=now) for user, price in zip(suppliers, prices, strict=True)]
    opened_at = tender.bid_deadline + timedelta(minutes=1)
    open_bids(tender, officers, opened_at)
    return tender, bids, opened_at


def negotiate_to_final_quotes(tender: Tender, officers, suppliers, quotes, *, at):
    """One round asking for final quotes, the quotes at ``quotes``, opened after their deadline. Returns the time."""
    round_ = services.issue_negotiation_round(tender, "服务频次调整为每周两次",
                                              final_quote_deadline=at + timedelta(days=1), actor=officers[0], now=at)
    db.session.commit()
    for user, price in zip(suppliers, quotes, strict=True):
        bidding.submit_final_quote(tender, Decimal(price), actor=user, now=at + timedelta(hours=1))
    db.session.commit()
    bidding.open_final_quotes(tender, actor=officers[0], confirmer=officers[1], now=round_.final_quote_deadline)
    db.session.commit()
    assert tender.status == TenderStatus.EVALUATING
    return round_.final_quote_deadline


def make_single_source(bureau, supplier_org, *, now, price: Decimal = Decimal("180000.00")) -> Tender:
    """A single-source procedure approved after its notice, with the agreed price recorded (status NEGOTIATING)."""
    tender = make_published_tender(bureau, method=Method.SINGLE_SOURCE, deadline=now - timedelta(days=1),
                                   budget=Decimal("200000.00"), published_at=now - timedelta(days=20))
    tender.single_source_supplier_id = supplier_org.id
    tender.method_ground = "only_supplier"
    tender.status = TenderStatus.NEGOTIATING
    tender.approval_document, tender.approval_body = "郑财采〔2026〕12号", "郑州市财政局"
    tender.approval_date = (now - timedelta(days=3)).date()
    tender.agreed_price = price
    tender.negotiation_record = "谈判小组与供应商就服务内容、价格进行了谈判，确定成交价格。"
    db.session.commit()
    return tender
