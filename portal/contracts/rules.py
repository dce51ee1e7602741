"""Pure rules for service agreements: term, yearly budget lines, payment schedule, bond, add-ons, and the clocks.

No Flask, no session: values in, values out. Sources cite ``../shared/RULES-CN.md`` sections F and I
(L = 政府采购法, R = 实施条例, 87 = 财政部令87号, 102 = 政府购买服务管理办法 (财政部令102号)).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from portal.calendar import WorkingCalendar
from portal.tenders.rules import Problem

# --- Term (RULES-CN I.38) -----------------------------------------------------------------------------------
DEFAULT_MAX_TERM_MONTHS = 12  # a purchase contract runs at most 1 year (102-24)
MAX_TERM_MONTHS = 36  # up to 3 years if the budget is secured and the service fixed, continuous, stably priced (102-24)

# --- Money (RULES-CN F.30) ------------------------------------------------------------------------------------
BOND_MAX_SHARE = Decimal("0.10")  # 履约保证金 at most 10% of the contract amount (R48)
ADD_ON_MAX_SHARE = Decimal("0.10")  # added purchases at most 10% of the original amount, in total (L49)
FEN = Decimal("0.01")
FULL_PERCENT = Decimal("100")

# --- Clocks (RULES-CN F.30) -----------------------------------------------------------------------------------
SIGNING_DAYS = 30  # signed within 30 days of the award letter (L46, 87-71)
SIGNING_REMINDER_DAY = 20  # the portal reminds on the 20th day (issue 6; house rule)
CONTRACT_NOTICE_WORKING_DAYS = 2  # the contract notice within 2 WD of signing (R50)
FILING_WORKING_DAYS = 7  # a copy filed with the finance bureau within 7 WD of signing (L47)
EXPIRY_REMINDER_DAYS = (90, 30)  # reminders before the end date (issue 6; house rule)
REPORT_DUE_DAYS = 10  # a service report is due 10 days after its period ends (house rule, a contract term)
REPORT_PERIOD_MONTHS = {"monthly": 1, "quarterly": 3}


# --- Months and terms -------------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; a day the month lacks becomes the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def term_months(start: date, end: date) -> int:
    """How many months the term covers, both days included; a started month counts whole.

    1 Jan to 31 Dec is 12 months; 1 Jan to 1 Jan next year is 13 (one day into the 13th month).
    """
    if end < start:
        raise ValueError("the term ends before it starts")
    months = 0
    while add_months(start, months) <= end:
        months += 1
    return months


def longest_end(start: date, months: int) -> date:
    """The last day of a term of ``months`` months from ``start``."""
    return add_months(start, months) - timedelta(days=1)


def term_problems(start: date | None, end: date | None, *, budget_secured: bool, service_stable: bool,
                  note: str) -> list[Problem]:
    """A term of at most 12 months, or up to 36 with both grounds of 102-24 recorded and explained."""
    if start is None or end is None:
        return [Problem("term_missing")]
    if end < start:
        return [Problem("term_reversed")]
    months = term_months(start, end)
    if months > MAX_TERM_MONTHS:
        return [Problem("term_over_max", "102-24", {"months": months, "max": MAX_TERM_MONTHS})]
    if months > DEFAULT_MAX_TERM_MONTHS and not (budget_secured and service_stable and note.strip()):
        return [Problem("term_needs_grounds", "102-24", {"months": months, "max": DEFAULT_MAX_TERM_MONTHS})]
    return []


def extension_problems(start: date, new_end: date) -> list[Problem]:
    """An extension never takes the whole term past 36 months (102-24)."""
    months = term_months(start, new_end)
    if months > MAX_TERM_MONTHS:
        return [Problem("extension_over_max", "102-24", {"months": months, "max": MAX_TERM_MONTHS})]
    return []


# --- Yearly budget lines ------------------------------------------------------------------------------------------


def fiscal_years(start: date, end: date) -> list[int]:
    """The fiscal (calendar) years the term touches: China's budget year runs January to December."""
    return list(range(start.year, end.year + 1))


def budget_line_problems(lines: Mapping[int, Decimal], amount: Decimal, start: date, end: date) -> list[Problem]:
    """A contract over more than one fiscal year carries a positive line for each year, adding up to the amount."""
    years = fiscal_years(start, end)
    if len(years) == 1 and not lines:
        return []
    problems = []
    if set(lines) != set(years):
        problems.append(Problem("budget_years", params={"years": "、".join(str(y) for y in years)}))
    if any(value is None or value <= 0 for value in lines.values()):
        problems.append(Problem("budget_line_positive"))
    elif sum(lines.values(), Decimal(0)) != amount:
        problems.append(Problem("budget_total", params={"amount": amount}))
    return problems


# --- Payment schedule and bond -------------------------------------------------------------------------------------


