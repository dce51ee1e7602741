"""Working-day arithmetic (RULES-CN section K), pure: no app, no database.

2026 facts come from chinese_calendar 1.11.0 (State Council notice of 2025-11-04): Spring
Festival off 15-23 Feb, Mid-Autumn 25 Sep, National Day 1-7 Oct; 调休 working weekend days
4 Jan, 14 Feb, 28 Feb, 9 May, 20 Sep, 10 Oct. The package has no 2027.
"""

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from portal.calendar import CalendarYearMissing, WorkingCalendar, YearRule, parse_date_list
from portal.errors import DomainError

D = date.fromisoformat





def test_package_2026_matches_the_rules():
    # Guards the facts this file relies on against a different chinese_calendar release.
    assert chinese_calendar.__version__ == "1.11.0"
    worked_weekends = sorted(d for d in chinese_calendar.workdays if d.year == 2026)
    assert worked_weekends == [
        D(s) for s in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
    ]


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-02-13", True),  # Friday before the Spring Festival
        ("2026-02-14", True),  # Saturday, 调休 working day
        ("2026-02-15", False),
        ("2026-02-16", False),
        ("2026-02-17", False),  # 春节 itself
        ("2026-02-20", False),
        ("2026-02-23", False),  # Monday, last day off
        ("2026-02-24", True),  # first working day after
        ("2026-02-28", True),  # Saturday, 调休
        ("2026-09-20", True),  # Sunday, 调休
        ("2026-09-25", False),  # Friday, Mid-Autumn
        ("2026-09-30", True),
        ("2026-10-01", False),
        ("2026-10-04", False),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday, 调休
        ("2026-10-11", False),  # ordinary Sunday
        ("2026-03-07", False),  # ordinary Saturday
        ("2026-03-08", False),  # ordinary Sunday
        ("2026-03-04", True),  # ordinary Wednesday
        ("2026-01-01", False),
        ("2026-01-02", False),  # Friday off for New Year
        ("2026-01-04", True),  # Sunday, 调休
        ("2025-10-01", False),
        ("2025-10-11", True),  # Saturday, 调休 in 2025
    ],
)
def test_is_working_day_2026(cal, day, working):
    assert cal.is_working_day(D(day)) is working


def test_is_working_day_refuses_datetimes(cal):
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 3, 4, 12, 0))


def test_add_working_days_does_not_count_the_start_day(cal):
    assert cal.add_working_days(D("2026-03-02"), 1) == D("2026-03-03")  # Monday -> Tuesday
    assert cal.add_working_days(D("2026-03-06"), 1) == D("2026-03-09")  # Friday -> Monday
    assert cal.add_working_days(D("2026-03-07"), 1) == D("2026-03-09")  # from a Saturday
    assert cal.add_working_days(D("2026-03-02"), 5) == D("2026-03-09")


def test_add_working_days_zero_returns_start(cal):
    assert cal.add_working_days(D("2026-10-03"), 0) == D("2026-10-03")


def test_add_working_days_across_spring_festival(cal):
    assert cal.add_working_days(D("2026-02-13"), 1) == D("2026-02-14")  # the 调休 Saturday counts
    assert cal.add_working_days(D("2026-02-14"), 1) == D("2026-02-24")
    assert cal.add_working_days(D("2026-02-13"), 2) == D("2026-02-24")
    assert cal.add_working_days(D("2026-02-18"), 1) == D("2026-02-24")  # from inside the holiday
    # 24, 25, 26, 27 Feb, then Saturday 28 Feb is worked.
    assert cal.add_working_days(D("2026-02-14"), 5) == D("2026-02-28")


def test_add_working_days_across_national_day(cal):
    assert cal.add_working_days(D("2026-09-30"), 1) == D("2026-10-08")
    # 8 Oct, 9 Oct, Saturday 10 Oct (调休), 12, 13, 14, 15 Oct.
    assert cal.add_working_days(D("2026-09-30"), 7) == D("2026-10-15")
    assert cal.add_working_days(D("2026-10-03"), 1) == D("2026-10-08")
    # Mid-Autumn Friday 25 Sep is off; Sunday 20 Sep is worked.
    assert cal.add_working_days(D("2026-09-18"), 1) == D("2026-09-20")
    assert cal.add_working_days(D("2026-09-24"), 1) == D("2026-09-28")


def test_add_working_days_backwards(cal):
    assert cal.add_working_days(D("2026-03-03"), -1) == D("2026-03-02")
    assert cal.add_working_days(D("2026-03-09"), -1) == D("2026-03-06")
    assert cal.add_working_days(D("2026-02-24"), -1) == D("2026-02-14")
    assert cal.add_working_days(D("2026-02-24"), -2) == D("2026-02-13")
    assert cal.add_working_days(D("2026-10-08"), -1) == D("2026-09-30")
    assert cal.add_working_days(D("2026-10-15"), -7) == D("2026-09-30")
    assert cal.add_working_days(D("2026-10-12"), -1) == D("2026-10-10")


