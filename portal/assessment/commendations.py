"""Commendations (表彰): candidates proposed by rule, the officer's choice, five working days of public comment (公示),
confirmation with the final notice, and one certificate (荣誉证书) per commendation.

Candidates of a year (issue 8, ``rules.ngo_is_candidate`` and its siblings), on the records of the city bureau and
the district/county bureaus under it:
- an NGO whose performance reviews graded in the year were all 良好 or better with at least one 优秀, with no contract
  of it terminated in the year and no challenge (质疑) against an award to it upheld in the year (terminations and
  upheld challenges count wherever they happened);
- a service project whose final review (末期效果评估) graded in the year, the latest of its contracts, is 优秀 — the
  commendation goes to the NGO that delivered it;
- a district/county bureau whose yearly assessment of the year, confirmed by the city bureau, is graded 优秀.
"The year" of a record is the Beijing year of its instant. The officer chooses among the candidates only; an entry
that stops being a candidate (a grade changed after an appeal) must leave the list before it is publicised or
confirmed.

A list is DRAFT (entries added and removed), PUBLICISED (the 公示 notice is out; anyone may comment until the fifth
working day after publication, ``publicity_ends_on``; the officer answers every comment and may withdraw an entry
with its reason), then CONFIRMED from the day after the 公示 ends: the final notice lists the entries with their
certificate numbers, the certificates are issued and the commended are told.

Services never commit: they flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import cn2an
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.accounts.models import Organisation
from portal.assessment import rules
from portal.assessment.common import FIRST_YEAR, city_bureau_ids, in_year, shown, users_with_role
from portal.assessment.models import (
    LEVEL_LABELS,
    LEVEL_NAMES_CN,
    Assessment,
    AssessmentStatus,
    Commendation,
    CommendationList,
    Level,
    ListStatus,
    PublicComment,
    SubjectKind,
    _city_officer,
)
from portal.calendar import load_calendar
from portal.contracts.models import Contract, ContractStatus
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation.models import Award, Challenge, ChallengeStatus
from portal.extensions import db
from portal.notices import NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import issue_document
from portal.permissions import Role
from portal.projects.models import ServiceProject
from portal.reviews.models import Review, ReviewStatus
from portal.reviews.rules import GRADE_NAMES, Grade, ReviewKind
from portal.tenders.models import Tender
from portal.tenders.rules import beijing_instant, local_date

CERTIFICATE_PREFIX = "RY"  # 荣誉证书 numbers: RY-2026-00001
CERTIFICATE_TEMPLATE = "assessment/certificate.html"  # under templates/pdf/
REASON_MAX = 1000  # an entry's 事迹
NAME_MAX, CONTACT_MAX = 100, 200  # a public comment's name and contact (the columns' lengths)
COMMENT_MIN, COMMENT_MAX = 10, 2000
ANSWER_MIN, ANSWER_MAX = 5, 5000
WITHDRAW_REASON_MIN, WITHDRAW_REASON_MAX = 10, 1000
COMMENTS_PER_IP_PER_DAY = 5  # public comments from one address on one list in one Beijing day

# The rule that proposed an entry (Commendation.rule).
RULE_NGO = "ngo_reviews"
RULE_PROJECT = "project_final_review"
RULE_BUREAU = "bureau_assessment"
RULE_LABELS = {
    RULE_NGO: _l("Reviews of the year all 良好 or better, at least one 优秀; no termination or upheld challenge"),
    RULE_PROJECT: _l("Final review (末期效果评估) of the year graded 优秀"),
    RULE_BUREAU: _l("Yearly assessment (年度考核) of the year graded 优秀"),
}

# Words of the notices and certificates, documents in Chinese.
SUBJECT_CN = {SubjectKind.NGO: "社会工作服务机构", SubjectKind.PROJECT: "社会工作服务项目",
              SubjectKind.BUREAU: "区县民政部门"}
HONOUR_CN = {SubjectKind.NGO: "优秀社会工作服务机构", SubjectKind.PROJECT: "优秀社会工作服务项目",
             SubjectKind.BUREAU: "社会工作服务先进单位"}
SUBJECT_ORDER = {SubjectKind.NGO: 0, SubjectKind.PROJECT: 1, SubjectKind.BUREAU: 2}
CN_DIGITS = "〇一二三四五六七八九"


@dataclass(frozen=True)
class Candidate:
    """Someone the rules propose for a year's list: ``key`` identifies it on the list ("ngo:12", "project:7",
    "bureau:3"); ``reason`` says why, with the figures; ``sources`` are [label, path] of the records."""

    key: str
    subject: str
    organisation_id: int
    name: str
    rule: str
    reason: str
    project_id: int | None = None
    contract_id: int | None = None
    sources: tuple[tuple[str, str], ...] = ()


# --- Shared ----------------------------------------------------------------------------------------------------------


def entry_key(commendation: Commendation) -> str:
    """The candidate key of an entry."""
    if commendation.subject == SubjectKind.PROJECT:
        return f"project:{commendation.project_id}"
    return f"{commendation.subject}:{commendation.organisation_id}"


def entry_name(commendation: Commendation) -> str:
    """What the list calls an entry: the organisation, or the project with the NGO that delivered it."""
    if commendation.subject == SubjectKind.PROJECT and commendation.project is not None:
        return f"{commendation.project.title}（{commendation.organisation.name}）"
    return commendation.organisation.name


def public_path(commendation_list: CommendationList) -> str:
    """The public page of a publicised list (services run without a request: a plain path)."""
    return f"/assessment/public/commendations/{commendation_list.id}"


def _manage_path(commendation_list: CommendationList) -> str:
    return f"/assessment/commendations/{commendation_list.id}"


def _require_city_officer(city: Organisation, actor) -> None:
    if not _city_officer(actor, city):
        raise NotAllowed(_l("Only an officer of the city bureau manages commendations."))


def _require_manager(commendation_list: CommendationList, actor) -> None:
    if not commendation_list.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the city bureau manages commendations."))


def lock_list(commendation_list: CommendationList) -> CommendationList:
    """Lock the list row (FOR UPDATE on PostgreSQL) and reload it with its entries and comments, so two officers'
    changes to one list serialise and each sees the other's."""
    locked = db.session.execute(sa.select(CommendationList).where(CommendationList.id == commendation_list.id)
                                .with_for_update().execution_options(populate_existing=True)).scalar_one()
    db.session.scalars(sa.select(Commendation).where(Commendation.list_id == locked.id)
                       .execution_options(populate_existing=True)).all()
    db.session.expire(locked, ["commendations", "comments"])
    return locked


