"""Flask commands: seed-demo, audit verify, calendar due, scheduler run."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal.db import transaction

audit_cli = AppGroup("audit", help="Audit log tools.")
calendar_cli = AppGroup("calendar", help="Working-day calendar.")
sealing_cli = AppGroup("sealing", help="Bid sealing keys.")
scheduler_cli = AppGroup("scheduler", help="The one scheduler process that runs every feature's timed jobs.")


@audit_cli.command("verify")
def audit_verify():
    """Check the hash chain; exit 1 and name the first bad entry if it was tampered with."""
    from portal.audit import verify_chain

    report = verify_chain()
    if report.ok:
        click.echo(f"OK {report.count} entries")
        return
    click.echo(f"FAILED at entry {report.bad_seq}: {report.reason} ({report.count} entries verified before it)",
               err=True)
    raise SystemExit(1)


@calendar_cli.command("due")
@click.argument("start", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("days", type=int)
def calendar_due(start, days):
    """Print the date DAYS working days after START (the start day is not counted)."""
    from portal.calendar import load_calendar
    from portal.errors import DomainError

    try:
        due = load_calendar().add_working_days(date(start.year, start.month, start.day), days)
    except DomainError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    click.echo(due.isoformat())


@click.command("seed-demo")
def seed_demo():
    """Create the demo bureaus, NGOs, experts and accounts (idempotent; refused in production)."""
    from portal.seed import DEMO_PASSWORD, seed

    if current_app.config["PORTAL_ENV"] == "production":
        click.echo("seed-demo refuses to run in production.", err=True)
        raise SystemExit(1)
    with transaction():
        created = seed()
    click.echo(f"Demo data ready ({created} records created). Every demo account uses the password {DEMO_PASSWORD}:")
    from portal.seed import DEMO_USERS

    for username, role, *_ in DEMO_USERS:
        click.echo(f"  {username:<18} {role}")


@scheduler_cli.command("run")
@click.option("--once", is_flag=True, help="Run every due job once and exit (for cron and tests).")
@click.option("--poll-seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="How often a waiting copy tries to take the scheduler lock.")
@click.option("--tick-seconds", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="How often the lock is verified and failed jobs are retried.")
@click.option("--job", "job_ids", multiple=True, metavar="ID", help="Run only this job (repeatable).")
def scheduler_run(once, poll_seconds, tick_seconds, job_ids):
    """Run the timed jobs; a second copy waits and takes over when the first dies."""
    from portal import scheduler

    app = current_app._get_current_object()
    specs = scheduler.collect_jobs(app)
    if job_ids:
        unknown = sorted(set(job_ids) - {spec.id for spec in specs})
        if unknown:
            raise click.BadParameter(f"unknown job(s): {', '.join(unknown)}", param_hint="--job")
        specs = [spec for spec in specs if spec.id in job_ids]

    if once:
        outcomes = scheduler.run_once(app, specs)
        if outcomes is None:
            click.echo("Another scheduler holds the lock; it runs the jobs. Nothing run.")
            return
        for outcome in outcomes:
            status = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            click.echo(f"{outcome.job_id} (due {outcome.due_at.isoformat()}): {status}")
        if not outcomes:
            click.echo("No job was due.")
        if not all(outcome.ok for outcome in outcomes):
            raise SystemExit(1)
        return

    scheduler.run_forever(app, specs, poll_seconds=poll_seconds, tick_seconds=tick_seconds)


@sealing_cli.command("rewrap")
def sealing_rewrap():
    """Re-wrap every tender's data key under the current PORTAL_SEALING_KEY (after a rotation)."""
    from portal.sealing import rewrap_all

    with transaction():
        changed = rewrap_all()
    click.echo(f"Re-wrapped {changed} data keys under the current key.")


def register_cli(app):
    app.cli.add_command(sealing_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(calendar_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(seed_demo)