def test_at_least_n_working_days_before_a_deadline(cal):
    # At least 5 WD before Friday 9 Oct: 8 Oct, 30, 29, 28 Sep, then Friday 25 Sep is Mid-Autumn, so 24 Sep.
    deadline = D("2026-10-09")
    latest_start = cal.add_working_days(deadline, -5)
    assert latest_start == D("2026-09-24")
    assert cal.working_days_between(D("2026-09-23"), deadline) == 6  # the day before
    assert cal.working_days_between(latest_start, deadline) == 5  # the day itself
    assert cal.working_days_between(D("2026-09-25"), deadline) == 5  # days off after it still leave 5
    assert cal.working_days_between(D("2026-09-27"), deadline) == 5
    assert cal.working_days_between(D("2026-09-28"), deadline) == 4  # the next working day is too late


def test_working_days_between_edges(cal):
    assert cal.working_days_between(D("2026-03-02"), D("2026-03-02")) == 0
    assert cal.working_days_between(D("2026-03-03"), D("2026-03-02")) == 0
    assert cal.working_days_between(D("2026-03-02"), D("2026-03-03")) == 1
    assert cal.working_days_between(D("2026-02-14"), D("2026-02-23")) == 0
    assert cal.working_days_between(D("2026-02-13"), D("2026-02-24")) == 2
    assert cal.working_days_between(D("2026-09-30"), D("2026-10-07")) == 0


def test_working_days_between_agrees_with_add_working_days(cal):
    start = D("2025-01-01")
    while start <= D("2026-11-15"):
        for n in range(1, 31):
            end = cal.add_working_days(start, n)
            assert cal.is_working_day(end)
            assert cal.working_days_between(start, end) == n
            assert cal.working_days_between(start, end - timedelta(days=1)) == n - 1
            if cal.is_working_day(start):
                assert cal.add_working_days(end, -n) == start
        start += timedelta(days=2)


def test_add_days_moves_a_last_day_off_to_the_next_working_day(cal):
    assert cal.add_days(D("2026-09-11"), 20) == D("2026-10-08")  # 1 Oct is National Day
    assert cal.add_days(D("2026-03-04"), 10) == D("2026-03-16")  # ordinary Saturday -> Monday
    assert cal.add_days(D("2026-02-05"), 10) == D("2026-02-24")  # 15 Feb, Spring Festival


def test_add_days_that_ends_on_a_working_day_stays(cal):
    assert cal.add_days(D("2026-03-02"), 10) == D("2026-03-12")
    assert cal.add_days(D("2026-02-04"), 10) == D("2026-02-14")  # 调休 Saturday is a working day
    assert cal.add_days(D("2026-09-10"), 20) == D("2026-09-30")
    assert cal.add_days(D("2026-10-01"), 0) == D("2026-10-08")


def test_add_days_refuses_negative_periods(cal):
    with pytest.raises(ValueError):
        cal.add_days(D("2026-03-02"), -1)


def test_missing_year_is_refused_with_its_number(cal):
    with pytest.raises(CalendarYearMissing) as info:
        cal.is_working_day(D("2027-01-05"))
    assert info.value.year == 2027
    assert "2027" in str(info.value)
    assert isinstance(info.value, DomainError)


def test_missing_year_is_refused_even_on_a_weekday_far_from_holidays(cal):
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(D("2027-03-10"))
    with pytest.raises(CalendarYearMissing) as info:
        cal.is_working_day(D("2003-06-04"))  # before the package's first year
    assert "2003" in str(info.value)


def test_computation_reaching_a_missing_year_is_refused(cal):
    # Sunday 20 Dec: 21-25 and 28-31 Dec are 9 working days; the 10th needs 2027.
    assert cal.add_working_days(D("2026-12-20"), 9) == D("2026-12-31")
    with pytest.raises(CalendarYearMissing) as info:
        cal.add_working_days(D("2026-12-20"), 10)
    assert info.value.year == 2027
    with pytest.raises(CalendarYearMissing):
        cal.working_days_between(D("2026-12-20"), D("2027-01-04"))
    assert cal.add_days(D("2026-12-11"), 20) == D("2026-12-31")
    with pytest.raises(CalendarYearMissing):
        cal.add_days(D("2026-12-12"), 20)


def test_entered_year_makes_the_computation_succeed(cal_2027):
    # 1 Jan is off and Sunday 3 Jan is worked in the entered year.
    assert cal_2027.add_working_days(D("2026-12-20"), 10) == D("2027-01-03")
    assert cal_2027.add_working_days(D("2026-12-20"), 11) == D("2027-01-04")
    assert cal_2027.working_days_between(D("2026-12-20"), D("2027-01-04")) == 11
    assert not cal_2027.is_working_day(D("2027-01-01"))
    assert not cal_2027.is_working_day(D("2027-01-02"))
    assert cal_2027.is_working_day(D("2027-01-03"))