def _lock_entry(commendation: Commendation) -> CommendationList:
    """Lock the entry's list; the entry must still be on it (another officer may have just taken it off)."""
    commendation_list = lock_list(commendation.commendation_list)
    if all(c.id != commendation.id for c in commendation_list.commendations):
        raise Conflict(_l("This entry is no longer on the list."))
    return commendation_list


def chinese_date(day: date) -> str:
    """二〇二六年十二月一日, as certificates are dated."""
    year = "".join(CN_DIGITS[int(d)] for d in str(day.year))
    return f"{year}年{cn2an.an2cn(day.month)}月{cn2an.an2cn(day.day)}日"


# --- Candidates by rule ----------------------------------------------------------------------------------------------


def _ngo_candidates(city: Organisation, year: int, bureau_ids: list[int]) -> list[Candidate]:
    rows = db.session.execute(
        sa.select(Review.id, Review.title, Review.grade, Review.score, Contract.supplier_id)
        .join(Contract, Contract.id == Review.contract_id)
        .where(Review.status == ReviewStatus.GRADED, in_year(Review.graded_at, year),
               Contract.bureau_id.in_(bureau_ids))
        .order_by(Review.graded_at, Review.id)).all()
    reviews = defaultdict(list)
    for row in rows:
        reviews[row.supplier_id].append(row)
    if not reviews:
        return []
    terminated = set(db.session.scalars(sa.select(Contract.supplier_id).where(
        Contract.status == ContractStatus.TERMINATED, in_year(Contract.ended_at, year),
        Contract.supplier_id.in_(reviews))))
    upheld = set(db.session.scalars(
        sa.select(Award.supplier_id).join(Challenge, Challenge.award_id == Award.id).where(
            Challenge.status == ChallengeStatus.UPHELD, in_year(Challenge.answered_at, year),
            Award.supplier_id.in_(reviews))))
    names = dict(db.session.execute(sa.select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(reviews))).all())
    found = []
    for ngo_id, graded in reviews.items():
        grades = [r.grade for r in graded]
        if not rules.ngo_is_candidate(grades, terminated=ngo_id in terminated, challenge_upheld=ngo_id in upheld):
            continue
        mean = (sum((Decimal(r.score) for r in graded), Decimal(0)) / len(graded)).quantize(
            rules.CENT, rounding=ROUND_HALF_UP)
        counts = "、".join(f"{GRADE_NAMES[g]}{grades.count(g)}次" for g in (Grade.EXCELLENT, Grade.GOOD)
                          if grades.count(g))
        reason = (f"{year}年度在{city.name}及所辖区县承接的政府购买社会工作服务共完成绩效评估{len(graded)}次，"
                  f"其中{counts}，平均得分{shown(mean)}分；年度内无合同被终止，无质疑成立。")
        found.append(Candidate(
            key=f"ngo:{ngo_id}", subject=SubjectKind.NGO, organisation_id=ngo_id, name=names[ngo_id], rule=RULE_NGO,
            reason=reason, sources=tuple((f"{r.title}（{GRADE_NAMES[r.grade]}，{shown(r.score)}分）",
                                          f"/reviews/{r.id}") for r in graded)))
    return found


