"""The public summary's figures (/statistics), kept for a few minutes in each worker process.

Anyone may ask for /statistics, and at province scale its figures take seconds to compute (docs/PERFORMANCE.md), so
a burst of anonymous requests must not compute them once per request. Each process keeps the figures of each year
(and of all years) for PUBLIC_FIGURES_CACHE_SECONDS (default 300; 0 computes every time, as the tests do). When
they are stale, one request computes them while the others asking for the same year wait for its result instead of
computing them too. The page says when the figures were computed. The officers' dashboard is never cached: officers
see their own figures as they are.

The figures hold no user's data and no translated text (labels stay lazy), so one copy serves every visitor in
either language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from portal.public import dashboard

EXTENSION_KEY = "portal.public_figures"


@dataclass(frozen=True)
class PublicFigures:
    figures: dashboard.Figures
    years: list[int]  # the years with data, for the filter
    computed_at: datetime


def _compute(year: int | None, now: datetime) -> PublicFigures:
    scope = dashboard.public_scope(now=now, year=year)
    return PublicFigures(dashboard.figures(scope), dashboard.years_with_data(scope), now)


class FiguresCache:
    """The public figures per year, each computed at most once per period in this process."""

    def __init__(self):
        self._entries: dict[int | None, PublicFigures] = {}
        self._locks: dict[int | None, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, year: int | None) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(year, threading.Lock())

    def get(self, year: int | None, *, now: datetime, seconds: int) -> PublicFigures:
        """The figures of ``year`` (None: every year) computed at most ``seconds`` before ``now``."""
        if seconds < 0:
            raise ValueError("PUBLIC_FIGURES_CACHE_SECONDS cannot be negative")
        if not seconds:
            return _compute(year, now)
        period = timedelta(seconds=seconds)

        def fresh(entry: PublicFigures | None) -> bool:
            # A clock set back (now before computed_at) makes an entry stale, never fresh for longer.
            return entry is not None and entry.computed_at <= now < entry.computed_at + period

        entry = self._entries.get(year)
        if fresh(entry):
            return entry
        with self._lock(year):
            entry = self._entries.get(year)  # computed by another request while this one waited
            if fresh(entry):
                return entry
            entry = _compute(year, now)
            self._entries[year] = entry
            return entry


_creating = threading.Lock()


def public_figures(year: int | None, *, now: datetime) -> PublicFigures:
    """The public figures of ``year`` through this application's cache (PUBLIC_FIGURES_CACHE_SECONDS)."""
    cache = current_app.extensions.get(EXTENSION_KEY)
    if cache is None:
        with _creating:
            cache = current_app.extensions.setdefault(EXTENSION_KEY, FiguresCache())
    return cache.get(year, now=now, seconds=int(current_app.config.get("PUBLIC_FIGURES_CACHE_SECONDS", 0)))
