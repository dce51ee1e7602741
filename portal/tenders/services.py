"""Operations on tenders: create, publish, invite, clarify, object, approve, negotiate, fail, re-tender.

Services apply the rules, change objects, flush, audit and queue notifications; the caller
commits. Bids and the opening live in ``bidding.py``.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal import audit, sealing
from portal.accounts.models import Organisation, OrgKind, OrgStatus, User
from portal.calendar import WorkingCalendar
from portal.errors import DomainError
from portal.extensions import db
from portal.notices import NoticeKind, publish_notice
from portal.notify import notify_many
from portal.projects.models import ProjectStatus, ServiceProject
from portal.tenders import rules
from portal.tenders.models import (
    EVALUATION_METHOD_LABELS,
    GROUND_LABELS,
    METHOD_LABELS,
    Bid,
    BidStatus,
    Clarification,
    FactorType,
    InvitationSource,
    Method,
    NegotiationRound,
    Objection,
    PoolSource,
    Question,
    SupplierDraw,
    Tender,
    TenderCriterion,
    TenderInvitation,
    TenderRequirement,
    TenderStatus,
)

# The translated message for each rule problem (see rules.Problem.code); the article is appended.
PROBLEM_MESSAGES = {
    "ground_missing": _l("Give the lawful ground for using this method."),
    "approval_missing": _l("The budget is at or above the open-tender threshold (%(threshold)s yuan): another "
                           "method needs the finance bureau's approval (document number, date and approving body)."),
    "single_source_supplier": _l("Name the single supplier."),
    "dates_missing": _l("Enter the document period and the deadline."),
    "documents_before_notice": _l("The documents cannot be issued before the notice is published."),
    "notice_period": _l("The notice must run for at least %(days)s working days, until %(date)s or later."),
    "documents_period": _l("The documents must be available for at least %(days)s working days, until %(date)s "
                           "or later."),
    "deadline_too_early": _l("The deadline must be at least %(days)s days after the documents are issued: "
                             "%(date)s at the earliest."),
    "deadline_not_working_day": _l("The deadline falls on %(date)s, which is not a working day."),
    "documents_after_deadline": _l("The documents cannot stay available after the deadline."),
    "single_source_notice": _l("The single-source notice must run for at least %(days)s working days, until "
                               "%(date)s or later."),
    "evaluation_method": _l("This method must use the evaluation method required for it."),
    "banned_regional_award": _l("“%(name)s” scores awards or performance in a given region or industry, which the "
                                "law forbids as a scoring factor."),
    "banned_size": _l("“%(name)s” scores the size of the organisation (capital, revenue, staff numbers or years in "
                      "business), which the law forbids."),
    "banned_commendation": _l("“%(name)s” scores commendations (表彰), yearly assessment or review grades, or funding "
                              "tilts (资金倾斜): they move funding, never bid points."),
    "banned_qualification": _l("“%(name)s” repeats a qualification requirement; qualification conditions cannot be "
                               "scoring factors."),
    "weight_positive": _l("Each criterion needs a weight above zero (“%(name)s”)."),
    "duplicate_criterion": _l("Two criteria have the same name."),
    "price_weight": _l("The price weight for services must be at least %(min)s points."),
    "criteria_missing": _l("Comprehensive scoring needs at least one scoring criterion besides the price."),
    "weights_total": _l("The price weight and the criteria weights must add up to 100 (now %(total)s)."),
    "draw_too_few": _l("At least %(min)s suppliers must be drawn."),
    "pool_too_small": _l("The pool must hold at least %(needed)s eligible suppliers (it holds %(size)s)."),
    "notice_running": _l("The single-source notice runs until %(date)s; approval can only follow it."),
    "objections_open": _l("%(count)s objection(s) to the notice have not been answered yet."),
    "agreed_above_budget": _l("The agreed price exceeds the budget (%(budget)s yuan); the procedure must end."),
    "price_not_positive": _l("The price must be above zero."),
    "price_precision": _l("The price may have at most two decimal places (fen)."),
    "price_above_cap": _l("The price is above the highest price this tender accepts, %(cap)s yuan (the ceiling "
                          "price, or the budget where there is none)."),
    "opening_before_deadline": _l("Bids can be opened only at or after the bid deadline."),
    "opening_same_officer": _l("The opening must be confirmed by a different officer of the bureau from the one "
                               "who started it."),
}


def tender_link(tender: Tender, page: str = "") -> str:
    """A tender's page ("", "bid" or "opening"), for notifications: services also run in jobs, without url_for."""
    return f"/tenders/{tender.id}/{page}" if page else f"/tenders/{tender.id}"