def _project_candidates(year: int, bureau_ids: list[int]) -> list[Candidate]:
    rows = db.session.execute(
        sa.select(Review.id, Review.grade, Review.score, Review.graded_at, Contract.id.label("contract_id"),
                  Contract.reference, Contract.supplier_id, Contract.bureau_id, Tender.project_id)
        .join(Contract, Contract.id == Review.contract_id).join(Tender, Tender.id == Contract.tender_id)
        .where(Review.status == ReviewStatus.GRADED, Review.kind == ReviewKind.FINAL,
               in_year(Review.graded_at, year), Contract.bureau_id.in_(bureau_ids))
        .order_by(Review.graded_at, Review.id)).all()
    latest = {row.project_id: row for row in rows}  # the project's final review: the latest graded
    chosen = {p: row for p, row in latest.items() if rules.project_is_candidate(row.grade)}
    if not chosen:
        return []
    projects = {p.id: p for p in db.session.scalars(sa.select(ServiceProject).where(ServiceProject.id.in_(chosen)))}
    org_ids = {row.supplier_id for row in chosen.values()} | {row.bureau_id for row in chosen.values()}
    names = dict(db.session.execute(sa.select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(org_ids))).all())
    found = []
    for project_id, row in chosen.items():
        project = projects[project_id]
        reason = (f"服务项目“{project.title}”（{names[row.bureau_id]}，合同编号{row.reference}，"
                  f"承接机构{names[row.supplier_id]}）的末期效果评估于{local_date(row.graded_at).isoformat()}评定，"
                  f"得分{shown(row.score)}分，等次优秀。")
        found.append(Candidate(
            key=f"project:{project_id}", subject=SubjectKind.PROJECT, organisation_id=row.supplier_id,
            name=f"{project.title}（{names[row.supplier_id]}）", rule=RULE_PROJECT, reason=reason,
            project_id=project_id, contract_id=row.contract_id,
            sources=(("末期效果评估", f"/reviews/{row.id}"),
                     (f"合同 {row.reference}", f"/contracts/{row.contract_id}"))))
    return found


