"""The single scheduler process: timed jobs of every feature, run exactly once at a time.

A feature declares its timed work in ``<feature>/jobs.py``::

    JOBS = [{"id": "tenders.reminders", "func": send_reminders, "minutes": 10}]

where ``func(now)`` takes the job's one clock reading, calls services, and can run twice
without harm (STYLE rule 11). ``flask scheduler run`` collects every such module and runs the
jobs in its own process; the web workers never start a scheduler.

Exactly one scheduler runs per database: it holds a PostgreSQL advisory lock (a ``flock`` on a
file beside the database on SQLite) for its whole life, and extra copies wait for the lock. The
database, not the process, remembers what ran: each run leaves a ``JobRun`` row, and a job is
due when its last successful run's slot is one interval old. So a new or restarted scheduler
first catches up on whatever fell due while none ran (once per job, however many intervals
were missed), and a double trigger never runs a job twice within its interval.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import logging
import os
import pkgutil
import signal
import socket
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from portal import audit, files
from portal.db import UTCDateTime, transaction, utcnow
from portal.extensions import db

log = logging.getLogger(__name__)

# The advisory lock every scheduler of one PostgreSQL database competes for ("portalSC").
LOCK_KEY = 0x706F7274616C5343
LOCK_FILE_SUFFIX = ".scheduler.lock"
LOCK_APPLICATION_NAME = "portal-scheduler"
EXIT_LOCK_LOST = 3
WAIT_LOG_SECONDS = 60
INTERVAL_UNITS = ("days", "hours", "minutes", "seconds")


class JobRun(db.Model):
    """One run of a timed job: what fell due, who ran it, and how it ended."""

    __tablename__ = "scheduler_job_runs"
    __table_args__ = (sa.Index("ix_scheduler_job_runs_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column()
    error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    runner: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")


# ---------------------------------------------------------------- when a job is due (pure)


def is_due(last_due_at: datetime | None, interval: timedelta, now: datetime) -> bool:
    """Whether a job whose last successful run was for the slot ``last_due_at`` is due at ``now``."""
    return last_due_at is None or last_due_at + interval <= now


def due_slot(last_due_at: datetime | None, interval: timedelta, now: datetime) -> datetime:
    """The slot a run at ``now`` stands for: the latest one not after ``now``, so missed slots coalesce."""
    if last_due_at is None or now < last_due_at:
        return now
    return last_due_at + interval * ((now - last_due_at) // interval)


# ---------------------------------------------------------------- declaring and collecting jobs


@dataclass(frozen=True)
class JobSpec:
    """A timed job: ``func(now)`` runs every ``interval``."""

    id: str
    func: Callable[[datetime], None]
    interval: timedelta

    @classmethod
    def from_entry(cls, entry: dict, source: str = "?") -> JobSpec:
        """Build a spec from a ``JOBS`` entry, refusing anything malformed with a message naming it."""
        where = f"job {entry.get('id')!r} in {source}"
        unknown = set(entry) - {"id", "func", *INTERVAL_UNITS}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        job_id = entry.get("id")
        if not isinstance(job_id, str) or not job_id or len(job_id) > 100:
            raise ValueError(f"{where}: id must be a non-empty string of at most 100 characters")
        if not callable(entry.get("func")):
            raise ValueError(f"{where}: func must be callable")
        units = {unit: entry[unit] for unit in INTERVAL_UNITS if unit in entry}
        try:
            interval = timedelta(**units)
        except TypeError as exc:
            raise ValueError(f"{where}: the interval must be given in numbers") from exc
        if interval <= timedelta(0):
            raise ValueError(f"{where}: give a positive interval in {', '.join(INTERVAL_UNITS)}")
        return cls(job_id, entry["func"], interval)


def job_modules(app) -> list[str]:
    """Dotted names of the modules whose ``JOBS`` the scheduler runs.

    Every ``portal.<feature>.jobs`` that exists, then the modules named in
    ``SCHEDULER_EXTRA_JOB_MODULES``, then ``portal.notify`` last so that mail queued by the
    other jobs of a catch-up goes out in the same pass.
    """
    import portal

    names = []
    for info in pkgutil.iter_modules(portal.__path__, "portal."):
        if info.ispkg and importlib.util.find_spec(f"{info.name}.jobs") is not None:
            names.append(f"{info.name}.jobs")
    names.extend(app.config.get("SCHEDULER_EXTRA_JOB_MODULES") or [])
    names.append("portal.scheduler")
    names.append("portal.notify")
    return names


def collect_jobs(app) -> list[JobSpec]:
    """Import every jobs module and return their jobs; a job id declared twice is an error."""
    specs: dict[str, JobSpec] = {}
    for name in job_modules(app):
        module = importlib.import_module(name)
        for entry in getattr(module, "JOBS", []):
            spec = JobSpec.from_entry(entry, source=name)
            if spec.id in specs:
                raise ValueError(f"job {spec.id!r} is declared twice (again in {name})")
            specs[spec.id] = spec
    return list(specs.values())


# ---------------------------------------------------------------- running jobs


@dataclass(frozen=True)
class JobOutcome:
    """How one run of a job ended."""

    job_id: str
    due_at: datetime
    ok: bool
    error: str = ""


def runner_name() -> str:
    """Who runs the jobs, as stored in ``JobRun.runner``: ``host:pid``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def last_due_times(job_ids: Iterable[str]) -> dict[str, datetime]:
    """The slot of each job's last successful run (jobs that never succeeded are absent)."""
    rows = db.session.execute(
        sa.select(JobRun.job_id, sa.func.max(JobRun.due_at))
        .where(JobRun.job_id.in_(list(job_ids)), JobRun.ok.is_(True))
        .group_by(JobRun.job_id)
    )
    return {job_id: due_at for job_id, due_at in rows}


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]


