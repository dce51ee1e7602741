"""Working days (工作日): chinese_calendar plus the years an administrator enters.

A working day is Monday to Friday, minus statutory holidays, plus the weekend days the
State Council declares as working days (调休). chinese_calendar knows the years it ships
with (2004-2026 in 1.11.0); any other year comes from the holiday notice (放假安排) an
admin enters, and an entered year overrides the package. Where neither knows a year the
computation is refused with CalendarYearMissing: never guess from weekends alone
(RULES-CN 44-45).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar
import sqlalchemy as sa
from flask import g, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from portal import audit
from portal.db import UTCDateTime
from portal.errors import DomainError
from portal.extensions import db

MIN_YEAR = 2000
MAX_YEAR = 2100
# Upper bound on any single walk over the calendar (about ten years), so a bad input cannot loop for ever.
MAX_SPAN_DAYS = 3660
_CACHE_KEY = "_working_calendar"
_ONE_DAY = timedelta(days=1)


class CalendarYearMissing(DomainError):
    """No holiday calendar is known for a year a computation needs."""

    def __init__(self, year: int):
        super().__init__(
            _l(
                "The holiday calendar for %(year)s has not been entered yet. An administrator must enter it "
                "from the State Council's holiday notice before this deadline can be computed."
            ),
            year=year,
        )
        self.year = year


@dataclass(frozen=True)
class YearRule:
    """One year's exceptions to Monday-Friday: days off and 调休 working weekend days."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, d: date) -> bool:
        """Whether d is a working day under this year's rule."""
        return d in self.workdays or (d.weekday() < 5 and d not in self.holidays)


@lru_cache(maxsize=256)
def _package_rule(year: int) -> YearRule | None:
    """The year as chinese_calendar knows it, or None if the package has no data for it."""
    first = date(year, 1, 1)
    try:
        chinese_calendar.is_workday(first)
    except NotImplementedError:
        return None
    holidays, workdays = set(), set()
    d = first
    while d.year == year:
        working = chinese_calendar.is_workday(d)
        if d.weekday() < 5 and not working:
            holidays.add(d)
        elif d.weekday() >= 5 and working:
            workdays.add(d)
        d += _ONE_DAY
    return YearRule(frozenset(holidays), frozenset(workdays))


def _check_date(d) -> date:
    # A datetime is a date subclass; taking its .date() silently would count UTC days, not Beijing days.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a local date, got {type(d).__name__}")
    return d


