"""What the yearly assessment, the commendations and the funding plan share: the Beijing year of a record and the
bureaus of a city."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa

from portal.accounts.models import Organisation, OrgKind
from portal.extensions import db
from portal.tenders.rules import beijing_instant


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
