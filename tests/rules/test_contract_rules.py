"""Pure contract rules (RULES-CN F.30 and I.38) at their boundaries: months and terms (12 / 36), yearly budget
lines, installments, the bond and add-on caps (10%), and the clocks (30 days, 20th day, 2 and 7 working days,
expiry reminders, report periods, contract years)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portal.contracts import rules

D = date.fromisoformat


def codes(problems) -> list[str]:
    return [p.code for p in problems]


# --- Months and terms -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "months", "expected"), [
    ("2026-01-15", 1, "2026-02-15"),
    ("2026-01-31", 1, "2026-02-28"),  # February lacks the 31st: its last day
    ("2028-01-31", 1, "2028-02-29"),  # a leap year
    ("2026-03-31", 1, "2026-04-30"),
    ("2026-11-30", 2, "2027-01-30"),  # across the year
    ("2026-12-01", 12, "2027-12-01"),
    ("2026-05-10", 0, "2026-05-10"),
    ("2026-05-10", 36, "2029-05-10"),
])
def test_add_months(day, months, expected):
    assert rules.add_months(D(day), months) == D(expected)


@pytest.mark.parametrize(("start", "end", "months"), [
    ("2027-01-01", "2027-01-01", 1),  # one day is a started month
    ("2027-01-01", "2027-01-31", 1),
    ("2027-01-01", "2027-02-01", 2),
    ("2027-01-01", "2027-12-31", 12),
    ("2027-01-01", "2028-01-01", 13),  # one day into the 13th month
    ("2027-01-15", "2028-01-14", 12),
    ("2027-01-15", "2028-01-15", 13),
    ("2027-01-01", "2029-12-31", 36),
    ("2027-01-01", "2030-01-01", 37),
    ("2027-01-31", "2027-02-27", 1),
    ("2027-01-31", "2027-02-28", 2),  # 31 Jan + 1 month = 28 Feb, so that day starts the 2nd month
])
def test_term_months(start, end, months):
    assert rules.term_months(D(start), D(end)) == months


def test_term_months_refuses_a_reversed_term():
    with pytest.raises(ValueError):
        rules.term_months(D("2027-02-01"), D("2027-01-31"))


@pytest.mark.parametrize(("start", "months", "end"), [
    ("2027-01-01", 12, "2027-12-31"),
    ("2027-01-01", 36, "2029-12-31"),
    ("2027-03-15", 1, "2027-04-14"),
    ("2027-01-31", 1, "2027-02-27"),
])
def test_longest_end_is_the_last_day_of_the_months(start, months, end):
    assert rules.longest_end(D(start), months) == D(end)
    assert rules.term_months(D(start), D(end)) == months
    assert rules.term_months(D(start), D(end) + timedelta(days=1)) == months + 1


def test_term_problems_12_months_needs_no_grounds():
    assert rules.term_problems(D("2027-01-01"), D("2027-12-31"), budget_secured=False, service_stable=False,
                               note="") == []


def test_term_problems_13_months_needs_both_grounds_and_a_note():
    start, end = D("2027-01-01"), D("2028-01-01")
    problems = rules.term_problems(start, end, budget_secured=False, service_stable=False, note="")
    assert codes(problems) == ["term_needs_grounds"]
    assert problems[0].article == "102-24" and problems[0].params == {"months": 13, "max": 12}
    for secured, stable, note in ((True, False, "理由"), (False, True, "理由"), (True, True, ""), (True, True, "  ")):
        assert codes(rules.term_problems(start, end, budget_secured=secured, service_stable=stable, note=note)) == [
            "term_needs_grounds"]
    assert rules.term_problems(start, end, budget_secured=True, service_stable=True, note="预算已纳入三年规划") == []


def test_term_problems_36_months_allowed_with_grounds_37_never():
    grounds = {"budget_secured": True, "service_stable": True, "note": "预算已纳入中期财政规划"}
    assert rules.term_problems(D("2027-01-01"), D("2029-12-31"), **grounds) == []
    assert codes(rules.term_problems(D("2027-01-01"), D("2029-12-31"), budget_secured=False, service_stable=False,
                                     note="")) == ["term_needs_grounds"]
    problems = rules.term_problems(D("2027-01-01"), D("2030-01-01"), **grounds)
    assert codes(problems) == ["term_over_max"] and problems[0].params == {"months": 37, "max": 36}


def test_term_problems_missing_or_reversed():
    assert codes(rules.term_problems(None, D("2027-12-31"), budget_secured=False, service_stable=False,
                                     note="")) == ["term_missing"]
    assert codes(rules.term_problems(D("2027-01-01"), None, budget_secured=False, service_stable=False,
                                     note="")) == ["term_missing"]
    assert codes(rules.term_problems(D("2027-01-02"), D("2027-01-01"), budget_secured=False, service_stable=False,
                                     note="")) == ["term_reversed"]
    assert rules.term_problems(D("2027-01-01"), D("2027-01-01"), budget_secured=False, service_stable=False,
                               note="") == []


def test_extension_problems_at_36_and_37_months():
    assert rules.extension_problems(D("2027-01-01"), D("2029-12-31")) == []
    problems = rules.extension_problems(D("2027-01-01"), D("2030-01-01"))
    assert codes(problems) == ["extension_over_max"] and problems[0].params["months"] == 37


# --- Yearly budget lines --------------------------------------------------------------------------------------------


def test_fiscal_years_are_calendar_years():
    assert rules.fiscal_years(D("2027-01-01"), D("2027-12-31")) == [2027]
    assert rules.fiscal_years(D("2026-12-31"), D("2027-01-01")) == [2026, 2027]
    assert rules.fiscal_years(D("2027-07-01"), D("2030-06-30")) == [2027, 2028, 2029, 2030]


def test_budget_lines_optional_within_one_year():
    assert rules.budget_line_problems({}, Decimal("100"), D("2027-01-01"), D("2027-12-31")) == []
    assert rules.budget_line_problems({2027: Decimal("100")}, Decimal("100"), D("2027-01-01"), D("2027-12-31")) == []
    assert codes(rules.budget_line_problems({2027: Decimal("90")}, Decimal("100"), D("2027-01-01"),
                                            D("2027-12-31"))) == ["budget_total"]


def test_budget_lines_required_for_each_year_of_a_multi_year_term():
    start, end, amount = D("2027-07-01"), D("2029-06-30"), Decimal("900000.00")
    problems = rules.budget_line_problems({}, amount, start, end)
    assert "budget_years" in codes(problems) and problems[0].params == {"years": "2027、2028、2029"}
    assert codes(rules.budget_line_problems({2027: Decimal("450000"), 2028: Decimal("450000")}, amount, start,
                                            end)) == ["budget_years"]
    assert codes(rules.budget_line_problems({2027: Decimal("225000"), 2028: Decimal("450000"),
                                             2029: Decimal("225000"), 2030: Decimal("0.00")}, amount, start,
                                            end)) == ["budget_years", "budget_line_positive"]
    assert rules.budget_line_problems({2027: Decimal("225000"), 2028: Decimal("450000"), 2029: Decimal("225000")},
                                      amount, start, end) == []


def test_budget_lines_must_add_up_to_the_fen():
    start, end, amount = D("2027-07-01"), D("2028-06-30"), Decimal("100000.00")
    assert codes(rules.budget_line_problems({2027: Decimal("50000.00"), 2028: Decimal("49999.99")}, amount, start,
                                            end)) == ["budget_total"]
    assert codes(rules.budget_line_problems({2027: Decimal("50000.00"), 2028: Decimal("50000.01")}, amount, start,
                                            end)) == ["budget_total"]
    assert codes(rules.budget_line_problems({2027: Decimal("-1"), 2028: Decimal("100001")}, amount, start,
                                            end)) == ["budget_line_positive"]
    assert codes(rules.budget_line_problems({2027: None, 2028: Decimal("100000")}, amount, start,
                                            end)) == ["budget_line_positive"]


# --- Installments and the bond --------------------------------------------------------------------------------------


def test_installments_must_sum_to_exactly_100():
    assert rules.installment_problems([Decimal("30"), Decimal("40"), Decimal("30")]) == []
    assert rules.installment_problems([Decimal("100")]) == []
    assert rules.installment_problems([Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]) == []
    problems = rules.installment_problems([Decimal("30"), Decimal("40"), Decimal("29.99")])
    assert codes(problems) == ["installments_total"] and problems[0].params == {"total": Decimal("99.99")}
    assert codes(rules.installment_problems([Decimal("60"), Decimal("40.01")])) == ["installments_total"]
    assert codes(rules.installment_problems([])) == ["installments_missing"]


@pytest.mark.parametrize("bad", [Decimal("0"), Decimal("-10"), Decimal("100.01"), Decimal("33.333"), Decimal("NaN"),
                                 Decimal("Infinity"), None])
def test_installment_shares_positive_at_most_100_two_places(bad):
    assert codes(rules.installment_problems([bad, Decimal("50")])) == ["installment_percent"]


def test_installment_amounts_add_up_to_the_fen():
    assert rules.installment_amounts(Decimal("400000.00"), [Decimal("30"), Decimal("40"), Decimal("30")]) == [
        Decimal("120000.00"), Decimal("160000.00"), Decimal("120000.00")]
    thirds = rules.installment_amounts(Decimal("100.00"), [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")])
    assert thirds == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")] and sum(thirds) == Decimal("100.00")
    odd = rules.installment_amounts(Decimal("0.10"), [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")])
    assert sum(odd) == Decimal("0.10") and odd == [Decimal("0.03"), Decimal("0.03"), Decimal("0.04")]
    ties = rules.installment_amounts(Decimal("0.01"), [Decimal("50"), Decimal("50")])
    assert ties == [Decimal("0.01"), Decimal("0.00")]  # equal remainders: the earlier share gets the fen
    with pytest.raises(ValueError):
        rules.installment_amounts(Decimal("100"), [Decimal("50"), Decimal("49")])


def test_bond_at_most_10_percent():
    amount = Decimal("380000.00")
    assert rules.bond_problems(None, amount) == []
    assert rules.bond_problems(Decimal("0"), amount) == []
    assert rules.bond_problems(Decimal("38000.00"), amount) == []
    problems = rules.bond_problems(Decimal("38000.01"), amount)
    assert codes(problems) == ["bond_over_max"] and problems[0].article == "R48"
    assert problems[0].params == {"max": Decimal("38000.00")}
    assert codes(rules.bond_problems(Decimal("-0.01"), amount)) == ["bond_negative"]
    # 10% of an odd amount rounds down to the fen: never more than 10%
    assert rules.bond_problems(Decimal("10.00"), Decimal("100.09")) == []
    assert codes(rules.bond_problems(Decimal("10.01"), Decimal("100.09"))) == ["bond_over_max"]


# --- Add-ons --------------------------------------------------------------------------------------------------------


def test_add_on_limit_is_10_percent_rounded_down():
    assert rules.add_on_limit(Decimal("400000.00")) == Decimal("40000.00")
    assert rules.add_on_limit(Decimal("100.09")) == Decimal("10.00")


def test_add_on_problems_across_amendments():
    original = Decimal("400000.00")
    assert rules.add_on_problems(original, Decimal("0"), Decimal("40000.00")) == []
    assert rules.add_on_problems(original, Decimal("25000.00"), Decimal("15000.00")) == []
    problems = rules.add_on_problems(original, Decimal("25000.00"), Decimal("15000.01"))
    assert codes(problems) == ["add_on_over_max"] and problems[0].article == "L49"
    assert problems[0].params == {"max": Decimal("40000.00"), "left": Decimal("15000.00")}
    over = rules.add_on_problems(original, Decimal("40000.00"), Decimal("0.01"))
    assert over[0].params["left"] == Decimal("0")
    assert rules.add_on_problems(original, Decimal("40000.00"), Decimal("0")) == []
    assert codes(rules.add_on_problems(original, Decimal("0"), Decimal("-1"))) == ["added_negative"]


# --- Clocks ---------------------------------------------------------------------------------------------------------


def test_signing_clock_30_days_reminder_on_the_20th():
    letter = D("2026-12-03")
    assert rules.signing_due(letter) == D("2027-01-02")
    assert rules.signing_reminder_on(letter) == D("2026-12-23")
    assert rules.days_left_to_sign(letter, D("2026-12-03")) == 30
    assert rules.days_left_to_sign(letter, D("2026-12-23")) == 10
    assert rules.days_left_to_sign(letter, D("2027-01-02")) == 0  # the last day
    assert rules.days_left_to_sign(letter, D("2027-01-03")) == -1  # day 31: overdue


def test_notice_due_two_working_days_across_a_weekend(cal):
    assert rules.notice_due(D("2026-12-16"), cal) == D("2026-12-18")  # Wednesday -> Friday
    assert rules.notice_due(D("2026-12-17"), cal) == D("2026-12-21")  # Thursday -> Monday
    assert rules.notice_due(D("2026-12-18"), cal) == D("2026-12-22")  # Friday -> Tuesday
    assert rules.notice_due(D("2026-12-19"), cal) == D("2026-12-22")  # signed on a Saturday


def test_notice_due_across_national_day(cal):
    assert rules.notice_due(D("2026-09-30"), cal) == D("2026-10-09")  # 1-7 October off


def test_notice_and_filing_need_the_next_years_calendar(cal, cal_2027):
    from portal.calendar import CalendarYearMissing

    with pytest.raises(CalendarYearMissing):
        rules.notice_due(D("2026-12-31"), cal)
    assert rules.notice_due(D("2026-12-31"), cal_2027) == D("2027-01-04")  # 1 Jan off, 3 Jan (Sunday) worked
    assert rules.filing_due(D("2026-12-31"), cal_2027) == D("2027-01-11")


def test_filing_due_seven_working_days(cal):
    assert rules.filing_due(D("2026-12-18"), cal) == D("2026-12-29")
    assert rules.filing_due(D("2026-09-30"), cal) == D("2026-10-15")  # 10 October (Saturday) is worked


def test_expiry_reminders_at_90_and_30_days():
    end = D("2027-12-31")
    assert rules.expiry_reminders_due(end, D("2027-10-01")) == []
    assert rules.expiry_reminders_due(end, D("2027-10-02")) == [90]
    assert rules.expiry_reminders_due(end, D("2027-11-30")) == [90]
    assert rules.expiry_reminders_due(end, D("2027-12-01")) == [90, 30]
    assert rules.expiry_reminders_due(end, D("2028-01-05")) == [90, 30]


def test_report_periods_quarterly_and_monthly():
    quarters = rules.report_periods(D("2027-01-01"), D("2027-12-31"), "quarterly")
    assert [(p.start, p.end, p.due) for p in quarters] == [
        (D("2027-01-01"), D("2027-03-31"), D("2027-04-10")),
        (D("2027-04-01"), D("2027-06-30"), D("2027-07-10")),
        (D("2027-07-01"), D("2027-09-30"), D("2027-10-10")),
        (D("2027-10-01"), D("2027-12-31"), D("2028-01-10")),
    ]
    months = rules.report_periods(D("2027-01-15"), D("2027-03-20"), "monthly")
    assert [(p.start, p.end) for p in months] == [
        (D("2027-01-15"), D("2027-02-14")), (D("2027-02-15"), D("2027-03-14")), (D("2027-03-15"), D("2027-03-20"))]
    assert months[-1].due == D("2027-03-30")
    assert len(rules.report_periods(D("2027-01-01"), D("2029-12-31"), "quarterly")) == 12
    assert len(rules.report_periods(D("2027-01-01"), D("2027-01-01"), "monthly")) == 1


def test_contract_years():
    assert rules.contract_years(D("2027-01-01"), D("2027-12-31")) == [(D("2027-01-01"), D("2027-12-31"))]
    assert rules.contract_years(D("2027-07-01"), D("2030-06-30")) == [
        (D("2027-07-01"), D("2028-06-30")), (D("2028-07-01"), D("2029-06-30")), (D("2029-07-01"), D("2030-06-30"))]
    assert rules.contract_years(D("2027-01-01"), D("2028-01-01")) == [
        (D("2027-01-01"), D("2027-12-31")), (D("2028-01-01"), D("2028-01-01"))]
    assert rules.contract_years(D("2027-03-01"), D("2027-05-31")) == [(D("2027-03-01"), D("2027-05-31"))]
