"""Builders of the Excel-export tests (issue 9, item 3): two districts under the city, each with a signed contract
(its installments and a planned review), an opened tender with an opened bid in the first district, an unopened
tender holding a sealed canary bid, and funding plans (approved and draft) with lines of both districts."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from openpyxl import load_workbook

from portal.assessment.models import FundingLine, FundingPlan, PlanStatus
from portal.extensions import db
from portal.tenders.models import Bid, BidKind, BidStatus, TenderStatus
from tests.contract_builders import signed_contract
from tests.funding_builders import district, project
from tests.review_builders import planned_review
from tests.tender_factories import CANARY_PRICE, make_published_tender, submit

OPENED_PRICE = Decimal("388888.00")


@dataclass
class World:
    city: object
    east: object
    west: object
    officers: dict  # "city", "east", "west" -> an officer of that bureau
    contracts: dict  # "east", "west" -> Built
    opened_tender: object
    sealed_tender: object
    supplier: object


def opened_tender(bureau, supplier, *, now, title: str = "社区困难老年人关爱服务采购", price=OPENED_PRICE):
    """A tender opened an hour ago, with one bid whose price was read at the opening."""
    tender = make_published_tender(bureau, deadline=now - timedelta(hours=2), title=title)
    tender.status, tender.opened_at = TenderStatus.OPENED, now - timedelta(hours=1)
    db.session.add(Bid(tender_id=tender.id, supplier_id=supplier.organisation_id, submitted_by_id=supplier.id,
                       kind=BidKind.BID, status=BidStatus.SUBMITTED, sealed_price=b"sealed",
                       price_sha256=hashlib.sha256(b"p").hexdigest(), receipt_sha256=hashlib.sha256(b"r").hexdigest(),
                       received_at=now - timedelta(hours=3), opened_price=price))
    db.session.commit()
    return tender


def funding_plan(city, lines, *, status=PlanStatus.APPROVED, year: int = 2027,
                 title: str = "2027年度社会工作服务项目资金安排"):
    """A plan of the city with ``lines`` [(project, amount)], amounts frozen unless a draft."""
    plan = FundingPlan(fiscal_year=year, bureau_id=city.id, title=title, pool=Decimal("1000000"), status=status)
    frozen = status != PlanStatus.DRAFT
    plan.lines = [FundingLine(project_id=p.id, requested=p.budget, base_priority=p.base_priority,
                              amount=Decimal(amount) if frozen else None,
                              untilted_amount=Decimal(amount) if frozen else None)
                  for p, amount in lines]
    db.session.add(plan)
    db.session.commit()
    return plan


def world(city, create_org, create_user, *, now) -> World:
    east = district(create_org, city, "东区民政局")
    west = district(create_org, city, "西区民政局")
    officers = {"city": create_user("officer", organisation_id=city.id),
                "east": create_user("officer", organisation_id=east.id),
                "west": create_user("officer", organisation_id=west.id)}
    contracts = {"east": signed_contract(east, create_user, now=now),
                 "west": signed_contract(west, create_user, now=now)}
    for built in contracts.values():
        planned_review(east, create_user, now=now, on=built)
    supplier = create_user("supplier")
    opened = opened_tender(east, supplier, now=now)
    sealed = make_published_tender(east, deadline=now + timedelta(days=10), title="尚未开标的采购")
    submit(sealed, supplier, CANARY_PRICE, now=now)
    east_project = project(east, "东区留守儿童关爱", budget="200000", base_priority=60)
    west_project = project(west, "西区留守儿童关爱", budget="300000", base_priority=50)
    funding_plan(city, [(east_project, "180000"), (west_project, "250000")])
    draft_project = project(east, "东区草稿计划项目", budget="90000", base_priority=40)
    funding_plan(city, [(draft_project, "0")], status=PlanStatus.DRAFT, year=2028, title="2028年度资金安排（草稿）")
    return World(city, east, west, officers, contracts, opened, sealed, supplier)


def rows_of(data: bytes) -> list[tuple]:
    """The first sheet's rows (values), the header row first."""
    book = load_workbook(io.BytesIO(data))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def column(data: bytes, header: str) -> list:
    rows = rows_of(data)
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]
