"""What the yearly assessment, the commendations and the funding plan share: the Beijing year of a record, the
bureaus of a city, the users to tell and how a score is shown."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation, OrgKind
from portal.accounts.services import active_users
from portal.extensions import db
from portal.tenders.rules import beijing_instant

FIRST_YEAR = 2000  # the first year assessed or commended


def shown(value) -> str:
    """A score or share as the documents show it: two decimals (87.50)."""
    return f"{Decimal(value):.2f}"


def users_with_role(organisation_ids, role) -> list:
    """The active users of these organisations who have ``role`` (whom a notification goes to)."""
    return [u for u in active_users(list(organisation_ids)) if u.role == role]


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The UTC instants where the Beijing calendar year starts and where the next one starts."""
    return beijing_instant(date(year, 1, 1), time(0)), beijing_instant(date(year + 1, 1, 1), time(0))


def in_year(column, year: int):
    """A filter: the instant in ``column`` falls in the Beijing calendar year ``year``."""
    start, end = year_bounds(year)
    return sa.and_(column >= start, column < end)


def city_bureau_ids(city: Organisation) -> list[int]:
    """The city bureau and the district/county bureaus under it."""
    children = db.session.scalars(sa.select(Organisation.id).where(
        Organisation.parent_id == city.id, Organisation.kind == OrgKind.BUREAU).order_by(Organisation.id))
    return [city.id, *children]
