"""The award and what follows it: confirm or pass over a candidate, the deemed award after 5 working days, the
result notice and award letter, each bidder's own result, challenges (质疑) and complaints (投诉), and the gate
a contract must pass.

Services apply the rules of ``portal.evaluation.rules``, change objects, flush, audit and queue notifications;
the caller commits. Awarding locks the tender row first (SELECT ... FOR UPDATE on PostgreSQL) and the partial
unique index ``uq_awards_active`` is the last guard: two concurrent confirmations give one award.

Legal documents (the result notice, the award letter, failure reasons) are written in Chinese.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import Organisation, User
from portal.audit import AuditEntry
from portal.calendar import CalendarYearMissing, load_calendar
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import results, rules
from portal.evaluation.committee import evaluation_link
from portal.evaluation.models import (
    PASS_OVER_LABELS,
    REMEDY_LABELS,
    Award,
    AwardStatus,
    Challenge,
    ChallengeStatus,
    Committee,
    Complaint,
    MemberKind,
    MemberStatus,
    PassOver,
    PassOverReason,
    Remedy,
)
from portal.evaluation.results import ResultRow
from portal.evaluation.scoring import problem_messages
from portal.extensions import db
from portal.files import DOCX, JPEG, PDF, PNG, REJECTION_MESSAGES, UploadRejected, store_upload
from portal.i18n import format_money
from portal.notices import Notice, NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import issue_document, rmb_upper
from portal.permissions import Role
from portal.tenders import services
from portal.tenders.bidding import _lock as lock_tender
from portal.tenders.models import Bid, BidKind, BidStatus, Method, Tender, TenderStatus
from portal.tenders.rules import local_date

log = logging.getLogger(__name__)

LETTER_PREFIX = "ZB"  # 中标/成交通知书 document numbers: ZB-2026-00001
LETTER_TEMPLATE = "document.html"
CONTRACT_SIGNING_DAYS = 30  # the contract is signed within 30 days of the award letter (L46, 87-71)
GROUNDS_MIN_CHARS = 20  # a challenge states its grounds (94-12); shorter text says nothing
EVIDENCE_TYPES = (PDF, DOCX, PNG, JPEG)
REMINDER_WORKING_DAYS = 2  # officers are reminded from 2 working days before an answer is due (issue 5)
ANSWER_MIN_CHARS = 10
NOTE_MIN_CHARS = 5
AWARDABLE = frozenset({TenderStatus.EVALUATING})  # plus NEGOTIATING for a single source with its price agreed


# --- Documents' words, by method (the notices and letters are in Chinese) --------------------------------------


@dataclass(frozen=True)
class Terms:
    notice: str  # 中标结果公告 / 成交结果公告
    letter: str  # 中标通知书 / 成交通知书
    winner: str  # 中标供应商 / 成交供应商
    amount: str  # 中标金额 / 成交金额
    method: str
    evaluation: str
    committee: str


_TENDER = dict(notice="中标结果公告", letter="中标通知书", winner="中标供应商", amount="中标金额",
               evaluation="综合评分法", committee="评标委员会成员")
_DEAL = dict(notice="成交结果公告", letter="成交通知书", winner="成交供应商", amount="成交金额")
TERMS = {
    Method.OPEN: Terms(method="公开招标", **_TENDER),
    Method.INVITED: Terms(method="邀请招标", **_TENDER),
    Method.NEGOTIATION: Terms(method="竞争性谈判", evaluation="最后报价最低且符合采购需求者成交",
                              committee="谈判小组成员", **_DEAL),
    Method.SINGLE_SOURCE: Terms(method="单一来源采购", evaluation="与唯一供应商协商确定成交价格",
                                committee="单一来源协商小组成员", **_DEAL),
}


def terms(tender: Tender) -> Terms:
    return TERMS[Method(tender.method)]


def _default_locale() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


# --- Links (services also run in jobs, without url_for; award_views.py serves these paths) ----------------------


def award_link(tender: Tender, page: str = "") -> str:
    """A path under the tender's award pages: "", "letter.pdf", "my-result", "challenge", "challenges"."""
    return f"/tenders/{tender.id}/award/{page}" if page else f"/tenders/{tender.id}/award"


def challenge_link(challenge: Challenge) -> str:
    return f"/challenges/{challenge.id}"


# --- Reading ------------------------------------------------------------------------------------------------------


def active_award(tender: Tender) -> Award | None:
    """The tender's award in force (at most one: uq_awards_active)."""
    return db.session.scalar(sa.select(Award).where(Award.tender_id == tender.id, Award.status == AwardStatus.ACTIVE)
                             .execution_options(populate_existing=True))


def awards(tender: Tender) -> list[Award]:
    """Every award of the tender, the oldest first (annulled ones included)."""
    return list(db.session.scalars(sa.select(Award).where(Award.tender_id == tender.id)
                                   .options(selectinload(Award.supplier)).order_by(Award.decided_at, Award.id)))


def pass_overs(tender: Tender) -> list[PassOver]:
    return list(db.session.scalars(sa.select(PassOver).where(PassOver.tender_id == tender.id)
                                   .options(selectinload(PassOver.supplier)).order_by(PassOver.recorded_at,
                                                                                      PassOver.id)))