def raise_problems(problems: list[rules.Problem], error_class: type[DomainError] = DomainError, *,
                   messages: dict | None = None) -> None:
    """Turn rule problems into one error with translated messages (``messages`` by code, this module's by default)
    and the articles they come from."""
    if not problems:
        return
    messages = PROBLEM_MESSAGES if messages is None else messages
    lines = []
    for problem in problems:
        params = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in problem.params.items()}
        text = str(messages[problem.code]) % params if params else str(messages[problem.code])
        lines.append(f"{text} ({problem.article})" if problem.article else text)
    raise error_class(" ".join(lines))


TENDER_FIELDS = (
    "title", "method", "budget", "ceiling_price", "service_content", "evaluation_method", "price_weight", "complex",
    "method_ground", "justification", "approval_document", "approval_date", "approval_body",
    "single_source_supplier_id",
)


def _snapshot(tender: Tender) -> dict:
    return {f: getattr(tender, f) for f in TENDER_FIELDS} | {
        "criteria": [[c.factor_type, c.name, c.weight] for c in tender.criteria],
        "requirements": [r.text for r in tender.requirements],
    }


def next_reference(bureau: Organisation, year: int) -> str:
    prefix = f"ZC{year}-{bureau.id:03d}-"
    count = db.session.scalar(sa.select(sa.func.count(Tender.id)).where(Tender.reference.like(f"{prefix}%")))
    return f"{prefix}{count + 1:04d}"


def _threshold() -> Decimal:
    return Decimal(current_app.config["OPEN_TENDER_THRESHOLD"])


def _check_values(values: dict, project: ServiceProject) -> None:
    if values["budget"] is None or values["budget"] <= 0:
        raise DomainError(_l("The budget must be above zero."))
    if values["budget"] > project.budget:
        raise DomainError(_l("The tender budget cannot exceed the project budget (%(budget)s yuan).",
                             budget=project.budget))
    ceiling = values.get("ceiling_price")
    if ceiling is not None and (ceiling <= 0 or ceiling > values["budget"]):
        raise DomainError(_l("The ceiling price must be above zero and not above the budget (R30, 87-12)."))
    values["evaluation_method"] = rules.EVALUATION_BY_METHOD[Method(values["method"])]
    if values["evaluation_method"] != "comprehensive":
        values["price_weight"] = 100
    if values["method"] != Method.SINGLE_SOURCE:
        values["single_source_supplier_id"] = None


def _apply_lists(tender: Tender, criteria: list[rules.CriterionSpec], requirements: list[str]) -> None:
    tender.criteria.clear()
    tender.requirements.clear()
    db.session.flush()
    for position, spec in enumerate(criteria, start=1):
        tender.criteria.append(TenderCriterion(position=position, factor_type=spec.factor_type, name=spec.name,
                                               description=spec.description, weight=spec.weight))
    for position, text in enumerate(requirements, start=1):
        tender.requirements.append(TenderRequirement(position=position, text=text))


def _check_criteria(values: dict, criteria: list[rules.CriterionSpec], requirements: list[str]) -> None:
    if any(c.factor_type not in set(FactorType) for c in criteria):
        raise DomainError(_l("Choose a factor type from the list for every criterion."))
    raise_problems(rules.criteria_problems(values["method"], values["evaluation_method"], values["price_weight"],
                                           criteria, requirements))


def create_tender(project: ServiceProject, values: dict, criteria: list[rules.CriterionSpec],
                  requirements: list[str], *, actor: User, now: datetime) -> Tender:
    """A draft tender from a project whose needs survey is done; unlawful criteria are refused at once."""
    if project.status != ProjectStatus.READY:
        raise DomainError(_l("Finish the project's needs survey (需求调查) and mark it ready before tendering."))
    values = {k: values.get(k) for k in TENDER_FIELDS}
    _check_values(values, project)
    _check_criteria(values, criteria, requirements)
    reference = next_reference(project.bureau, rules.local_date(now).year)
    tender = Tender(project=project, bureau_id=project.bureau_id, reference=reference, created_by_id=actor.id,
                    status=TenderStatus.DRAFT, **values)
    db.session.add(tender)
    _apply_lists(tender, criteria, requirements)
    db.session.flush()
    audit.record("tender.created", tender, actor=actor, new=_snapshot(tender), now=now)
    return tender


def update_tender(tender: Tender, values: dict, criteria: list[rules.CriterionSpec], requirements: list[str],
                  *, actor: User, now: datetime) -> Tender:
    if tender.status != TenderStatus.DRAFT:
        raise DomainError(_l("Only a draft can be edited; publish a clarification or change instead."))
    before = _snapshot(tender)
    values = {k: values.get(k) for k in TENDER_FIELDS}
    _check_values(values, tender.project)
    _check_criteria(values, criteria, requirements)
    for key, value in values.items():
        setattr(tender, key, value)
    _apply_lists(tender, criteria, requirements)
    db.session.flush()
    after = _snapshot(tender)
    changed = [k for k in after if before[k] != after[k]]
    audit.record("tender.updated", tender, actor=actor, old={k: before[k] for k in changed},
                 new={k: after[k] for k in changed}, now=now)
    return tender