def _bureau_candidates(city: Organisation, year: int) -> list[Candidate]:
    rows = db.session.execute(
        sa.select(Assessment, Organisation.name).join(Organisation, Organisation.id == Assessment.organisation_id)
        .where(Assessment.city_id == city.id, Assessment.kind == SubjectKind.BUREAU, Assessment.year == year,
               Assessment.status == AssessmentStatus.CONFIRMED)
        .order_by(Assessment.id)).all()
    return [Candidate(key=f"bureau:{a.organisation_id}", subject=SubjectKind.BUREAU, organisation_id=a.organisation_id,
                      name=name, rule=RULE_BUREAU,
                      reason=f"{year}年度考核得分{shown(a.score)}分，考核等次为优秀。",
                      sources=((f"{year}年度考核", f"/assessment/yearly/{a.id}"),))
            for a, name in rows if rules.bureau_is_candidate(a.grade)]


def candidates(city: Organisation, year: int) -> list[Candidate]:
    """Who the rules propose for the city's list of ``year``: NGOs, then projects, then bureaus, each by name."""
    bureau_ids = city_bureau_ids(city)
    found = [*_ngo_candidates(city, year, bureau_ids), *_project_candidates(year, bureau_ids),
             *_bureau_candidates(city, year)]
    return sorted(found, key=lambda c: (SUBJECT_ORDER[c.subject], c.name, c.key))


def _no_longer_candidates(commendation_list: CommendationList) -> list[str]:
    """The entries the rules no longer propose (a grade changed since they were added)."""
    keys = {c.key for c in candidates(commendation_list.bureau, commendation_list.year)}
    return [entry_name(c) for c in commendation_list.commendations if entry_key(c) not in keys]


def _require_still_candidates(commendation_list: CommendationList, *, remedy) -> None:
    stale = _no_longer_candidates(commendation_list)
    if stale:
        raise DomainError(remedy, names="、".join(stale))


# --- The draft list ------------------------------------------------------------------------------------------------


def create_list(city: Organisation, year: int, *, actor, now: datetime) -> CommendationList:
    """The city officer opens the commendation list of a past or the current year (one per city and year)."""
    _require_city_officer(city, actor)
    if not FIRST_YEAR <= year <= local_date(now).year:
        raise DomainError(_l("Choose a year from %(first)s to the current year."), first=FIRST_YEAR)
    title = f"{city.name}{year}年度社会工作服务表彰"
    commendation_list = CommendationList(year=year, bureau_id=city.id, title=title, status=ListStatus.DRAFT,
                                         created_by_id=actor.id, created_at=now, updated_at=now)
    exists = _l("The commendation list of %(year)s already exists.")
    if db.session.scalar(sa.select(CommendationList.id).where(CommendationList.bureau_id == city.id,
                                                              CommendationList.year == year)) is not None:
        raise Conflict(exists, year=year)
    try:
        with db.session.begin_nested():
            db.session.add(commendation_list)
            db.session.flush()
    except IntegrityError as exc:  # another officer opened it at the same moment
        raise Conflict(exists, year=year) from exc
    audit.record("commendation_list.created", commendation_list, actor=actor, now=now,
                 new={"year": year, "title": title, "bureau_id": city.id})
    return commendation_list


def _require_draft(commendation_list: CommendationList) -> None:
    if commendation_list.status != ListStatus.DRAFT:
        raise Conflict(_l("Entries are chosen while the list is a draft; it has been publicised."))


