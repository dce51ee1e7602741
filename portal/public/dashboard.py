"""The figures of the officers' dashboards and of the public summary (issue 9, item 4).

Seven figures: spending by plan, by buying bureau (the city bureau and each district) and by method (contracted and
paid); the share of the contracted funds reaching poor villages and remote areas; bidders per opened tender; the
single-source share; savings against the budget; notices and signing on time; the grades of performance reviews.

Who sees what: an officer the figures of its own bureau, the city bureau's officers those of the city and every
district, an administrator all (``contracts.services._bureau_ids``, as for the Excel exports). The public summary
counts published data only: contracts whose contract notice is out, tenders whose result notice is out, and graded
reviews of published contracts as counts per grade (never a name, a draft, an unpublished award or a sealed price).

A year (Beijing calendar year) narrows each figure by the day its subject happened: contracts by the day they were
signed, tenders by the day they were published, reviews by the day they were graded; the on-time figures by the day
their clock started (the award, the award letter, the signing), so that a late item belongs to the year it was due.

Every figure is an aggregate computed by the database (GROUP BY): the page runs the same statements however many
contracts, bids and reviews there are. The contracted amounts come from one grouping by bureau, plan, method and the
project's tilt facts, from which figures 1, 2, 4 and 5 are summed (a bounded number of groups, not rows). The on-time
figures group by the pair (day the clock started, day it was done) and count the working days with the portal's
calendar (``evaluation.rules.result_notice_due``, ``contracts.rules.signing_due`` and ``notice_due``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from portal.accounts.models import Organisation, OrgKind
from portal.calendar import CalendarYearMissing, load_calendar
from portal.contracts import rules as contract_rules
from portal.contracts.models import Contract, ContractStatus, Installment
from portal.contracts.services import _bureau_ids
from portal.evaluation import rules as evaluation_rules
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.projects.models import PLAN_LABELS, Plan, ServiceProject
from portal.reviews.models import GRADE_LABELS, Review, ReviewStatus
from portal.reviews.rules import Grade
from portal.tenders.models import METHOD_LABELS, Bid, BidKind, BidStatus, Method, Tender
from portal.tenders.rules import beijing_instant, local_date

ZERO = Decimal("0.00")
TENTH = Decimal("0.1")
FIRST_YEAR, LAST_YEAR = 2000, 2099  # the years a filter may name
SEALED_METHODS = (Method.OPEN, Method.INVITED, Method.NEGOTIATION)  # bids or first responses opened together
BUCKETS = ("1", "2", "3", "4", "5+")  # bidders per tender
PAID_KEYS = ("bureau_id", "plan", "method")  # the grouping of the amounts paid
GRADES = (Grade.EXCELLENT, Grade.GOOD, Grade.PASS, Grade.FAIL)


# --- Beijing days and years in SQL -----------------------------------------------------------------------------------
# SQLite keeps naive UTC text; Beijing has had no daylight saving since 1991, so eight hours are added. PostgreSQL
# converts the timestamptz with the zone.


class beijing_date(FunctionElement):  # noqa: N801 (an SQL function)
    """The Beijing calendar day of a UTC timestamp column."""

    type = sa.Date()
    name = "beijing_date"
    inherit_cache = True


class beijing_year(FunctionElement):  # noqa: N801 (an SQL function)
    """The Beijing calendar year of a UTC timestamp column."""

    type = sa.Integer()
    name = "beijing_year"
    inherit_cache = True


@compiles(beijing_date)
def _date_postgresql(element, compiler, **kw):
    return f"CAST(timezone('Asia/Shanghai', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(beijing_date, "sqlite")
def _date_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(beijing_year)
def _year_postgresql(element, compiler, **kw):
    return f"CAST(EXTRACT(YEAR FROM timezone('Asia/Shanghai', {compiler.process(element.clauses, **kw)})) AS INTEGER)"


@compiles(beijing_year, "sqlite")
def _year_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%Y', {compiler.process(element.clauses, **kw)}, '+8 hours') AS INTEGER)"


# --- Scope ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose figures: the bureaus (None: all), published data only or not, one Beijing year or all, and the clock."""

    bureau_ids: tuple[int, ...] | None
    published: bool
    year: int | None
    now: datetime

    @property
    def today(self) -> date:
        return local_date(self.now)