def _eligible_supplier_ids(today: date) -> list[int]:
    """Active, approved NGOs that are not debarred on ``today``."""
    query = sa.select(Organisation.id).where(
        Organisation.kind == OrgKind.SUPPLIER, Organisation.status == OrgStatus.ACTIVE,
        sa.or_(Organisation.debarred_until.is_(None), Organisation.debarred_until < today),
    ).order_by(Organisation.id)
    return list(db.session.scalars(query))


def draw_invitations(tender: Tender, *, pool_source: str, pool_ids: list[int] | None, count: int,
                     witnesses: tuple[User, User], actor: User, now: datetime, seed: str | None = None
                     ) -> SupplierDraw:
    """The witnessed random draw of an invited tender (87-14): seed, pool and result recorded."""
    if tender.method != Method.INVITED or tender.status != TenderStatus.DRAFT:
        raise DomainError(_l("Suppliers can be drawn only for an invited tender that has not been published yet."))
    first, second = witnesses
    if first.id == second.id or not all(tender.can_manage(w) for w in witnesses):
        raise DomainError(_l("Two different officers of the bureau must witness the draw."))
    if tender.invitations or db.session.scalar(sa.select(SupplierDraw.id).where(SupplierDraw.tender_id == tender.id)):
        raise DomainError(_l("The suppliers of this tender have already been drawn; a draw is never repeated."))
    if pool_source == PoolSource.PREQUALIFICATION:
        raise DomainError(_l("Prequalification is not recorded in the portal yet: draw from the supplier database or "
                             "from written recommendations (a pool at least twice the draw)."))
    eligible = set(_eligible_supplier_ids(rules.local_date(now)))
    pool = sorted(set(pool_ids) & eligible) if pool_ids is not None else sorted(eligible)
    raise_problems(rules.draw_problems(len(pool), count, pool_source))
    seed = seed or secrets.token_hex(16)
    drawn = rules.draw_suppliers(pool, count, seed)
    draw = SupplierDraw(tender_id=tender.id, pool_source=pool_source, pool=json.dumps(pool), count=count, seed=seed,
                        result=json.dumps(drawn), witness1_id=first.id, witness2_id=second.id, drawn_at=now)
    db.session.add(draw)
    for supplier_id in drawn:
        if not tender.is_invited(supplier_id):
            tender.invitations.append(TenderInvitation(supplier_id=supplier_id, source=InvitationSource.DRAW,
                                                       invited_at=now))
    db.session.flush()
    audit.record("tender.suppliers_drawn", tender, actor=actor, now=now,
                 new={"seed": seed, "pool": pool, "count": count, "result": drawn, "source": pool_source,
                      "witnesses": [first.id, second.id]})
    return draw


def replay_draw(draw: SupplierDraw) -> list[int]:
    """Re-run a recorded draw from its seed and pool: anyone can check the result."""
    return rules.draw_suppliers(json.loads(draw.pool), draw.count, draw.seed)


def invite_suppliers(tender: Tender, supplier_ids: list[int], *, reason: str, actor: User, now: datetime) -> None:
    """Invite named suppliers to a negotiation (recommended in writing) or a single source."""
    if tender.method not in (Method.NEGOTIATION, Method.SINGLE_SOURCE) or tender.status != TenderStatus.DRAFT:
        raise DomainError(_l("Suppliers can be invited by name only to a negotiation or a single source that has "
                             "not been published yet."))
    eligible = set(_eligible_supplier_ids(rules.local_date(now)))
    refused = [i for i in supplier_ids if i not in eligible]
    if refused:
        raise DomainError(_l("Some of the chosen organisations cannot take part (inactive or debarred)."))
    for supplier_id in supplier_ids:
        if not tender.is_invited(supplier_id):
            tender.invitations.append(TenderInvitation(supplier_id=supplier_id, source=InvitationSource.RECOMMENDED,
                                                       reason=reason, invited_at=now))
    db.session.flush()
    audit.record("tender.suppliers_invited", tender, actor=actor, new={"suppliers": supplier_ids, "reason": reason},
                 now=now)


def _timetable(tender: Tender, published_on: date) -> rules.Timetable:
    return rules.Timetable(published_on=published_on, notice_until=tender.notice_until,
                           documents_from=tender.documents_from, documents_until=tender.documents_until,
                           deadline=tender.bid_deadline)