def add_commendation(commendation_list: CommendationList, *, key: str, level: str, reason: str = "", actor,
                     now: datetime) -> Commendation:
    """The officer adds one of the candidates by rule, with its level and its 事迹 (the rule's reason if empty)."""
    commendation_list = lock_list(commendation_list)
    _require_manager(commendation_list, actor)
    _require_draft(commendation_list)
    if level not in set(Level):
        raise DomainError(_l("Choose the level of the commendation."))
    candidate = next((c for c in candidates(commendation_list.bureau, commendation_list.year) if c.key == key), None)
    if candidate is None:
        raise DomainError(_l("Only a candidate proposed by the rules for %(year)s can be commended."),
                          year=commendation_list.year)
    if any(entry_key(c) == key for c in commendation_list.commendations):
        raise Conflict(_l("%(name)s is already on the list."), name=candidate.name)
    reason = (reason or "").strip() or candidate.reason
    if len(reason) > REASON_MAX:
        raise DomainError(_l("The reason for the commendation is at most %(n)s characters."), n=REASON_MAX)
    commendation = Commendation(list_id=commendation_list.id, subject=candidate.subject,
                                organisation_id=candidate.organisation_id, project_id=candidate.project_id,
                                contract_id=candidate.contract_id, level=level, rule=candidate.rule, reason=reason)
    db.session.add(commendation)
    db.session.flush()
    audit.record("commendation.added", commendation, actor=actor, now=now, new={
        "list_id": commendation_list.id, "key": key, "subject": candidate.subject, "level": level,
        "rule": candidate.rule, "reason": reason})
    return commendation


def remove_commendation(commendation: Commendation, *, actor, now: datetime) -> None:
    """The officer takes an entry off a draft list."""
    commendation_list = _lock_entry(commendation)
    _require_manager(commendation_list, actor)
    _require_draft(commendation_list)
    audit.record("commendation.removed", commendation, actor=actor, now=now, old={
        "list_id": commendation_list.id, "key": entry_key(commendation), "level": commendation.level,
        "reason": commendation.reason})
    db.session.delete(commendation)
    db.session.flush()
    db.session.expire(commendation_list, ["commendations"])


# --- The 公示 -------------------------------------------------------------------------------------------------------


def _entry_lines(entries, numbers: dict | None = None) -> list[str]:
    lines = []
    for n, c in enumerate(sorted(entries, key=lambda c: (SUBJECT_ORDER[c.subject], c.id)), 1):
        number = f"（证书编号{numbers[c.id]}）" if numbers else ""
        lines.append(f"{n}. {entry_name(c)}（{SUBJECT_CN[c.subject]}，{LEVEL_NAMES_CN[c.level]}）{number}：{c.reason}")
    return lines


def publicity_body(commendation_list: CommendationList, start: date, ends: date) -> str:
    """The text of the 公示 notice: what is proposed, the period, how to comment, the entries."""
    n = len(commendation_list.commendations)
    return "\n".join([
        f"根据{commendation_list.year}年度政府购买社会工作服务绩效评估和年度考核结果，经{commendation_list.bureau.name}"
        f"研究，拟对以下{n}个单位和项目予以表彰，现予以公示。",
        f"公示期：{start.isoformat()}至{ends.isoformat()}（{rules.PUBLICITY_WORKING_DAYS}个工作日）。",
        f"公示期间，任何单位和个人对拟表彰对象有异议的，可在本门户表彰名单公示页面（{public_path(commendation_list)}）"
        "提出意见，请写明姓名和联系方式，以便核实和答复。",
        *_entry_lines(commendation_list.commendations),
    ])


def publicise(commendation_list: CommendationList, *, actor, now: datetime) -> CommendationList:
    """Draft with at least one entry -> PUBLICISED: the 公示 notice, public comment until the fifth working day
    after today."""
    commendation_list = lock_list(commendation_list)
    _require_manager(commendation_list, actor)
    if commendation_list.status != ListStatus.DRAFT:
        raise Conflict(_l("The list has already been publicised."))
    if not commendation_list.commendations:
        raise DomainError(_l("Add at least one commendation before the list is publicised."))
    _require_still_candidates(commendation_list, remedy=_l(
        "No longer proposed by the rules (a grade has changed): %(names)s. Remove them before publicising."))
    today = local_date(now)
    ends = load_calendar().add_working_days(today, rules.PUBLICITY_WORKING_DAYS)
    notice = publish_notice(NoticeKind.COMMENDATION, bureau=commendation_list.bureau,
                            title=f"{commendation_list.title}名单公示",
                            body=publicity_body(commendation_list, today, ends), now=now, runs_until=ends, actor=actor)
    commendation_list.status, commendation_list.publicised_at = ListStatus.PUBLICISED, now
    commendation_list.publicity_ends_on, commendation_list.publicity_notice_id = ends, notice.id
    db.session.flush()
    audit.record("commendation_list.publicised", commendation_list, actor=actor, now=now,
                 old={"status": ListStatus.DRAFT}, new={
                     "status": commendation_list.status, "publicity_ends_on": ends,
                     "entries": [entry_key(c) for c in commendation_list.commendations],
                     "notice": notice.document.number if notice.document is not None else notice.id})
    return commendation_list


