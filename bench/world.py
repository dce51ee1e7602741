"""The fixed part of a benchmark database: the demo seed (its accounts sign the runner in), then more district
bureaus with two officers each, NGOs with one user each and an expert pool, all inserted in bulk.

Every bench row is recognisable by its name (``基准``/``bench_``) so a restart finds what exists and adds only
what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from portal.accounts import services as account_services
from portal.accounts.models import ExpertProfile, Organisation, OrgKind, User
from portal.accounts.rules import credit_code_check_char
from portal.extensions import db
from portal.seed import DEMO_PASSWORD, seed

NGO_PREFIX = "基准社会工作服务中心"
BUREAU_PREFIX = "基准区民政局"
SPECIALTIES = ["social_work,elderly_care", "left_behind_children,social_assistance", "evaluation,finance",
               "poverty_relief,law"]


@dataclass
class World:
    """Ids the chunks draw from: bureaus with their two officers, NGOs with their user, experts."""

    bureaus: list[tuple[int, int, int, str]]  # (bureau id, officer id, second officer id, name)
    ngos: list[tuple[int, int, str]]  # (organisation id, user id, name)
    experts: list[int]  # user ids


def next_id(table: sa.Table) -> int:
    return (db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1


def insert(table: sa.Table, rows: list[dict], batch: int = 5000) -> None:
    """Executemany in batches (every row of a table has the same keys)."""
    for start in range(0, len(rows), batch):
        db.session.execute(table.insert(), rows[start:start + batch])


def credit_code(n: int) -> str:
    first17 = f"52419{n:010d}MJ"
    return first17 + credit_code_check_char(first17)


def _count(model, prefix_column, prefix: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(prefix_column.like(f"{prefix}%")))


def _user_row(uid: int, username: str, role: str, org_id: int | None, name: str, password_hash: str,
              now: datetime) -> dict:
    return {"id": uid, "username": username, "password_hash": password_hash, "role": role, "organisation_id": org_id,
            "display_name": name, "email": f"{username}@example.org", "phone": "", "locale": "zh", "active": True,
            "approved": True, "session_token": f"{uid:032x}", "created_at": now, "updated_at": now}


def _org_row(oid: int, name: str, kind: str, now: datetime, **values) -> dict:
    row = {"id": oid, "kind": kind, "level": None, "status": "active", "name": name, "parent_id": None,
           "credit_code": None, "registration_authority": "", "registration_date": None, "rating": "none",
           "assistant_social_workers": 0, "social_workers": 0, "senior_social_workers": 0, "service_areas": "",
           "address": "", "contact_name": "", "contact_phone": "", "contact_email": "", "created_at": now,
           "updated_at": now}
    return row | values


def add_bureaus(count: int, city_id: int, password_hash: str, now: datetime) -> None:
    have = _count(Organisation, Organisation.name, BUREAU_PREFIX)
    org_id, user_id = next_id(Organisation.__table__), next_id(User.__table__)
    orgs, users = [], []
    for n in range(have, count):
        oid = org_id + len(orgs)
        orgs.append(_org_row(oid, f"{BUREAU_PREFIX}{n + 1:03d}", OrgKind.BUREAU, now, level="district",
                             parent_id=city_id, address=f"基准市第{n + 1}区"))
        for k in (1, 2):
            users.append(_user_row(user_id + len(users), f"bench_officer_{n + 1}_{k}", "officer", oid,
                                   f"基准官员{n + 1}-{k}", password_hash, now))
    insert(Organisation.__table__, orgs)
    insert(User.__table__, users)


def add_ngos(count: int, password_hash: str, now: datetime) -> None:
    have = _count(Organisation, Organisation.name, NGO_PREFIX)
    org_id, user_id = next_id(Organisation.__table__), next_id(User.__table__)
    orgs, users = [], []
    for n in range(have, count):
        oid = org_id + len(orgs)
        orgs.append(_org_row(oid, f"{NGO_PREFIX}{n + 1:05d}", OrgKind.SUPPLIER, now, credit_code=credit_code(n + 1),
                             registration_authority="基准市民政局", registration_date=date(2018, 5, 1),
                             rating=("3A", "4A", "5A", "none")[n % 4], assistant_social_workers=3 + n % 9,
                             social_workers=1 + n % 5, senior_social_workers=n % 2,
                             service_areas=f"基准市第{n % 40 + 1}区"))
        users.append(_user_row(user_id + len(users), f"bench_ngo_{n + 1}", "supplier", oid, f"基准机构用户{n + 1}",
                               password_hash, now))
    insert(Organisation.__table__, orgs)
    insert(User.__table__, users)


def add_experts(count: int, password_hash: str, now: datetime) -> None:
    have = _count(User, User.username, "bench_expert_")
    user_id = next_id(User.__table__)
    users, profiles = [], []
    for n in range(have, count):
        uid = user_id + len(users)
        users.append(_user_row(uid, f"bench_expert_{n + 1}", "evaluator", None, f"基准专家{n + 1}", password_hash,
                               now))
        profiles.append({"user_id": uid, "title": "高级社会工作师", "employer": "基准大学",
                         "specialties": SPECIALTIES[n % len(SPECIALTIES)], "in_pool": True, "created_at": now,
                         "updated_at": now})
    insert(User.__table__, users)
    insert(ExpertProfile.__table__, profiles)


def city_bureau(demo: bool, now: datetime) -> int:
    """The city bureau: the demo seed's (with its accounts and pipeline), or a bare one."""
    city = db.session.scalar(sa.select(Organisation.id).where(Organisation.level == "city"))
    if city is None and demo:
        seed()
        city = db.session.scalar(sa.select(Organisation.id).where(Organisation.level == "city"))
    if city is None:
        city = next_id(Organisation.__table__)
        insert(Organisation.__table__, [_org_row(city, "基准市民政局", OrgKind.BUREAU, now, level="city")])
    return city


def build_world(*, bureaus: int, ngos: int, experts: int, demo: bool, now: datetime) -> None:
    """The city bureau, then the bench bureaus, NGOs and experts that are still missing (no commit)."""
    city = city_bureau(demo, now)
    password_hash = account_services.hash_password(DEMO_PASSWORD)
    add_bureaus(bureaus, city, password_hash, now)
    add_ngos(ngos, password_hash, now)
    add_experts(experts, password_hash, now)
    db.session.flush()


def load_world() -> World:
    """The bench bureaus (with two officers each), bench NGOs (with their user) and bench experts."""
    officers: dict[int, list[int]] = {}
    for uid, org_id in db.session.execute(sa.select(User.id, User.organisation_id).where(
            User.username.like("bench_officer_%")).order_by(User.id)):
        officers.setdefault(org_id, []).append(uid)
    names = dict(db.session.execute(sa.select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(officers))).all())
    bureaus = [(oid, ids[0], ids[1], names[oid]) for oid, ids in sorted(officers.items())]
    ngos = [(oid, uid, name) for oid, uid, name in db.session.execute(
        sa.select(Organisation.id, User.id, Organisation.name).join(User, User.organisation_id == Organisation.id)
        .where(Organisation.name.like(f"{NGO_PREFIX}%")).order_by(Organisation.id))]
    experts = list(db.session.scalars(sa.select(User.id).where(User.username.like("bench_expert_%"))
                                      .order_by(User.id)))
    return World(bureaus, ngos, experts)