def test_entered_year_respects_its_holidays_and_workdays(cal_2027):
    for i in range(8):
        assert not cal_2027.is_working_day(D("2027-02-06") + timedelta(days=i))
    assert cal_2027.add_working_days(D("2027-02-05"), 1) == D("2027-02-15")
    assert cal_2027.add_working_days(D("2027-02-19"), 1) == D("2027-02-20")  # worked Saturday
    assert not cal_2027.is_working_day(D("2027-02-21"))  # ordinary Sunday
    assert cal_2027.is_working_day(D("2027-03-10"))  # ordinary Wednesday
    assert cal_2027.add_days(D("2027-01-27"), 10) == D("2027-02-15")
    with pytest.raises(CalendarYearMissing):
        cal_2027.is_working_day(D("2028-01-03"))


def test_entered_year_overrides_the_package():
    tomb_sweeping_bridge = D("2026-04-07")  # a Tuesday the package counts as a working day
    package_2026 = WorkingCalendar()
    assert package_2026.is_working_day(tomb_sweeping_bridge)
    rule = YearRule(
        holidays=frozenset({d for d in chinese_calendar.holidays if d.year == 2026} | {tomb_sweeping_bridge}),
        workdays=frozenset(d for d in chinese_calendar.workdays if d.year == 2026),
    )
    entered = WorkingCalendar({2026: rule})
    assert not entered.is_working_day(tomb_sweeping_bridge)
    assert entered.add_working_days(D("2026-04-03"), 1) == D("2026-04-08")
    assert entered.add_working_days(D("2026-02-13"), 1) == D("2026-02-14")
    assert entered.year_source(2026) == "entered"
    assert package_2026.year_source(2026) == "package"
    assert package_2026.year_source(2027) is None


def test_entered_year_replaces_the_package_year_entirely():
    # An entered year is the whole truth for that year: nothing is merged from the package.
    bare = WorkingCalendar({2026: YearRule()})
    assert bare.is_working_day(D("2026-10-01"))
    assert not bare.is_working_day(D("2026-02-14"))
    assert not WorkingCalendar().is_working_day(D("2026-10-01"))


def test_next_and_previous_working_day(cal):
    assert cal.next_working_day(D("2026-02-14")) == D("2026-02-24")
    assert cal.previous_working_day(D("2026-02-24")) == D("2026-02-14")
    assert cal.roll_forward(D("2026-02-14")) == D("2026-02-14")
    assert cal.roll_forward(D("2026-02-15")) == D("2026-02-24")


def _all_days_off(year):
    first = date(year, 1, 1)
    return YearRule(holidays=frozenset(first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)))


def test_walks_stop_at_the_loop_bound():
    # Eleven entered years with no working day at all: the walk stops instead of looping.
    cal = WorkingCalendar({y: _all_days_off(y) for y in range(2030, 2041)})
    with pytest.raises(ValueError):
        cal.add_working_days(D("2030-01-01"), 1)
    with pytest.raises(ValueError):
        cal.next_working_day(D("2030-01-01"))
    with pytest.raises(ValueError):
        cal.working_days_between(D("2026-01-01"), D("2037-01-01"))


def test_parse_date_list_lines_commas_and_whitespace():
    text = "2027-01-01\n2027-02-10, 2027-02-11\t2027-02-12，2027-05-01、2027-05-02\r\n\n"
    assert parse_date_list(text) == [
        D(s) for s in ("2027-01-01", "2027-02-10", "2027-02-11", "2027-02-12", "2027-05-01", "2027-05-02")
    ]


def test_parse_date_list_ranges_are_inclusive_sorted_and_deduplicated():
    assert parse_date_list("2027-02-06..2027-02-12") == [D("2027-02-06") + timedelta(days=i) for i in range(7)]
    assert parse_date_list("2027-10-01 .. 2027-10-03\n2027-10-02 2027-01-01") == [
        D("2027-01-01"),
        D("2027-10-01"),
        D("2027-10-02"),
        D("2027-10-03"),
    ]
    assert parse_date_list("2027-05-01..2027-05-01") == [D("2027-05-01")]
    assert parse_date_list("") == []
    assert parse_date_list("  \n ") == []


@pytest.mark.parametrize("bad", ["2027-02-30", "2027/02/06", "20270206", "2027-W05-1", "tomorrow", "2027-2-6"])
def test_parse_date_list_names_the_bad_token(bad):
    with pytest.raises(DomainError) as info:
        parse_date_list(f"2027-01-01\n{bad}\n2027-01-02")
    assert bad in str(info.value)


def test_parse_date_list_rejects_bad_ranges():
    with pytest.raises(DomainError) as info:
        parse_date_list("2027-02-12..2027-02-06")
    assert "2027-02-12..2027-02-06" in str(info.value)
    with pytest.raises(DomainError) as info:
        parse_date_list("2027-02-06..2027-02-31")
    assert "2027-02-06..2027-02-31" in str(info.value)
    with pytest.raises(DomainError):
        parse_date_list("2027-01-01..2028-12-31")
