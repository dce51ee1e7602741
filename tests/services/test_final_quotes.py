"""Competitive negotiation after the first responses: rounds, sealed final quotes, fewer than 3 ends it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from portal.errors import DomainError
from portal.extensions import db
from portal.tenders import bidding, services
from portal.tenders.models import Method, TenderStatus
from tests.tender_factories import make_published_tender, submit


@pytest.fixture
def officers(create_user, city_bureau):
    return create_user("officer"), create_user("officer")


@pytest.fixture
def negotiation(city_bureau, create_user, officers, now):
    """A negotiation whose three first responses were opened by two officers."""
    suppliers = [create_user("supplier") for _ in range(4)]
    tender = make_published_tender(city_bureau, method=Method.NEGOTIATION, deadline=now + timedelta(days=5),
                                   invited=[s.organisation for s in suppliers[:3]])
    for user, price in zip(suppliers[:3], ["480000", "470000", "490000"], strict=True):
        submit(tender, user, price, now=now)
    opening = tender.bid_deadline + timedelta(minutes=1)
    bidding.start_opening(tender, actor=officers[0], now=opening)
    bidding.confirm_opening(tender, actor=officers[1], now=opening)
    db.session.commit()
    return tender, suppliers, opening


def _open(tender, officers, at):
    return bidding.open_final_quotes(tender, actor=officers[0], confirmer=officers[1], now=at)


def _round(tender, officer, at):
    round_ = services.issue_negotiation_round(tender, "服务频次调整为每周两次",
                                              final_quote_deadline=at + timedelta(days=2), actor=officer, now=at)
    db.session.commit()
    return round_


def test_lowest_final_quote_leads_after_the_deadline(negotiation, officers):
    tender, suppliers, opened_at = negotiation
    round_ = _round(tender, officers[0], opened_at)
    assert tender.status == TenderStatus.NEGOTIATING
    for user, price in zip(suppliers[:3], ["455000.00", "461000.00", "449999.99"], strict=True):
        bidding.submit_final_quote(tender, Decimal(price), actor=user, now=opened_at + timedelta(hours=1))
    db.session.commit()
    assert all(q.opened_price is None for q in bidding.final_quotes(tender))  # sealed until the deadline
    with pytest.raises(DomainError):
        _open(tender, officers, round_.final_quote_deadline - timedelta(seconds=1))
    assert _open(tender, officers, round_.final_quote_deadline) == "opened"
    db.session.commit()
    prices = sorted(q.opened_price for q in bidding.final_quotes(tender))
    assert prices[0] == Decimal("449999.99") and tender.status == TenderStatus.EVALUATING


def test_final_quote_refusals(negotiation, officers):
    tender, suppliers, opened_at = negotiation
    with pytest.raises(DomainError):  # no round has asked for final quotes yet
        bidding.submit_final_quote(tender, Decimal("450000"), actor=suppliers[0], now=opened_at)
    round_ = _round(tender, officers[0], opened_at)
    with pytest.raises(DomainError):  # not in the negotiation
        bidding.submit_final_quote(tender, Decimal("450000"), actor=suppliers[3], now=opened_at)
    with pytest.raises(DomainError):  # at the deadline
        bidding.submit_final_quote(tender, Decimal("450000"), actor=suppliers[0], now=round_.final_quote_deadline)
    with pytest.raises(DomainError):  # above the budget
        bidding.submit_final_quote(tender, Decimal("500000.01"), actor=suppliers[0], now=opened_at)


def test_fewer_than_three_final_quotes_end_the_negotiation(negotiation, officers):
    tender, suppliers, opened_at = negotiation
    round_ = _round(tender, officers[0], opened_at)
    for user in suppliers[:2]:
        bidding.submit_final_quote(tender, Decimal("450000"), actor=user, now=opened_at)
    assert _open(tender, officers, round_.final_quote_deadline) == "failed"
    assert tender.status == TenderStatus.FAILED


def test_a_new_final_quote_replaces_the_earlier_one(negotiation, officers):
    tender, suppliers, opened_at = negotiation
    _round(tender, officers[0], opened_at)
    bidding.submit_final_quote(tender, Decimal("460000"), actor=suppliers[0], now=opened_at)
    bidding.submit_final_quote(tender, Decimal("455000"), actor=suppliers[0], now=opened_at + timedelta(minutes=5))
    db.session.commit()
    assert len(bidding.final_quotes(tender)) == 1


def test_one_officer_cannot_open_final_quotes_alone(negotiation, officers):
    tender, suppliers, opened_at = negotiation
    round_ = _round(tender, officers[0], opened_at)
    for user in suppliers[:3]:
        bidding.submit_final_quote(tender, Decimal("450000"), actor=user, now=opened_at)
    with pytest.raises(DomainError):
        bidding.open_final_quotes(tender, actor=officers[0], confirmer=officers[0], now=round_.final_quote_deadline)
    assert all(q.opened_price is None for q in bidding.final_quotes(tender))
