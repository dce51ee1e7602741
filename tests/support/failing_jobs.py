"""A job that always fails, for the scheduler's error handling tests."""

from __future__ import annotations

from datetime import datetime

BROKEN_ID = "support.broken"


def broken(now: datetime) -> None:
    """Fail every time."""
    raise RuntimeError("the support job is broken on purpose")


JOBS = [{"id": BROKEN_ID, "func": broken, "minutes": 5}]