def challenges(tender: Tender, supplier_id: int | None = None) -> list[Challenge]:
    """The tender's challenges (or one supplier's), the newest first."""
    query = sa.select(Challenge).where(Challenge.tender_id == tender.id).options(
        selectinload(Challenge.supplier), selectinload(Challenge.evidence_file))
    if supplier_id is not None:
        query = query.where(Challenge.supplier_id == supplier_id)
    return list(db.session.scalars(query.order_by(Challenge.filed_at.desc(), Challenge.id.desc())))


def complaints(tender: Tender) -> list[Complaint]:
    return list(db.session.scalars(sa.select(Complaint).where(Complaint.tender_id == tender.id)
                                   .options(selectinload(Complaint.supplier), selectinload(Complaint.challenge))
                                   .order_by(Complaint.filed_on, Complaint.id)))


def bidder_ids(tender: Tender) -> set[int]:
    """The suppliers that took part: whose bid (first response) was live or excluded at the opening; for a single
    source, the one supplier."""
    if tender.method == Method.SINGLE_SOURCE:
        return {tender.single_source_supplier_id} if tender.single_source_supplier_id else set()
    return set(db.session.scalars(sa.select(Bid.supplier_id).where(
        Bid.tender_id == tender.id, Bid.kind == BidKind.BID,
        Bid.status.in_([BidStatus.SUBMITTED, BidStatus.EXCLUDED]))))


def is_bidder(tender: Tender, user) -> bool:
    """Whether ``user`` belongs to a supplier that took part in the tender."""
    return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
            and user.organisation_id is not None and user.organisation_id in bidder_ids(tender))


def can_view_challenge(challenge: Challenge, user) -> bool:
    """The challenger's own users, and the tender's overseers."""
    if challenge.tender.can_oversee(user):
        return True
    return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
            and user.organisation_id == challenge.supplier_id)


def can_read_letter(award: Award, user) -> bool:
    """The award letter: the winner's users and the tender's overseers."""
    if award.tender.can_oversee(user):
        return True
    return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
            and user.organisation_id == award.supplier_id)


def _users_of(organisation_ids) -> list[User]:
    ids = {i for i in organisation_ids if i is not None}
    if not ids:
        return []
    return list(db.session.scalars(sa.select(User).where(User.organisation_id.in_(ids), User.active.is_(True),
                                                         User.approved.is_(True)).order_by(User.id)))


def _officers(tender: Tender) -> list[User]:
    return [u for u in _users_of([tender.bureau_id]) if u.role == Role.OFFICER]


def _require_manager(tender: Tender, actor) -> None:
    if not tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can do this."))


def _committee(tender: Tender) -> Committee:
    committee = results.committee_for(tender)
    if committee is None:
        raise DomainError(_l("This tender has no evaluation committee."))
    return committee


def _require_report(committee: Committee) -> None:
    if committee.report_completed_at is None:
        raise DomainError(_l("The award follows the evaluation report (评标报告), which not every member has "
                             "confirmed yet."))


def awardable(tender: Tender) -> bool:
    """Whether the tender's state lets it be awarded: under evaluation, or a single source with its price agreed."""
    return tender.status in AWARDABLE or (tender.method == Method.SINGLE_SOURCE
                                          and tender.status == TenderStatus.NEGOTIATING)


# --- Candidates ------------------------------------------------------------------------------------------------------


def candidates(committee: Committee, outcome: results.Results | None = None) -> list[ResultRow]:
    """The ranked candidates without the suppliers passed over, best first; refused while nothing is ranked and
    before the committee has closed its scoring.

    ``outcome`` is ``results.results(committee)`` when the caller has computed it already.
    """
    if committee.scoring_closed_at is None and committee.report_completed_at is None:
        # Totals and ranking come from the members' opinions: the bureau sees them once the chair closed the scoring.
        raise DomainError(_l("The candidates are ranked once the committee has closed its scoring."))
    outcome = outcome if outcome is not None else results.results(committee)
    if not outcome.ranked:
        raise DomainError(_l("The evaluation has not ranked the candidates yet: %(problems)s"),
                          problems=" ".join(problem_messages(outcome.problems, committee.tender)) or "-")
    passed = set(db.session.scalars(sa.select(PassOver.supplier_id).where(PassOver.tender_id == committee.tender_id)))
    return [row for row in outcome.rows if row.supplier_id not in passed]


def deemed_award_day(committee: Committee) -> date | None:
    """The day the top candidate counts as chosen if nobody acts (87-68), or None before the report."""
    if committee.report_completed_at is None:
        return None
    return rules.deemed_award_day(local_date(committee.report_completed_at), load_calendar())


# --- The result notice and the award letter ----------------------------------------------------------------------


def _member_names(committee: Committee) -> str:
    members = sorted((m for m in committee.members if m.status == MemberStatus.ACTIVE),
                     key=lambda m: (m.kind != MemberKind.EXPERT, m.position))
    return "、".join(m.user.name + ("（采购人代表）" if m.kind == MemberKind.REPRESENTATIVE else "") for m in members)


PROCUREMENT_NOTICE_KINDS = (NoticeKind.TENDER, NoticeKind.INVITATION, NoticeKind.SINGLE_SOURCE)


def tender_url(tender: Tender) -> str:
    """The tender's public page, where its documents are published: absolute with PORTAL_BASE_URL when set."""
    return (current_app.config.get("PORTAL_BASE_URL") or "").rstrip("/") + services.tender_link(tender)


