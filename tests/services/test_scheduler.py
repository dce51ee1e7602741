"""The scheduler: due-ness, catch-up, failures, the one-scheduler lock, and real processes."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.notify import OutgoingEmail
from portal.scheduler import (
    EXIT_LOCK_LOST,
    LOCK_KEY,
    JobRun,
    JobSpec,
    LockLost,
    PostgresLock,
    collect_jobs,
    due_slot,
    is_due,
    job_modules,
    run_once,
    runner_name,
    scheduler_lock,
)
from tests.support.failing_jobs import BROKEN_ID
from tests.support.jobs import HEARTBEAT_ID, HEARTBEAT_SECONDS
from tests.support.processes import SchedulerProcess, describe, wait_until

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)
ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="PostgreSQL advisory lock: set TEST_DATABASE_URL (runs in CI's PostgreSQL pass)"
)


# ---------------------------------------------------------------- due-ness (pure)


def test_is_due_when_never_run():
    assert is_due(None, TEN_MINUTES, T0)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (T0 + TEN_MINUTES - timedelta(microseconds=1), False),
        (T0 + TEN_MINUTES, True),
        (T0 + TEN_MINUTES + timedelta(microseconds=1), True),
        (T0, False),
        (T0 - timedelta(hours=1), False),  # the clock went back: wait, do not run again
    ],
)
def test_is_due_at_the_interval_boundary(now, due):
    assert is_due(T0, TEN_MINUTES, now) is due


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        (T0 + TEN_MINUTES, T0 + TEN_MINUTES),
        (T0 + TEN_MINUTES + timedelta(minutes=3), T0 + TEN_MINUTES),
        (T0 + 5 * TEN_MINUTES - timedelta(microseconds=1), T0 + 4 * TEN_MINUTES),
        (T0 + 5 * TEN_MINUTES, T0 + 5 * TEN_MINUTES),
    ],
)
def test_due_slot_is_the_latest_missed_slot(now, slot):
    assert due_slot(T0, TEN_MINUTES, now) == slot


def test_due_slot_of_a_first_run_is_now():
    assert due_slot(None, TEN_MINUTES, T0) == T0


# ---------------------------------------------------------------- declaring and collecting jobs


def _noop(now):
    """A job that does nothing."""


def test_job_spec_from_entry_adds_up_the_interval():
    spec = JobSpec.from_entry({"id": "x.y", "func": _noop, "hours": 1, "minutes": 30})
    assert spec == JobSpec("x.y", _noop, timedelta(minutes=90))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "x.y", "func": _noop}, "positive interval"),
        ({"id": "x.y", "func": _noop, "minutes": 0}, "positive interval"),
        ({"id": "x.y", "func": "x.y", "minutes": 1}, "func must be callable"),
        ({"id": "", "func": _noop, "minutes": 1}, "id must be"),
        ({"id": "x.y", "func": _noop, "minute": 1}, "unknown keys"),
        ({"id": "x.y", "func": _noop, "minutes": "5"}, "in numbers"),
    ],
)
def test_job_spec_from_entry_refuses_malformed_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        JobSpec.from_entry(entry, source="tests")


def test_collect_jobs_finds_every_feature_jobs_module_and_the_extra_ones(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_EXTRA_JOB_MODULES", ["tests.support.jobs"])
    on_disk = sorted(f"portal.{path.parent.name}.jobs" for path in (PROJECT_ROOT / "portal").glob("*/jobs.py"))
    modules = job_modules(app)
    assert modules == [*on_disk, "tests.support.jobs", "portal.scheduler", "portal.notify"]
    specs = collect_jobs(app)
    assert HEARTBEAT_ID in [spec.id for spec in specs]
    assert len({spec.id for spec in specs}) == len(specs)


def test_collect_jobs_refuses_a_job_declared_twice(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_EXTRA_JOB_MODULES", ["tests.support.jobs", "tests.support.jobs"])
    with pytest.raises(ValueError, match="declared twice"):
        collect_jobs(app)


# ---------------------------------------------------------------- running due jobs once


def _runs(job_id: str) -> list:
    rows = db.session.execute(
        sa.select(JobRun.due_at, JobRun.started_at, JobRun.finished_at, JobRun.ok, JobRun.error, JobRun.runner)
        .where(JobRun.job_id == job_id)
        .order_by(JobRun.id)
    ).all()
    db.session.rollback()
    return rows


def test_run_once_runs_a_due_job_once_until_its_interval_passes(app):
    calls = []
    spec = JobSpec("test.count", calls.append, TEN_MINUTES)
    with time_machine.travel(T0, tick=False):
        first = run_once(app, [spec])
        again = run_once(app, [spec])
    with time_machine.travel(T0 + TEN_MINUTES - timedelta(microseconds=1), tick=False):
        too_early = run_once(app, [spec])
    with time_machine.travel(T0 + TEN_MINUTES, tick=False):
        on_time = run_once(app, [spec])

    assert [(o.job_id, o.due_at, o.ok) for o in first] == [("test.count", T0, True)]
    assert again == [] and too_early == []
    assert [o.due_at for o in on_time] == [T0 + TEN_MINUTES]
    assert calls == [T0, T0 + TEN_MINUTES]
    runs = _runs("test.count")
    assert [(r.due_at, r.started_at, r.finished_at, r.ok, r.runner) for r in runs] == [
        (T0, T0, T0, True, runner_name()),
        (T0 + TEN_MINUTES, T0 + TEN_MINUTES, T0 + TEN_MINUTES, True, runner_name()),
    ]


def test_run_once_catches_up_once_on_what_fell_due_while_nothing_ran(app):
    calls = []
    spec = JobSpec("test.catch_up", calls.append, TEN_MINUTES)
    with time_machine.travel(T0, tick=False):
        run_once(app, [spec])
    down_until = T0 + 5 * TEN_MINUTES + timedelta(minutes=3)  # five slots missed
    with time_machine.travel(down_until, tick=False):
        caught_up = run_once(app, [spec])
        again = run_once(app, [spec])

    assert [o.due_at for o in caught_up] == [T0 + 5 * TEN_MINUTES]
    assert again == []
    assert calls == [T0, down_until]


def test_a_failing_job_is_recorded_rolled_back_and_retried(app):
    attempts = []

    def flaky(now):
        attempts.append(now)
        db.session.add(OutgoingEmail(to_address="ngo@example.org", subject="reminder", body="..."))
        if len(attempts) == 1:
            raise RuntimeError("SMTP is down")

    spec = JobSpec("test.flaky", flaky, timedelta(hours=1))
    with time_machine.travel(T0, tick=False):
        failed = run_once(app, [spec])
    assert [(o.ok, o.error) for o in failed] == [(False, "RuntimeError: SMTP is down")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 0

    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        retried = run_once(app, [spec])
    assert [o.ok for o in retried] == [True]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 1
    runs = _runs("test.flaky")
    assert [(r.ok, r.error, r.finished_at is not None) for r in runs] == [
        (False, "RuntimeError: SMTP is down", True),
        (True, "", True),
    ]


def test_one_failing_job_does_not_stop_the_others(app):
    calls = []

    def broken(now):
        raise ValueError("broken")

    specs = [JobSpec("test.broken", broken, TEN_MINUTES), JobSpec("test.fine", calls.append, TEN_MINUTES)]
    with time_machine.travel(T0, tick=False):
        outcomes = run_once(app, specs)
    assert [(o.job_id, o.ok) for o in outcomes] == [("test.broken", False), ("test.fine", True)]
    assert calls == [T0]


# ---------------------------------------------------------------- the command


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def test_scheduler_run_once_command_runs_due_jobs_then_nothing(app, cli, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_EXTRA_JOB_MODULES", ["tests.support.jobs"])
    first = cli.invoke(args=["scheduler", "run", "--once", "--job", HEARTBEAT_ID])
    second = cli.invoke(args=["scheduler", "run", "--once", "--job", HEARTBEAT_ID])

    assert first.exit_code == 0, first.output
    assert f"{HEARTBEAT_ID} (due " in first.output and first.output.rstrip().endswith(": ok")
    assert second.exit_code == 0, second.output
    assert "No job was due." in second.output
    assert [(r.ok, r.runner) for r in _runs(HEARTBEAT_ID)] == [(True, runner_name())]


def test_scheduler_run_once_command_exits_1_when_a_job_failed(app, cli, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_EXTRA_JOB_MODULES", ["tests.support.failing_jobs"])
    result = cli.invoke(args=["scheduler", "run", "--once", "--job", BROKEN_ID])
    assert result.exit_code == 1, result.output
    assert "FAILED: RuntimeError: the support job is broken on purpose" in result.output


def test_scheduler_run_refuses_an_unknown_job(cli):
    result = cli.invoke(args=["scheduler", "run", "--once", "--job", "no.such.job"])
    assert result.exit_code == 2
    assert "unknown job(s): no.such.job" in result.output


def test_scheduler_run_once_runs_nothing_while_another_scheduler_holds_the_lock(app, cli, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_EXTRA_JOB_MODULES", ["tests.support.jobs"])
    holder = scheduler_lock(app)
    assert holder.try_acquire()
    try:
        result = cli.invoke(args=["scheduler", "run", "--once"])
    finally:
        holder.release()
    assert result.exit_code == 0, result.output
    assert "Another scheduler holds the lock" in result.output
    assert _runs(HEARTBEAT_ID) == []


# ---------------------------------------------------------------- the lock, in one process


def test_scheduler_lock_is_exclusive_until_released(app):
    first, second = scheduler_lock(app), scheduler_lock(app)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        first.check()
        first.release()
        assert second.try_acquire()
        with pytest.raises(LockLost):
            first.check()
    finally:
        first.release()
        second.release()


def test_a_waiting_scheduler_says_so_and_gives_up_when_stopped(app, caplog):
    holder, waiter = scheduler_lock(app), scheduler_lock(app)
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    try:
        assert holder.try_acquire()
        timer.start()
        with caplog.at_level("INFO", logger="portal.scheduler"):
            assert waiter.acquire(stop, poll_seconds=0.1) is False
    finally:
        timer.cancel()
        holder.release()
        waiter.release()
    assert "waiting for the scheduler lock held by another process" in caplog.text


@needs_postgres
def test_postgres_lock_check_notices_a_lost_connection(app):
    lock = scheduler_lock(app)
    assert isinstance(lock, PostgresLock)
    try:
        assert lock.try_acquire()
        lock.check()
        assert _terminate_lock_holder() == 1
        with pytest.raises(LockLost, match="connection holding the scheduler lock failed"):
            lock.check()
    finally:
        lock.release()


def test_the_web_app_starts_no_scheduler(app, client):
    response = client.get("/")
    assert response.status_code < 500
    assert not [thread for thread in threading.enumerate() if thread.name == "APScheduler"]
    lock = scheduler_lock(app)
    try:
        assert lock.try_acquire(), "something in the web app holds the scheduler lock"
    finally:
        lock.release()


# ---------------------------------------------------------------- real scheduler processes

HEARTBEAT = timedelta(seconds=HEARTBEAT_SECONDS)
FAST = ("--poll-seconds", "0.5", "--tick-seconds", "0.5")
# Generous bounds for a loaded two-core CI machine: each is only ever waited for by polling.
START_TIMEOUT = 90
TAKEOVER_TIMEOUT = 45


@dataclass(frozen=True)
class Run:
    id: int
    pid: int
    due_at: datetime
    started_at: datetime
    ok: bool | None


def heartbeat_runs() -> list[Run]:
    rows = db.session.execute(
        sa.select(JobRun.id, JobRun.runner, JobRun.due_at, JobRun.started_at, JobRun.ok)
        .where(JobRun.job_id == HEARTBEAT_ID)
        .order_by(JobRun.id)
    ).all()
    db.session.rollback()
    return [Run(r.id, int(r.runner.rsplit(":", 1)[1]), r.due_at, r.started_at, r.ok) for r in rows]


def runs_by(pid: int, minimum: int = 1):
    """A condition for wait_until: at least ``minimum`` heartbeat runs by ``pid`` (returns them)."""

    def condition():
        runs = [run for run in heartbeat_runs() if run.pid == pid]
        return runs if len(runs) >= minimum else None

    return condition


def assert_never_run_twice_within_the_interval(runs: list[Run]) -> None:
    slots = [run.due_at for run in runs if run.ok]
    assert slots == sorted(slots)
    assert all(later - earlier >= HEARTBEAT for earlier, later in zip(slots, slots[1:], strict=False)), slots


def _terminate_lock_holder() -> int:
    """Kill the server session holding this database's scheduler lock, as a network failure would."""
    terminated = db.session.scalar(
        sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid) AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF},
    )
    db.session.rollback()
    return terminated