def check_publishable(tender: Tender, calendar: WorkingCalendar, *, now: datetime) -> None:
    """Every method rule, at the moment of publication (A, B, C, H)."""
    raise_problems(rules.method_problems(
        tender.method, tender.budget, _threshold(), ground=tender.method_ground,
        approval_document=tender.approval_document, approval_date=tender.approval_date,
        approval_body=tender.approval_body, single_source_supplier=tender.single_source_supplier_id))
    raise_problems(rules.criteria_problems(
        tender.method, tender.evaluation_method, tender.price_weight,
        [rules.CriterionSpec(c.factor_type, c.name, c.weight, c.description) for c in tender.criteria],
        [r.text for r in tender.requirements]))
    if tender.method == Method.INVITED and len(tender.invitations) < rules.MIN_INVITED_SUPPLIERS:
        raise DomainError(_l("Draw at least %(n)s suppliers to invite before publishing (L34, 87-14).",
                             n=rules.MIN_INVITED_SUPPLIERS))
    if tender.method == Method.NEGOTIATION and len(tender.invitations) < rules.MIN_NEGOTIATION_SUPPLIERS:
        raise DomainError(_l("Invite at least %(n)s suppliers to the negotiation (L38, 74-12).",
                             n=rules.MIN_NEGOTIATION_SUPPLIERS))
    raise_problems(rules.timetable_problems(tender.method, _timetable(tender, rules.local_date(now)), calendar))


NOTICE_KIND_BY_METHOD = {
    Method.OPEN: NoticeKind.TENDER,
    Method.INVITED: NoticeKind.INVITATION,
    Method.NEGOTIATION: NoticeKind.INVITATION,
    Method.SINGLE_SOURCE: NoticeKind.SINGLE_SOURCE,
}


def _notice_body(tender: Tender) -> str:
    lines = [
        f"项目编号：{tender.reference}",
        f"采购方式：{METHOD_LABELS[Method(tender.method)]}",
        f"预算金额：{tender.budget} 元" + (f"；最高限价：{tender.ceiling_price} 元" if tender.ceiling_price else ""),
        f"服务内容：{tender.service_content}",
    ]
    if tender.method == Method.SINGLE_SOURCE:
        supplier = tender.single_source_supplier
        lines += [f"拟定供应商：{supplier.name}（{supplier.address}）",
                  f"采用单一来源的理由：{GROUND_LABELS[tender.method_ground]}。{tender.justification}",
                  f"公示期至：{tender.notice_until}。任何单位和个人可在公示期内提出异议。"]
    else:
        lines += [f"获取文件时间：{tender.documents_from} 至 {tender.documents_until}",
                  f"递交截止及开标时间：{tender.bid_deadline.astimezone(rules.BEIJING):%Y-%m-%d %H:%M}（北京时间）"]
        if tender.requirements:
            lines.append("资格要求：" + "；".join(r.text for r in tender.requirements))
        # Invited suppliers are named only with the result (87-14, 74-12): naming them now would show
        # every potential bidder to the others.
    return "\n".join(lines)


def publish_tender(tender: Tender, *, notice_until: date | None, documents_from: date | None,
                   documents_until: date | None, bid_deadline: datetime | None, calendar: WorkingCalendar,
                   actor: User, now: datetime) -> Tender:
    """Publish under the method's rules; the notice goes on the board and invited suppliers are told."""
    if tender.status != TenderStatus.DRAFT:
        raise DomainError(_l("This tender has already been published."))
    tender.notice_until, tender.documents_from = notice_until, documents_from
    tender.documents_until, tender.bid_deadline = documents_until, bid_deadline
    if tender.method == Method.SINGLE_SOURCE:
        tender.documents_from = tender.documents_until = tender.bid_deadline = None
    check_publishable(tender, calendar, now=now)
    tender.status, tender.published_at = TenderStatus.PUBLISHED, now
    if tender.method != Method.SINGLE_SOURCE:
        sealing.prepare_scope(tender.sealing_scope)
    if tender.method == Method.SINGLE_SOURCE and not tender.is_invited(tender.single_source_supplier_id):
        tender.invitations.append(TenderInvitation(supplier_id=tender.single_source_supplier_id,
                                                   source=InvitationSource.DIRECT, invited_at=now))
    db.session.flush()
    publish_notice(NOTICE_KIND_BY_METHOD[Method(tender.method)], bureau=tender.bureau, title=tender.title,
                   body=_notice_body(tender), now=now, tender=tender,
                   runs_until=tender.notice_until or tender.documents_until, actor=actor)
    invited_users = [u for inv in tender.invitations for u in inv.supplier.users if u.is_active]
    notify_many(invited_users, "tender_invitation", {"title": tender.title, "reference": tender.reference},
                link=tender_link(tender), now=now)
    audit.record("tender.published", tender, actor=actor, now=now,
                 old={"status": TenderStatus.DRAFT},
                 new={"status": tender.status, "notice_until": tender.notice_until,
                      "documents_from": tender.documents_from, "documents_until": tender.documents_until,
                      "bid_deadline": tender.bid_deadline})
    return tender


