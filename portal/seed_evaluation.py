"""Demo evaluation: committees at work, awards under every method, and a challenge under way.

Part of ``seed-demo``, after the procurement stages. Everything goes through the services, with
the clock of each step passed in, so the demo holds what a real run would have left:
- the opened open tender (（已开标）) gets a committee whose members declared, a closed
  qualification review and three of five score sheets submitted: the experts can carry on;
- an open tender (（已中标）), an invited tender (（已中标）), a competitive negotiation
  (（已成交）) and a single source (（已成交）) evaluated, reported and awarded weeks ago, their
  result notices run and their challenge windows closed: ready for a contract;
- an open tender (（质疑处理中）) awarded a few working days ago with a challenge awaiting the answer.

Dates are relative to the day it runs; a stage that would need a holiday calendar nobody entered
is skipped. Committees are drawn with fixed seeds, so the same demo draws the same experts.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation, User
from portal.calendar import load_calendar
from portal.evaluation import award, results, scoring
from portal.evaluation import committee as committees
from portal.evaluation.models import Committee, MemberStatus
from portal.extensions import db
from portal.projects.models import ServiceProject
from portal.seed_procurement import _bid, _publish, _tender
from portal.seed_support import NotYet, demo_user, run_stages
from portal.tenders import bidding, rules, services
from portal.tenders.models import Method, Tender
from portal.tenders.rules import beijing_instant

HOUR = timedelta(hours=1)
# A member's share of each criterion's points, by (member position + bidder position) modulo 4.
SHARES = (Decimal("0.90"), Decimal("0.80"), Decimal("0.85"), Decimal("0.75"))


def _check_past(at: datetime, now: datetime) -> None:
    if at >= now:
        raise NotYet


def _points(weight: int, member: int, bidder: int) -> Decimal:
    return (weight * SHARES[(member + bidder) % len(SHARES)]).quantize(Decimal("0.5"))


def _form(tender: Tender, officer: User, *, size: int, at: datetime) -> Committee:
    """Form the committee with a fixed seed, every member declares no conflict, the first expert chairs."""
    committee = committees.form_committee(tender, size=size, specialty="", representative_ids=[], actor=officer,
                                          now=at, seed=f"demo-{tender.reference}")
    for member in list(committee.members):
        committees.declare(member, conflict=False, note="", actor=member.user, now=at + HOUR)
    committees.set_chair(committee, committee.members[0], actor=officer, now=at + 2 * HOUR)
    return committee


def _qualify(committee: Committee, *, at: datetime) -> None:
    chair = committee.chair.user
    for bid in results.opened_bids(committee.tender):
        committees.record_checks(committee, bid, {r.id: (True, "") for r in committee.tender.requirements},
                                 actor=chair, now=at)
    committees.close_qualification(committee, actor=chair, now=at)


def _score(committee: Committee, *, at: datetime, members: int | None = None) -> None:
    """The first ``members`` sitting members (all by default) score every qualified bid and submit."""
    bids = results.qualified_bids(committee)
    sitting = [m for m in committee.members if m.status == MemberStatus.ACTIVE]
    for position, member in enumerate(sitting[:members]):
        entries = {(bid.id, c.id): _points(c.weight, position, index)
                   for index, bid in enumerate(bids) for c in committee.tender.criteria}
        scoring.save_scores(committee, member, entries, {}, actor=member.user, now=at)
        scoring.submit_sheet(committee, member, actor=member.user, now=at + HOUR)


def _report(committee: Committee, *, at: datetime) -> None:
    scoring.close_scoring(committee, actor=committee.chair.user, now=at)
    for member in committee.sitting:
        scoring.confirm_report(committee, member, actor=member.user, now=at + HOUR)


def _open_tender_awarded(project: ServiceProject, officer: User, officer2: User, ngos: list[User], *, method: str,
                         suffix: str, published: datetime, calendar, prices: list[str], now: datetime
                         ) -> Tender | None:
    """Publish at ``published``, three bids a week later, open at the deadline, evaluate and award the next day."""
    ground = "few_suppliers" if method == Method.INVITED else None
    tender = _tender(project, officer, method, now=published, ground=ground, title=project.title + suffix)
    if tender is None:
        return None
    bidders = ngos
    if method == Method.INVITED:
        services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3,
                                  witnesses=(officer, officer2), actor=officer, now=published,
                                  seed=f"demo-draw-{tender.reference}")
        drawn = [inv.supplier_id for inv in tender.invitations]
        bidders = list(db.session.scalars(sa.select(User).where(User.organisation_id.in_(drawn), User.active.is_(True))
                                          .order_by(User.username)))
    _publish(tender, officer, now=published, calendar=calendar)
    for user, price in zip(bidders, prices, strict=True):
        _bid(tender, user, price, now=published + timedelta(days=7))
    opened_at = tender.bid_deadline
    _check_past(opened_at + timedelta(days=1), now)
    bidding.start_opening(tender, actor=officer, now=opened_at)
    bidding.confirm_opening(tender, actor=officer2, now=opened_at + timedelta(minutes=5))
    committee = _form(tender, officer, size=5, at=opened_at + HOUR)
    _qualify(committee, at=opened_at + 4 * HOUR)
    _score(committee, at=opened_at + 5 * HOUR)
    _report(committee, at=opened_at + 8 * HOUR)
    award.confirm_award(tender, actor=officer, now=opened_at + timedelta(days=1))
    return tender


def _past(calendar, today: date, working_days: int) -> datetime:
    """10:00 Beijing on the working day ``working_days`` before ``today``."""
    day = today
    for _ in range(working_days):
        day = calendar.previous_working_day(day)
    return beijing_instant(day, time(10))


def seed_evaluation(now: datetime) -> int:
    """Create the demo evaluation stages that are missing; return how many tenders were changed or created."""
    city = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    officer, officer2 = demo_user("officer"), demo_user("officer2")
    ngos = [demo_user(f"ngo{i}") for i in (1, 2, 3)]
    if city is None or officer is None or officer2 is None or None in ngos:
        return 0
    calendar = load_calendar()
    today = rules.local_date(now)
    projects = {p.title: p for p in db.session.scalars(sa.select(ServiceProject).where(
        ServiceProject.bureau_id == city.id))}

    def under_evaluation():
        tender = db.session.scalar(sa.select(Tender).where(Tender.title.endswith("（已开标）")))
        if tender is None or tender.status != "opened" or results.committee_for(tender) is not None:
            return None
        at = max(tender.opened_at, now - timedelta(days=1))
        committee = _form(tender, officer, size=5, at=at)
        _qualify(committee, at=at + 3 * HOUR)
        _score(committee, at=at + 4 * HOUR, members=3)
        return tender

    def awarded_open():
        return _open_tender_awarded(projects["社会救助对象个案管理服务项目"], officer, officer2, ngos,
                                    method=Method.OPEN, suffix="（已中标）", published=_past(calendar, today, 60),
                                    calendar=calendar, prices=["768000.00", "752000.00", "779500.00"], now=now)

    def awarded_invited():
        return _open_tender_awarded(projects["农村留守儿童关爱保护服务项目"], officer, officer2, ngos,
                                    method=Method.INVITED, suffix="（已中标）", published=_past(calendar, today, 55),
                                    calendar=calendar, prices=["436000.00", "441500.00", "428800.00"], now=now)

    def challenged():
        return _open_tender_awarded(projects["孤儿和困境儿童关爱服务项目"], officer, officer2, ngos, method=Method.OPEN,
                                    suffix="（质疑处理中）", published=_past(calendar, today, 18), calendar=calendar,
                                    prices=["291000.00", "287500.00", "295000.00"], now=now)

    def challenge_filed():
        tender = db.session.scalar(sa.select(Tender).where(Tender.title.endswith("（质疑处理中）")))
        if tender is None or award.challenges(tender):
            return None
        winner = award.active_award(tender)
        loser = next(user for user in ngos if winner is None or user.organisation_id != winner.supplier_id)
        filed = min(now, beijing_instant(winner.challenge_last_day, time(9)))
        award.file_challenge(tender, grounds="我方认为评标委员会对我方服务方案的评分明显偏低，"
                                             "未按评分标准考虑我方在本区开展同类服务的团队配置，请求复核。",
                             evidence=None, actor=loser, now=filed)
        return tender

    def awarded_negotiation():
        project = projects["社区困难群众社会工作服务项目"]
        published = _past(calendar, today, 40)
        tender = _tender(project, officer, Method.NEGOTIATION, now=published, ground="price_unknown",
                         title=project.title + "（已成交）")
        if tender is None:
            return None
        services.invite_suppliers(tender, [n.organisation_id for n in ngos], reason="业务主管部门书面推荐",
                                  actor=officer, now=published)
        _publish(tender, officer, now=published, calendar=calendar)
        for user, price in zip(ngos, ["515000.00", "509000.00", "518000.00"], strict=True):
            _bid(tender, user, price, now=published + timedelta(days=1))
        opened_at = tender.bid_deadline
        _check_past(opened_at + timedelta(days=2), now)
        bidding.start_opening(tender, actor=officer, now=opened_at)
        bidding.confirm_opening(tender, actor=officer2, now=opened_at + timedelta(minutes=5))
        committee = _form(tender, officer, size=3, at=opened_at + HOUR)
        _qualify(committee, at=opened_at + 3 * HOUR)
        round_ = services.issue_negotiation_round(tender, "服务频次由每月两次调整为每周一次，其他条件不变。",
                                                  final_quote_deadline=opened_at + timedelta(days=1), actor=officer,
                                                  now=opened_at + 4 * HOUR)
        for user, price in zip(ngos, ["498000.00", "502500.00", "495800.00"], strict=True):
            bidding.submit_final_quote(tender, Decimal(price), actor=user, now=opened_at + 6 * HOUR)
        bidding.open_final_quotes(tender, actor=officer, confirmer=officer2, now=round_.final_quote_deadline)
        _report(committee, at=round_.final_quote_deadline + HOUR)
        award.confirm_award(tender, actor=officer, now=round_.final_quote_deadline + timedelta(days=1))
        return tender

    def awarded_single_source():
        project = projects["慈善社会工作助力脱贫项目"]
        published = _past(calendar, today, 35)
        name = "郑州市守望儿童社会工作服务中心"
        supplier = db.session.scalar(sa.select(Organisation).where(Organisation.name == name))
        tender = _tender(project, officer, Method.SINGLE_SOURCE, now=published, ground="only_supplier",
                         supplier=supplier, title=project.title + "（已成交）")
        if tender is None:
            return None
        _publish(tender, officer, now=published, calendar=calendar)
        approved_at = beijing_instant(calendar.next_working_day(tender.notice_until), time(10))
        _check_past(approved_at + timedelta(days=1), now)
        services.approve_single_source(tender, approval_document="郑财采〔2026〕86号", approval_date=approved_at.date(),
                                       approval_body="郑州市财政局", actor=officer, now=approved_at)
        committee = _form(tender, officer, size=3, at=approved_at + HOUR)
        services.record_single_source_agreement(
            tender, price=(project.budget * Decimal("0.97")).quantize(Decimal("0.01")),
            record="谈判小组三名成员与供应商就服务内容、服务标准和价格逐项谈判，供应商同意在预算内承担全部服务。",
            actor=officer, now=approved_at + 3 * HOUR)
        _report(committee, at=approved_at + 4 * HOUR)
        award.confirm_award(tender, actor=officer, now=approved_at + timedelta(days=1))
        return tender

    return run_stages((under_evaluation, awarded_open, awarded_invited, challenged, challenge_filed,
                       awarded_negotiation, awarded_single_source))
