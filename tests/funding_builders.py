"""Builders of the funding-plan tests (issue 8): district bureaus, service projects, confirmed yearly assessments and
confirmed commendation lists written as rows directly (their own services belong to other features), and a small
plan for the route-matrix walk."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation, OrgKind
from portal.assessment import funding
from portal.assessment.models import (
    Assessment,
    AssessmentStatus,
    Commendation,
    CommendationList,
    ListStatus,
    SubjectKind,
)
from portal.extensions import db
from portal.projects.models import Plan, ProjectStatus, ServiceProject


def district(create_org, city: Organisation, name: str) -> Organisation:
    """A district/county bureau under ``city``."""
    return create_org(OrgKind.BUREAU, name=name, level="district", parent_id=city.id)


def project(bureau: Organisation, title: str, *, budget, base_priority: int, poor_village: bool = False,
            remote_area: bool = False, poor_households: int = 0, fiscal_year: int = 2027,
            status: str = ProjectStatus.READY, now=None) -> ServiceProject:
    """A service project of ``bureau`` with the facts its tilts come from."""
    made = ServiceProject(bureau_id=bureau.id, title=title, plan=Plan.LEFT_BEHIND_CHILDREN, status=status,
                          fiscal_year=fiscal_year, budget=Decimal(budget), base_priority=base_priority,
                          poor_village=poor_village, remote_area=remote_area, poor_households=poor_households,
                          duration_months=12, needs_survey="入户需求调查")
    db.session.add(made)
    db.session.commit()
    return made


def assessment(city: Organisation, bureau: Organisation, year: int, grade: str, *,
               status: str = AssessmentStatus.CONFIRMED, now=None) -> Assessment:
    """A district bureau's yearly assessment by the city, as the yearly-assessment feature leaves it."""
    scores = {"excellent": Decimal("92"), "good": Decimal("85"), "pass": Decimal("70"), "fail": Decimal("50")}
    row = Assessment(year=year, city_id=city.id, organisation_id=bureau.id, kind=SubjectKind.BUREAU, status=status,
                     score=scores[grade] if status == AssessmentStatus.CONFIRMED else None,
                     grade=grade if status == AssessmentStatus.CONFIRMED else None, confirmed_at=now)
    db.session.add(row)
    db.session.commit()
    return row


def commendation_list(city: Organisation, year: int, entries, *,
                      status: str = ListStatus.CONFIRMED) -> CommendationList:
    """A commendation list of ``city`` with ``entries`` [(organisation, level, subject), ...]."""
    made = CommendationList(year=year, bureau_id=city.id, title=f"{year}年度社会工作服务表彰名单", status=status)
    db.session.add(made)
    db.session.flush()
    for organisation, level, subject in entries:
        db.session.add(Commendation(list_id=made.id, subject=subject, organisation_id=organisation.id, level=level,
                                    rule="ngo_reviews", reason="全年评估均为良好以上，其中优秀一次。"))
    db.session.commit()
    return made


def route_world(city: Organisation, officer, create_user=None, *, now, fiscal_year: int = 2027) -> dict:
    """For the route-matrix walk: a draft plan of ``city`` (``officer`` is one of its officers) for ``fiscal_year``
    with its lines (a project of that year is added) and a reward grant from the city's confirmed commendation list
    of the year before (used if another builder made one, else made here). Returns the route arguments ``plan_id``,
    ``line_id`` and ``grant_id``."""
    project(city, "矩阵测试项目", budget=100_000, base_priority=50, fiscal_year=fiscal_year)
    listed = db.session.scalar(sa.select(CommendationList).where(CommendationList.bureau_id == city.id,
                                                                 CommendationList.year == fiscal_year - 1))
    ngo = Organisation(kind=OrgKind.SUPPLIER, name="矩阵表彰社工中心")
    db.session.add(ngo)
    db.session.flush()
    if listed is None:
        commendation_list(city, fiscal_year - 1, [(ngo, "first", SubjectKind.NGO)])
    else:
        assert listed.status == ListStatus.CONFIRMED, "reward grants need the confirmed list of the year before"
        db.session.add(Commendation(list_id=listed.id, subject=SubjectKind.NGO, organisation_id=ngo.id,
                                    level="first", rule="ngo_reviews", reason="矩阵测试"))
        db.session.commit()
    plan = funding.create_plan(city, fiscal_year=fiscal_year, pool=80_000, actor=officer, now=now)
    line = funding.add_candidates(plan, actor=officer, now=now)[0]
    grant = funding.add_rewards(plan, actor=officer, now=now)[0]
    db.session.commit()
    return {"plan_id": plan.id, "line_id": line.id, "grant_id": grant.id}