# --- Clarification questions and clarifications --------------------------------------------------------


def can_take_part(tender: Tender, organisation: Organisation | None) -> bool:
    """Whether an NGO may read the documents, ask and bid: open tenders anyone, otherwise the invited."""
    if organisation is None or organisation.kind != OrgKind.SUPPLIER:
        return False
    return tender.method == Method.OPEN or tender.is_invited(organisation.id)


def ask_question(tender: Tender, text: str, *, asker: User, now: datetime) -> Question:
    """A supplier asks about the documents while bidding is open; its identity stays hidden from others."""
    if rules.phase(tender.status, tender.method, now, deadline=tender.bid_deadline,
                   notice_until=tender.notice_until) != "bidding":
        raise DomainError(_l("Questions can be asked only while bids are being taken."))
    organisation = asker.organisation
    if (not can_take_part(tender, organisation) or organisation.status != OrgStatus.ACTIVE
            or organisation.is_debarred(rules.local_date(now))):
        raise DomainError(_l("Only suppliers who may bid on this tender can ask questions."))
    text = text.strip()
    if not 5 <= len(text) <= 4000:
        raise DomainError(_l("Write the question in 5 to 4000 characters."))
    question = Question(tender_id=tender.id, supplier_id=asker.organisation_id, asked_by_id=asker.id, text=text,
                        asked_at=now)
    db.session.add(question)
    db.session.flush()
    audit.record("tender.question_asked", tender, actor=asker, new={"question": question.id}, now=now)
    officers = [u for u in tender.bureau.users if u.is_active and u.role == "officer"]
    notify_many(officers, "tender_question", {"title": tender.title, "reference": tender.reference},
                link=tender_link(tender), now=now)
    return question


def clarification_deadline(tender: Tender, *, now: datetime, affects_bids: bool, calendar: WorkingCalendar
                           ) -> datetime:
    """The deadline a clarification issued now would leave (moved if too close: R31, 87-27, 74-12)."""
    if not affects_bids:
        return tender.bid_deadline
    return rules.deadline_after_clarification(tender.method, rules.local_date(now), tender.bid_deadline, calendar)


def _suppliers_with_documents(tender: Tender) -> list[User]:
    """Everyone known to hold the documents: invited NGOs, and NGOs that asked or bid."""
    supplier_ids = {inv.supplier_id for inv in tender.invitations}
    supplier_ids |= set(db.session.scalars(sa.select(Question.supplier_id).where(Question.tender_id == tender.id)))
    supplier_ids |= set(db.session.scalars(sa.select(Bid.supplier_id).where(Bid.tender_id == tender.id)))
    if not supplier_ids:
        return []
    return list(db.session.scalars(sa.select(User).where(User.organisation_id.in_(supplier_ids),
                                                         User.active.is_(True))))


def publish_clarification(tender: Tender, text: str, *, question_ids: list[int], affects_bids: bool,
                          expected_deadline: datetime, calendar: WorkingCalendar, actor: User, now: datetime
                          ) -> Clarification:
    """Answer questions in a published clarification; the deadline moves when it must (the officer saw it)."""
    if rules.phase(tender.status, tender.method, now, deadline=tender.bid_deadline,
                   notice_until=tender.notice_until) != "bidding":
        raise DomainError(_l("Clarifications can be published only while bids are being taken."))
    new_deadline = clarification_deadline(tender, now=now, affects_bids=affects_bids, calendar=calendar)
    if new_deadline != expected_deadline:
        raise DomainError(_l("The deadline this clarification leads to has changed; please review it again."))
    number = 1 + (db.session.scalar(sa.select(sa.func.max(Clarification.number))
                                    .where(Clarification.tender_id == tender.id)) or 0)
    clarification = Clarification(tender_id=tender.id, number=number, text=text.strip(), affects_bids=affects_bids,
                                  published_at=now, deadline_before=tender.bid_deadline,
                                  deadline_after=new_deadline, published_by_id=actor.id)
    db.session.add(clarification)
    db.session.flush()
    for question in db.session.scalars(sa.select(Question).where(Question.id.in_(question_ids),
                                                                 Question.tender_id == tender.id)):
        question.clarification_id = clarification.id
    moved = new_deadline != tender.bid_deadline
    if moved:
        tender.bid_deadline = new_deadline
        if tender.documents_until and tender.documents_until > rules.local_date(new_deadline):
            tender.documents_until = rules.local_date(new_deadline)
    body = f"第{number}号澄清/更正：\n{clarification.text}"
    if moved:
        body += (f"\n递交截止及开标时间顺延至："
                 f"{new_deadline.astimezone(rules.BEIJING):%Y-%m-%d %H:%M}（北京时间）。")
    publish_notice(NoticeKind.CORRECTION, bureau=tender.bureau, title=f"{tender.title}（更正公告）", body=body,
                   now=now, tender=tender, actor=actor)
    notify_many(_suppliers_with_documents(tender), "tender_clarification",
                {"title": tender.title, "reference": tender.reference, "moved": moved,
                 "deadline": new_deadline},
                link=tender_link(tender), now=now)
    audit.record("tender.clarified", tender, actor=actor, now=now,
                 old={"bid_deadline": clarification.deadline_before},
                 new={"clarification": number, "bid_deadline": new_deadline, "questions": question_ids})
    return clarification