@pytest.fixture
def schedulers(database_url, tmp_path):
    """Start scheduler processes on the test database; every one is killed at the end of the test."""
    started: list[SchedulerProcess] = []

    def start(name: str) -> SchedulerProcess:
        process = SchedulerProcess.start(name, database_url=database_url, workdir=tmp_path, args=FAST)
        started.append(process)
        return process

    start.all = started
    yield start
    for process in started:
        process.kill()


def _holder_and_waiter(first: SchedulerProcess, second: SchedulerProcess, schedulers):
    """Wait until one of two schedulers runs jobs and the other waits for the lock; return (holder, waiter)."""
    details = lambda: describe(schedulers.all)  # noqa: E731
    runs = wait_until(heartbeat_runs, timeout=START_TIMEOUT, what="the first heartbeat run", details=details)
    holder, waiter = (first, second) if runs[0].pid == first.pid else (second, first)
    assert runs[0].pid == holder.pid, describe(schedulers.all)
    wait_until(lambda: "waiting for the scheduler lock held by another process" in waiter.log(),
               timeout=START_TIMEOUT, what=f"{waiter.name} to wait for the lock", details=details)
    # Both are up now: several more intervals pass, and still only the holder runs the job.
    seen = len(heartbeat_runs())
    wait_until(lambda: len(heartbeat_runs()) >= seen + 3, timeout=TAKEOVER_TIMEOUT,
               what="three more heartbeat runs", details=details)
    assert {run.pid for run in heartbeat_runs()} == {holder.pid}, describe(schedulers.all)
    assert waiter.returncode() is None, describe(schedulers.all)
    return holder, waiter


