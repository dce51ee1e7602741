"""Flask commands: seed-demo, audit verify, calendar due."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal.db import transaction

audit_cli = AppGroup("audit", help="Audit log tools.")
calendar_cli = AppGroup("calendar", help="Working-day calendar.")


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


def register_cli(app):
    app.cli.add_command(audit_cli)
    app.cli.add_command(calendar_cli)
    app.cli.add_command(seed_demo)