def change_timetable(tender: Tender, *, documents_until: date, bid_deadline: datetime, reason: str,
                     calendar: WorkingCalendar, actor: User, now: datetime) -> None:
    """Extend the deadline (and the document period) by a correction notice (更正公告).

    Only while bids are taken, only later, never earlier; the new timetable must still satisfy the method's
    periods from the original publication, and a change that affects bids must leave at least 15 days
    (3 working days for a negotiation) before the new deadline (R31, 87-27, 74-29).
    """
    if rules.phase(tender.status, tender.method, now, deadline=tender.bid_deadline,
                   notice_until=tender.notice_until) != "bidding":
        raise DomainError(_l("The timetable can be changed only while bids are being taken."))
    if bid_deadline < tender.bid_deadline or documents_until < tender.documents_until:
        raise DomainError(_l("A correction can only extend the deadline and the document period, never shorten "
                             "them."))
    if len(reason.strip()) < 5:
        raise DomainError(_l("Give the reason for the change; it is published."))
    earliest = rules.deadline_after_clarification(tender.method, rules.local_date(now), bid_deadline, calendar)
    if earliest != bid_deadline:
        raise DomainError(_l("Published today, the change needs the deadline on %(date)s or later (R31, 87-27).",
                             date=rules.local_date(earliest).isoformat()))
    timetable = rules.Timetable(published_on=rules.local_date(tender.published_at), notice_until=tender.notice_until,
                                documents_from=tender.documents_from, documents_until=documents_until,
                                deadline=bid_deadline)
    raise_problems(rules.timetable_problems(tender.method, timetable, calendar))
    old = {"documents_until": tender.documents_until, "bid_deadline": tender.bid_deadline}
    tender.documents_until, tender.bid_deadline = documents_until, bid_deadline
    body = (f"项目编号：{tender.reference}\n更正事项：{reason.strip()}\n"
            f"获取文件截止日期：{documents_until}\n"
            f"递交截止及开标时间：{bid_deadline.astimezone(rules.BEIJING):%Y-%m-%d %H:%M}（北京时间）")
    publish_notice(NoticeKind.CORRECTION, bureau=tender.bureau, title=f"{tender.title}（更正公告）", body=body,
                   now=now, tender=tender, actor=actor)
    notify_many(_suppliers_with_documents(tender), "tender_clarification",
                {"title": tender.title, "reference": tender.reference, "moved": True, "deadline": bid_deadline},
                link=tender_link(tender), now=now)
    audit.record("tender.timetable_changed", tender, actor=actor, now=now, old=old,
                 new={"documents_until": documents_until, "bid_deadline": bid_deadline, "reason": reason.strip()})


# --- Single source -------------------------------------------------------------------------------------


def submit_objection(tender: Tender, *, name: str, contact: str, text: str, now: datetime) -> Objection:
    """Anyone may object while the single-source notice runs (R38)."""
    if rules.phase(tender.status, tender.method, now, deadline=None,
                   notice_until=tender.notice_until) != "public_notice":
        raise DomainError(_l("Objections can be made only while the single-source notice runs."))
    objection = Objection(tender_id=tender.id, name=name.strip(), contact=contact.strip(), text=text.strip(),
                          submitted_at=now)
    db.session.add(objection)
    db.session.flush()
    audit.record("tender.objection_received", tender, new={"objection": objection.id}, now=now)
    officers = [u for u in tender.bureau.users if u.is_active and u.role == "officer"]
    notify_many(officers, "tender_objection", {"title": tender.title, "reference": tender.reference},
                link=tender_link(tender), now=now)
    return objection


