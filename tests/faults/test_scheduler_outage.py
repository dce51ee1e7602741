"""The scheduler stopped for two hours of clock time, then restarted: every due change is applied exactly once.

Real ``flask scheduler run`` processes, each on a travelled clock (tests/support/gunicorn.py), against the test
database. The first runs late on Tuesday 1 December 2026 (Beijing) and is stopped; nothing is run while the
clock passes midnight, when four things fall due: a deemed award (the fifth working day after the report has
passed), a contract notice on its last allowed day, the 20th-day reminder to sign a contract, and the new day's
audit anchor. The scheduler restarted two hours later catches up once per job, and each change is there once:
one award, one result notice, one contract notice, one reminder each, one anchor per day. An hour later, when
every job is due again, running the due jobs (``run_once``, in this process) changes nothing: no second
notification, audit entry or notice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import User
from portal.audit import AuditEntry
from portal.contracts.models import Contract
from portal.evaluation import award as award_service
from portal.evaluation.models import Award
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.public.anchor import AuditAnchor
from portal.scheduler import JobRun, collect_jobs, run_once
from tests.award_builders import evaluated_open_tender
from tests.contract_builders import draft_contract_row, signed_contract
from tests.support.gunicorn import portal_env, travelled_scheduler
from tests.support.processes import describe, wait_until
from tests.support.web import bj

STOPPED_AT = bj("2026-12-01", "22:30")  # Tuesday night in Beijing
RESTARTED_AT = STOPPED_AT + timedelta(hours=2)  # Wednesday 2 December, 00:30
# Every job 15 minutes to 1 hour apart is due again (the margin covers the restarted scheduler's own minutes).
AGAIN_AT = RESTARTED_AT + timedelta(hours=1, minutes=15)
DUE_DAY = date(2026, 12, 2)
START_TIMEOUT = 120  # a cold start on a loaded two-core machine; only ever waited for by polling


@pytest.fixture
def run_scheduler(postgresql_only, app, database_url, tmp_path):
    """Run a scheduler from ``clock`` until it has caught up, then stop it (SIGTERM); killed if anything fails."""
    env = portal_env(database_url, tmp_path / "instance", PORTAL_SEALING_KEY=app.config["PORTAL_SEALING_KEY"],
                     PORTAL_UPLOAD_FOLDER=str(Path(app.config["UPLOAD_FOLDER"])))
    started = []

    def run(name: str, clock: datetime) -> None:
        process = travelled_scheduler(name, clock=clock, env=env, workdir=tmp_path)
        started.append(process)
        wait_until(lambda: "caught up:" in process.log(), timeout=START_TIMEOUT, what=f"{name} to catch up",
                   details=lambda: describe(started))
        assert process.terminate() == 0, describe(started)
        assert "job(s) were due" in process.log() and "Traceback" not in process.log(), describe(started)

    yield run
    for process in started:
        process.kill()


def count(model, *where) -> int:
    db.session.rollback()  # read what the scheduler processes committed
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def audited(action: str) -> int:
    return count(AuditEntry, AuditEntry.action == action)


def everything() -> dict[str, int]:
    """Row counts of whatever a job could add twice."""
    return {model.__name__: count(model) for model in (Award, Notice, Notification, AuditEntry, AuditAnchor)}


def jobs_run_since(instant: datetime) -> set[str]:
    """The jobs that ran, all successfully, from ``instant`` on."""
    db.session.rollback()
    runs = db.session.execute(sa.select(JobRun.job_id, JobRun.ok).where(JobRun.started_at >= instant)).all()
    assert all(ok for _, ok in runs), runs
    return {job for job, _ in runs}


def assert_never_twice_within_an_interval(intervals: dict[str, timedelta]) -> None:
    db.session.rollback()
    slots: dict[str, list[datetime]] = {}
    for job, due_at in db.session.execute(sa.select(JobRun.job_id, JobRun.due_at).order_by(JobRun.due_at)):
        slots.setdefault(job, []).append(due_at)
    for job, due in slots.items():
        assert all(later - earlier >= intervals[job] for earlier, later in zip(due, due[1:], strict=False)), (job, due)


def test_a_scheduler_down_for_two_hours_applies_every_due_change_once(run_scheduler, app, city_bureau, create_user):
    intervals = {spec.id: spec.interval for spec in collect_jobs(app)}
    report_at = bj("2026-11-24", "16:00")
    evaluated = evaluated_open_tender(city_bureau, create_user, now=report_at - timedelta(days=3), report_at=report_at)
    assert award_service.deemed_award_day(evaluated.committee) == DUE_DAY
    signed = signed_contract(city_bureau, create_user, now=bj("2026-11-30", "09:00"),
                             signed_at=bj("2026-11-30", "11:00"))  # its notice is due by 2 December (2 WD)
    unsigned = draft_contract_row(city_bureau, create_user, now=bj("2026-11-12", "10:00"))  # day 20: 2 December
    tender_id, signed_id, unsigned_id = evaluated.tender.id, signed.contract.id, unsigned.contract.id

    run_scheduler("before", STOPPED_AT)
    assert count(Award, Award.tender_id == tender_id) == 0
    assert count(Contract, Contract.id == signed_id, Contract.notice_id.is_not(None)) == 0
    assert count(Contract, Contract.id == unsigned_id, Contract.reminded != "") == 0
    assert set(db.session.scalars(sa.select(AuditAnchor.day))) == {date(2026, 12, 1)}
    before = everything()

    run_scheduler("after", RESTARTED_AT)
    # Every job whose interval passed during the outage ran to catch up, never twice within its interval.
    assert jobs_run_since(RESTARTED_AT) == {job for job, every in intervals.items() if every <= timedelta(hours=2)}
    assert_never_twice_within_an_interval(intervals)
    # Each due change is there once.
    [award] = db.session.scalars(sa.select(Award).where(Award.tender_id == tender_id)).all()
    assert award.deemed and award.decided_at >= RESTARTED_AT
    assert audited("award.deemed") == 1
    assert count(Notice, Notice.tender_id == tender_id, Notice.kind == NoticeKind.RESULT) == 1
    assert count(Contract, Contract.id == signed_id, Contract.notice_id.is_not(None)) == 1
    assert audited("contract.notice_published") == 1
    assert count(Notice, Notice.kind == NoticeKind.CONTRACT) == 1
    assert db.session.get(Contract, unsigned_id).reminded == "sign20"
    reminders = db.session.scalars(sa.select(Notification.user_id).where(
        Notification.link == f"/contracts/{unsigned_id}")).all()
    officers = set(db.session.scalars(sa.select(User.id).where(User.organisation_id == city_bureau.id)))
    assert sorted(reminders) == sorted(officers | {unsigned.supplier.id})  # each party's users, once each
    assert sorted(db.session.scalars(sa.select(AuditAnchor.day))) == [date(2026, 12, 1), DUE_DAY]
    after = everything()
    assert after["Award"] == before["Award"] + 1 and after["AuditAnchor"] == before["AuditAnchor"] + 1

    # An hour later every job is due again: run through the scheduler's own entry point, it changes nothing.
    with time_machine.travel(AGAIN_AT, tick=False):
        run_once(app, collect_jobs(app))
    assert jobs_run_since(AGAIN_AT) == {job for job, every in intervals.items() if every <= timedelta(hours=1)}
    assert_never_twice_within_an_interval(intervals)
    assert everything() == after