def test_two_schedulers_one_runs_the_other_takes_over_and_catches_up_once(schedulers):
    details = lambda: describe(schedulers.all)  # noqa: E731
    first, second = schedulers("first"), schedulers("second")
    holder, waiter = _holder_and_waiter(first, second, schedulers)

    # The holder crashes: the waiting copy takes the lock and runs the jobs.
    holder.kill()
    before_takeover = len(heartbeat_runs())
    wait_until(runs_by(waiter.pid, minimum=2), timeout=TAKEOVER_TIMEOUT, what=f"{waiter.name} to take over",
               details=details)
    after_crash = heartbeat_runs()[before_takeover:]
    assert {run.pid for run in after_crash} == {waiter.pid}, details()

    # Nothing runs for four intervals, then a new scheduler starts: it catches up once, not four times.
    waiter.kill()
    last_slot = max(run.due_at for run in heartbeat_runs() if run.ok)
    time.sleep(4 * HEARTBEAT_SECONDS + 0.5)
    third = schedulers("third")
    third_runs = wait_until(runs_by(third.pid, minimum=3), timeout=START_TIMEOUT, what="the restarted scheduler",
                            details=details)
    catch_up = third_runs[0]
    assert catch_up.ok, details()
    assert catch_up.due_at - last_slot >= 4 * HEARTBEAT, (last_slot, third_runs)
    assert [run for run in third_runs if run.due_at <= catch_up.started_at] == [catch_up], third_runs
    assert_never_run_twice_within_the_interval(heartbeat_runs())

    # A clean stop on SIGTERM.
    assert third.terminate() == 0, details()
    assert "scheduler stopped" in third.log()