def answer_objection(objection: Objection, response: str, *, actor: User, now: datetime) -> None:
    if objection.responded_at is not None:
        raise DomainError(_l("This objection has already been answered."))
    if len(response.strip()) < 5:
        raise DomainError(_l("Write the answer to the objection."))
    objection.response, objection.responded_at, objection.responded_by_id = response.strip(), now, actor.id
    audit.record("tender.objection_answered", ("Tender", objection.tender_id), actor=actor, now=now,
                 new={"objection": objection.id})


def approve_single_source(tender: Tender, *, approval_document: str, approval_date: date, approval_body: str,
                          actor: User, now: datetime) -> None:
    """The finance bureau's approval, recorded after the whole notice period with every objection answered."""
    if tender.method != Method.SINGLE_SOURCE or tender.status != TenderStatus.PUBLISHED:
        raise DomainError(_l("Only a published single-source procedure can be approved."))
    unanswered = db.session.scalar(sa.select(sa.func.count(Objection.id)).where(
        Objection.tender_id == tender.id, Objection.responded_at.is_(None)))
    raise_problems(rules.single_source_approval_problems(rules.local_date(now), tender.notice_until, unanswered))
    if not (approval_document.strip() and approval_body.strip() and approval_date):
        raise DomainError(_l("Record the approval's document number, date and approving body."))
    tender.approval_document, tender.approval_date = approval_document.strip(), approval_date
    tender.approval_body = approval_body.strip()
    _transition(tender, TenderStatus.NEGOTIATING, actor=actor, now=now, action="tender.single_source_approved")


def record_single_source_agreement(tender: Tender, *, price: Decimal, record: str, actor: User, now: datetime
                                   ) -> None:
    """The signed negotiation record with the agreed price; above the budget the procedure ends (74-43)."""
    if tender.method != Method.SINGLE_SOURCE or tender.status != TenderStatus.NEGOTIATING:
        raise DomainError(_l("Record the negotiation after the single source has been approved."))
    if len(record.strip()) < 10:
        raise DomainError(_l("Write the negotiation record (who negotiated, what was agreed)."))
    problems = rules.agreed_price_problems(price, tender.budget)
    if problems and problems[0].code == "agreed_above_budget":
        fail_tender(tender, reason=str(PROBLEM_MESSAGES["agreed_above_budget"] % {"budget": tender.budget}),
                    actor=actor, now=now)
        return
    raise_problems(problems)
    tender.agreed_price, tender.negotiation_record = price, record.strip()
    audit.record("tender.single_source_agreed", tender, actor=actor, now=now,
                 new={"agreed_price": price, "record": tender.negotiation_record})


# --- Competitive negotiation rounds ----------------------------------------------------------------------


def remaining_suppliers(tender: Tender) -> list[Bid]:
    return [b for b in tender.bids if b.status == BidStatus.SUBMITTED and b.kind == "bid"]


def issue_negotiation_round(tender: Tender, changes: str, *, final_quote_deadline: datetime | None, actor: User,
                            now: datetime) -> NegotiationRound | None:
    """A round's changes (technical, service or contract terms only) go to every remaining supplier in writing.

    With fewer than 3 suppliers left the negotiation ends instead (74-37) and None is returned.
    """
    if tender.method != Method.NEGOTIATION or tender.status not in (TenderStatus.OPENED, TenderStatus.NEGOTIATING):
        raise DomainError(_l("Negotiation rounds follow the opening of a competitive negotiation's responses."))
    remaining = remaining_suppliers(tender)
    if len(remaining) < rules.MIN_NEGOTIATION_SUPPLIERS:
        fail_tender(tender, reason=str(_l("Fewer than 3 suppliers remain in the negotiation (74-37).")),
                    actor=actor, now=now)
        return None
    if final_quote_deadline is not None and final_quote_deadline <= now:
        raise DomainError(_l("The final-quote deadline must be in the future."))
    number = 1 + (db.session.scalar(sa.select(sa.func.max(NegotiationRound.number))
                                    .where(NegotiationRound.tender_id == tender.id)) or 0)
    round_ = NegotiationRound(tender_id=tender.id, number=number, changes=changes.strip(), issued_at=now,
                              final_quote_deadline=final_quote_deadline, issued_by_id=actor.id)
    db.session.add(round_)
    if tender.status != TenderStatus.NEGOTIATING:
        _transition(tender, TenderStatus.NEGOTIATING, actor=actor, now=now, action="tender.negotiation_started")
    users = [u for bid in remaining for u in bid.supplier.users if u.is_active]
    notify_many(users, "negotiation_round", {"title": tender.title, "reference": tender.reference, "number": number},
                link=tender_link(tender), now=now)
    db.session.flush()
    audit.record("tender.negotiation_round", tender, actor=actor, now=now,
                 new={"round": number, "changes": round_.changes, "final_quote_deadline": final_quote_deadline})
    return round_