class WorkingCalendar:
    """Counts working days from admin-entered years, falling back to chinese_calendar."""

    def __init__(self, entered: Mapping[int, YearRule] | None = None):
        self._entered: dict[int, YearRule] = dict(entered or {})

    def year_source(self, year: int) -> str | None:
        """Where the year's rule comes from: "entered", "package", or None if nobody knows it."""
        if year in self._entered:
            return "entered"
        if _package_rule(year) is not None:
            return "package"
        return None

    def rule_for(self, year: int) -> YearRule:
        """The rule for a year; raises CalendarYearMissing if neither an admin nor the package has it."""
        rule = self._entered.get(year)
        if rule is None:
            rule = _package_rule(year)
        if rule is None:
            raise CalendarYearMissing(year)
        return rule

    def is_working_day(self, d: date) -> bool:
        """Whether d is a working day (工作日)."""
        d = _check_date(d)
        return self.rule_for(d.year).is_working_day(d)

    def _step_to_working_day(self, d: date, step: int, *, include_start: bool) -> date:
        current = d if include_start else d + step * _ONE_DAY
        for _ in range(MAX_SPAN_DAYS):
            if self.is_working_day(current):
                return current
            current += step * _ONE_DAY
        raise ValueError(f"no working day within {MAX_SPAN_DAYS} days of {d.isoformat()}")

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        return self._step_to_working_day(_check_date(d), 1, include_start=False)

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before d."""
        return self._step_to_working_day(_check_date(d), -1, include_start=False)

    def roll_forward(self, d: date) -> date:
        """d itself if it is a working day, else the next working day."""
        return self._step_to_working_day(_check_date(d), 1, include_start=True)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after start, start not counted; negative n counts back before start."""
        start = _check_date(start)
        if n == 0:
            return start
        step = 1 if n > 0 else -1
        remaining = abs(n)
        current = start
        for _ in range(MAX_SPAN_DAYS):
            current += step * _ONE_DAY
            if self.is_working_day(current):
                remaining -= 1
                if remaining == 0:
                    return current
        raise ValueError(f"{n} working days from {start.isoformat()} spans more than {MAX_SPAN_DAYS} days")

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days d satisfy start < d <= end (0 if end <= start)."""
        start, end = _check_date(start), _check_date(end)
        span = (end - start).days
        if span <= 0:
            return 0
        if span > MAX_SPAN_DAYS:
            raise ValueError(f"{start.isoformat()} to {end.isoformat()} spans more than {MAX_SPAN_DAYS} days")
        return sum(1 for i in range(1, span + 1) if self.is_working_day(start + timedelta(days=i)))

    def add_days(self, start: date, n: int) -> date:
        """The end of an n-day period (日) from start, moved to the next working day if it falls on a day off."""
        start = _check_date(start)
        if n < 0:
            # 87-85 / 94-42 roll a period's last day forward; a period counted backwards has no such rule.
            raise ValueError("a period in days must not be negative; subtract a timedelta for 'n days before'")
        if n > MAX_SPAN_DAYS:
            raise ValueError(f"a period of {n} days is longer than {MAX_SPAN_DAYS} days")
        return self.roll_forward(start + timedelta(days=n))


def _iso_list(dates: Iterable[date]) -> str:
    return json.dumps(sorted(d.isoformat() for d in dates))


def _date_set(text: str | None) -> set[date]:
    return {date.fromisoformat(s) for s in json.loads(text or "[]")}


class CalendarYear(db.Model):
    """One year's holiday calendar, entered by an admin from the State Council's notice."""

    __tablename__ = "calendar_years"
    __table_args__ = (sa.CheckConstraint(f"year BETWEEN {MIN_YEAR} AND {MAX_YEAR}", name="year_range"),)

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    # JSON lists of ISO dates: days off (weekday holidays included) and 调休 weekend working days.
    holidays: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    workdays: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")
    notice: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def holiday_dates(self) -> set[date]:
        """The days off as dates."""
        return _date_set(self.holidays)

    @property
    def workday_dates(self) -> set[date]:
        """The weekend days that are working days (调休), as dates."""
        return _date_set(self.workdays)

    @property
    def rule(self) -> YearRule:
        """This year as a YearRule for WorkingCalendar."""
        return YearRule(frozenset(self.holiday_dates), frozenset(self.workday_dates))

    def audit_values(self) -> dict:
        """The entered data as plain values for the audit log."""
        return {
            "holidays": sorted(d.isoformat() for d in self.holiday_dates),
            "workdays": sorted(d.isoformat() for d in self.workday_dates),
            "notice": self.notice,
        }


def load_calendar() -> WorkingCalendar:
    """The working calendar with every admin-entered year, cached for the current app context."""
    if has_app_context():
        cached = g.get(_CACHE_KEY)
        if cached is not None:
            return cached
    rows = db.session.scalars(sa.select(CalendarYear)).all()
    calendar = WorkingCalendar({row.year: row.rule for row in rows})
    if has_app_context():
        setattr(g, _CACHE_KEY, calendar)
    return calendar


def invalidate_calendar_cache() -> None:
    """Forget the cached calendar so the next load_calendar() reads the database again."""
    if has_app_context():
        g.pop(_CACHE_KEY, None)


def _validate_year(year: int, holidays: set[date], workdays: set[date], notice: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise DomainError(
            _l("The year must be between %(min)s and %(max)s, not %(year)s."), min=MIN_YEAR, max=MAX_YEAR, year=year
        )
    if not notice:
        raise DomainError(_l("Enter the State Council notice the calendar comes from (e.g. 国办发明电〔2026〕7号)."))
    if len(notice) > 200:
        raise DomainError(_l("The notice reference must be at most 200 characters."))
    for d in sorted(holidays | workdays):
        _check_date(d)
        if d.year != year:
            raise DomainError(_l("%(date)s is not in %(year)s."), date=d.isoformat(), year=year)
    for d in sorted(workdays):
        if d.weekday() < 5:
            raise DomainError(
                _l("%(date)s is a weekday; only Saturdays and Sundays can be declared working days (调休)."),
                date=d.isoformat(),
            )
    both = sorted(holidays & workdays)
    if both:
        raise DomainError(_l("%(date)s is listed both as a holiday and as a working day."), date=both[0].isoformat())


def save_year(
    year: int, holidays: list[date], workdays: list[date], notice: str, *, actor, now: datetime
) -> CalendarYear:
    """Create or replace an admin-entered year's holiday calendar (flushes and audits, never commits)."""
    holiday_set, workday_set = set(holidays), set(workdays)
    notice = (notice or "").strip()
    _validate_year(year, holiday_set, workday_set, notice)
    row = db.session.get(CalendarYear, year)
    old = row.audit_values() if row is not None else None
    if row is None:
        row = CalendarYear(year=year)
        db.session.add(row)
    row.holidays = _iso_list(holiday_set)
    row.workdays = _iso_list(workday_set)
    row.notice = notice
    row.entered_by_id = getattr(actor, "id", None)
    row.entered_at = now
    db.session.flush()
    audit.record("calendar.year_saved", ("CalendarYear", year), actor=actor, old=old, new=row.audit_values(), now=now)
    invalidate_calendar_cache()
    return row


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SEPARATORS = re.compile(r"[\s,，、;；]+")
_RANGE_SPACES = re.compile(r"\s*\.\.\s*")


def _parse_iso(token: str, whole: str) -> date:
    try:
        if _DATE_RE.fullmatch(token):
            return date.fromisoformat(token)
    except ValueError:
        pass
    raise DomainError(_l("“%(token)s” is not a date in the form YYYY-MM-DD."), token=whole)


def parse_date_list(text: str) -> list[date]:
    """Parse an admin's list of ISO dates (one per line or comma-separated, ranges as a..b) into sorted dates."""
    found: set[date] = set()
    for token in _SEPARATORS.split(_RANGE_SPACES.sub("..", text or "")):
        if not token:
            continue
        if ".." in token:
            first_text, _, last_text = token.partition("..")
            first, last = _parse_iso(first_text, token), _parse_iso(last_text, token)
            if last < first:
                raise DomainError(_l("The range “%(token)s” ends before it starts."), token=token)
            if (last - first).days > 366:
                raise DomainError(_l("The range “%(token)s” is longer than a year."), token=token)
            found.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        else:
            found.add(_parse_iso(token, token))
    return sorted(found)