def _run_if_due(spec: JobSpec, runner: str) -> JobOutcome | None:
    now = utcnow()
    last = last_due_times([spec.id]).get(spec.id)
    if not is_due(last, spec.interval, now):
        db.session.rollback()
        return None
    due_at = due_slot(last, spec.interval, now)
    run = JobRun(job_id=spec.id, due_at=due_at, started_at=now, runner=runner)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    ok, error = True, ""
    try:
        with transaction():
            spec.func(now)
    except Exception as exc:
        log.exception("job %s (due %s) failed; it is retried at the next tick", spec.id, due_at.isoformat())
        ok, error = False, _describe(exc)
    db.session.execute(sa.update(JobRun).where(JobRun.id == run_id).values(ok=ok, error=error, finished_at=utcnow()))
    db.session.commit()
    if ok:
        log.info("job %s (due %s) done", spec.id, due_at.isoformat())
    return JobOutcome(spec.id, due_at, ok=ok, error=error)


class JobRunner:
    """Runs jobs for one scheduler process: each only when due, and never twice at once."""

    def __init__(self, app, name: str | None = None):
        self.app = app
        self.name = name or runner_name()
        self._guards: dict[str, threading.Lock] = {}
        self._guards_lock = threading.Lock()

    def _guard(self, job_id: str) -> threading.Lock:
        with self._guards_lock:
            return self._guards.setdefault(job_id, threading.Lock())

    def busy(self, job_id: str) -> bool:
        """Whether a run of this job is in progress in this process."""
        return self._guard(job_id).locked()

    def run_if_due(self, spec: JobSpec) -> JobOutcome | None:
        """Run the job in its own application context if the database says it is due.

        The job's work runs in one transaction; its failure is recorded (``ok=False``) and
        logged, never raised. Returns None when the job was not due or already running.
        """
        guard = self._guard(spec.id)
        if not guard.acquire(blocking=False):
            return None
        try:
            with self.app.app_context():
                return _run_if_due(spec, self.name)
        finally:
            guard.release()


def run_due_jobs(runner: JobRunner, specs: Iterable[JobSpec], stop: threading.Event | None = None) -> list[JobOutcome]:
    """Run every due job once, one after the other; stop early when ``stop`` is set."""
    outcomes = []
    for spec in specs:
        if stop is not None and stop.is_set():
            break
        outcome = runner.run_if_due(spec)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


# ---------------------------------------------------------------- the one-scheduler lock


class LockLost(RuntimeError):
    """The scheduler no longer holds its lock; another copy may already be running jobs."""