@needs_postgres
def test_a_scheduler_that_loses_its_postgres_lock_exits_and_the_other_takes_over(schedulers):
    details = lambda: describe(schedulers.all)  # noqa: E731
    first, second = schedulers("first"), schedulers("second")
    holder, waiter = _holder_and_waiter(first, second, schedulers)

    assert _terminate_lock_holder() == 1
    wait_until(lambda: holder.returncode() is not None, timeout=TAKEOVER_TIMEOUT,
               what=f"{holder.name} to exit", details=details)
    assert holder.returncode() == EXIT_LOCK_LOST, details()
    assert "exiting at once so that only one scheduler runs" in holder.log()
    wait_until(runs_by(waiter.pid, minimum=2), timeout=TAKEOVER_TIMEOUT, what=f"{waiter.name} to take over",
               details=details)
    assert_never_run_twice_within_the_interval(heartbeat_runs())


def test_a_scheduler_process_runs_nothing_while_another_holds_the_lock(app, schedulers):
    """On either engine, a scheduler started while the lock is held waits, then runs once it is free."""
    holder = scheduler_lock(app)
    assert holder.try_acquire()
    try:
        waiter = schedulers("waiter")
        wait_until(lambda: "waiting for the scheduler lock held by another process" in waiter.log(),
                   timeout=START_TIMEOUT, what="the scheduler to wait", details=lambda: describe([waiter]))
        assert heartbeat_runs() == []
    finally:
        holder.release()
    wait_until(runs_by(waiter.pid), timeout=TAKEOVER_TIMEOUT, what="the scheduler to start running jobs",
               details=lambda: describe([waiter]))


def test_prune_job_runs_keeps_recent_and_failed_runs(now):
    from portal.scheduler import JOB_RUN_RETENTION, JobRun, prune_job_runs

    def run(age, ok):
        at = now - age
        return JobRun(job_id="x", due_at=at, started_at=at, finished_at=at, ok=ok, runner="t")

    old_ok, old_failed, recent = (run(JOB_RUN_RETENTION + timedelta(seconds=1), True),
                                  run(JOB_RUN_RETENTION + timedelta(days=5), False),
                                  run(JOB_RUN_RETENTION - timedelta(seconds=1), True))
    db.session.add_all([old_ok, old_failed, recent])
    db.session.commit()
    assert prune_job_runs(now) == 1
    db.session.commit()
    assert {r.ok for r in db.session.scalars(sa.select(JobRun))} == {True, False}
    assert prune_job_runs(now) == 0


def test_prune_job_is_collected(app):
    from portal.scheduler import collect_jobs

    assert "scheduler.prune_job_runs" in {spec.id for spec in collect_jobs(app)}
