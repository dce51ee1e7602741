"""Demo funding plan (资金安排) of the next fiscal year, part of ``seed-demo`` (called by ``seed_assessment``).

The city bureau and 中原区 record next year's service needs (poor villages, remote areas, households served, base
priorities from their needs assessments); the city officer builds the plan from them with a pool smaller than the
requests, adds the reward grants (奖补) of the year's commended NGOs (only when the year's commendation list is
confirmed), approves it (amounts and explanations frozen, PDF issued) and publishes it. The comparison without
tilts is on the plan's pages.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation, User
from portal.assessment import funding
from portal.assessment.models import FundingPlan
from portal.extensions import db
from portal.projects import services as projects
from portal.seed_support import demo_user
from portal.tenders.rules import beijing_instant, local_date

POOL = Decimal("2400000")
# title, plan, budget, base priority, poor village, remote area, poor households, township; district projects first.
DISTRICT_NEEDS = [
    ("中原区须水街道困境儿童关爱服务项目", "orphans", "420000", 75, False, False, 60, "须水街道"),
    ("中原区石佛镇贫困村留守老人关爱项目", "elderly", "560000", 70, True, False, 230, "石佛镇"),
    ("中原区社区困难群众救助服务项目", "social_assistance", "380000", 55, False, False, 0, "林山寨街道"),
]
CITY_NEEDS = [
    ("山区贫困村社会工作服务站项目", "talent_poor_areas", "900000", 80, True, True, 420, "巩义市西村镇"),
    ("农村留守儿童暑期关爱项目", "left_behind_children", "450000", 65, False, True, 120, "新密市尖山乡"),
    ("慈善社会工作助力增收项目", "charity_poverty", "500000", 50, True, False, 90, "荥阳市高山镇"),
]


def _needs(bureau: Organisation, actor: User, rows, year: int, at: datetime) -> None:
    for title, plan, budget, priority, poor, remote, households, township in rows:
        projects.create_project(bureau, {
            "title": title, "plan": plan, "fiscal_year": year, "budget": Decimal(budget), "duration_months": 12,
            "base_priority": priority, "poor_village": poor, "remote_area": remote, "poor_households": households,
            "district": bureau.name.removesuffix("民政局"), "township": township,
            "target_groups": "困难群众", "description": "依据需求评估确定的年度服务需求。"}, actor=actor, now=at)


def funding_stage(city: Organisation, officer: User, now: datetime) -> FundingPlan | None:
    """The plan of next fiscal year, built, approved and published over the last hours; None if it exists."""
    year = local_date(now).year + 1
    if db.session.scalar(sa.select(FundingPlan.id).where(FundingPlan.fiscal_year == year,
                                                        FundingPlan.bureau_id == city.id)):
        return None
    start = beijing_instant(local_date(now) - timedelta(days=1), time(9))
    district_officer = demo_user("district_officer")
    if district_officer is not None:
        _needs(district_officer.organisation, district_officer, DISTRICT_NEEDS, year, start)
    _needs(city, officer, CITY_NEEDS, year, start + timedelta(minutes=5))
    plan = funding.create_plan(city, fiscal_year=year, pool=POOL, title=f"{year}年度政府购买社会工作服务资金安排",
                               actor=officer, now=start + timedelta(hours=1))
    funding.add_candidates(plan, actor=officer, now=start + timedelta(hours=1, minutes=5))
    if funding.reward_list(plan) is not None:  # no confirmed commendation list of the year before: no grants
        funding.add_rewards(plan, actor=officer, now=start + timedelta(hours=1, minutes=10))
    funding.approve(plan, actor=officer, now=start + timedelta(hours=2))
    funding.publish(plan, actor=officer, now=start + timedelta(hours=3))
    return plan
