"""Performance reviews built straight through the models, for the review tests of every layer.

The contract comes from ``tests/contract_builders.signed_contract`` (built directly, so the signing signal is not
sent and no plan is made): each builder adds ONE review to it, with a copy of the portal's default rubric
(``planning.default_template()``; in the default rubric every scored indicator's maximum equals its weight, so a
reviewer's total out of 100 is the plain sum of their points).

    built = planned_review(city_bureau, create_user, now=now)              # PLANNED, on a new contract
    built = started_review(city_bureau, create_user, now=now, reviewers=3)  # STARTED, 3 declared experts
    score_all(built.review, [Decimal("59.99"), 60, 61], now=now)            # sheets filled and submitted
    second = started_review(city_bureau, create_user, now=now, on=built)    # another review of the same contract

Everything is committed. Nothing is notified or audited: the services are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from portal.contracts import rules as contract_rules
from portal.extensions import db
from portal.reviews import planning, rules
from portal.reviews.models import (
    Review,
    Reviewer,
    ReviewerKind,
    ReviewerStatus,
    ReviewScore,
    ReviewStatus,
)
from portal.reviews.rubrics import install_rubric, to_rule_indicators
from portal.reviews.rules import ReviewKind
from tests.contract_builders import Built, signed_contract
from tests.evaluation_factories import make_pool

LOW_COMMENT = "该项服务记录不完整，需补充。"  # a comment for points below 60 percent of the maximum


@dataclass
class BuiltReview:
    """A review and who takes part: ``contract_built`` is tests/contract_builders.Built (contract, officers,
    supplier, installments); ``reviewers`` are the Reviewer rows the builder created (empty when planned)."""

    review: Review
    contract_built: Built
    reviewers: list[Reviewer] = field(default_factory=list)

    @property
    def contract(self):
        return self.contract_built.contract

    @property
    def officers(self) -> list:
        """The contracting bureau's two officers (officers[0] manages the review)."""
        return self.contract_built.officers

    @property
    def officer(self):
        return self.contract_built.officers[0]

    @property
    def supplier(self):
        """The NGO's user."""
        return self.contract_built.supplier

    @property
    def experts(self) -> list:
        """The users of ``reviewers``, in the same order."""
        return [r.user for r in self.reviewers]


def planned_review(bureau, create_user, *, now: datetime, on: BuiltReview | Built | None = None,
                   kind: str = ReviewKind.MIDTERM, title: str | None = None, due_on: date | None = None,
                   period_start: date | None = None, period_end: date | None = None,
                   opens_payment: bool | None = None, year_index: int | None = None, third_party: str = "",
                   **contract_values) -> BuiltReview:
    """A PLANNED review with the default rubric copied in.

    ``on`` adds it to an existing contract (a BuiltReview or a contract Built); otherwise a new signed contract is
    made with ``contract_values`` (see ``signed_contract``: start 2027-01-01, 12 months, quarterly, a REVIEW
    installment "中期评估" as the 2nd of 3 by default). Defaults: a mid-term review due at the middle of the term,
    period from the start to the middle, ``opens_payment`` true for mid-term, yearly and final reviews
    (``rules.PAYING_KINDS``), ``year_index`` None.
    """
    if on is None:
        built = signed_contract(bureau, create_user, now=now, **contract_values)
    else:
        built = on.contract_built if isinstance(on, BuiltReview) else on
    contract = built.contract
    middle = contract.start_date + (contract.end_date - contract.start_date) / 2
    title = title or planning.review_title(kind, index=1, start=period_start or contract.start_date,
                                           end=period_end or middle, year_index=year_index)
    review = Review(
        contract_id=contract.id, kind=kind, title=title,
        status=ReviewStatus.PLANNED, due_on=due_on or middle, period_start=period_start or contract.start_date,
        period_end=period_end or middle, year_index=year_index,
        opens_payment=kind in rules.PAYING_KINDS if opens_payment is None else opens_payment,
        third_party=third_party, created_by_id=built.officers[0].id)
    db.session.add(review)
    db.session.flush()
    install_rubric(review, planning.default_template())
    db.session.commit()
    db.session.refresh(review)
    return BuiltReview(review, built)