class SchedulerLock(ABC):
    """The right to be the one scheduler of a database, held until released or the process dies."""

    held = False

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""

    @abstractmethod
    def check(self) -> None:
        """Raise LockLost unless the lock is still held."""

    @abstractmethod
    def release(self) -> None:
        """Give the lock up (it is also given up when the process dies)."""

    def acquire(self, stop: threading.Event, poll_seconds: float) -> bool:
        """Wait for the lock, polling; False if ``stop`` was set first."""
        logged_at = None
        while not stop.is_set():
            try:
                if self.try_acquire():
                    return True
                message = "waiting for the scheduler lock held by another process (%s)"
                args = (self,)
            except sa.exc.DBAPIError as exc:
                message = "waiting for the database to take the scheduler lock (%s): %s"
                args = (self, str(exc).splitlines()[0])
            if logged_at is None or time.monotonic() - logged_at >= WAIT_LOG_SECONDS:
                log.info(message, *args)
                logged_at = time.monotonic()
            stop.wait(poll_seconds)
        return False


class PostgresLock(SchedulerLock):
    """A session-level advisory lock on a dedicated connection, which PostgreSQL frees when it dies.

    TCP keepalives on both ends make the server notice a vanished host within about half a
    minute (the server's own default is two hours), so a waiting copy takes over promptly.
    """

    def __init__(self, url: sa.URL | str):
        self._engine = sa.create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": LOCK_APPLICATION_NAME,
                "connect_timeout": 10,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": 30_000,
                "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
            },
        )
        self._conn: sa.Connection | None = None
        self.held = False

    def __str__(self) -> str:
        return f"PostgreSQL advisory lock {LOCK_KEY} on {self._engine.url.render_as_string(hide_password=True)}"

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sa.exc.DBAPIError:
                log.debug("closing the scheduler lock connection failed", exc_info=True)
            self._conn = None
        self.held = False

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            self.held = bool(self._conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}))
        except sa.exc.DBAPIError:
            self._drop_connection()
            raise
        return self.held

    def check(self) -> None:
        if not self.held or self._conn is None:
            raise LockLost("the scheduler lock is not held")
        try:
            count = self._conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid) AND objsubid = 1 AND granted"
                ),
                {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF},
            )
        except sa.exc.DBAPIError as exc:
            self._drop_connection()
            raise LockLost(f"the connection holding the scheduler lock failed: {str(exc).splitlines()[0]}") from exc
        if not count:
            self._drop_connection()
            raise LockLost("the scheduler lock was released behind the scheduler's back")

    def release(self) -> None:
        if self._conn is not None and self.held:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except sa.exc.DBAPIError:
                log.debug("unlocking the scheduler lock failed; closing its connection frees it", exc_info=True)
        self._drop_connection()
        self._engine.dispose()


