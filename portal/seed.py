"""Demo data: 郑州市民政局 with its district bureaus, NGOs, experts and one account per role."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.accounts import services
from portal.accounts.models import ExpertProfile, Organisation, OrgKind, Rating, User
from portal.accounts.rules import credit_code_check_char
from portal.db import utcnow
from portal.extensions import db

DEMO_PASSWORD = "Demo@2026"  # noqa: S105 - published demo password, refused in production

CITY = "郑州市民政局"
DISTRICTS = ["中原区民政局", "二七区民政局", "金水区民政局", "登封市民政局", "中牟县民政局"]


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


# name, credit code (first 17), rating, (assistant, social worker, senior), service areas
NGOS = [
    ("郑州市中原区阳光社会工作服务中心", "52410102MJ1002581", Rating.A5, (12, 8, 2), "中原区 林山寨街道 须水街道"),
    ("郑州市二七区暖心社会工作服务中心", "52410103MJ2003172", Rating.A4, (9, 5, 1), "二七区 侯寨乡 马寨镇"),
    ("郑州市金水区春晖社会工作服务社", "52410105MJ3004563", Rating.A4, (15, 6, 1), "金水区 丰庆路街道"),
    ("登封市嵩阳社会工作服务中心", "52410185MJ4005894", Rating.A3, (6, 3, 0), "登封市 君召乡 石道乡 大冶镇"),
    ("中牟县同心社会工作服务中心", "52410122MJ5006725", Rating.A3, (5, 2, 0), "中牟县 刁家乡 狼城岗镇"),
    ("郑州市守望儿童社会工作服务中心", "52410100MJ6007136", Rating.NONE, (4, 1, 0), "郑州市 全市 留守儿童关爱"),
]

# username, role, display name, organisation name (or None), specialties (experts)
DEMO_USERS = [
    ("admin", "admin", "系统管理员", None, ""),
    ("officer", "officer", "王建国", CITY, ""),
    ("officer2", "officer", "李秀梅", CITY, ""),
    ("district_officer", "officer", "张伟", "中原区民政局", ""),
    ("ngo1", "supplier", "刘芳", NGOS[0][0], ""),
    ("ngo2", "supplier", "陈静", NGOS[1][0], ""),
    ("ngo3", "supplier", "赵磊", NGOS[2][0], ""),
    ("ngo4", "supplier", "马红", NGOS[3][0], ""),
    ("ngo5", "supplier", "杨帆", NGOS[4][0], ""),
    ("ngo6", "supplier", "黄敏", NGOS[5][0], ""),
    ("expert1", "evaluator", "孙立新", None, "social_work,elderly_care"),
    ("expert2", "evaluator", "周文华", None, "left_behind_children,children_in_difficulty"),
    ("expert3", "evaluator", "吴海燕", None, "social_assistance,poverty_relief"),
    ("expert4", "evaluator", "郑国强", None, "finance,evaluation"),
    ("expert5", "evaluator", "冯丽", None, "law,social_work"),
    ("expert6", "evaluator", "何志明", None, "evaluation,poverty_relief"),
    ("expert7", "evaluator", "高雅琴", None, "elderly_care,social_assistance"),
    ("expert8", "evaluator", "罗明", None, "social_work,children_in_difficulty"),
    ("expert9", "evaluator", "谢晓东", None, "finance,social_work"),
]


def _org(name: str) -> Organisation | None:
    return db.session.scalar(sa.select(Organisation).where(Organisation.name == name))


def seed() -> int:
    """Create whatever demo record is missing; return how many were created (0 on a second run)."""
    now = utcnow()
    created = 0
    city = _org(CITY)
    if city is None:
        city = services.create_organisation(
            {"name": CITY, "kind": OrgKind.BUREAU, "level": "city", "address": "郑州市金水区经三路",
             "contact_name": "办公室", "contact_phone": "0371-00000000"},
            actor=None, now=now,
        )
        created += 1
    for name in DISTRICTS:
        if _org(name) is None:
            services.create_organisation({"name": name, "kind": OrgKind.BUREAU, "level": "district",
                                          "parent_id": city.id}, actor=None, now=now)
            created += 1
    for name, code, rating, (assistants, workers, seniors), areas in NGOS:
        if _org(name) is None:
            services.create_organisation(
                {"name": name, "kind": OrgKind.SUPPLIER, "credit_code": _code(code), "rating": rating,
                 "registration_authority": "郑州市民政局", "registration_date": date(2016, 3, 18),
                 "assistant_social_workers": assistants, "social_workers": workers,
                 "senior_social_workers": seniors, "service_areas": areas, "contact_name": "项目主管",
                 "contact_phone": "0371-66000000", "contact_email": "contact@example.org"},
                actor=None, now=now,
            )
            created += 1
    for username, role, display_name, org_name, specialties in DEMO_USERS:
        if db.session.scalar(sa.select(User.id).where(User.username == username)):
            continue
        org = _org(org_name) if org_name else None
        user = services.create_user(
            {"username": username, "role": role, "display_name": display_name,
             "organisation_id": org.id if org else None, "email": f"{username}@example.org"},
            DEMO_PASSWORD, actor=None, now=now,
        )
        if specialties:
            profile = db.session.get(ExpertProfile, user.id)
            profile.specialties = specialties
            profile.title = "高级社会工作师" if "social_work" in specialties else "副教授"
            profile.employer = "郑州大学公共管理学院"
        created += 1
    db.session.flush()
    from portal.seed_assessment import seed_assessment
    from portal.seed_contracts import seed_contracts
    from portal.seed_evaluation import seed_evaluation
    from portal.seed_procurement import seed_procurement
    from portal.seed_reviews import seed_reviews

    created += seed_procurement(now)
    created += seed_evaluation(now)
    created += seed_contracts(now)
    created += seed_reviews(now)
    created += seed_assessment(now)
    return created