def is_open_for_comment(commendation_list: CommendationList, today: date) -> bool:
    """Comments are taken while the list is publicised, up to and including the last day of the 公示."""
    return (commendation_list.status == ListStatus.PUBLICISED and commendation_list.publicity_ends_on is not None
            and today <= commendation_list.publicity_ends_on)


def _officers(commendation_list: CommendationList) -> list:
    return users_with_role([commendation_list.bureau_id], Role.OFFICER)


class TooManyComments(DomainError):
    """One address has sent the day's comments on a list already (the view answers 429)."""

    status_code = 429


def add_public_comment(commendation_list: CommendationList, *, name: str, contact: str, text: str,
                       now: datetime, ip: str | None = None) -> PublicComment:
    """Anyone, signed in or not, comments on a list during its 公示 (up to its last day); at most
    COMMENTS_PER_IP_PER_DAY a day from one address (``ip``, the request's client address by default); the officers
    are told."""
    commendation_list = lock_list(commendation_list)  # the window is read from the row as it stands
    ip = (audit.client_ip() if ip is None else ip)[:45]
    if not is_open_for_comment(commendation_list, local_date(now)):
        if commendation_list.publicity_ends_on is not None:
            raise DomainError(_l("Comments were taken during the public comment period (公示), which ended on "
                                 "%(date)s."), date=commendation_list.publicity_ends_on.isoformat())
        raise DomainError(_l("Comments are taken only during the public comment period (公示)."))
    name, contact, text = (name or "").strip(), (contact or "").strip(), (text or "").strip()
    if not name or len(name) > NAME_MAX:
        raise DomainError(_l("Give your name or organisation (at most %(n)s characters)."), n=NAME_MAX)
    if not contact or len(contact) > CONTACT_MAX:
        raise DomainError(_l("Give a telephone number or e-mail address to reach you (at most %(n)s characters)."),
                          n=CONTACT_MAX)
    if not COMMENT_MIN <= len(text) <= COMMENT_MAX:
        raise DomainError(_l("Write your comment in %(min)s to %(max)s characters."), min=COMMENT_MIN,
                          max=COMMENT_MAX)
    if ip:
        day_start = beijing_instant(local_date(now), time(0))
        sent = db.session.scalar(sa.select(sa.func.count(PublicComment.id)).where(
            PublicComment.list_id == commendation_list.id, PublicComment.ip == ip,
            PublicComment.submitted_at >= day_start, PublicComment.submitted_at < day_start + timedelta(days=1)))
        if sent >= COMMENTS_PER_IP_PER_DAY:
            raise TooManyComments(_l("You have already sent %(n)s comments on this list today: please try again "
                                     "tomorrow."), n=COMMENTS_PER_IP_PER_DAY)
    comment = PublicComment(list_id=commendation_list.id, name=name, contact=contact, text=text, ip=ip,
                            submitted_at=now)
    db.session.add(comment)
    db.session.flush()
    audit.record("commendation_list.comment_received", commendation_list, now=now, new={"comment": comment.id})
    notify_many(_officers(commendation_list), "commendation_comment",
                {"title": commendation_list.title, "ends_on": commendation_list.publicity_ends_on.isoformat()},
                link=_manage_path(commendation_list), now=now)
    return comment


