"""The public figures cache (portal/public/figures_cache.py): kept for the period, computed again after it or when
the clock goes back, each year on its own, and computed once when several requests find them stale together."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from portal.public import figures_cache
from portal.public.figures_cache import FiguresCache, PublicFigures

T = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def computed(monkeypatch):
    """Replace the computation by one that records (year, now) and returns a new object each time."""
    calls: list[tuple[int | None, datetime]] = []

    def compute(year, now):
        calls.append((year, now))
        return PublicFigures(figures=None, years=[], computed_at=now)

    monkeypatch.setattr(figures_cache, "_compute", compute)
    return calls


def test_figures_are_kept_until_the_period_ends(computed):
    cache = FiguresCache()
    first = cache.get(2026, now=T, seconds=300)
    assert cache.get(2026, now=T + timedelta(seconds=299, microseconds=999999), seconds=300) is first
    assert computed == [(2026, T)]
    again = cache.get(2026, now=T + timedelta(seconds=300), seconds=300)
    assert again is not first and again.computed_at == T + timedelta(seconds=300)
    assert len(computed) == 2


def test_each_year_and_all_years_are_kept_apart(computed):
    cache = FiguresCache()
    every, this, last = (cache.get(year, now=T, seconds=300) for year in (None, 2026, 2025))
    assert len({id(every), id(this), id(last)}) == 3
    assert [year for year, _ in computed] == [None, 2026, 2025]
    assert cache.get(None, now=T, seconds=300) is every


def test_a_clock_set_back_computes_again(computed):
    cache = FiguresCache()
    cache.get(2026, now=T, seconds=300)
    cache.get(2026, now=T - timedelta(seconds=1), seconds=300)
    assert len(computed) == 2


def test_no_period_computes_every_time_and_a_negative_one_is_refused(computed):
    cache = FiguresCache()
    cache.get(2026, now=T, seconds=0)
    cache.get(2026, now=T, seconds=0)
    assert len(computed) == 2
    with pytest.raises(ValueError, match="cannot be negative"):
        cache.get(2026, now=T, seconds=-1)


def test_requests_finding_stale_figures_together_wait_for_one_computation(monkeypatch):
    started, release, calls = threading.Event(), threading.Event(), []

    def slow(year, now):
        calls.append(year)
        started.set()
        assert release.wait(10)
        return PublicFigures(figures=None, years=[], computed_at=now)

    monkeypatch.setattr(figures_cache, "_compute", slow)
    cache, results = FiguresCache(), []
    threads = [threading.Thread(target=lambda: results.append(cache.get(2026, now=T, seconds=300)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert calls == [2026] and len(results) == 4 and len({id(r) for r in results}) == 1
