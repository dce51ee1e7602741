"""An NGO's performance record (绩效档案): every graded review of its contracts with every bureau, its rectifications
and its terminated contracts, with the count per grade and the mean score.

Officers of any bureau read it (a bureau choosing a supplier learns how it served others), and so do the
administrators and the NGO's own users; nobody else. The record is loaded in a fixed number of queries, however
many contracts and reviews the NGO has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Organisation, OrgKind
from portal.contracts.models import Contract, ContractStatus
from portal.db import LIKE_ESCAPE, like_pattern
from portal.extensions import db
from portal.permissions import Role
from portal.reviews.models import Rectification, Review, ReviewStatus
from portal.reviews.rules import CENT, Grade
from portal.tenders.rules import local_date


def can_read_record(organisation: Organisation, user) -> bool:
    """Any bureau's officers and the administrators, and the NGO's own users."""
    if not getattr(user, "is_authenticated", False) or organisation.kind != OrgKind.SUPPLIER:
        return False
    if user.role in (Role.OFFICER, Role.ADMIN):
        return True
    return user.role == Role.SUPPLIER and user.organisation_id == organisation.id


@dataclass(frozen=True)
class GradedReview:
    review: Review
    contract: Contract
    bureau: Organisation
    graded_on: date

    @property
    def appeal(self):
        """The latest appeal against the review, if any (its outcome is part of the record)."""
        return self.review.appeals[-1] if self.review.appeals else None


@dataclass
class PerformanceHistory:
    organisation: Organisation
    reviews: list[GradedReview] = field(default_factory=list)  # latest grade first
    rectifications: list[Rectification] = field(default_factory=list)  # latest first
    terminated: list[Contract] = field(default_factory=list)  # latest end first
    grade_counts: dict[Grade, int] = field(default_factory=dict)  # every grade, best first, zeros included
    mean_score: Decimal | None = None  # the mean of the graded scores, two places

    @property
    def bureaus(self) -> list[Organisation]:
        """The bureaus whose reviews are in the record, by name."""
        return sorted({row.bureau.id: row.bureau for row in self.reviews}.values(), key=lambda b: b.name)


def mean(scores: list[Decimal]) -> Decimal | None:
    if not scores:
        return None
    return (sum(scores, Decimal("0")) / len(scores)).quantize(CENT, rounding=ROUND_HALF_UP)


def performance_history(organisation: Organisation) -> PerformanceHistory:
    """The NGO's record across all bureaus, in four queries whatever its size."""
    reviews = list(db.session.scalars(
        sa.select(Review).join(Contract, Review.contract_id == Contract.id)
        .where(Contract.supplier_id == organisation.id, Review.status == ReviewStatus.GRADED)
        .options(joinedload(Review.contract).joinedload(Contract.bureau), selectinload(Review.appeals))
        .order_by(Review.graded_at.desc(), Review.id.desc())).unique())
    rectifications = list(db.session.scalars(
        sa.select(Rectification).join(Contract, Rectification.contract_id == Contract.id)
        .where(Contract.supplier_id == organisation.id)
        .options(joinedload(Rectification.review), joinedload(Rectification.re_review),
                 joinedload(Rectification.contract).joinedload(Contract.bureau))
        .order_by(Rectification.created_at.desc(), Rectification.id.desc())).unique())
    terminated = list(db.session.scalars(
        sa.select(Contract).where(Contract.supplier_id == organisation.id,
                                  Contract.status == ContractStatus.TERMINATED)
        .options(joinedload(Contract.bureau)).order_by(Contract.ended_at.desc(), Contract.id.desc())))
    rows = [GradedReview(r, r.contract, r.contract.bureau, local_date(r.graded_at)) for r in reviews]
    counts = {grade: 0 for grade in Grade}
    for review in reviews:
        counts[Grade(review.grade)] += 1
    return PerformanceHistory(organisation=organisation, reviews=rows, rectifications=rectifications,
                              terminated=terminated, grade_counts=counts,
                              mean_score=mean([r.score for r in reviews]))


@dataclass(frozen=True)
class RecordSummary:
    organisation: Organisation
    graded: int
    failed: int
    mean_score: Decimal | None


def organisations_query(q: str = ""):
    """The NGOs by name, ``q`` matching part of it (for ``db.paginate``)."""
    query = sa.select(Organisation).where(Organisation.kind == OrgKind.SUPPLIER).order_by(Organisation.name,
                                                                                          Organisation.id)
    if q:
        query = query.where(Organisation.name.ilike(like_pattern(q), escape=LIKE_ESCAPE))
    return query


def record_summaries(organisations: list[Organisation]) -> list[RecordSummary]:
    """Each NGO's graded reviews, failures and mean score, in one query for the whole list."""
    ids = [o.id for o in organisations]
    totals = {}
    if ids:
        rows = db.session.execute(
            sa.select(Contract.supplier_id, sa.func.count(Review.id),
                      sa.func.count(sa.case((Review.grade == Grade.FAIL, Review.id))), sa.func.sum(Review.score))
            .join(Review, Review.contract_id == Contract.id)
            .where(Contract.supplier_id.in_(ids), Review.status == ReviewStatus.GRADED)
            .group_by(Contract.supplier_id))
        totals = {supplier_id: (graded, failed, total) for supplier_id, graded, failed, total in rows}
    summaries = []
    for organisation in organisations:
        graded, failed, total = totals.get(organisation.id, (0, 0, None))
        score = (Decimal(str(total)) / graded).quantize(CENT, rounding=ROUND_HALF_UP) if graded else None
        summaries.append(RecordSummary(organisation, graded, failed, score))
    return summaries
