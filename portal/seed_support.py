"""What the demo stages of ``seed-demo`` share: finding a demo user, and running stages that may not fit.

A stage builds one piece of the demo through the services with the clock of each of its steps. It returns what it
created (or None when it already exists); it raises ``NotYet`` when a step would fall after the present, and
``CalendarYearMissing`` propagates from the calendar when a date reaches a year nobody has entered. Either way the
stage is left out whole (its savepoint rolls back) and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa

from portal.accounts.models import User
from portal.calendar import CalendarYearMissing
from portal.extensions import db


class NotYet(Exception):
    """A stage's steps would fall after the present: leave the stage out."""


def demo_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username))


def run_stages(stages: Iterable[Callable[[], object]]) -> int:
    """Run each stage in its own savepoint; return how many created something."""
    created = 0
    for build in stages:
        try:
            with db.session.begin_nested():
                if build():
                    created += 1
        except (CalendarYearMissing, NotYet):
            pass  # a year without a holiday calendar, or steps after the present: leave this stage out
    db.session.flush()
    return created