def _documents_reference(tender: Tender) -> str:
    """Where the tender documents are (87-69 publishes them with the result): the page and the notice number."""
    notice = db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id,
                                                       Notice.kind.in_(PROCUREMENT_NOTICE_KINDS))
                               .order_by(Notice.published_at, Notice.id).limit(1))
    number = notice.document.number if notice is not None and notice.document is not None else ""
    return tender_url(tender) + (f"（{notice.title}，编号 {number}）" if number else "")


def result_notice_body(tender: Tender, award: Award, committee: Committee, *, published_on: date, runs_until: date,
                       challenge_last_day: date) -> str:
    """The text of the result notice (中标/成交结果公告, 87-69): one paragraph a line, in Chinese."""
    words, supplier = terms(tender), award.supplier
    lines = [
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"采购人：{tender.bureau.name}",
        f"采购方式：{words.method}",
        f"{words.winner}：{supplier.name}",
        f"供应商地址：{supplier.address or '—'}；统一社会信用代码：{supplier.credit_code or '—'}",
        f"{words.amount}：{format_money(award.amount)}（{rmb_upper(award.amount)}）",
        f"采购文件：{_documents_reference(tender)}",
        f"评审方法：{words.evaluation}",
        f"{words.committee}名单：{_member_names(committee)}",
        f"公告期限：自本公告发布之日起{rules.RESULT_NOTICE_RUNS_WORKING_DAYS}个工作日（{published_on.isoformat()}"
        f"至{runs_until.isoformat()}）。",
        f"供应商认为{words.notice[:2]}结果使自己的权益受到损害的，可以在公告期限届满之日起"
        f"{rules.CHALLENGE_WORKING_DAYS}个工作日内（即{challenge_last_day.isoformat()}前，含当日）以书面形式向采购人"
        f"提出质疑。",
    ]
    if award.deemed:
        lines.append(f"采购人在收到评审报告后{rules.CONFIRMATION_WORKING_DAYS}个工作日内未确定{words.winner}，"
                     f"依法视同确定排名第一的候选人为{words.winner}。")
    lines.append(f"公告日期：{published_on.isoformat()}")
    return "\n".join(lines)


def award_letter_context(tender: Tender, award: Award) -> dict:
    """The plain data of the award letter PDF (中标/成交通知书), in Chinese."""
    words, supplier = terms(tender), award.supplier
    return {
        "issuer": tender.bureau.name,
        "title": words.letter,
        "lead": f"{supplier.name}：",
        "sections": [
            {"heading": "通知事项", "paragraphs": [
                f"经评审，你单位被确定为{tender.title}（项目编号：{tender.reference}）的{words.winner}。",
                f"请你单位自本通知书发出之日起{CONTRACT_SIGNING_DAYS}日内，按照采购文件和你单位的响应文件，"
                f"与采购人签订政府采购合同。",
            ]},
            {"heading": "项目信息", "rows": [
                ["项目编号", tender.reference],
                ["项目名称", tender.title],
                ["采购方式", words.method],
                [words.winner, supplier.name],
                ["统一社会信用代码", supplier.credit_code or "—"],
                [words.amount, f"{format_money(award.amount)}（{rmb_upper(award.amount)}）"],
                ["结果公告期限至", award.notice_ends_on.isoformat() if award.notice_ends_on else "—"],
            ]},
        ],
        "signatures": [tender.bureau.name],
    }


# --- Awarding ---------------------------------------------------------------------------------------------------------


def agreed_price_at_closing(committee: Committee) -> Decimal | None:
    """The single-source price the negotiators' record was closed on (their last closing), or None if unknown."""
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "scoring.closed", AuditEntry.subject_type == "Committee",
        AuditEntry.subject_id == str(committee.id)).order_by(AuditEntry.seq.desc()).limit(1))
    value = json.loads(entry.new_values).get("agreed_price") if entry is not None and entry.new_values else None
    return Decimal(value) if value is not None else None


def _check_frozen_price(tender: Tender, committee: Committee, row: ResultRow) -> None:
    """A single source is awarded at the price of the record its negotiators confirmed, never at a later one."""
    if tender.method != Method.SINGLE_SOURCE:
        return
    frozen = agreed_price_at_closing(committee)
    if frozen is not None and frozen != row.price:
        raise Conflict(_l("The agreed price was changed after the negotiators closed their record (%(old)s then, "
                          "%(new)s now): the award can only be made at the price of the confirmed record."),
                       old=format_money(frozen), new=format_money(row.price))