# --- Ends and new starts -----------------------------------------------------------------------------------


def _transition(tender: Tender, new: str, *, actor: User | None, now: datetime, action: str) -> None:
    if not rules.can_transition(tender.status, new):
        raise DomainError(_l("This step is not possible in the tender's current state."))
    old = tender.status
    tender.status = new
    audit.record(action, tender, actor=actor, old={"status": old}, new={"status": new}, now=now)


def fail_tender(tender: Tender, *, reason: str, actor: User | None, now: datetime) -> None:
    """废标/终止: the tender ends, a failure notice is published and everyone who bid or was invited is told."""
    _transition(tender, TenderStatus.FAILED, actor=actor, now=now, action="tender.failed")
    tender.failed_at, tender.failure_reason = now, reason
    publish_notice(NoticeKind.FAILURE, bureau=tender.bureau, title=f"{tender.title}（废标/终止公告）",
                   body=f"项目编号：{tender.reference}\n{reason}", now=now, tender=tender, actor=actor)
    supplier_ids = {b.supplier_id for b in tender.bids} | {i.supplier_id for i in tender.invitations}
    users = list(db.session.scalars(sa.select(User).where(User.organisation_id.in_(supplier_ids),
                                                          User.active.is_(True)))) if supplier_ids else []
    notify_many(users, "tender_failed", {"title": tender.title, "reference": tender.reference, "reason": reason},
                link=tender_link(tender), now=now)


def cancel_tender(tender: Tender, *, reason: str, actor: User, now: datetime) -> None:
    if tender.status not in (TenderStatus.DRAFT, TenderStatus.PUBLISHED):
        raise DomainError(_l("Only a draft or a published tender can be cancelled."))
    was_published = tender.status == TenderStatus.PUBLISHED
    _transition(tender, TenderStatus.CANCELLED, actor=actor, now=now, action="tender.cancelled")
    tender.cancelled_at, tender.failure_reason = now, reason
    if was_published:
        publish_notice(NoticeKind.FAILURE, bureau=tender.bureau, title=f"{tender.title}（终止公告）",
                       body=f"项目编号：{tender.reference}\n{reason}", now=now, tender=tender, actor=actor)


def retender(tender: Tender, *, method: str, ground: str | None = None, approval_document: str = "",
             approval_date: date | None = None, approval_body: str = "", actor: User, now: datetime) -> Tender:
    """After a failure: a new draft, under the same method or, with an approval record, negotiation or single source."""
    if tender.status != TenderStatus.FAILED:
        raise DomainError(_l("Only a failed tender can be tendered again."))
    if method != tender.method:
        if method not in (Method.NEGOTIATION, Method.SINGLE_SOURCE):
            raise DomainError(_l("After a failure the method can change only to competitive negotiation or single "
                                 "source."))
        if not (approval_document.strip() and approval_date and approval_body.strip()):
            raise DomainError(_l("Changing the method after a failure needs an approval record (87-43)."))
        ground = ground or ("tender_failed" if method == Method.NEGOTIATION else None)
    values = {f: getattr(tender, f) for f in TENDER_FIELDS} | {
        "method": method, "method_ground": ground if method != tender.method else tender.method_ground,
        "approval_document": approval_document or tender.approval_document,
        "approval_date": approval_date or tender.approval_date,
        "approval_body": approval_body or tender.approval_body,
    }
    values["evaluation_method"] = rules.EVALUATION_BY_METHOD[Method(method)]
    if values["evaluation_method"] != "comprehensive":
        values["price_weight"] = 100
    new = Tender(project_id=tender.project_id, bureau_id=tender.bureau_id,
                 reference=next_reference(tender.bureau, rules.local_date(now).year), created_by_id=actor.id,
                 status=TenderStatus.DRAFT, previous_tender_id=tender.id, **values)
    db.session.add(new)
    keep_criteria = values["evaluation_method"] == "comprehensive"
    _apply_lists(new, [rules.CriterionSpec(c.factor_type, c.name, c.weight, c.description)
                       for c in tender.criteria] if keep_criteria else [],
                 [r.text for r in tender.requirements])
    db.session.flush()
    audit.record("tender.retendered", new, actor=actor, now=now,
                 new={"previous": tender.id, "method": method, "approval_document": approval_document})
    return new


def method_labels() -> dict:
    return {"methods": METHOD_LABELS, "evaluation_methods": EVALUATION_METHOD_LABELS, "grounds": GROUND_LABELS}