def answer_comment(comment: PublicComment, *, response: str, actor, now: datetime) -> PublicComment:
    """The officer answers a comment before the list is confirmed."""
    commendation_list = lock_list(comment.commendation_list)
    _require_manager(commendation_list, actor)
    if commendation_list.status != ListStatus.PUBLICISED:
        raise Conflict(_l("Comments are answered while the list is publicised."))
    db.session.refresh(comment)
    if comment.responded_at is not None:
        raise Conflict(_l("This comment has already been answered."))
    response = (response or "").strip()
    if not ANSWER_MIN <= len(response) <= ANSWER_MAX:
        raise DomainError(_l("Write the answer to the comment in %(min)s to %(max)s characters."), min=ANSWER_MIN,
                          max=ANSWER_MAX)
    comment.response, comment.responded_at, comment.responded_by_id = response, now, actor.id
    db.session.flush()
    audit.record("commendation_list.comment_answered", commendation_list, actor=actor, now=now,
                 new={"comment": comment.id, "response": response})
    return comment


def _recipients(commendation: Commendation) -> list:
    """Who is told about an entry: the NGO's users (an NGO, or a project's NGO), a bureau's officers."""
    role = Role.OFFICER if commendation.subject == SubjectKind.BUREAU else Role.SUPPLIER
    return users_with_role([commendation.organisation_id], role)


def withdraw_commendation(commendation: Commendation, *, reason: str, actor, now: datetime) -> None:
    """During the 公示 the officer withdraws an entry shown to be wrong (by a comment, say), with the reason; it is
    taken off the list (the reason stays in the audit log) and the commended are told."""
    commendation_list = _lock_entry(commendation)
    _require_manager(commendation_list, actor)
    if commendation_list.status != ListStatus.PUBLICISED:
        raise Conflict(_l("An entry is withdrawn during the public comment period (公示); before it, remove it."))
    reason = (reason or "").strip()
    if not WITHDRAW_REASON_MIN <= len(reason) <= WITHDRAW_REASON_MAX:
        raise DomainError(_l("Give the reason for the withdrawal in %(min)s to %(max)s characters."),
                          min=WITHDRAW_REASON_MIN, max=WITHDRAW_REASON_MAX)
    context = {"title": commendation_list.title, "name": entry_name(commendation), "reason": reason}
    recipients = _recipients(commendation)
    audit.record("commendation.withdrawn", commendation, actor=actor, now=now, old={
        "list_id": commendation_list.id, "key": entry_key(commendation), "name": entry_name(commendation),
        "level": commendation.level, "reason": commendation.reason}, new={"withdrawal_reason": reason})
    db.session.delete(commendation)
    db.session.flush()
    db.session.expire(commendation_list, ["commendations"])
    notify_many(recipients, "commendation_withdrawn", context, link=public_path(commendation_list), now=now)


# --- Confirmation and certificates -----------------------------------------------------------------------------------


def certificate_context(commendation_list: CommendationList, commendation: Commendation, issued_on: date) -> dict:
    """The plain data of a certificate (荣誉证书), in Chinese: to whom, for what, at which level, by whom and when."""
    subject, year = SubjectKind(commendation.subject), commendation_list.year
    project = commendation.project.title if subject == SubjectKind.PROJECT and commendation.project else ""
    if project:
        before = f"你单位承接的“{project}”项目，在{year}年度政府购买社会工作服务中成效显著，被评为"
    elif subject == SubjectKind.BUREAU:
        before = f"你单位在{year}年度社会工作服务和政府购买服务工作中成绩突出，被评为"
    else:
        before = f"你单位在{year}年度政府购买社会工作服务中表现突出，被评为"
    return {"issuer": commendation_list.bureau.name, "recipient": commendation.organisation.name,
            "project": project, "honour": f"{year}年度{HONOUR_CN[subject]}",
            "level": LEVEL_NAMES_CN[Level(commendation.level)], "citation_before": before, "citation_after": "。",
            "list_title": commendation_list.title, "issued_on": issued_on, "issued_on_cn": chinese_date(issued_on),
            "verify_path": public_path(commendation_list)}