def _award(tender: Tender, row: ResultRow, *, actor: User | None, deemed: bool, now: datetime) -> Award:
    """Award ``row``: the award, AWARDED, the result notice at once, the award letter, notifications, audit."""
    committee = _committee(tender)
    _check_frozen_price(tender, committee, row)
    calendar = load_calendar()
    published_on = local_date(now)
    runs_until = rules.result_notice_ends(published_on, calendar)
    last_day = rules.challenge_last_day(runs_until, calendar)
    award = Award(tender_id=tender.id, supplier_id=row.supplier_id, bid_id=row.bid_id, amount=row.price,
                  status=AwardStatus.ACTIVE, deemed=deemed, decided_at=now,
                  decided_by_id=actor.id if actor is not None else None)
    try:
        with db.session.begin_nested():
            db.session.add(award)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("This tender has just been awarded by someone else. Reload the page.")) from exc
    services._transition(tender, TenderStatus.AWARDED, actor=actor, now=now, action="tender.awarded")
    words = terms(tender)
    notice = publish_notice(
        NoticeKind.RESULT, bureau=tender.bureau, title=f"{tender.title}（{words.notice}）",
        body=result_notice_body(tender, award, committee, published_on=published_on, runs_until=runs_until,
                                challenge_last_day=last_day),
        now=now, tender=tender, runs_until=runs_until, actor=actor)
    award.notice_id, award.notice_ends_on, award.challenge_last_day = notice.id, runs_until, last_day
    db.session.flush()
    letter = issue_document(f"award-letter:{award.id}", LETTER_TEMPLATE, award_letter_context(tender, award),
                            prefix=LETTER_PREFIX, now=now, issued_by=actor)
    award.letter_document_id = letter.id
    db.session.flush()
    audit.record("award.deemed" if deemed else "award.confirmed", award, actor=actor, now=now, new={
        "tender_id": tender.id, "supplier_id": award.supplier_id, "bid_id": award.bid_id, "amount": award.amount,
        "rank": row.rank, "notice": notice.document.number, "notice_ends_on": runs_until,
        "challenge_last_day": last_day, "letter": letter.number, "letter_sha256": letter.content_sha256})
    context = {"title": tender.title, "reference": tender.reference, "winner": award.supplier.name,
               "amount": format_money(award.amount), "last_day": last_day.isoformat(), "letter": words.letter}
    notify_many(_users_of([award.supplier_id]), "award_won", context, link=award_link(tender, "letter.pdf"), now=now)
    notify_many(_users_of(bidder_ids(tender) - {award.supplier_id}), "award_lost", context,
                link=award_link(tender, "my-result"), now=now)
    if deemed:
        notify_many(_officers(tender), "award_deemed", context, link=award_link(tender), now=now)
    return award


def _check_awardable(tender: Tender) -> Committee:
    if active_award(tender) is not None:
        raise Conflict(_l("This tender has already been awarded."))
    if not awardable(tender):
        raise DomainError(_l("Only a tender under evaluation can be awarded."))
    committee = _committee(tender)
    _require_report(committee)
    return committee


def confirm_award(tender: Tender, *, actor: User, now: datetime) -> Award:
    """The officer confirms the top remaining candidate (87-68): award, result notice and letter at once."""
    tender = lock_tender(tender)
    _require_manager(tender, actor)
    committee = _check_awardable(tender)
    remaining = candidates(committee)
    if not remaining:
        raise DomainError(_l("No candidate is left to award."))
    return _award(tender, remaining[0], actor=actor, deemed=False, now=now)


def _awarded_since_report(tender: Tender, committee: Committee) -> bool:
    """Whether an award (even one annulled since) was made on the committee's current report."""
    return db.session.scalar(sa.select(sa.func.count(Award.id)).where(
        Award.tender_id == tender.id, Award.decided_at >= committee.report_completed_at)) > 0


def deem_awards(now: datetime) -> int:
    """Job: where nobody acted within 5 WD of the report, the top-ranked candidate counts as chosen (R43, 87-68).

    Only once per report: after a pass-over of an award the bureau decides (R49: the next candidate, or start
    again), so a tender that already had an award on its current report is left alone. Returns the count.
    """
    today = local_date(now)
    calendar = load_calendar()
    query = (sa.select(Committee.tender_id, Committee.report_completed_at)
             .join(Tender, Tender.id == Committee.tender_id)
             .where(Committee.report_completed_at.is_not(None),
                    Tender.status.in_([TenderStatus.EVALUATING, TenderStatus.NEGOTIATING]))
             .order_by(Committee.tender_id))
    count = 0
    for tender_id, completed_at in db.session.execute(query).all():
        try:
            if not rules.award_deemed(local_date(completed_at), today, calendar):
                continue
            with db.session.begin_nested():
                tender = lock_tender(db.session.get(Tender, tender_id))
                committee = _committee(tender)
                if (not awardable(tender) or committee.report_completed_at is None
                        or active_award(tender) is not None or _awarded_since_report(tender, committee)):
                    continue
                remaining = candidates(committee)
                if not remaining:
                    continue
                _award(tender, remaining[0], actor=None, deemed=True, now=now)
                count += 1
        except DomainError:
            log.warning("deemed award of tender %s not made", tender_id, exc_info=True)
    return count


def correction_notice_body(tender: Tender, award: Award, reason: str, *, published_on: date) -> str:
    """The 更正公告 withdrawing a published result: which result, why, and what follows. In Chinese."""
    words = terms(tender)
    published = award.notice.published_at if award.notice is not None else award.decided_at
    lines = [
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"采购人：{tender.bureau.name}",
        f"采购方式：{words.method}",
        f"更正事项：{local_date(published).isoformat()}发布的{words.notice}（{words.winner}：{award.supplier.name}，"
        f"{words.amount}：{format_money(award.amount)}）撤销，原{words.letter}作废。",
        f"撤销原因：{reason}",
        "其他内容不变。后续结果将另行公告。",
        f"公告日期：{published_on.isoformat()}",
    ]
    return "\n".join(lines)


