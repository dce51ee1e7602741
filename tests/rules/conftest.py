"""Calendars shared by the pure rule tests."""

from datetime import date, timedelta

import pytest

from portal.calendar import WorkingCalendar, YearRule

D = date.fromisoformat

# Invented for the tests, not the real 2027 notice: New Year on Friday 1 Jan with Sunday 3 Jan
# worked, Spring Festival off Saturday 6 to Saturday 13 Feb with Saturday 20 Feb worked.
RULE_2027 = YearRule(
    holidays=frozenset({D("2027-01-01"), *(D("2027-02-06") + timedelta(days=i) for i in range(8))}),
    workdays=frozenset({D("2027-01-03"), D("2027-02-20")}),
)


@pytest.fixture
def cal():
    """The package's calendar: statutory holidays and 调休 weekends through 2026."""
    return WorkingCalendar()


@pytest.fixture
def cal_2027():
    """The package's calendar plus the invented 2027 above, as an administrator would enter it."""
    return WorkingCalendar({2027: RULE_2027})
