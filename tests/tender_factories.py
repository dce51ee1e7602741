"""Test helpers for tenders and bids, built straight through the models (no tender services needed)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from portal.extensions import db
from portal.projects.models import Plan, ProjectStatus, ServiceProject
from portal.tenders import bidding
from portal.tenders.models import (
    EvaluationMethod,
    InvitationSource,
    Method,
    Tender,
    TenderInvitation,
    TenderRequirement,
    TenderStatus,
)
from portal.tenders.rules import local_date
from tests.files_support import DOCX_BYTES

CANARY_PRICE = Decimal("98765.43")
CANARY_TEXT = "CANARY-技术方案-ZETA-7731"


def make_project(bureau, *, budget: Decimal = Decimal("500000.00"), title: str = "社区困难老年人关爱服务项目"
                 ) -> ServiceProject:
    project = ServiceProject(bureau_id=bureau.id, title=title, plan=Plan.ELDERLY, status=ProjectStatus.READY,
                             fiscal_year=2026, budget=budget, duration_months=12, description="需求调查已完成。")
    db.session.add(project)
    db.session.flush()
    return project


def make_published_tender(bureau, *, project: ServiceProject | None = None, method: str = Method.OPEN,
                          deadline: datetime, budget: Decimal = Decimal("500000.00"),
                          ceiling: Decimal | None = None, invited=(), title: str = "社区困难老年人关爱服务采购",
                          requirements=("具有独立承担民事责任的能力", "具有良好的商业信誉和健全的财务会计制度"),
                          published_at: datetime | None = None) -> Tender:
    """A PUBLISHED tender whose bid deadline is ``deadline`` (UTC); ``invited`` organisations get invitations."""
    project = project or make_project(bureau, budget=budget)
    published_at = published_at or deadline - timedelta(days=30)
    comprehensive = method in (Method.OPEN, Method.INVITED)
    tender = Tender(
        project_id=project.id, bureau_id=bureau.id, reference=f"T-{secrets.token_hex(5).upper()}", title=title,
        method=method, status=TenderStatus.PUBLISHED, budget=budget, ceiling_price=ceiling,
        service_content="为辖区困难老年人提供探访、照料与心理支持服务。",
        evaluation_method=EvaluationMethod.COMPREHENSIVE if comprehensive else EvaluationMethod.LOWEST_PRICE,
        price_weight=10 if comprehensive else 100, published_at=published_at,
        notice_until=local_date(published_at) + timedelta(days=7), documents_from=local_date(published_at),
        documents_until=local_date(published_at) + timedelta(days=7), bid_deadline=deadline,
    )
    tender.requirements = [TenderRequirement(position=i, text=text) for i, text in enumerate(requirements, 1)]
    source = InvitationSource.DRAW if method == Method.INVITED else InvitationSource.DIRECT
    tender.invitations = [TenderInvitation(supplier_id=org.id, source=source, invited_at=published_at)
                          for org in invited]
    db.session.add(tender)
    db.session.commit()
    return tender


def pdf_with(text: str) -> bytes:
    """A (minimal) PDF file whose bytes carry ``text``."""
    return b"%PDF-1.4\n% " + text.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def submission(price: Decimal | str = "400000.00", *, text: str = "技术方案", declarations: bool = True
               ) -> bidding.BidSubmission:
    """A complete bid: a PDF proposal carrying ``text``, a DOCX of qualification documents, both declarations."""
    return bidding.BidSubmission(
        price=Decimal(price), technical=bidding.Upload(pdf_with(text), "技术方案.pdf"),
        qualification=bidding.Upload(DOCX_BYTES, "资格证明.docx"),
        declarations={code: declarations for code in bidding.DECLARATIONS})


def submit(tender: Tender, user, price: Decimal | str = "400000.00", *, now: datetime, text: str = "技术方案"):
    """Submit a bid through the service and commit."""
    bid = bidding.submit_bid(tender, submission(price, text=text), actor=user, now=now)
    db.session.commit()
    return bid


def in_future(**delta) -> datetime:
    """A deadline relative to the real clock (for view tests, whose requests read the real clock)."""
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)