def _annul(award: Award, reason: str, *, actor: User | None, now: datetime) -> None:
    """Annul an award: a correction notice (更正公告) withdraws its published result and every bidder is told."""
    award.status, award.annulled_at, award.annulled_reason = AwardStatus.ANNULLED, now, reason
    db.session.flush()
    tender = award.tender
    correction = None
    if award.notice_id is not None:
        correction = publish_notice(
            NoticeKind.CORRECTION, bureau=tender.bureau, title=f"{tender.title}（{terms(tender).notice}更正公告）",
            body=correction_notice_body(tender, award, reason, published_on=local_date(now)), now=now,
            tender=tender, actor=actor)
    audit.record("award.annulled", award, actor=actor, now=now, old={"status": AwardStatus.ACTIVE},
                 new={"status": AwardStatus.ANNULLED, "reason": reason,
                      "correction_notice": correction.document.number if correction is not None else None})
    context = {"title": tender.title, "reference": tender.reference, "reason": reason,
               "winner": award.supplier.name}
    notify_many(_users_of([award.supplier_id]), "award_annulled", context,
                link=services.tender_link(tender), now=now)
    notify_many(_users_of(bidder_ids(tender) - {award.supplier_id}), "result_withdrawn", context,
                link=f"/notices/{correction.id}" if correction is not None else services.tender_link(tender),
                now=now)


def pass_over(tender: Tender, *, supplier_id: int, reason: str, note: str, actor: User, now: datetime) -> PassOver:
    """Record why the award moves past a candidate (declined or disqualified; 87-68, R49).

    Before an award it is the top remaining candidate; after, the winner, whose award is annulled and the tender
    goes back to evaluation so the officer confirms the next one (a new result notice). With nobody left the
    tender fails.
    """
    tender = lock_tender(tender)
    _require_manager(tender, actor)
    if reason not in set(PassOverReason):
        raise DomainError(_l("Choose why the candidate is passed over."))
    note = (note or "").strip()
    if len(note) < NOTE_MIN_CHARS:
        raise DomainError(_l("Explain why the candidate is passed over; the note is kept in the file."))
    committee = _committee(tender)
    _require_report(committee)
    award = active_award(tender)
    if award is not None:
        if supplier_id != award.supplier_id:
            raise DomainError(_l("After the award only the winner can be passed over."))
    else:
        if not awardable(tender):
            raise DomainError(_l("Candidates can be passed over only while the tender is being awarded."))
        remaining = candidates(committee)
        if not remaining or remaining[0].supplier_id != supplier_id:
            raise DomainError(_l("Only the top remaining candidate can be passed over."))
    record = PassOver(tender_id=tender.id, supplier_id=supplier_id, reason=reason, note=note,
                      recorded_by_id=actor.id, recorded_at=now)
    db.session.add(record)
    db.session.flush()
    with force_locale(_default_locale()):
        label = str(PASS_OVER_LABELS[PassOverReason(reason)])
    audit.record("award.passed_over", tender, actor=actor, now=now, new={
        "supplier_id": supplier_id, "reason": reason, "note": note,
        "annulled_award": award.id if award is not None else None})
    if award is not None:
        _annul(award, f"{label}: {note}", actor=actor, now=now)
        services._transition(tender, TenderStatus.EVALUATING, actor=actor, now=now, action="tender.award_annulled")
    else:
        notify_many(_users_of([supplier_id]), "award_passed_over",
                    {"title": tender.title, "reference": tender.reference, "reason": label, "note": note},
                    link=services.tender_link(tender), now=now)
    if not candidates(committee):
        with force_locale(_default_locale()):
            failure = _("Every candidate has declined or been disqualified; no supplier can be awarded (R49).")
        services.fail_tender(tender, reason=failure, actor=actor, now=now)
    return record


# --- Each bidder's own result -------------------------------------------------------------------------------------


def _own_bid(tender: Tender, organisation: Organisation) -> Bid | None:
    return db.session.scalar(sa.select(Bid).where(
        Bid.tender_id == tender.id, Bid.supplier_id == organisation.id, Bid.kind == BidKind.BID,
        Bid.status.in_([BidStatus.SUBMITTED, BidStatus.EXCLUDED])).order_by(Bid.id.desc()).limit(1))


def _shown(value):
    return rules.for_display(value) if value is not None else None


def own_result(tender: Tender, organisation: Organisation | None) -> dict | None:
    """A bidder's own scores and rank once the result is published, and the winner (public anyway); never another
    bidder's numbers. None for a non-bidder or before the result notice."""
    if organisation is None or organisation.id not in bidder_ids(tender):
        return None
    award = active_award(tender)
    committee = results.committee_for(tender)
    if award is None or award.notice_id is None or committee is None:
        return None
    outcome = results.results(committee)
    row = outcome.for_supplier(organisation.id)
    passed = {p.supplier_id: p for p in pass_overs(tender)}
    result = {
        "supplier": organisation.name, "is_winner": award.supplier_id == organisation.id,
        "winner": award.supplier.name, "winner_amount": award.amount, "candidates": len(outcome.rows),
        "comprehensive": tender.evaluation_method == "comprehensive", "qualified": row is not None,
        "passed_over": passed[organisation.id].reason if organisation.id in passed else None,
        "rank": None, "price": None, "quality": None, "price_score": None, "total": None, "criteria": [],
        "failed": [], "low_price_rejected": False, "no_final_quote": False,
    }
    if row is not None:
        names = {c.id: (c.name, c.weight) for c in tender.criteria}
        result.update(rank=row.rank, price=row.price, quality=_shown(row.quality), price_score=_shown(row.price_score),
                      total=_shown(row.total),
                      criteria=[{"name": names[c][0], "weight": names[c][1], "points": _shown(points)}
                                for c, points in row.criterion_means.items() if c in names])
        return result
    bid = _own_bid(tender, organisation)
    if bid is not None:
        result["price"] = bid.opened_price
        result["failed"] = [{"requirement": check.requirement.text, "reason": check.reason}
                            for check in results.failed_requirements(committee).get(bid.id, [])]
        result["low_price_rejected"] = bid.id in results.rejected_low_prices(committee)
        result["no_final_quote"] = (tender.method == Method.NEGOTIATION and not result["failed"]
                                    and organisation.id not in results.final_quotes_by_supplier(tender))
    return result