def final_body(commendation_list: CommendationList, numbers: dict, today: date) -> str:
    """The text of the final notice: the 公示 held, the comments answered, the entries with their certificates."""
    comments = len(commendation_list.comments)
    heard = f"公示期间收到意见{comments}条，均已核实答复。" if comments else "公示期间未收到异议。"
    return "\n".join([
        f"{commendation_list.title}名单已于{local_date(commendation_list.publicised_at).isoformat()}起公示"
        f"{rules.PUBLICITY_WORKING_DAYS}个工作日（至{commendation_list.publicity_ends_on.isoformat()}）。{heard}"
        f"经{commendation_list.bureau.name}确认，现将表彰名单正式公布如下：",
        *_entry_lines(commendation_list.commendations, numbers),
        f"对以上单位和项目颁发荣誉证书（{today.isoformat()}）。荣誉证书可在本门户表彰名单页面"
        f"（{public_path(commendation_list)}）下载并按证书编号核验。",
    ])


def confirm(commendation_list: CommendationList, *, actor, now: datetime) -> CommendationList:
    """PUBLICISED -> CONFIRMED from the day after the 公示 ends, every comment answered: one certificate per entry,
    the final notice, and the commended told."""
    commendation_list = lock_list(commendation_list)
    _require_manager(commendation_list, actor)
    if commendation_list.status != ListStatus.PUBLICISED:
        raise Conflict(_l("Only a publicised list can be confirmed."))
    today = local_date(now)
    if today <= commendation_list.publicity_ends_on:
        raise DomainError(_l("The public comment period (公示) runs until %(date)s: the list can be confirmed from the "
                             "next day."), date=commendation_list.publicity_ends_on.isoformat())
    unanswered = [c for c in commendation_list.comments if c.responded_at is None]
    if unanswered:
        raise DomainError(lazy_ngettext("%(num)s comment of the public has not been answered yet.",
                                        "%(num)s comments of the public have not been answered yet.",
                                        len(unanswered)))
    if not commendation_list.commendations:
        raise DomainError(_l("Every entry has been withdrawn: there is nothing to confirm."))
    _require_still_candidates(commendation_list, remedy=_l(
        "No longer proposed by the rules (a grade has changed): %(names)s. Withdraw them before confirming."))
    numbers = {}
    for commendation in commendation_list.commendations:
        document = issue_document(f"commendation-certificate:{commendation.id}", CERTIFICATE_TEMPLATE,
                                  certificate_context(commendation_list, commendation, today),
                                  prefix=CERTIFICATE_PREFIX, now=now, issued_by=actor)
        commendation.certificate_id, numbers[commendation.id] = document.id, document.number
    notice = publish_notice(NoticeKind.COMMENDATION, bureau=commendation_list.bureau,
                            title=f"{commendation_list.title}名单", body=final_body(commendation_list, numbers, today),
                            now=now, actor=actor)
    commendation_list.status, commendation_list.notice_id = ListStatus.CONFIRMED, notice.id
    commendation_list.confirmed_at, commendation_list.confirmed_by_id = now, actor.id
    db.session.flush()
    audit.record("commendation_list.confirmed", commendation_list, actor=actor, now=now,
                 old={"status": ListStatus.PUBLICISED}, new={
                     "status": commendation_list.status, "certificates": numbers,
                     "notice": notice.document.number if notice.document is not None else notice.id})
    for commendation in commendation_list.commendations:
        notify_many(_recipients(commendation), "commendation_confirmed", {
            "title": commendation_list.title, "name": entry_name(commendation),
            "level": LEVEL_LABELS[Level(commendation.level)], "number": numbers[commendation.id]},
            link=public_path(commendation_list), now=now)
    return commendation_list
