"""The dashboard figures (issue 9, item 4) equal sums and counts taken straight from the database.

``direct`` below recomputes every figure with its own queries (one per figure and dimension, no shared helper with
portal/public/dashboard.py) and classifies the on-time figures row by row; the tests compare it with the service on
the seeded demo data and on the small histories of tests/dashboard_builders.py, whose numbers are also written out.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.calendar import CalendarYearMissing, load_calendar
from portal.contracts import rules as contract_rules
from portal.contracts.models import Contract, ContractStatus, Installment
from portal.db import transaction, utcnow
from portal.evaluation import rules as evaluation_rules
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.projects.models import ServiceProject
from portal.public import dashboard
from portal.reviews.models import Review, ReviewStatus
from portal.seed import seed
from portal.tenders.models import Bid, BidKind, BidStatus, Method, Tender
from portal.tenders.rules import local_date
from tests.dashboard_builders import award, contract, tender, world
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

ZERO = Decimal("0.00")


def _year_start(year: int) -> datetime:
    return datetime(year - 1, 12, 31, 16, tzinfo=UTC)  # 00:00 on 1 January in Beijing


# --- The same figures, straight from the database ------------------------------------------------------------------


def _signed(ids, published, year) -> list:
    conditions = [Contract.signed_at.is_not(None)]
    if ids is not None:
        conditions.append(Contract.bureau_id.in_(ids))
    if published:
        conditions.append(Contract.notice_id.is_not(None))
    if year:
        conditions += [Contract.signed_at >= _year_start(year), Contract.signed_at < _year_start(year + 1)]
    return conditions


def _contracted_by(column, where) -> dict:
    rows = db.session.execute(
        sa.select(column, sa.func.count(Contract.id), sa.func.sum(Contract.amount))
        .join(Tender, Tender.id == Contract.tender_id).join(ServiceProject, ServiceProject.id == Tender.project_id)
        .where(*where).group_by(column))
    return {str(key): (count, amount) for key, count, amount in rows}


def _paid_by(column, where) -> dict:
    rows = db.session.execute(
        sa.select(column, sa.func.sum(Installment.paid_amount)).join(Contract, Contract.id == Installment.contract_id)
        .join(Tender, Tender.id == Contract.tender_id).join(ServiceProject, ServiceProject.id == Tender.project_id)
        .where(*where).group_by(column))
    return {str(key): amount for key, amount in rows if amount is not None}


def _sum_where(where, *extra) -> tuple[int, Decimal]:
    count, amount = db.session.execute(
        sa.select(sa.func.count(Contract.id), sa.func.sum(Contract.amount))
        .join(Tender, Tender.id == Contract.tender_id).join(ServiceProject, ServiceProject.id == Tender.project_id)
        .where(*where, *extra)).one()
    return count, amount or ZERO


def _bidders(ids, published, year) -> dict:
    query = (sa.select(Tender.id, Tender.method, Bid.supplier_id).join(Bid, Bid.tender_id == Tender.id)
             .where(Tender.opened_at.is_not(None), Bid.status == BidStatus.SUBMITTED, Bid.kind == BidKind.BID))
    if ids is not None:
        query = query.where(Tender.bureau_id.in_(ids))
    if year:
        query = query.where(Tender.published_at >= _year_start(year), Tender.published_at < _year_start(year + 1))
    if published:
        query = query.where(Tender.id.in_(sa.select(Notice.tender_id).where(Notice.kind == NoticeKind.RESULT)))
    suppliers, methods = {}, {}
    for tender_id, method, supplier_id in db.session.execute(query):
        suppliers.setdefault(tender_id, set()).add(supplier_id)
        methods[tender_id] = method
    per_method = {m: [len(suppliers[t]) for t in suppliers if methods[t] == m] for m in set(methods.values())}
    buckets = Counter(str(n) if n < 5 else "5+" for n in (len(s) for s in suppliers.values()))
    return {"per_method": per_method, "buckets": buckets}


def _classify(pairs, due, today) -> tuple[int, int, int, int]:
    on_time = late = pending = unknown = 0
    for started, done in pairs:
        try:
            last = due(started)
        except CalendarYearMissing:
            unknown += 1
            continue
        if done is None:
            late, pending = (late + 1, pending) if today > last else (late, pending + 1)
        elif done <= last:
            on_time += 1
        else:
            late += 1
    return on_time, late, pending, unknown


def _in_year(day, year) -> bool:
    return year is None or day.year == year


def _timeliness(ids, published, year, now) -> dict:
    calendar, today = load_calendar(), local_date(now)
    notices = {n.id: n.published_at for n in db.session.scalars(sa.select(Notice))}
    awards = [(local_date(a.decided_at), local_date(notices[a.notice_id]) if a.notice_id else None)
              for a, bureau_id in db.session.execute(sa.select(Award, Tender.bureau_id).join(Tender))
              if (a.status == AwardStatus.ACTIVE or a.notice_id) and (ids is None or bureau_id in ids)
              and (a.notice_id or not published) and _in_year(local_date(a.decided_at), year)]
    contracts = [c for c in db.session.scalars(sa.select(Contract))
                 if (ids is None or c.bureau_id in ids) and (c.notice_id or not published)]
    signing = [(c.award_letter_on, local_date(c.signed_at) if c.signed_at else None) for c in contracts
               if c.status != ContractStatus.WITHDRAWN and _in_year(c.award_letter_on, year)]
    noticed = [(local_date(c.signed_at), local_date(notices[c.notice_id]) if c.notice_id else None)
               for c in contracts if c.signed_at and _in_year(local_date(c.signed_at), year)]
    return {"result_notice": _classify(awards, lambda d: evaluation_rules.result_notice_due(d, calendar), today),
            "signing": _classify(signing, contract_rules.signing_due, today),
            "contract_notice": _classify(noticed, lambda d: contract_rules.notice_due(d, calendar), today)}


def _grades(ids, published, year) -> dict:
    query = (sa.select(Review.grade, sa.func.count(Review.id)).join(Contract, Contract.id == Review.contract_id)
             .where(Review.status == ReviewStatus.GRADED).group_by(Review.grade))
    if ids is not None:
        query = query.where(Contract.bureau_id.in_(ids))
    if published:
        query = query.where(Contract.notice_id.is_not(None))
    if year:
        query = query.where(Review.graded_at >= _year_start(year), Review.graded_at < _year_start(year + 1))
    return dict(db.session.execute(query).all())


def assert_direct(figures: dashboard.Figures, ids, *, published: bool = False, year: int | None = None) -> None:
    """Every figure of ``figures`` equals the direct computation for bureaus ``ids`` (None: all)."""
    where = _signed(ids, published, year)
    for rows, column in ((figures.by_plan, ServiceProject.plan), (figures.by_bureau, Contract.bureau_id),
                         (figures.by_method, Tender.method)):
        contracted, paid = _contracted_by(column, where), _paid_by(column, where)
        shown = {r.key: (r.contracts, r.contracted, r.paid) for r in rows if r.contracts or r.paid}
        assert shown == {k: (n, amount, paid.get(k, ZERO)) for k, (n, amount) in contracted.items()}
    total = _sum_where(where)
    assert (figures.total.contracts, figures.total.contracted) == total
    assert figures.total.paid == sum(_paid_by(Contract.bureau_id, where).values(), ZERO)

    reach = {s.key: (s.contracts, s.amount) for s in figures.reach}
    assert reach == {"poor_village": _sum_where(where, ServiceProject.poor_village.is_(True)),
                     "remote_area": _sum_where(where, ServiceProject.remote_area.is_(True)),
                     "either": _sum_where(where, sa.or_(ServiceProject.poor_village.is_(True),
                                                        ServiceProject.remote_area.is_(True)))}
    single = _sum_where(where, Tender.method == Method.SINGLE_SOURCE)
    assert (figures.single_source[0].contracts, figures.single_source[0].amount) == single
    assert figures.single_source[0].amount_percent == (
        dashboard.percent(single[1], total[1]) if total[0] else None)

    budget = db.session.scalar(sa.select(sa.func.sum(Tender.budget)).join(Contract, Contract.tender_id == Tender.id)
                               .where(*where)) or ZERO
    assert (figures.savings.budget, figures.savings.saved) == (budget, budget - total[1])

    bidders = _bidders(ids, published, year)
    for row in figures.bidders:
        counts = bidders["per_method"].get(row.method, [])
        assert (row.tenders, row.bids) == (len(counts), sum(counts))
    assert figures.bidder_distribution == {b: bidders["buckets"].get(b, 0) for b in dashboard.BUCKETS}

    expected = _timeliness(ids, published, year, figures.scope.now)
    assert {t.key: (t.on_time, t.late, t.pending, t.unknown) for t in figures.timeliness} == expected

    grades = _grades(ids, published, year)
    assert {g.grade: g.reviews for g in figures.grades} == {g: grades.get(g, 0) for g in dashboard.GRADES}


# --- The demo data ----------------------------------------------------------------------------------------------------


def test_every_figure_of_the_demo_data_equals_the_direct_sums():
    with transaction():
        seed()
    now = utcnow()
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(["officer", "district_officer", "admin"])))}
    city = users["officer"].organisation
    city_ids = [city.id] + [child.id for child in city.children]
    figures = dashboard.figures(dashboard.officer_scope(users["officer"], now=now))
    assert figures.total.contracts > 0 and any(r.tenders for r in figures.bidders)  # the demo data has figures
    assert_direct(figures, city_ids)
    assert_direct(dashboard.figures(dashboard.officer_scope(users["admin"], now=now)), None)
    district = users["district_officer"].organisation_id
    assert_direct(dashboard.figures(dashboard.officer_scope(users["district_officer"], now=now)), [district])
    assert_direct(dashboard.figures(dashboard.public_scope(now=now)), None, published=True)
    year = local_date(now).year
    assert_direct(dashboard.figures(dashboard.officer_scope(users["officer"], now=now, year=year)), city_ids,
                  year=year)


# --- Small histories with known numbers ------------------------------------------------------------------------------


@pytest.fixture
def w(city_bureau, create_org, create_user):
    return world(city_bureau, create_org, create_user)


def _spending(rows) -> dict:
    return {r.key: (r.contracts, r.contracted, r.paid) for r in rows if r.contracts}


def test_the_city_sees_every_bureau_with_the_known_numbers(w, now):
    figures = dashboard.figures(dashboard.officer_scope(w.officers["city"], now=now))
    assert_direct(figures, [w.city.id, w.east.id, w.west.id])
    assert (figures.total.contracts, figures.total.contracted, figures.total.paid) == (
        3, Decimal("930000.00"), Decimal("300000.00"))
    assert _spending(figures.by_plan) == {"elderly": (1, Decimal("450000.00"), Decimal("200000.00")),
                                          "left_behind_children": (1, Decimal("290000.00"), Decimal("100000.00")),
                                          "social_assistance": (1, Decimal("190000.00"), ZERO)}
    assert {r.label: r.contracted for r in figures.by_bureau} == {
        "郑州市民政局": Decimal("190000.00"), "东区民政局": Decimal("450000.00"), "西区民政局": Decimal("290000.00")}
    assert _spending(figures.by_method) == {"open": (1, Decimal("450000.00"), Decimal("200000.00")),
                                            "invited": (1, Decimal("290000.00"), Decimal("100000.00")),
                                            "single_source": (1, Decimal("190000.00"), ZERO)}
    assert [(s.key, s.amount, s.amount_percent) for s in figures.reach] == [
        ("poor_village", Decimal("640000.00"), Decimal("68.8")), ("remote_area", Decimal("480000.00"), Decimal("51.6")),
        ("either", Decimal("930000.00"), Decimal("100.0"))]
    single = figures.single_source[0]
    assert (single.contracts, single.count_percent, single.amount_percent) == (1, Decimal("33.3"), Decimal("20.4"))
    assert figures.savings == dashboard.Savings(Decimal("1000000.00"), Decimal("930000.00"), Decimal("70000.00"),
                                                Decimal("7.0"))
    assert [(b.method, b.tenders, b.bids, b.average) for b in figures.bidders] == [
        ("open", 2, 4, Decimal("2.0")), ("invited", 1, 5, Decimal("5.0")), ("negotiation", 1, 2, Decimal("2.0"))]
    assert figures.bidder_distribution == {"1": 1, "2": 1, "3": 1, "4": 0, "5+": 1}
    assert {t.key: (t.on_time, t.late, t.pending) for t in figures.timeliness} == {
        "result_notice": (2, 2, 0), "signing": (1, 2, 1), "contract_notice": (2, 1, 0)}
    assert {g.grade: g.reviews for g in figures.grades} == {"excellent": 1, "good": 1, "pass": 0, "fail": 1}


def test_a_district_officer_sees_its_own_bureau_only(w, now):
    figures = dashboard.figures(dashboard.officer_scope(w.officers["east"], now=now))
    assert_direct(figures, [w.east.id])
    assert [r.label for r in figures.by_bureau] == ["东区民政局"]
    assert (figures.total.contracts, figures.total.contracted) == (1, Decimal("450000.00"))
    assert figures.bidder_distribution == {"1": 1, "2": 1, "3": 1, "4": 0, "5+": 0}
    assert {t.key: (t.on_time, t.late, t.pending) for t in figures.timeliness} == {
        "result_notice": (1, 1, 0), "signing": (1, 0, 1), "contract_notice": (1, 0, 0)}
    with pytest.raises(ValueError):
        dashboard.officer_scope(w.officers["east"], now=now, bureau_id=w.west.id)
    west = dashboard.figures(dashboard.officer_scope(w.officers["city"], now=now, bureau_id=w.west.id))
    assert_direct(west, [w.west.id])
    assert west.total.contracted == Decimal("290000.00")


def test_a_year_is_the_beijing_calendar_year(w, now):
    officer = w.officers["city"]
    this_year = dashboard.figures(dashboard.officer_scope(officer, now=now, year=2026))
    assert_direct(this_year, None, year=2026)
    assert this_year.total.contracts == 3  # C was signed on 31 December UTC: 1 January in Beijing
    last_year = dashboard.figures(dashboard.officer_scope(officer, now=now, year=2025))
    assert_direct(last_year, None, year=2025)
    assert last_year.total.contracts == 0 and last_year.savings.rate is None
    assert {t.key: (t.on_time, t.late) for t in last_year.timeliness} == {
        "result_notice": (1, 0), "signing": (0, 1), "contract_notice": (0, 0)}
    assert dashboard.years_with_data(dashboard.officer_scope(officer, now=now)) == [2026, 2025]
    assert dashboard.years_with_data(dashboard.officer_scope(w.officers["west"], now=now)) == [2026]


def test_the_public_figures_leave_out_what_is_not_published(w, now, create_user):
    # A contract signed without its notice yet, and an award whose result notice is not out.
    extra = tender(w.east, method=Method.OPEN, budget="700000", published="2026-09-01", opened="2026-10-01")
    won = award(extra, w.suppliers[4], amount="650000", decided="2026-11-27")
    contract(won, w.officers["east"], amount="650000", letter="2026-11-27", signed_at=bj("2026-11-28"),
             paid="300000")
    public = dashboard.figures(dashboard.public_scope(now=now))
    assert_direct(public, None, published=True)
    assert (public.total.contracts, public.total.contracted, public.total.paid) == (
        2, Decimal("640000.00"), Decimal("200000.00"))  # A and C: B and the extra contract have no notice
    assert [(b.method, b.tenders) for b in public.bidders] == [("open", 1), ("invited", 1), ("negotiation", 0)]
    assert {g.grade: g.reviews for g in public.grades} == {"excellent": 1, "good": 1, "pass": 0, "fail": 0}
    assert {t.key: t.total for t in public.timeliness} == {"result_notice": 3, "signing": 2, "contract_notice": 2}
    officer = dashboard.figures(dashboard.officer_scope(w.officers["city"], now=now))
    assert officer.total.contracted == Decimal("1580000.00")


def test_an_empty_scope_has_no_data_and_divides_by_nothing(city_bureau, create_user, now):
    figures = dashboard.figures(dashboard.officer_scope(create_user("officer"), now=now))
    assert figures.total == dashboard.Spending("total", figures.total.label, 0, ZERO, ZERO)
    assert all(s.count_percent is None and s.amount_percent is None for s in figures.reach + figures.single_source)
    assert figures.savings.rate is None and all(b.average is None for b in figures.bidders)
    assert all(t.total == 0 and t.on_time_percent is None for t in figures.timeliness)
    assert all(g.share is None for g in figures.grades)


def test_a_deadline_in_a_year_without_calendar_is_not_counted(w):
    # Seen from March 2027: C's contract notice is known; a contract signed on 30 December 2026 has its notice
    # due in 2027, a year nobody entered (chinese-calendar knows 2026 at most).
    late = tender(w.east, method=Method.OPEN, budget="50000", published="2026-10-01")
    won = award(late, w.suppliers[3], amount="50000", decided="2026-12-01", noticed="2026-12-01")
    contract(won, w.officers["east"], amount="50000", letter="2026-12-01", signed_at=bj("2026-12-30"))
    later = datetime(2027, 3, 1, 2, tzinfo=UTC)
    figures = dashboard.figures(dashboard.officer_scope(w.officers["east"], now=later))
    assert_direct(figures, [w.east.id])
    contract_notices = {t.key: t for t in figures.timeliness}["contract_notice"]
    assert (contract_notices.on_time, contract_notices.unknown) == (1, 1)