# --- Challenges (质疑) ---------------------------------------------------------------------------------------------


def challenge_window(award: Award, today: date) -> tuple[bool, date | None]:
    """Whether a challenge of this award's result may be filed ``today``, and the last day (L52, R53, 94-10)."""
    last_day = award.challenge_last_day
    is_open = (award.status == AwardStatus.ACTIVE and award.notice_id is not None and last_day is not None
               and today <= last_day)
    return is_open, last_day


def _check_evidence(evidence, actor: User):
    if evidence is None:
        return None
    try:
        return store_upload(evidence, uploaded_by=actor, allowed=EVIDENCE_TYPES)
    except UploadRejected as exc:
        if any(exc.message is REJECTION_MESSAGES[reason] for reason in ("type", "not_allowed")):
            raise UploadRejected(_l("Evidence must be a PDF, Word (DOCX), PNG or JPEG file.")) from exc
        raise


def file_challenge(tender: Tender, *, grounds: str, evidence, actor: User, now: datetime) -> Challenge:
    """A bidder challenges the published result, until the end of the last day in Beijing (L52, R53, 94-10)."""
    tender = lock_tender(tender)
    if not is_bidder(tender, actor):
        raise NotAllowed(_l("Only a supplier that took part in this procurement can challenge its result."))
    award = active_award(tender)
    if award is None or award.notice_id is None:
        raise DomainError(_l("A challenge of the result can be filed once the result notice is published."))
    today = local_date(now)
    is_open, last_day = challenge_window(award, today)
    if not is_open:
        raise DomainError(_l("The challenge period (质疑期) ended on %(date)s (Beijing time); a challenge can no "
                             "longer be filed (L52, 94-10)."), date=last_day.isoformat() if last_day else "-")
    grounds = (grounds or "").strip()
    if len(grounds) < GROUNDS_MIN_CHARS:
        raise DomainError(_l("State the grounds of the challenge: at least %(n)s characters."), n=GROUNDS_MIN_CHARS)
    stored = _check_evidence(evidence, actor)
    challenge = Challenge(tender_id=tender.id, award_id=award.id, supplier_id=actor.organisation_id,
                          filed_by_id=actor.id, grounds=grounds, evidence_file_id=stored.id if stored else None,
                          filed_at=now, received_on=today, answer_due=rules.answer_due(today, load_calendar()),
                          could_change_result=True, status=ChallengeStatus.OPEN)
    db.session.add(challenge)
    db.session.flush()
    audit.record("challenge.filed", challenge, actor=actor, now=now, new={
        "tender_id": tender.id, "award_id": award.id, "supplier_id": challenge.supplier_id, "grounds": grounds,
        "evidence_sha256": stored.sha256 if stored else None, "received_on": today,
        "answer_due": challenge.answer_due})
    notify_many(_officers(tender), "challenge_filed",
                {"title": tender.title, "reference": tender.reference, "supplier": actor.organisation.name,
                 "answer_due": challenge.answer_due.isoformat()},
                link=challenge_link(challenge), now=now)
    return challenge


def _reopen_committee(committee: Committee, *, actor: User, now: datetime) -> None:
    """Send the evaluation back for a new round: scoring and report reopen; submitted sheets stay (94-16)."""
    old = {"round": committee.round, "scoring_closed_at": committee.scoring_closed_at,
           "report_completed_at": committee.report_completed_at, "report_document_id": committee.report_document_id}
    committee.round += 1
    committee.scoring_closed_at = committee.report_completed_at = committee.report_document_id = None
    for member in committee.members:
        member.report_confirmed_at, member.report_dissent = None, ""
    db.session.flush()
    audit.record("committee.reopened", committee, actor=actor, now=now, old=old,
                 new={"round": committee.round, "reason": "challenge upheld: re-evaluation"})
    tender = committee.tender
    members = [m.user for m in committee.members if m.status == MemberStatus.ACTIVE and m.user.is_active]
    notify_many(members, "challenge_reevaluation", {"title": tender.title, "reference": tender.reference,
                                                    "round": committee.round},
                link=evaluation_link(tender), now=now)


