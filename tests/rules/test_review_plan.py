"""The review plan a contract gets when it is signed (rules.review_plan), at the boundaries of its term: 3, 11, 12,
13, 24 and 36 months, monthly and quarterly reporting, and the final review a month before the end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.contracts.rules import add_months, longest_end
from portal.reviews.rules import PAYING_KINDS, ReviewKind, review_plan

START = date(2027, 1, 1)
K = ReviewKind


def plan(months: int, interval: str = "quarterly", start: date = START):
    return review_plan(start, longest_end(start, months), interval)


def kinds(reviews) -> list[str]:
    return [r.kind for r in reviews]


def of(reviews, kind) -> list:
    return [r for r in reviews if r.kind == kind]


def test_three_months_quarterly_has_needs_final_and_one_supervision_but_no_midterm():
    reviews = plan(3)
    assert kinds(reviews) == [K.NEEDS, K.FINAL, K.SUPERVISION]
    needs, final, supervision = reviews
    assert needs.due_on == date(2027, 1, 31) and (needs.period_start, needs.period_end) == (START, date(2027, 3, 31))
    assert final.due_on == date(2027, 3, 1)  # a month before the term ends on 31 March
    assert (supervision.period_start, supervision.period_end, supervision.due_on) == (
        START, date(2027, 3, 31), date(2027, 3, 31))
    assert all(r.year_index is None for r in reviews)


def test_three_months_monthly_has_a_supervision_review_per_month():
    supervision = of(plan(3, "monthly"), K.SUPERVISION)
    assert [(r.period_start, r.period_end) for r in supervision] == [
        (date(2027, 1, 1), date(2027, 1, 31)), (date(2027, 2, 1), date(2027, 2, 28)),
        (date(2027, 3, 1), date(2027, 3, 31))]
    assert [r.due_on for r in supervision] == [r.period_end for r in supervision]


def test_needs_assessment_and_supervision_due_the_same_day_come_in_kind_order():
    reviews = plan(3, "monthly")
    assert kinds(reviews)[:2] == [K.NEEDS, K.SUPERVISION]
    assert reviews[0].due_on == reviews[1].due_on == date(2027, 1, 31)


def test_eleven_months_is_below_a_year_no_midterm():
    reviews = plan(11)
    assert not of(reviews, K.MIDTERM) and not of(reviews, K.YEARLY)
    assert of(reviews, K.FINAL)[0].due_on == date(2027, 11, 1)


@pytest.mark.parametrize(("interval", "supervisions"), [("quarterly", 4), ("monthly", 12)])
def test_twelve_months_has_a_midterm_at_the_middle_and_no_yearly_review(interval, supervisions):
    reviews = plan(12, interval)
    assert len(of(reviews, K.SUPERVISION)) == supervisions
    assert len(reviews) == supervisions + 3  # needs, mid-term, final
    (midterm,) = of(reviews, K.MIDTERM)
    assert (midterm.due_on, midterm.period_start, midterm.period_end) == (date(2027, 7, 2), START, date(2027, 7, 2))
    assert midterm.year_index is None and midterm.opens_payment
    assert not of(reviews, K.YEARLY)
    (final,) = of(reviews, K.FINAL)
    assert final.due_on == date(2027, 12, 1) and final.year_index is None


def test_thirteen_months_has_a_separate_midterm_a_yearly_review_of_year_one_and_the_final_of_year_two():
    reviews = plan(13)
    (midterm,) = of(reviews, K.MIDTERM)
    (yearly,) = of(reviews, K.YEARLY)
    (final,) = of(reviews, K.FINAL)
    assert midterm.year_index is None
    assert (yearly.year_index, yearly.due_on, yearly.period_start, yearly.period_end) == (
        1, date(2027, 12, 1), START, date(2027, 12, 31))
    assert final.year_index == 2 and final.due_on == date(2028, 1, 1)


def test_twenty_four_months_merges_the_midterm_into_the_review_of_year_one():
    reviews = plan(24)
    assert not of(reviews, K.YEARLY)
    (midterm,) = of(reviews, K.MIDTERM)
    assert (midterm.year_index, midterm.due_on, midterm.period_start, midterm.period_end) == (
        1, date(2027, 12, 1), START, date(2027, 12, 31))
    (final,) = of(reviews, K.FINAL)
    assert final.year_index == 2 and final.due_on == date(2028, 12, 1)
    assert len(of(reviews, K.SUPERVISION)) == 8


def test_thirty_six_months_has_yearly_reviews_of_years_one_and_two_and_a_midterm_between():
    reviews = plan(36)
    assert [(r.year_index, r.due_on) for r in of(reviews, K.YEARLY)] == [(1, date(2027, 12, 1)), (2, date(2028, 12, 1))]
    (midterm,) = of(reviews, K.MIDTERM)
    assert midterm.year_index is None and midterm.due_on == date(2028, 7, 1)
    (final,) = of(reviews, K.FINAL)
    assert final.year_index == 3 and final.due_on == date(2029, 12, 1)
    assert len(of(reviews, K.SUPERVISION)) == 12
    assert len(plan(36, "monthly")) == 36 + 5


@pytest.mark.parametrize("months", [3, 11, 12, 13, 24, 36])
@pytest.mark.parametrize("interval", ["monthly", "quarterly"])
@pytest.mark.parametrize("start", [START, date(2027, 1, 31), date(2026, 12, 15)])
def test_every_plan_ends_with_the_final_review_a_month_before_the_end(months, interval, start):
    end = longest_end(start, months)
    reviews = review_plan(start, end, interval)
    (final,) = of(reviews, K.FINAL)
    assert final.due_on == add_months(end + timedelta(days=1), -1)  # one calendar month before the term is over
    assert 28 <= (end + timedelta(days=1) - final.due_on).days <= 31
    assert (final.period_start, final.period_end) == (start, end)
    assert [r.due_on for r in reviews] == sorted(r.due_on for r in reviews)
    assert all(start <= r.due_on <= end and start <= r.period_start <= r.period_end <= end for r in reviews)
    assert all(r.opens_payment == (r.kind in PAYING_KINDS) for r in reviews)
    assert len(of(reviews, K.NEEDS)) == 1