def officer_scope(user, *, now: datetime, year: int | None = None, bureau_id: int | None = None) -> Scope:
    """The figures an officer (or admin) sees; ``bureau_id`` narrows them to one of ``bureaus_in_scope(user)``."""
    ids = _bureau_ids(user)
    if bureau_id is not None:
        if ids is not None and bureau_id not in ids:
            raise ValueError("a bureau outside the officer's scope")
        ids = [bureau_id]
    return Scope(tuple(ids) if ids is not None else None, False, year, now)


def public_scope(*, now: datetime, year: int | None = None) -> Scope:
    """The figures of the public summary: every bureau, published data only."""
    return Scope(None, True, year, now)


def bureaus_in_scope(user) -> list[tuple[int, str]]:
    """(id, name) of the bureaus whose figures ``user`` may see, the city bureau first."""
    ids = _bureau_ids(user)
    query = sa.select(Organisation.id, Organisation.name).where(Organisation.kind == OrgKind.BUREAU)
    if ids is not None:
        query = query.where(Organisation.id.in_(ids))
    query = query.order_by(Organisation.parent_id.is_not(None), Organisation.id)
    return [(row.id, row.name) for row in db.session.execute(query)]


def _in_bureaus(column, scope: Scope):
    return sa.true() if scope.bureau_ids is None else column.in_(scope.bureau_ids)


def _in_year(column, scope: Scope, *, is_date: bool = False):
    """``column`` (a UTC timestamp, or a Beijing date) falls in the scope's Beijing year (any year if none)."""
    if scope.year is None:
        return sa.true()
    first, after = date(scope.year, 1, 1), date(scope.year + 1, 1, 1)
    if not is_date:
        first, after = beijing_instant(first, time()), beijing_instant(after, time())
    return sa.and_(column >= first, column < after)


_OutNotice = aliased(Notice)  # a notice checked apart from any notice the query joins


def _published(notice_id, scope: Scope):
    """In the public summary: the notice ``notice_id`` points at is out."""
    if not scope.published:
        return sa.true()
    return sa.exists().where(_OutNotice.id == notice_id, _OutNotice.published_at <= scope.now)


def _signed_contracts(scope: Scope) -> list:
    """Conditions on Contract: signed (in force or ended), in scope and year, published for the public."""
    return [Contract.signed_at.is_not(None), _in_bureaus(Contract.bureau_id, scope),
            _in_year(Contract.signed_at, scope), _published(Contract.notice_id, scope)]


def _result_published(scope: Scope):
    """In the public summary: the tender's result notice is out."""
    if not scope.published:
        return sa.true()
    return sa.exists().where(_OutNotice.tender_id == Tender.id, _OutNotice.kind == NoticeKind.RESULT,
                             _OutNotice.published_at <= scope.now)


def years_with_data(scope: Scope) -> list[int]:
    """The Beijing years in which a contract in scope was signed or a tender in scope was published, newest first."""
    contracts = sa.select(beijing_year(Contract.signed_at).label("year")).where(
        Contract.signed_at.is_not(None), _in_bureaus(Contract.bureau_id, scope), _published(Contract.notice_id, scope))
    tenders = sa.select(beijing_year(Tender.published_at).label("year")).where(
        Tender.published_at.is_not(None), _in_bureaus(Tender.bureau_id, scope))
    years = sa.union(contracts, tenders).subquery()
    return [y for y in db.session.scalars(sa.select(years.c.year).order_by(years.c.year.desc())) if y is not None]


# --- Figures --------------------------------------------------------------------------------------------------------


def percent(part, whole) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to one decimal place (None when the whole is zero)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, rounding=ROUND_HALF_UP)