def answer_challenge(challenge: Challenge, *, upheld: bool, remedy: str | None, answer: str, actor: User,
                     now: datetime) -> Challenge:
    """The bureau's written answer (L53, 94-13), to the challenger and the other bidders; an upheld challenge sends
    the result back to the committee or ends the procurement (94-16)."""
    tender = lock_tender(challenge.tender)
    _require_manager(tender, actor)
    if challenge.status != ChallengeStatus.OPEN:
        raise Conflict(_l("This challenge has already been answered."))
    answer = (answer or "").strip()
    if len(answer) < ANSWER_MIN_CHARS:
        raise DomainError(_l("Write the answer to the challenge; it goes to the challenger and the other bidders."))
    if upheld and remedy not in set(Remedy):
        raise DomainError(_l("An upheld challenge needs its remedy: re-evaluation or a new procurement."))
    if upheld:
        _check_remedy_possible(tender, remedy)
    if not upheld:
        remedy = None
    old = {"status": challenge.status, "could_change_result": challenge.could_change_result}
    challenge.status = ChallengeStatus.UPHELD if upheld else ChallengeStatus.REJECTED
    challenge.remedy, challenge.answer, challenge.answered_at, challenge.answered_by_id = remedy, answer, now, actor.id
    db.session.flush()
    audit.record("challenge.answered", challenge, actor=actor, old=old, now=now,
                 new={"status": challenge.status, "remedy": remedy, "answer": answer})
    with force_locale(_default_locale()):
        outcome = str(_l("Upheld (质疑成立)") if upheld else _l("Not upheld (质疑不成立)"))
        remedy_text = str(REMEDY_LABELS[Remedy(remedy)]) if remedy else ""
    context = {"title": tender.title, "reference": tender.reference, "outcome": outcome, "remedy": remedy_text,
               "answer": answer}
    notify_many(_users_of([challenge.supplier_id]), "challenge_answered", context | {"own": True},
                link=challenge_link(challenge), now=now)
    notify_many(_users_of(bidder_ids(tender) - {challenge.supplier_id}), "challenge_answered",
                context | {"own": False}, link=services.tender_link(tender), now=now)
    if upheld:
        _apply_remedy(tender, challenge, remedy, actor=actor, now=now)
    return challenge


def _check_remedy_possible(tender: Tender, remedy: str) -> None:
    """A re-evaluation needs a procurement still under way; one that failed or was concluded cannot go back."""
    if remedy == Remedy.REEVALUATE and tender.status not in (TenderStatus.AWARDED, TenderStatus.EVALUATING):
        raise Conflict(_l("The procurement can no longer be evaluated again (it has ended); answer with a new "
                          "procurement as the remedy, or not upheld."))


def _apply_remedy(tender: Tender, challenge: Challenge, remedy: str, *, actor: User, now: datetime) -> None:
    """The remedy acts on the tender's award in force, whichever award the challenge was filed against (a pass-over
    may have replaced it since): it is annulled, then the committee evaluates again or the procurement fails."""
    award = active_award(tender)
    with force_locale(_default_locale()):
        reason = _("Challenge upheld: %(remedy)s", remedy=str(REMEDY_LABELS[Remedy(remedy)]))
    if award is not None:
        _annul(award, reason, actor=actor, now=now)
    if remedy == Remedy.RETENDER:
        if tender.status != TenderStatus.FAILED:
            with force_locale(_default_locale()):
                failure = _("A challenge of the result was upheld and the procurement starts again (94-16).")
            services.fail_tender(tender, reason=failure, actor=actor, now=now)
        return
    if tender.status == TenderStatus.AWARDED:
        services._transition(tender, TenderStatus.EVALUATING, actor=actor, now=now, action="tender.award_annulled")
    committee = _committee(tender)
    if committee.scoring_closed_at is not None or committee.report_completed_at is not None:
        _reopen_committee(committee, actor=actor, now=now)


def mark_not_affecting(challenge: Challenge, *, reason: str, actor: User, now: datetime) -> Challenge:
    """The officer records that an open challenge cannot change the result, so signing need not wait (R54)."""
    _require_manager(challenge.tender, actor)
    if challenge.status != ChallengeStatus.OPEN:
        raise Conflict(_l("This challenge has already been answered."))
    if not challenge.could_change_result:
        raise Conflict(_l("This challenge is already recorded as unable to change the result."))
    reason = (reason or "").strip()
    if len(reason) < NOTE_MIN_CHARS:
        raise DomainError(_l("Explain why the challenge cannot change the result; the reason is kept in the file."))
    challenge.could_change_result = False
    db.session.flush()
    audit.record("challenge.not_affecting", challenge, actor=actor, now=now, old={"could_change_result": True},
                 new={"could_change_result": False, "reason": reason})
    return challenge


def contract_block_reason(tender: Tender, now: datetime) -> str | None:
    """Why a contract cannot be signed yet (translated), or None: an active award whose challenge period is over and
    no open challenge of the tender that could change the result (L52, R54)."""
    award = active_award(tender)
    if award is None:
        return _("The tender has no award in force.")
    if award.challenge_last_day is None or local_date(now) <= award.challenge_last_day:
        return _("The challenge period (质疑期) runs until %(date)s; the contract can be signed from the next day.",
                 date=award.challenge_last_day.isoformat() if award.challenge_last_day else "-")
    # Whatever award a challenge was filed against: one filed before a pass-over may still change the result.
    pending = db.session.scalar(sa.select(sa.func.count(Challenge.id)).where(
        Challenge.tender_id == tender.id, Challenge.status == ChallengeStatus.OPEN,
        Challenge.could_change_result.is_(True)))
    if pending:
        return _("A challenge (质疑) that could change the result has not been answered yet; signing waits (R54).")
    return None


