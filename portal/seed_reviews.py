"""Demo performance reviews: one in every grade, a rectification under way and an answered appeal.

Part of ``seed-demo``, after the contracts stage, through the services with the clock of each step. Both signed
demo contracts had their review plans made when they were signed; this stage runs some of those reviews and adds
two special ones:
- the one-year contract's needs assessment (需求评估), scored by three experts: 优秀;
- the three-year contract's needs assessment: 合格;
- a third-party satisfaction review (第三方专项评估) of the one-year contract, by an assessor of an assessing
  organisation: 良好 (so that NGO is a commendation candidate of the year);
- a quality inspection (服务质量专项督查) of the three-year contract: 不合格. The NGO appeals; the officer
  dismisses the appeal with reasons; the NGO submits its rectification plan (整改方案) and the officer accepts it,
  which plans the re-review (整改复评).
Steps are dated from the contract's start and never after the present; a stage that would not fit is left out.
"""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from portal.accounts.models import User
from portal.calendar import load_calendar
from portal.contracts.models import Contract, ContractStatus
from portal.extensions import db
from portal.permissions import Role
from portal.reviews import appeals, evidence, grading, planning, rectification, scoring
from portal.reviews.models import Review, ReviewerKind
from portal.reviews.rules import ReviewKind, leaves
from portal.seed_support import NotYet, demo_user, run_stages
from portal.tenders.rules import beijing_instant, local_date

ASSESSING_ORGANISATION = "河南省社会工作发展研究中心（第三方评估机构）"
LOW_COMMENT = "服务记录不完整，部分服务未按方案开展，需限期整改。"


def _ngodemo_user(contract: Contract) -> User:
    return db.session.scalar(sa.select(User).where(User.organisation_id == contract.supplier_id,
                                                   User.role == Role.SUPPLIER).order_by(User.id))


def _pdf(text: str) -> FileStorage:
    data = b"%PDF-1.4\n% " + text.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    return FileStorage(io.BytesIO(data), filename=f"{text}.pdf", content_type="application/pdf")


def _experts(review: Review, count: int, *, skip: set[int], at: datetime) -> list[User]:
    """The first ``count`` demo experts without a conflict with the review's NGO."""
    chosen = []
    for number in range(1, 10):
        expert = demo_user(f"expert{number}")
        if expert is None or expert.id in skip or scoring.has_conflict(review, expert, now=at):
            continue
        chosen.append(expert)
        if len(chosen) == count:
            break
    return chosen


def _run_review(review: Review, officer: User, *, share: Decimal, at: datetime, experts: list[User],
                kind: str = ReviewerKind.EXPERT, organisation: str = "") -> Review:
    """Assign, start, evidence, score at ``share`` of every maximum, and grade a review over three days from ``at``."""
    contract = review.contract
    ngo = _ngodemo_user(contract)
    reviewers = [scoring.assign_reviewer(review, expert, kind=kind, organisation_name=organisation, actor=officer,
                                         now=at) for expert in experts]
    planning.start_review(review, actor=officer, now=at + timedelta(minutes=10))
    evidence.save_self_assessment(review, text="本期按服务方案开展入户探访、个案管理和小组活动，服务记录齐全，"
                                               "经费按预算使用。", actor=ngo, now=at + timedelta(hours=2))
    evidence.upload_evidence(review, kind="self_assessment", upload=_pdf("自评报告"), note="机构自评报告",
                             actor=ngo, now=at + timedelta(hours=2, minutes=5))
    evidence.upload_evidence(review, kind="activity", upload=_pdf("活动记录汇编"), note="本期活动记录",
                             actor=ngo, now=at + timedelta(hours=2, minutes=10))
    evidence.add_survey(review, title="服务对象满意度问卷", surveyed_on=local_date(at - timedelta(days=3)),
                        method="入户问卷", respondents=40, satisfied=int(40 * share), actor=ngo,
                        now=at + timedelta(hours=3))
    scored = leaves(scoring.indicators(review))
    for offset, reviewer in enumerate(reviewers):
        when = at + timedelta(days=1, hours=offset)
        scoring.declare(reviewer, conflict=False, note="", actor=reviewer.user, now=when)
        entries = {}
        for indicator in scored:
            points = (indicator.max_score * share).quantize(Decimal("0.01"))
            entries[indicator.key] = (points, LOW_COMMENT if scoring.needs_comment(indicator, points) else "")
        scoring.save_sheet(reviewer, entries, actor=reviewer.user, now=when + timedelta(minutes=20))
        scoring.submit_sheet(reviewer, actor=reviewer.user, now=when + timedelta(minutes=30))
    return grading.finalise(review, actor=officer, now=at + timedelta(days=2))


