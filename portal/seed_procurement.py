"""Demo procurement: service projects and tenders of every method at different stages.

Part of ``seed-demo``: a draft, an open tender taking sealed bids, an invited tender drawn by
two witnesses, an opened tender with its record, a tender failed for too few bids, a
single-source notice running and a negotiation taking first responses. Dates are relative to
the day it runs; a stage whose dates would need a holiday calendar nobody entered is skipped.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation, User
from portal.calendar import load_calendar
from portal.extensions import db
from portal.projects.models import ProjectStatus, ServiceProject
from portal.seed_support import demo_user, run_stages
from portal.tenders import bidding, rules, services
from portal.tenders.models import Method, Tender
from portal.tenders.rules import CriterionSpec, beijing_instant

CRITERIA = [CriterionSpec("service_plan", "服务方案的针对性、可行性和创新性", 35),
            CriterionSpec("team", "拟派项目团队的专业能力与督导安排", 20),
            CriterionSpec("management", "项目管理、质量保障与档案管理", 10),
            CriterionSpec("resources", "社区资源链接与志愿者动员方案", 5)]
REQUIREMENTS = ["具有独立承担民事责任的能力", "具有良好的商业信誉和健全的财务会计制度",
                "参加政府采购活动前三年内，在经营活动中没有重大违法记录"]

# title, plan, budget, poor village, poor households, remote, township, villages
PROJECTS = [
    ("困难老年人关爱服务项目", "elderly", "600000", False, 0, False, "林山寨街道", "建设路社区、秦岭路社区"),
    ("农村留守儿童关爱保护服务项目", "left_behind_children", "450000", True, 86, True, "侯寨乡", "樱桃沟村、尖岗村"),
    ("社会救助对象个案管理服务项目", "social_assistance", "800000", False, 0, False, "须水街道", "须水村、白庙村"),
    ("孤儿和困境儿童关爱服务项目", "orphans", "300000", False, 0, False, "全市", ""),
    ("贫困村社会工作服务站建设项目", "talent_poor_areas", "1200000", True, 215, True, "君召乡", "石道村、王河村"),
    ("慈善社会工作助力脱贫项目", "charity_poverty", "380000", True, 140, False, "刁家乡", "刁家村"),
    ("社区困难群众社会工作服务项目", "social_assistance", "520000", False, 0, False, "二七区", "马寨镇"),
]


def _pdf(text: str) -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>资格证明文件</w:document>")
    return buffer.getvalue()


def _bid(tender: Tender, user: User, price: str, *, now: datetime) -> None:
    submission = bidding.BidSubmission(
        price=Decimal(price),
        technical=bidding.Upload(_pdf(f"{user.organisation.name} 技术和服务方案"), "技术方案.pdf"),
        qualification=bidding.Upload(_docx(), "资格证明文件.docx"),
        declarations={code: True for code in bidding.DECLARATIONS})
    bidding.submit_bid(tender, submission, actor=user, now=now)


def _project(bureau: Organisation, spec, officer: User, *, now: datetime, ready: bool = True) -> ServiceProject:
    title, plan, budget, poor_village, households, remote, township, villages = spec
    project = db.session.scalar(sa.select(ServiceProject).where(ServiceProject.title == title))
    if project is None:
        project = ServiceProject(
            bureau_id=bureau.id, title=title, plan=plan, fiscal_year=now.year, budget=Decimal(budget),
            duration_months=12, district=bureau.name.removesuffix("民政局"), township=township, villages=villages,
            poor_village=poor_village, poor_households=households, remote_area=remote, base_priority=60,
            target_groups="困难老年人、留守儿童、低保对象等", created_by_id=officer.id,
            status=ProjectStatus.READY if ready else ProjectStatus.DRAFT,
            needs_survey="入户走访与问卷调查相结合，了解服务对象的主要需求。" if ready else "",
            description="以个案、小组、社区工作方法提供专业社会工作服务。")
        db.session.add(project)
        db.session.flush()
    return project


def _tender(project, officer, method, *, now, ground=None, supplier=None, title=None) -> Tender | None:
    title = title or project.title
    if db.session.scalar(sa.select(Tender.id).where(Tender.title == title)):
        return None
    comprehensive = method in (Method.OPEN, Method.INVITED)
    values = {"title": title, "method": method, "budget": project.budget, "ceiling_price": None,
              "service_content": project.description, "price_weight": 30, "complex": False, "method_ground": ground,
              "justification": "经论证，该机构长期在本地区开展同类服务且为唯一具备条件的机构。" if supplier else "",
              "approval_document": "", "approval_date": None, "approval_body": "",
              "single_source_supplier_id": supplier.id if supplier else None}
    return services.create_tender(project, values, CRITERIA if comprehensive else [], REQUIREMENTS, actor=officer,
                                  now=now)


def _publish(tender: Tender, officer: User, *, now: datetime, calendar) -> None:
    today = rules.local_date(now)
    if tender.method == Method.SINGLE_SOURCE:
        services.publish_tender(tender, notice_until=calendar.add_working_days(today, 5), documents_from=None,
                                documents_until=None, bid_deadline=None, calendar=calendar, actor=officer, now=now)
        return
    deadline_day = rules.earliest_deadline_day(tender.method, today, calendar)
    documents_until = min(calendar.add_working_days(today, 5), deadline_day)
    services.publish_tender(
        tender, notice_until=calendar.add_working_days(today, 5) if tender.method == Method.OPEN else None,
        documents_from=today, documents_until=documents_until,
        bid_deadline=beijing_instant(deadline_day, time(9, 30)), calendar=calendar, actor=officer, now=now)


def _past_working_day(calendar, today: date, days_back: int) -> date:
    day = today - timedelta(days=days_back)
    return day if calendar.is_working_day(day) else calendar.next_working_day(day)


def seed_procurement(now: datetime) -> int:
    """Create the demo projects and tenders that are missing; return how many tenders were created."""
    city = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    officer, officer2 = demo_user("officer"), demo_user("officer2")
    ngos = [demo_user(f"ngo{i}") for i in (1, 2, 3)]
    if city is None or officer is None or officer2 is None or None in ngos:
        return 0
    calendar = load_calendar()
    today = rules.local_date(now)
    projects = [_project(city, spec, officer, now=now, ready=i != 4) for i, spec in enumerate(PROJECTS)]

    def draft():
        return _tender(projects[0], officer, Method.OPEN, now=now, title="困难老年人关爱服务项目（二期）")

    def bidding_open():
        tender = _tender(projects[0], officer, Method.OPEN, now=now)
        if tender:
            _publish(tender, officer, now=now, calendar=calendar)
            _bid(tender, ngos[0], "568000.00", now=now)
            _bid(tender, ngos[1], "552500.00", now=now)
        return tender

    def invited():
        tender = _tender(projects[1], officer, Method.INVITED, now=now, ground="few_suppliers")
        if tender:
            services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3,
                                      witnesses=(officer, officer2), actor=officer, now=now, seed="demo-draw-2026")
            _publish(tender, officer, now=now, calendar=calendar)
            drawn = {inv.supplier_id for inv in tender.invitations}
            for user in ngos:
                if user.organisation_id in drawn:
                    _bid(tender, user, "431000.00", now=now)
                    break
        return tender

    def opened(title_suffix: str, bidders: int):
        def build():
            project = projects[2] if bidders >= 3 else projects[3]
            published = beijing_instant(_past_working_day(calendar, today, 48), time(10))
            tender = _tender(project, officer, Method.OPEN, now=published, title=project.title + title_suffix)
            if tender is None:
                return None
            _publish(tender, officer, now=published, calendar=calendar)
            for user, share in zip(ngos, ["0.956", "0.936", "0.974"][:bidders], strict=False):
                price = (project.budget * Decimal(share)).quantize(Decimal("0.01"))
                _bid(tender, user, str(price), now=published + timedelta(days=7))
            if tender.bid_deadline >= now:
                return tender
            bidding.start_opening(tender, actor=officer, now=tender.bid_deadline)
            if tender.status != "failed":
                bidding.confirm_opening(tender, actor=officer2, now=tender.bid_deadline + timedelta(minutes=5))
            return tender
        return build

    def single_source():
        name = "郑州市守望儿童社会工作服务中心"
        supplier = db.session.scalar(sa.select(Organisation).where(Organisation.name == name))
        return _publish_and_return(_tender(projects[5], officer, Method.SINGLE_SOURCE, now=now,
                                           ground="only_supplier", supplier=supplier))

    def negotiation():
        tender = _tender(projects[6], officer, Method.NEGOTIATION, now=now, ground="price_unknown")
        if tender:
            services.invite_suppliers(tender, [n.organisation_id for n in ngos], reason="业务主管部门书面推荐",
                                      actor=officer, now=now)
        return _publish_and_return(tender)

    def _publish_and_return(tender):
        if tender:
            _publish(tender, officer, now=now, calendar=calendar)
        return tender

    return run_stages((draft, bidding_open, invited, opened("（已开标）", 3), opened("（废标）", 2), single_source,
                  negotiation))