def remind_challenges(now: datetime) -> int:
    """Job: tell the bureau's officers about each open challenge from 2 working days before its answer is due, and
    every day once it is overdue; at most once a day each. Returns how many challenges were reminded."""
    today = local_date(now)
    calendar = load_calendar()
    count = 0
    query = (sa.select(Challenge).where(Challenge.status == ChallengeStatus.OPEN,
                                        sa.or_(Challenge.reminded_on.is_(None), Challenge.reminded_on != today))
             .options(selectinload(Challenge.tender), selectinload(Challenge.supplier)).order_by(Challenge.id))
    for challenge in db.session.scalars(query).all():
        try:
            overdue = today > challenge.answer_due
            if not overdue and calendar.working_days_between(today, challenge.answer_due) > REMINDER_WORKING_DAYS:
                continue
        except CalendarYearMissing:
            log.warning("challenge %s: no calendar for its answer period", challenge.id, exc_info=True)
            continue
        tender = challenge.tender
        notify_many(_officers(tender), "challenge_overdue" if overdue else "challenge_due",
                    {"title": tender.title, "reference": tender.reference, "supplier": challenge.supplier.name,
                     "answer_due": challenge.answer_due.isoformat()},
                    link=challenge_link(challenge), now=now)
        challenge.reminded_on = today
        count += 1
    db.session.flush()
    return count


# --- Complaints (投诉) ---------------------------------------------------------------------------------------------


def default_authority(tender: Tender) -> str:
    """The finance bureau at the purchaser's level handles complaints (94-5): 郑州市民政局 -> 郑州市财政局."""
    name = tender.bureau.name
    return name.replace("民政局", "财政局") if "民政局" in name else "财政局"


def complaint_last_day(challenge: Challenge) -> date | None:
    """The last day for a 投诉 after this challenge (L55, 94-17), or None if the calendar lacks the year."""
    try:
        return rules.complaint_last_day(challenge.answer_due, load_calendar())
    except CalendarYearMissing:
        return None


def record_complaint(tender: Tender, *, challenge_id: int | None, supplier_id: int, filed_on: date, authority: str,
                     summary: str, actor: User, now: datetime) -> Complaint:
    """The officer records a supplier's 投诉 to the finance bureau (L55, 94-17)."""
    _require_manager(tender, actor)
    if supplier_id not in bidder_ids(tender):
        raise DomainError(_l("Only a supplier that took part in this procurement can complain about it."))
    challenge = None
    if challenge_id is not None:
        challenge = db.session.get(Challenge, challenge_id)
        if challenge is None or challenge.tender_id != tender.id or challenge.supplier_id != supplier_id:
            raise DomainError(_l("Choose one of this supplier's challenges of this tender."))
    if filed_on is None or filed_on > local_date(now):
        raise DomainError(_l("The complaint's filing date cannot be in the future."))
    last_day = complaint_last_day(challenge) if challenge is not None else None
    if last_day is not None and filed_on > last_day:
        raise DomainError(_l("A complaint (投诉) about this challenge could be filed until %(date)s, %(days)s working "
                             "days after the answer was due (L55, 94-17); one filed on %(filed)s is out of time."),
                          date=last_day.isoformat(), days=rules.COMPLAINT_WORKING_DAYS, filed=filed_on.isoformat())
    summary = (summary or "").strip()
    if len(summary) < NOTE_MIN_CHARS:
        raise DomainError(_l("Summarise the complaint."))
    complaint = Complaint(tender_id=tender.id, challenge_id=challenge_id, supplier_id=supplier_id, filed_on=filed_on,
                          authority=(authority or "").strip() or default_authority(tender), summary=summary,
                          recorded_by_id=actor.id, recorded_at=now)
    db.session.add(complaint)
    db.session.flush()
    audit.record("complaint.recorded", complaint, actor=actor, now=now, new={
        "tender_id": tender.id, "challenge_id": challenge_id, "supplier_id": supplier_id, "filed_on": filed_on,
        "authority": complaint.authority, "summary": summary,
        "complaint_last_day": complaint_last_day(challenge) if challenge else None})
    return complaint


def record_complaint_outcome(complaint: Complaint, *, outcome: str, decided_on: date, actor: User,
                             now: datetime) -> Complaint:
    """The finance bureau's decision on the complaint, with its date (L56, 94-26)."""
    _require_manager(db.session.get(Tender, complaint.tender_id), actor)
    if complaint.decided_on is not None:
        raise Conflict(_l("The outcome of this complaint has already been recorded."))
    outcome = (outcome or "").strip()
    if len(outcome) < NOTE_MIN_CHARS:
        raise DomainError(_l("Record the finance bureau's decision."))
    if decided_on is None or decided_on < complaint.filed_on or decided_on > local_date(now):
        raise DomainError(_l("The decision date must lie between the filing date and today."))
    complaint.outcome, complaint.decided_on = outcome, decided_on
    db.session.flush()
    audit.record("complaint.decided", complaint, actor=actor, now=now, new={"outcome": outcome,
                                                                           "decided_on": decided_on})
    return complaint
