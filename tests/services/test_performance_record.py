"""An NGO's performance record (issue 7, item 7): every graded review of its contracts with every bureau, its
rectifications and terminated contracts, the count per grade and the mean score; who may read it (officers of any
bureau, admin, the NGO itself); loaded in a fixed number of queries; the list of NGOs with their summaries.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind
from portal.contracts.models import ContractStatus
from portal.extensions import db
from portal.reviews import record
from portal.reviews.models import Appeal, AppealStatus, Rectification, RectificationStatus, ReviewStatus
from portal.reviews.rules import Grade, ReviewKind
from tests.contract_builders import signed_contract
from tests.review_builders import planned_review
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

GROUNDS = "乙方连续两次评估不合格，经整改后仍未达到合同约定的服务标准。"


@pytest.fixture
def ngo(create_org):
    return create_org(name="阳光社会工作服务中心")


@pytest.fixture
def other_city(create_org):
    return create_org(OrgKind.BUREAU, name="开封市民政局", level="city")


def contract_for(ngo, bureau, create_user, now):
    """A signed contract of ``bureau`` with ``ngo`` (the builder's own supplier swapped for it)."""
    built = signed_contract(bureau, create_user, now=now)
    built.award.supplier_id = built.contract.supplier_id = ngo.id
    db.session.commit()
    return built


def graded(built_contract, bureau, create_user, now, *, score: str, grade: str, day: str,
           kind=ReviewKind.SUPERVISION):
    review = planned_review(bureau, create_user, now=now, on=built_contract, kind=kind).review
    review.status, review.score, review.grade, review.graded_at = ReviewStatus.GRADED, Decimal(score), grade, bj(day)
    db.session.commit()
    return review


def fill(ngo, city_bureau, other_city, create_user, now, *, contracts: int = 2):
    """``contracts`` contracts per bureau, alternately of the city bureau and another city, each with a passed and a
    failed review, the failure's rectification, and the last contract terminated."""
    reviews, built_contracts = [], []
    for n in range(contracts):
        bureau = city_bureau if n % 2 == 0 else other_city
        built = contract_for(ngo, bureau, create_user, now)
        built_contracts.append(built)
        reviews.append(graded(built, bureau, create_user, now, score="85.50", grade=Grade.GOOD,
                              day=f"2027-0{n + 1}-10"))
        failed = graded(built, bureau, create_user, now, score="55.00", grade=Grade.FAIL, day=f"2027-0{n + 1}-20")
        reviews.append(failed)
        db.session.add(Rectification(review_id=failed.id, contract_id=failed.contract_id,
                                     plan_due_on=date(2027, n + 2, 5)))
        db.session.add(Appeal(review_id=failed.id, round=1, status=AppealStatus.DISMISSED,
                              reasons="评分不公，请求复核，证据已补充。",
                              filed_at=bj(f"2027-0{n + 1}-21"), filed_by_id=built.supplier.id,
                              score_before=Decimal("55.00"), grade_before=Grade.FAIL))
    last = built_contracts[-1].contract
    last.status, last.ended_at, last.termination_grounds = ContractStatus.TERMINATED, bj("2027-06-01"), GROUNDS
    db.session.commit()
    return reviews, built_contracts


def read_everything(history) -> list:
    """What the record page reads of every row."""
    return ([(row.bureau.name, row.contract.reference, row.appeal) for row in history.reviews]
            + [(r.contract.bureau.name, r.review.title, r.re_review) for r in history.rectifications]
            + [c.bureau.name for c in history.terminated])


def statements_for(organisation) -> int:
    """How many statements loading the record (and reading everything it shows) takes, from a cold session."""
    db.session.expire_all()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        read_everything(record.performance_history(organisation))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


# --- What the record holds ---------------------------------------------------------------------------------------


def test_the_record_holds_every_graded_review_across_bureaus(ngo, city_bureau, other_city, create_user, now):
    reviews, built = fill(ngo, city_bureau, other_city, create_user, now)
    # Not in the record: a planned and a cancelled review of the NGO, and another NGO's graded review.
    planned_review(city_bureau, create_user, now=now, on=built[0])
    cancelled = planned_review(city_bureau, create_user, now=now, on=built[0]).review
    cancelled.status, cancelled.cancelled_reason = ReviewStatus.CANCELLED, "合并至中期评估"
    stranger = signed_contract(city_bureau, create_user, now=now)
    graded(stranger, city_bureau, create_user, now, score="40.00", grade=Grade.FAIL, day="2027-05-01")
    db.session.commit()

    history = record.performance_history(ngo)
    assert [row.review.id for row in history.reviews] == [r.id for r in reversed(reviews)]  # latest grade first
    assert [row.bureau.name for row in history.reviews] == ["开封市民政局"] * 2 + ["郑州市民政局"] * 2
    assert history.reviews[0].graded_on == date(2027, 2, 20)
    assert history.reviews[0].appeal.status == AppealStatus.DISMISSED and history.reviews[1].appeal is None
    assert history.grade_counts == {Grade.EXCELLENT: 0, Grade.GOOD: 2, Grade.PASS: 0, Grade.FAIL: 2}
    assert history.mean_score == Decimal("70.25")
    assert [b.name for b in history.bureaus] == ["开封市民政局", "郑州市民政局"]
    assert [r.review_id for r in history.rectifications] == [reviews[3].id, reviews[1].id]
    assert all(r.status == RectificationStatus.AWAITING_PLAN for r in history.rectifications)
    assert [(c.id, c.termination_grounds) for c in history.terminated] == [(built[1].contract.id, GROUNDS)]


def test_an_ngo_without_graded_reviews_has_an_empty_record(ngo):
    history = record.performance_history(ngo)
    assert (history.reviews, history.rectifications, history.terminated, history.mean_score) == ([], [], [], None)
    assert set(history.grade_counts.values()) == {0}


def test_the_mean_is_rounded_half_up_to_two_places(ngo, city_bureau, create_user, now):
    built = contract_for(ngo, city_bureau, create_user, now)
    for score, grade in (("60.00", Grade.PASS), ("60.01", Grade.PASS), ("60.00", Grade.PASS)):
        graded(built, city_bureau, create_user, now, score=score, grade=grade, day="2027-03-01")
    assert record.performance_history(ngo).mean_score == Decimal("60.00")  # 60.00333…
    graded(built, city_bureau, create_user, now, score="60.01", grade=Grade.PASS, day="2027-03-02")
    assert record.performance_history(ngo).mean_score == Decimal("60.01")  # 60.005


def test_the_record_loads_in_a_fixed_number_of_queries(ngo, city_bureau, other_city, create_user, now, create_org):
    small = create_org(name="小型社工机构")
    fill(small, city_bureau, other_city, create_user, now, contracts=1)
    fill(ngo, city_bureau, other_city, create_user, now, contracts=4)
    counts = [statements_for(small), statements_for(ngo)]
    assert len(record.performance_history(ngo).reviews) == 8
    assert counts[0] == counts[1] <= 5  # the organisation reloaded, then four queries


# --- Who reads it -------------------------------------------------------------------------------------------------


def test_officers_of_every_bureau_admin_and_the_ngo_itself_read_the_record(ngo, other_city, create_user, create_org):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=other_city.id)
    readers = [create_user("officer"), create_user("officer", organisation_id=other_city.id),
               create_user("officer", organisation_id=district.id), create_user("admin"),
               create_user("supplier", organisation_id=ngo.id)]
    refused = [create_user("supplier"), create_user("evaluator")]
    assert [record.can_read_record(ngo, u) for u in readers] == [True] * len(readers)
    assert [record.can_read_record(ngo, u) for u in refused] == [False] * len(refused)


def test_a_bureau_has_no_performance_record(other_city, create_user):
    assert not record.can_read_record(other_city, create_user("admin"))


# --- The list of NGOs --------------------------------------------------------------------------------------------


def test_the_list_summarises_each_ngo_and_searches_by_name(ngo, city_bureau, other_city, create_user, now,
                                                           create_org):
    fill(ngo, city_bureau, other_city, create_user, now)
    quiet = create_org(name="安宁_社工%服务社")
    found = list(db.session.scalars(record.organisations_query("阳光")))
    assert found == [ngo]
    assert list(db.session.scalars(record.organisations_query("_社工%"))) == [quiet]  # taken literally
    [sunny, nothing] = record.record_summaries([ngo, quiet])
    assert (sunny.graded, sunny.failed, sunny.mean_score) == (4, 2, Decimal("70.25"))
    assert (nothing.graded, nothing.failed, nothing.mean_score) == (0, 0, None)
    assert record.record_summaries([]) == []