def mean(total, count) -> Decimal | None:
    """``total`` / ``count`` to one decimal place (None when nothing was counted)."""
    if not count:
        return None
    return (Decimal(total) / Decimal(count)).quantize(TENTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Spending:
    """Contracts signed in one group (a plan, a bureau or a method): how many, their amounts, what was paid."""

    key: str
    label: object  # a (lazy) string
    contracts: int
    contracted: Decimal
    paid: Decimal


@dataclass(frozen=True)
class Share:
    """A part of the signed contracts (e.g. those for poor villages): how many, their amount, and the shares."""

    key: str
    label: object
    contracts: int
    amount: Decimal
    count_percent: Decimal | None
    amount_percent: Decimal | None


@dataclass(frozen=True)
class Bidders:
    """Opened tenders of one method: how many, the valid bids of distinct suppliers in all, the mean per tender."""

    method: str
    label: object
    tenders: int
    bids: int
    average: Decimal | None


@dataclass(frozen=True)
class Savings:
    """The awarded tenders' budgets against the amounts of their signed contracts."""

    budget: Decimal
    contracted: Decimal
    saved: Decimal
    rate: Decimal | None


@dataclass(frozen=True)
class Timeliness:
    """One deadline: items done on time, late (done late, or not done and overdue), not yet due, and those whose
    last day the calendar cannot give (a year nobody entered); ``total`` counts on time and late."""

    key: str
    label: object
    on_time: int = 0
    late: int = 0
    pending: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late

    @property
    def on_time_percent(self) -> Decimal | None:
        return percent(self.on_time, self.total)


@dataclass(frozen=True)
class GradeCount:
    grade: str
    label: object
    reviews: int
    share: Decimal | None


@dataclass(frozen=True)
class Figures:
    """Every figure of one scope."""

    scope: Scope
    by_plan: list[Spending]
    by_bureau: list[Spending]
    by_method: list[Spending]
    total: Spending
    reach: list[Share]
    single_source: list[Share]
    bidders: list[Bidders]
    bidder_distribution: dict[str, int]
    savings: Savings
    timeliness: list[Timeliness]
    grades: list[GradeCount]


@dataclass(frozen=True)
class _Group:
    """One group of the signed contracts' grouping."""

    bureau_id: int
    bureau: str
    plan: str
    method: str
    poor_village: bool
    remote_area: bool
    contracts: int
    contracted: Decimal
    budget: Decimal


def _contract_groups(scope: Scope) -> list[_Group]:
    """Signed contracts grouped by bureau, plan, method and the project's tilt facts (one statement)."""
    keys = (Contract.bureau_id, Organisation.name, ServiceProject.plan, Tender.method, ServiceProject.poor_village,
            ServiceProject.remote_area)
    query = (sa.select(*keys, sa.func.count(Contract.id), sa.func.sum(Contract.amount), sa.func.sum(Tender.budget))
             .join(Tender, Contract.tender_id == Tender.id).join(ServiceProject, Tender.project_id == ServiceProject.id)
             .join(Organisation, Contract.bureau_id == Organisation.id)
             .where(*_signed_contracts(scope)).group_by(*keys))
    return [_Group(*row[:6], row[6], row[7] or ZERO, row[8] or ZERO) for row in db.session.execute(query)]


def _paid(scope: Scope) -> dict[tuple[int, str, str], Decimal]:
    """What was paid on the signed contracts, by PAID_KEYS: (bureau, plan, method) (one statement)."""
    keys = (Contract.bureau_id, ServiceProject.plan, Tender.method)
    query = (sa.select(*keys, sa.func.sum(Installment.paid_amount))
             .select_from(Installment).join(Contract, Installment.contract_id == Contract.id)
             .join(Tender, Contract.tender_id == Tender.id).join(ServiceProject, Tender.project_id == ServiceProject.id)
             .where(Installment.paid_amount.is_not(None), *_signed_contracts(scope)).group_by(*keys))
    return {tuple(row[:3]): row[3] or ZERO for row in db.session.execute(query)}


def _spending(groups: list[_Group], paid: dict, dimension: str, labels: dict, order: Iterable) -> list[Spending]:
    """Sum the groups by ``dimension`` (one of PAID_KEYS): every key of ``order`` (zeros too), then any other."""
    counts, amounts, payments = defaultdict(int), defaultdict(lambda: ZERO), defaultdict(lambda: ZERO)
    for group in groups:
        counts[getattr(group, dimension)] += group.contracts
        amounts[getattr(group, dimension)] += group.contracted
    position = PAID_KEYS.index(dimension)
    for paid_key, amount in paid.items():
        payments[paid_key[position]] += amount
    order = list(order)
    keys = order + [k for k in amounts if k not in order]
    return [Spending(str(k), labels.get(k, k), counts[k], amounts[k], payments[k]) for k in keys]


def _share(key: str, label, groups: Iterable[_Group], total: Spending) -> Share:
    groups = list(groups)
    contracts = sum(g.contracts for g in groups)
    amount = sum((g.contracted for g in groups), ZERO)
    return Share(key, label, contracts, amount, percent(contracts, total.contracts), percent(amount, total.contracted))


def _reach(groups: list[_Group], total: Spending) -> list[Share]:
    return [
        _share("poor_village", _l("Poor villages (贫困村)"), (g for g in groups if g.poor_village), total),
        _share("remote_area", _l("Remote or less developed areas (边远/欠发达地区)"),
               (g for g in groups if g.remote_area), total),
        _share("either", _l("Either of the two"), (g for g in groups if g.poor_village or g.remote_area), total),
    ]


def _single_source(groups: list[_Group], total: Spending) -> list[Share]:
    return [
        _share(Method.SINGLE_SOURCE, METHOD_LABELS[Method.SINGLE_SOURCE],
               (g for g in groups if g.method == Method.SINGLE_SOURCE), total),
        _share("other", _l("Other methods"), (g for g in groups if g.method != Method.SINGLE_SOURCE), total),
    ]


def _savings(groups: list[_Group], total: Spending) -> Savings:
    budget = sum((g.budget for g in groups), ZERO)
    saved = budget - total.contracted
    return Savings(budget, total.contracted, saved, percent(saved, budget))


def _bidders(scope: Scope) -> tuple[list[Bidders], dict[str, int]]:
    """Distinct suppliers with a valid bid per opened tender (grouped per tender, then by method and count)."""
    per_tender = (sa.select(Tender.method.label("method"), sa.func.count(sa.distinct(Bid.supplier_id)).label("n"))
                  .join(Bid, Bid.tender_id == Tender.id)
                  .where(Tender.opened_at.is_not(None), Tender.method.in_(SEALED_METHODS),
                         Bid.status == BidStatus.SUBMITTED, Bid.kind == BidKind.BID,
                         _in_bureaus(Tender.bureau_id, scope), _in_year(Tender.published_at, scope),
                         _result_published(scope))
                  .group_by(Tender.id, Tender.method).subquery())
    rows = db.session.execute(sa.select(per_tender.c.method, per_tender.c.n, sa.func.count())
                              .group_by(per_tender.c.method, per_tender.c.n)).all()
    tenders, bids, distribution = defaultdict(int), defaultdict(int), dict.fromkeys(BUCKETS, 0)
    for method, n, count in rows:
        tenders[method] += count
        bids[method] += n * count
        distribution[BUCKETS[min(n, 5) - 1]] += count
    by_method = [Bidders(m, METHOD_LABELS[m], tenders[m], bids[m], mean(bids[m], tenders[m])) for m in SEALED_METHODS]
    return by_method, distribution


def _classify(item: Timeliness, rows, due: Callable[[date], date], today: date) -> Timeliness:
    """Count (started on, done on or None, how many) rows against the last day ``due(started on)``."""
    counts = {"on_time": 0, "late": 0, "pending": 0, "unknown": 0}
    for started, done, count in rows:
        try:
            last_day = due(started)
        except CalendarYearMissing:
            counts["unknown"] += count
            continue
        if done is None:
            counts["late" if today > last_day else "pending"] += count
        else:
            counts["on_time" if done <= last_day else "late"] += count
    return Timeliness(item.key, item.label, **counts)


def _result_notices(scope: Scope, calendar) -> Timeliness:
    """Result notices within RESULT_NOTICE_WORKING_DAYS of the award (awards in force, and annulled ones that had
    their notice), by the award's year."""
    started = beijing_date(Award.decided_at)
    done = beijing_date(Notice.published_at)
    query = (sa.select(started, done, sa.func.count())
             .select_from(Award).join(Tender, Award.tender_id == Tender.id)
             .outerjoin(Notice, sa.and_(Notice.id == Award.notice_id, Notice.published_at <= scope.now))
             .where(sa.or_(Award.status == AwardStatus.ACTIVE, Award.notice_id.is_not(None)),
                    _in_bureaus(Tender.bureau_id, scope), _in_year(Award.decided_at, scope),
                    Notice.id.is_not(None) if scope.published else sa.true())
             .group_by(started, done))
    item = Timeliness("result_notice", _l("Result notices (结果公告) within %(days)s working days of the award",
                                          days=evaluation_rules.RESULT_NOTICE_WORKING_DAYS))
    return _classify(item, db.session.execute(query).all(),
                     lambda day: evaluation_rules.result_notice_due(day, calendar), scope.today)


def _signing(scope: Scope) -> Timeliness:
    """Contracts signed within SIGNING_DAYS of the award letter (drafts still unsigned count once overdue), by the
    award letter's year."""
    done = beijing_date(Contract.signed_at)
    query = (sa.select(Contract.award_letter_on, done, sa.func.count())
             .where(Contract.status != ContractStatus.WITHDRAWN, _in_bureaus(Contract.bureau_id, scope),
                    _in_year(Contract.award_letter_on, scope, is_date=True), _published(Contract.notice_id, scope))
             .group_by(Contract.award_letter_on, done))
    item = Timeliness("signing", _l("Contracts signed within %(days)s days of the award letter",
                                    days=contract_rules.SIGNING_DAYS))
    return _classify(item, db.session.execute(query).all(), contract_rules.signing_due, scope.today)


def _contract_notices(scope: Scope, calendar) -> Timeliness:
    """Contract notices within CONTRACT_NOTICE_WORKING_DAYS of signing, by the signing year."""
    started, done = beijing_date(Contract.signed_at), beijing_date(Notice.published_at)
    query = (sa.select(started, done, sa.func.count())
             .select_from(Contract)
             .outerjoin(Notice, sa.and_(Notice.id == Contract.notice_id, Notice.published_at <= scope.now))
             .where(*_signed_contracts(scope)).group_by(started, done))
    item = Timeliness("contract_notice", _l("Contract notices (合同公告) within %(days)s working days of signing",
                                            days=contract_rules.CONTRACT_NOTICE_WORKING_DAYS))
    return _classify(item, db.session.execute(query).all(),
                     lambda day: contract_rules.notice_due(day, calendar), scope.today)


def _grades(scope: Scope) -> list[GradeCount]:
    """Graded reviews per grade, by the year they were graded (for the public: of published contracts)."""
    query = (sa.select(Review.grade, sa.func.count()).join(Contract, Review.contract_id == Contract.id)
             .where(Review.status == ReviewStatus.GRADED, _in_bureaus(Contract.bureau_id, scope),
                    _in_year(Review.graded_at, scope), _published(Contract.notice_id, scope))
             .group_by(Review.grade))
    counts = dict(db.session.execute(query).all())
    total = sum(counts.values())
    return [GradeCount(g, GRADE_LABELS[g], counts.get(g, 0), percent(counts.get(g, 0), total)) for g in GRADES]


def figures(scope: Scope) -> Figures:
    """Every figure of ``scope``, with a fixed number of statements."""
    groups, paid = _contract_groups(scope), _paid(scope)
    total = Spending("total", _l("All signed contracts"), sum(g.contracts for g in groups),
                     sum((g.contracted for g in groups), ZERO), sum(paid.values(), ZERO))
    bureaus = {g.bureau_id: g.bureau for g in groups}
    calendar = load_calendar()
    bidders, distribution = _bidders(scope)
    return Figures(
        scope=scope,
        by_plan=_spending(groups, paid, "plan", PLAN_LABELS, Plan),
        by_bureau=_spending(groups, paid, "bureau_id", bureaus, sorted(bureaus)),
        by_method=_spending(groups, paid, "method", METHOD_LABELS, Method),
        total=total, reach=_reach(groups, total), single_source=_single_source(groups, total),
        bidders=bidders, bidder_distribution=distribution, savings=_savings(groups, total),
        timeliness=[_result_notices(scope, calendar), _signing(scope), _contract_notices(scope, calendar)],
        grades=_grades(scope),
    )