def add_reviewers(built: BuiltReview, count: int, *, now: datetime, create_user, kind: str = ReviewerKind.EXPERT,
                  declared: bool = True) -> list[Reviewer]:
    """``count`` new evaluators (expert profiles in the pool) assigned to the review by officers[0] at ``now``:
    ACTIVE with ``declared_at`` = ``now`` when ``declared``, else ASSIGNED. A third-party kind gets the assessing
    organisation "第三方评估中心". Appended to ``built.reviewers``; committed."""
    experts = make_pool(create_user, count)
    rows = []
    for user in experts:
        user.locale = "en"
        rows.append(Reviewer(
            review_id=built.review.id, user_id=user.id, kind=kind,
            organisation_name="第三方评估中心" if kind == ReviewerKind.THIRD_PARTY else "",
            status=ReviewerStatus.ACTIVE if declared else ReviewerStatus.ASSIGNED, assigned_by_id=built.officer.id,
            assigned_at=now, declared_at=now if declared else None))
    db.session.add_all(rows)
    db.session.commit()
    db.session.expire(built.review, ["reviewers"])
    built.reviewers.extend(rows)
    return rows


def started_review(bureau, create_user, *, now: datetime, reviewers: int = 2, started_at: datetime | None = None,
                   **values) -> BuiltReview:
    """A STARTED review (rubric frozen) with ``reviewers`` evaluators assigned and declared (ACTIVE), started by
    officers[0] at ``started_at`` (default ``now``). ``values`` go to ``planned_review`` (``on=``, ``kind=``, the
    contract's values...)."""
    built = planned_review(bureau, create_user, now=now, **values)
    add_reviewers(built, reviewers, now=now, create_user=create_user)
    review = built.review
    review.status, review.started_at, review.started_by_id = ReviewStatus.STARTED, started_at or now, built.officer.id
    db.session.commit()
    return built


def leaf_points(review: Review, total) -> dict[int, Decimal]:
    """Points per scored indicator giving the weighted total ``total`` (out of 100, two places), spread in
    proportion to each maximum: exact when the rubric has a scored indicator whose maximum equals its weight (the
    default rubric: all of them), which takes the rounding remainder."""
    total = Fraction(Decimal(str(total)))
    view = to_rule_indicators(review.indicators)
    leaves = rules.leaves(view)
    points = {i.key: (Decimal(i.max_score) * Decimal(total.numerator) / Decimal(total.denominator) / 100)
              .quantize(rules.CENT, rounding=ROUND_DOWN) for i in leaves}
    remainder = total - rules.sheet_total(view, points)
    if remainder:
        spare = next(i for i in leaves if i.weight == i.max_score and
                     points[i.key] + Decimal(remainder.numerator) / Decimal(remainder.denominator) <= i.max_score)
        points[spare.key] += Decimal(remainder.numerator) / Decimal(remainder.denominator)
    assert rules.sheet_total(view, points) == total, "the rubric cannot give this total exactly"
    return points


def score_all(review: Review, scores=75, *, now: datetime, submit: bool = True) -> list[Reviewer]:
    """Fill (and, when ``submit``, submit at ``now``) the sheet of every ACTIVE reviewer of the review.

    ``scores`` is one total out of 100 for every reviewer (a number: 75, "59.99", Decimal), or a list of totals in
    Reviewer.id order, or a dict keyed by user, user id or Reviewer whose values are totals or {indicator_id:
    points}. Totals are spread with ``leaf_points``. Points below 60 percent of a maximum get a comment. Replaces
    any points already saved. Returns the reviewers scored; committed.
    """
    active = sorted((r for r in review.reviewers if r.status == ReviewerStatus.ACTIVE), key=lambda r: r.id)
    if isinstance(scores, dict):
        wanted = {}
        for key, value in scores.items():
            user_id = key.user_id if isinstance(key, Reviewer) else getattr(key, "id", key)
            wanted[next(r.id for r in active if r.user_id == user_id)] = value
    elif isinstance(scores, list | tuple):
        assert len(scores) == len(active), "one total per active reviewer"
        wanted = {r.id: s for r, s in zip(active, scores, strict=True)}
    else:
        wanted = {r.id: scores for r in active}
    maxima = {i.id: Decimal(i.max_score) for i in review.indicators}
    done = []
    for reviewer in active:
        if reviewer.id not in wanted:
            continue
        value = wanted[reviewer.id]
        points = value if isinstance(value, dict) else leaf_points(review, value)
        reviewer.scores = [
            ReviewScore(indicator_id=key, points=Decimal(str(p)),
                        comment=LOW_COMMENT if Decimal(str(p)) < maxima[key] * Decimal("0.6") else "")
            for key, p in sorted(points.items())]
        reviewer.submitted_at = now if submit else None
        done.append(reviewer)
    db.session.commit()
    return done


def plan_dates(start: date, months: int) -> tuple[date, date]:
    """A contract term of ``months`` from ``start`` (its last day), as the contract builders make it."""
    return start, contract_rules.longest_end(start, months)