def installment_problems(percents: Iterable[Decimal]) -> list[Problem]:
    """Each share positive with at most 2 places, the shares adding up to exactly 100 (issue 6)."""
    percents = list(percents)
    if not percents:
        return [Problem("installments_missing")]
    problems = []
    if any(p is None or not p.is_finite() or p <= 0 or p > FULL_PERCENT or p != p.quantize(FEN) for p in percents):
        problems.append(Problem("installment_percent"))
    elif sum(percents, Decimal(0)) != FULL_PERCENT:
        problems.append(Problem("installments_total", params={"total": sum(percents, Decimal(0))}))
    return problems


def installment_amounts(amount: Decimal, percents: list[Decimal]) -> list[Decimal]:
    """Each share in yuan, to the fen, adding up exactly to ``amount`` (largest remainder)."""
    if sum(percents, Decimal(0)) != FULL_PERCENT:
        raise ValueError("the shares must add up to 100")
    exact = [amount * p / FULL_PERCENT for p in percents]
    floors = [value.quantize(FEN, rounding=ROUND_DOWN) for value in exact]
    left = int((amount - sum(floors, Decimal(0))) / FEN)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in order[:left]:
        floors[index] += FEN
    return floors


def bond_problems(bond: Decimal | None, amount: Decimal) -> list[Problem]:
    """A performance bond is optional and at most 10% of the amount (R48)."""
    if bond is None:
        return []
    if bond < 0:
        return [Problem("bond_negative")]
    limit = (amount * BOND_MAX_SHARE).quantize(FEN, rounding=ROUND_DOWN)
    if bond > limit:
        return [Problem("bond_over_max", "R48", {"max": limit})]
    return []


# --- Amendments ------------------------------------------------------------------------------------------------------


def add_on_limit(original: Decimal) -> Decimal:
    """The most that all amendments together may add: 10% of the original amount (L49)."""
    return (original * ADD_ON_MAX_SHARE).quantize(FEN, rounding=ROUND_DOWN)


def add_on_problems(original: Decimal, added_before: Decimal, added_now: Decimal) -> list[Problem]:
    """Refuse an added amount that takes the total added beyond 10% of the original amount (L49)."""
    if added_now < 0:
        return [Problem("added_negative")]
    limit = add_on_limit(original)
    if added_before + added_now > limit:
        return [Problem("add_on_over_max", "L49", {"max": limit, "left": max(limit - added_before, Decimal(0))})]
    return []


# --- Clocks --------------------------------------------------------------------------------------------------------


def signing_due(award_letter_on: date) -> date:
    """The last day to sign: 30 days after the award letter (L46, 87-71)."""
    return award_letter_on + timedelta(days=SIGNING_DAYS)


def signing_reminder_on(award_letter_on: date) -> date:
    """The day the portal reminds both parties that the contract is not yet signed."""
    return award_letter_on + timedelta(days=SIGNING_REMINDER_DAY)


def days_left_to_sign(award_letter_on: date, today: date) -> int:
    """Days left until the signing deadline (0 on the last day, negative once overdue)."""
    return (signing_due(award_letter_on) - today).days


def notice_due(signed_on: date, calendar: WorkingCalendar) -> date:
    """The last day to publish the contract notice: 2 WD after signing (R50)."""
    return calendar.add_working_days(signed_on, CONTRACT_NOTICE_WORKING_DAYS)


def filing_due(signed_on: date, calendar: WorkingCalendar) -> date:
    """The last day to file a copy with the finance bureau: 7 WD after signing (L47)."""
    return calendar.add_working_days(signed_on, FILING_WORKING_DAYS)


def expiry_reminders_due(end: date, today: date) -> list[int]:
    """The expiry reminders (90, 30 days before the end) whose day has come by ``today``."""
    return [days for days in EXPIRY_REMINDER_DAYS if today >= end - timedelta(days=days)]


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    due: date


def report_periods(start: date, end: date, interval: str, due_days: int = REPORT_DUE_DAYS) -> list[Period]:
    """The reporting periods of a term: whole months or quarters from its start, the last cut at its end."""
    step = REPORT_PERIOD_MONTHS[interval]
    periods = []
    index = 0
    while True:
        period_start = add_months(start, index * step)
        if period_start > end:
            return periods
        period_end = min(add_months(start, (index + 1) * step) - timedelta(days=1), end)
        periods.append(Period(period_start, period_end, period_end + timedelta(days=due_days)))
        index += 1


def contract_years(start: date, end: date) -> list[tuple[date, date]]:
    """The contract years of a term: twelve months each from its start, the last cut at its end."""
    return [(add_months(start, 12 * k), min(add_months(start, 12 * (k + 1)) - timedelta(days=1), end))
            for k in range((term_months(start, end) + 11) // 12)]
