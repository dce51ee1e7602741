"""Running the same service call from several threads at once, each in its own session, to prove a row lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from portal.extensions import db


def postgresql_only() -> None:
    """Skip where writers cannot truly run at once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and truly concurrent writers need PostgreSQL; SQLite serialises whole-database writes")


def run_concurrently(app, attempts: list[Callable[[], None]]) -> list:
    """Start every attempt at the same moment, each in its own request context and session; each commits on
    success. Returns one outcome per attempt: "ok" or the exception it raised (rolled back)."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list = []

    def run(attempt: Callable[[], None]) -> None:
        with app.test_request_context():
            try:
                barrier.wait(timeout=10)
                attempt()
                db.session.commit()
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - handed to the caller's assertion
                db.session.rollback()
                outcomes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