class FileLock(SchedulerLock):
    """An exclusive ``flock`` on a file, which the kernel frees when the process dies (SQLite)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._fd: int | None = None
        self.held = False

    def __str__(self) -> str:
        return f"file lock {self.path}"

    def try_acquire(self) -> bool:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Say who holds it, for an operator looking at the file.
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{runner_name()}\n".encode(), 0)
        self.held = True
        return True

    def check(self) -> None:
        if not self.held:
            raise LockLost("the scheduler lock is not held")

    def release(self) -> None:
        if self._fd is not None:
            if self.held:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self.held = False


def scheduler_lock(app) -> SchedulerLock:
    """The lock that makes this database's scheduler the only one.

    On SQLite the lock file sits beside the database file, so every process using that file
    competes for it whatever its instance folder.
    """
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresLock(url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            return FileLock(Path(database).with_name(Path(database).name + LOCK_FILE_SUFFIX))
        return FileLock(Path(app.instance_path) / "scheduler.lock")
    raise RuntimeError(f"the scheduler supports PostgreSQL and SQLite, not {url.get_backend_name()}")


# ---------------------------------------------------------------- the scheduler process


def run_once(app, specs: list[JobSpec]) -> list[JobOutcome] | None:
    """Run every due job once under the lock; None (nothing run) if another scheduler holds it."""
    lock = scheduler_lock(app)
    try:
        if not lock.try_acquire():
            return None
        return run_due_jobs(JobRunner(app), specs)
    finally:
        lock.release()


def _retry_due_jobs(app, runner: JobRunner, scheduler, specs: list[JobSpec]) -> None:
    """Start a run now of every job that is due but not running (a failed run, a late trigger)."""
    with app.app_context():
        try:
            last = last_due_times(spec.id for spec in specs)
        except sa.exc.DBAPIError as exc:
            log.warning("cannot read the job runs (%s); trying again at the next tick", str(exc).splitlines()[0])
            return
    now = utcnow()
    for spec in specs:
        if not runner.busy(spec.id) and is_due(last.get(spec.id), spec.interval, now):
            scheduler.add_job(runner.run_if_due, args=[spec], id=f"{spec.id}:retry", name=f"{spec.id} (retry)",
                              replace_existing=True)


def _start_apscheduler(app, runner: JobRunner, specs: list[JobSpec]):
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    with app.app_context():
        anchors = last_due_times(spec.id for spec in specs)
    now = utcnow()
    for spec in specs:
        # Fire on the job's own grid of slots (its last slot + n intervals), not on the start time.
        trigger = IntervalTrigger(seconds=spec.interval.total_seconds(), start_date=anchors.get(spec.id, now),
                                  timezone=UTC)
        scheduler.add_job(runner.run_if_due, trigger, args=[spec], id=spec.id, name=spec.id)
    scheduler.start()
    return scheduler


def serve(app, specs: list[JobSpec], *, stop: threading.Event, poll_seconds: float = 5,
          tick_seconds: float = 15) -> None:
    """Be the scheduler until ``stop`` is set: wait for the lock, catch up, then run jobs on time.

    Every ``tick_seconds`` the lock is verified (LockLost is raised if it is gone: the caller
    must exit at once, as another copy may be taking over) and due jobs that did not run, such
    as failed ones, are started again.
    """
    lock = scheduler_lock(app)
    if not lock.acquire(stop, poll_seconds):
        return
    try:
        runner = JobRunner(app)
        log.info("%s holds the %s; jobs: %s", runner.name, lock,
                 ", ".join(f"{spec.id} every {spec.interval}" for spec in specs) or "none")
        outcomes = run_due_jobs(runner, specs, stop=stop)
        log.info("caught up: %d job(s) were due", len(outcomes))
        if stop.is_set():
            return
        scheduler = _start_apscheduler(app, runner, specs)
        try:
            while not stop.wait(tick_seconds):
                lock.check()
                _retry_due_jobs(app, runner, scheduler, specs)
        except BaseException:
            scheduler.shutdown(wait=False)
            raise
        log.info("stopping: waiting for running jobs to finish")
        scheduler.shutdown(wait=True)
    finally:
        lock.release()


def run_forever(app, specs: list[JobSpec], *, poll_seconds: float, tick_seconds: float) -> None:
    """``flask scheduler run``: serve until SIGTERM or SIGINT; exit at once with EXIT_LOCK_LOST if the lock goes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        serve(app, specs, stop=stop, poll_seconds=poll_seconds, tick_seconds=tick_seconds)
    except LockLost as exc:
        log.error("%s: exiting at once so that only one scheduler runs", exc)
        logging.shutdown()
        # Not sys.exit(): it would wait for running jobs while another copy may be taking over.
        os._exit(EXIT_LOCK_LOST)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("scheduler stopped")


# ---------------------------------------------------------------- housekeeping

JOB_RUN_RETENTION = timedelta(days=90)  # successful runs are kept this long; failed ones stay for review


def prune_job_runs(now: datetime) -> int:
    """Delete successful job runs older than the retention period (the scheduler's own table only)."""
    cutoff = now - JOB_RUN_RETENTION
    result = db.session.execute(sa.delete(JobRun).where(JobRun.ok.is_(True), JobRun.finished_at < cutoff))
    return result.rowcount or 0


def sweep_orphan_files(now: datetime) -> int:
    """Remove upload files whose row never committed (portal.files.sweep_orphans), recording how many."""
    removed = files.sweep_orphans(now)
    if removed:
        audit.record("files.orphans_swept", new={"removed": removed}, now=now)
    return removed


JOBS = [{"id": "scheduler.prune_job_runs", "func": prune_job_runs, "hours": 24},
        {"id": "scheduler.sweep_orphan_files", "func": sweep_orphan_files, "hours": 24}]