def seed_reviews(now: datetime) -> int:
    """Run the demo reviews that are missing; return how many stages created something."""
    officer = demo_user("officer")
    if officer is None:
        return 0
    signed = list(db.session.scalars(sa.select(Contract).where(
        Contract.bureau_id == officer.organisation_id, Contract.status == ContractStatus.SIGNED).order_by(Contract.id)))
    short = next((c for c in signed if (c.end_date - c.start_date).days < 400), None)
    long = next((c for c in signed if (c.end_date - c.start_date).days >= 400), None)
    calendar = load_calendar()

    def day(contract: Contract, days: int, hour: int = 10) -> datetime:
        """``hour`` Beijing on the first working day at least ``days`` days after the contract's start."""
        moment = beijing_instant(calendar.next_working_day(contract.start_date + timedelta(days=days - 1)),
                                 time(hour))
        if moment + timedelta(days=10) >= now:  # the last step of a stage is 9 days after its start
            raise NotYet
        return moment

    def needs(contract: Contract | None, share: str, days: int):
        if contract is None:
            return None
        review = db.session.scalar(sa.select(Review).where(Review.contract_id == contract.id,
                                                           Review.kind == ReviewKind.NEEDS))
        if review is None or review.graded_at is not None or review.started_at is not None:
            return None
        at = day(contract, days)
        return _run_review(review, officer, share=Decimal(share), at=at, experts=_experts(review, 3, skip=set(),
                                                                                          at=at))

    def special(contract: Contract | None, title: str, share: str, days: int, *, third_party: bool = False):
        if contract is None or db.session.scalar(sa.select(Review.id).where(Review.contract_id == contract.id,
                                                                           Review.title == title)):
            return None
        at = day(contract, days)
        review = planning.add_review(contract, kind=ReviewKind.EXTRA, title=title,
                                     due_on=local_date(at + timedelta(days=7)), period_start=contract.start_date,
                                     period_end=local_date(at - timedelta(days=1)),
                                     third_party=ASSESSING_ORGANISATION if third_party else "", actor=officer,
                                     now=at - timedelta(days=1))
        if third_party:
            return _run_review(review, officer, share=Decimal(share), at=at,
                               experts=_experts(review, 1, skip=set(), at=at), kind=ReviewerKind.THIRD_PARTY,
                               organisation=ASSESSING_ORGANISATION)
        return _run_review(review, officer, share=Decimal(share), at=at, experts=_experts(review, 3, skip=set(), at=at))

    def failed_then_rectified():
        review = special(long, "服务质量专项督查", "0.50", 15)
        if review is None:
            return None
        ngo = _ngodemo_user(long)
        graded = review.graded_at
        appeal = appeals.file_appeal(review, reasons="督查期间恰逢机构集中开展入户探访，部分纸质服务记录尚未归档，"
                                                     "并非未开展服务，请求重新评分。", actor=ngo,
                                     now=graded + timedelta(days=1))
        appeals.answer_appeal(appeal, upheld=False, answer="经核查，督查时缺失的服务记录在规定期限内仍未补交，评分依据"
                                                           "充分，维持原评估结果。", actor=officer,
                              now=graded + timedelta(days=5))
        case = rectification.rectification_of(review)
        plan_at = graded + timedelta(days=6)
        rectification.submit_plan(case, plan="一、两周内补齐全部服务记录并建立周归档制度；二、增配一名督导助理；"
                                             "三、每月向民政局报送整改进展。",
                                  due_on=local_date(plan_at + timedelta(days=45)), actor=ngo, now=plan_at)
        rectification.accept_plan(case, note="整改方案可行，请按期完成，届时组织复评。", actor=officer,
                                  now=plan_at + timedelta(days=1))
        return review

    stages = (lambda: needs(short, "0.95", 8), lambda: needs(long, "0.70", 8),
              lambda: special(short, "第三方专项评估（服务对象满意度）", "0.85", 15, third_party=True),
              failed_then_rectified)
    return run_stages(stages)
