"""OCDS 1.1 open data: every published tender is a contracting process (ocid = prefix + reference) with one release
per event: tender, tenderUpdate (clarifications, the opening), tenderCancellation, award (awardUpdate when
annulled), contract, contractAmendment, implementation (one per payment).

Releases are built from what is public at the time of their event: tenderers appear only in the opening's release
and later, bid prices never (only the awarded amount), and drafts are never published.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from sqlalchemy.orm import selectinload

from portal.contracts.models import Amendment, Contract, Installment
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.tenders.models import GROUND_LABELS, Bid, BidStatus, Clarification, Method, Tender
from portal.tenders.rules import BEIJING

OCDS_VERSION = "1.1"
CURRENCY = "CNY"
CREDIT_CODE_SCHEME = "CN-USCC"  # 统一社会信用代码
PAGE_PROCESSES = 50  # processes per page of the release package, each with all its releases
CHUNK_PROCESSES = 500  # processes loaded at a time when every release is wanted (the export)

# DESIGN.md: 公开招标 -> open, 邀请招标 -> selective, 竞争性谈判 -> limited, 单一来源 -> direct
METHOD_MAP = {
    Method.OPEN: ("open", "公开招标"),
    Method.INVITED: ("selective", "邀请招标"),
    Method.NEGOTIATION: ("limited", "竞争性谈判"),
    Method.SINGLE_SOURCE: ("direct", "单一来源"),
}


def ocid_prefix() -> str:
    return current_app.config["OCDS_PREFIX"]


def ocid_for(tender: Tender) -> str:
    return ocid_prefix() + tender.reference


def reference_from(ocid: str) -> str | None:
    prefix = ocid_prefix()
    return ocid[len(prefix):] if ocid.startswith(prefix) and len(ocid) > len(prefix) else None


def stamp(instant: datetime) -> str:
    """An RFC 3339 UTC timestamp (second precision)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def day_stamp(day) -> str:
    """A Beijing calendar day as the instant of its start."""
    return stamp(datetime.combine(day, time(0), tzinfo=BEIJING))


def money(amount: Decimal) -> dict:
    return {"amount": float(amount), "currency": CURRENCY}


def party_id(org) -> str:
    return f"{CREDIT_CODE_SCHEME}-{org.credit_code}" if org.credit_code else f"{ocid_prefix()}org-{org.id}"


def org_ref(org) -> dict:
    return {"id": party_id(org), "name": org.name}


class _Parties:
    """The parties of one release, each once, with the union of their roles."""

    def __init__(self):
        self._by_id: dict[str, dict] = {}

    def add(self, org, *roles: str) -> dict:
        key = party_id(org)
        party = self._by_id.get(key)
        if party is None:
            party = {"id": key, "name": org.name, "roles": []}
            if org.credit_code:
                party["identifier"] = {"scheme": CREDIT_CODE_SCHEME, "id": org.credit_code, "legalName": org.name}
            if org.address:
                party["address"] = {"streetAddress": org.address, "countryName": "中国"}
            self._by_id[key] = party
        for role in roles:
            if role not in party["roles"]:
                party["roles"].append(role)
        return org_ref(org)

    def as_list(self) -> list[dict]:
        return list(self._by_id.values())


@dataclass
class _Event:
    key: str  # the release id's suffix: stable for the event
    date: datetime
    tag: str
    order: int  # breaks ties between events of the same instant


def _rationale(tender: Tender) -> str | None:
    parts = []
    if tender.method_ground in GROUND_LABELS:
        with force_locale("zh"):
            parts.append(str(GROUND_LABELS[tender.method_ground]))
    if tender.justification:
        parts.append(tender.justification)
    return "；".join(parts) or None


def _tender_block(tender: Tender, status: str, *, deadline: datetime | None, amendments: list[dict],
                  tenderers: list[dict] | None) -> dict:
    method, details = METHOD_MAP[Method(tender.method)]
    block = {
        "id": tender.reference,
        "title": tender.title,
        "description": tender.service_content or None,
        "status": status,
        "value": money(tender.budget),
        "procurementMethod": method,
        "procurementMethodDetails": details,
        "mainProcurementCategory": "services",
    }
    rationale = _rationale(tender)
    if rationale:
        block["procurementMethodRationale"] = rationale
    if tender.published_at:
        period = {"startDate": stamp(tender.published_at)}
        if deadline:
            period["endDate"] = stamp(deadline)
        block["tenderPeriod"] = period
    if amendments:
        block["amendments"] = amendments
    if tenderers is not None:
        block["tenderers"] = tenderers
        block["numberOfTenderers"] = len(tenderers)
    return {key: value for key, value in block.items() if value is not None}


def _opened_bidders(tender: Tender) -> list:
    """The organisations whose bids were opened (never called before the opening)."""
    seen, orgs = set(), []
    for bid in sorted(tender.bids, key=lambda b: b.id):
        if bid.status == BidStatus.WITHDRAWN or bid.supplier_id in seen:
            continue
        seen.add(bid.supplier_id)
        orgs.append(bid.supplier)
    return orgs


class _Process:
    """Builds the releases of one tender from its loaded rows."""

    def __init__(self, tender: Tender, clarifications: list[Clarification], awards: list[Award],
                 contracts: list[Contract]):
        self.tender = tender
        self.ocid = ocid_for(tender)
        self.clarifications = sorted(clarifications, key=lambda c: c.number)
        self.awards = sorted(awards, key=lambda a: (a.decided_at, a.id))
        self.contracts = sorted(contracts, key=lambda c: c.id)

    def releases(self) -> list[dict]:
        out = [self._base(_Event("tender", self.tender.published_at, "tender", 0), status="active")]
        amendments = []
        for clar in self.clarifications:
            amendments.append({"id": str(clar.number), "date": stamp(clar.published_at), "description": clar.text,
                               "rationale": "更正公告"})
            out.append(self._base(_Event(f"tenderUpdate-{clar.number}", clar.published_at, "tenderUpdate", 1),
                                  status="active", deadline=clar.deadline_after, amendments=list(amendments)))
        if self.tender.opened_at is not None:
            out.append(self._base(_Event("tenderUpdate-opening", self.tender.opened_at, "tenderUpdate", 2),
                                  status="active", amendments=list(amendments), opened=True))
        end = self._ending()
        if end:
            out.append(self._base(_Event(end[0], end[1], "tenderCancellation", 3), status=end[2],
                                  amendments=list(amendments), opened=self.tender.opened_at is not None))
        for award in self.awards:
            out.append(self._award(award, "award", award.decided_at, "active"))
            if award.status == AwardStatus.ANNULLED and award.annulled_at:
                out.append(self._award(award, "awardUpdate", award.annulled_at, "cancelled"))
        for contract in self.contracts:
            if contract.signed_at is None:
                continue
            out.append(self._contract(contract))
            for amendment in contract.amendments:
                if amendment.confirmed_at is not None:
                    out.append(self._amendment(contract, amendment))
            for installment in contract.installments:
                if installment.paid_on is not None:
                    out.append(self._payment(contract, installment))
        return sorted(out, key=lambda r: (r["date"], r.pop("_order"), r["id"]))

    def _ending(self):
        tender = self.tender
        if tender.failed_at is not None:
            return "tenderCancellation-failed", tender.failed_at, "unsuccessful"
        if tender.cancelled_at is not None and tender.published_at is not None:
            return "tenderCancellation-cancelled", tender.cancelled_at, "cancelled"
        return None

    def _release(self, event: _Event, parties: _Parties, **blocks) -> dict:
        release = {"ocid": self.ocid, "id": f"{self.ocid}-{event.key}", "date": stamp(event.date),
                   "tag": [event.tag], "initiationType": "tender", "language": "zh",
                   "buyer": parties.add(self.tender.bureau, "buyer", "procuringEntity")}
        release.update(blocks)
        release["parties"] = parties.as_list()
        release["_order"] = event.order
        return release

    def _base(self, event: _Event, *, status: str, deadline: datetime | None = None, amendments=(),
              opened: bool = False) -> dict:
        parties = _Parties()
        parties.add(self.tender.bureau, "buyer", "procuringEntity")
        tenderers = [parties.add(org, "tenderer") for org in _opened_bidders(self.tender)] if opened else None
        if deadline is None:
            # the deadline as it stood at this event: before any later clarification moved it
            deadline = self.tender.bid_deadline
            for clar in self.clarifications:
                if clar.published_at > event.date:
                    deadline = clar.deadline_before
                    break
        block = _tender_block(self.tender, status, deadline=deadline, amendments=list(amendments),
                              tenderers=tenderers)
        return self._release(event, parties, tender=block)

    def _award(self, award: Award, tag: str, at: datetime, status: str) -> dict:
        parties = _Parties()
        parties.add(self.tender.bureau, "buyer", "procuringEntity")
        tenderers = ([parties.add(org, "tenderer") for org in _opened_bidders(self.tender)]
                     if self.tender.opened_at is not None else None)
        supplier = parties.add(award.supplier, "supplier")
        block = {"id": str(award.id), "title": self.tender.title, "status": status, "date": stamp(award.decided_at),
                 "value": money(award.amount), "suppliers": [supplier]}
        tender = _tender_block(self.tender, "complete", deadline=None, amendments=[], tenderers=tenderers)
        tender.pop("tenderPeriod", None)
        return self._release(_Event(f"{tag}-{award.id}", at, tag, 4), parties, tender=tender, awards=[block])

    def _contract_parties(self, contract: Contract) -> _Parties:
        parties = _Parties()
        parties.add(contract.bureau, "buyer", "procuringEntity", "payer")
        parties.add(contract.supplier, "supplier", "payee")
        return parties

    def _contract(self, contract: Contract) -> dict:
        parties = self._contract_parties(contract)
        block = {"id": contract.reference, "awardID": str(contract.award_id), "title": contract.title,
                 "status": "active", "value": money(self._original_amount(contract)),
                 "dateSigned": stamp(contract.signed_at),
                 "period": {"startDate": day_stamp(contract.start_date), "endDate": day_stamp(contract.end_date)}}
        if contract.service_content:
            block["description"] = contract.service_content
        return self._release(_Event(f"contract-{contract.id}", contract.signed_at, "contract", 5), parties,
                             contracts=[block])

    def _amendment(self, contract: Contract, amendment) -> dict:
        parties = self._contract_parties(contract)
        added = sum((a.added_amount for a in contract.amendments
                     if a.confirmed_at is not None and a.number <= amendment.number), Decimal("0"))
        block = {"id": contract.reference, "awardID": str(contract.award_id), "title": contract.title,
                 "status": "active", "value": money(self._original_amount(contract) + added),
                 "amendments": [{"id": str(amendment.number), "date": stamp(amendment.confirmed_at),
                                 "rationale": amendment.reason, "description": amendment.changes}]}
        if amendment.new_end_date:
            block["period"] = {"startDate": day_stamp(contract.start_date),
                               "endDate": day_stamp(amendment.new_end_date)}
        return self._release(_Event(f"contractAmendment-{contract.id}-{amendment.number}", amendment.confirmed_at,
                                    "contractAmendment", 6), parties, contracts=[block])

    @staticmethod
    def _original_amount(contract: Contract) -> Decimal:
        """The signed amount: the contract's amount less what confirmed amendments added to it."""
        added = sum((a.added_amount for a in contract.amendments if a.confirmed_at is not None), Decimal("0"))
        return contract.amount - added

    def _payment(self, contract: Contract, installment) -> dict:
        parties = self._contract_parties(contract)
        at = installment.paid_recorded_at or datetime.combine(installment.paid_on, time(12), tzinfo=BEIJING)
        paid = [i for i in contract.installments if i.paid_on is not None
                and (i.paid_on, i.position) <= (installment.paid_on, installment.position)]
        transactions = [{"id": f"{contract.reference}-{i.position}", "source": i.voucher or None,
                         "date": day_stamp(i.paid_on), "value": money(i.paid_amount or i.amount),
                         "payer": org_ref(contract.bureau), "payee": org_ref(contract.supplier)} for i in paid]
        for tx in transactions:
            if tx["source"] is None:
                tx.pop("source")
        milestones = []
        for i in contract.installments:
            met = i.gate_met_at is not None and i.gate_met_at <= at
            milestone = {"id": f"{contract.reference}-gate-{i.position}", "title": i.gate_label or i.gate,
                         "type": "financing", "code": i.gate, "status": "met" if met else "scheduled",
                         "description": f"{i.percent}% / {i.amount} {CURRENCY}"}
            if met:
                milestone["dateMet"] = stamp(i.gate_met_at)
            milestones.append(milestone)
        block = {"id": contract.reference, "awardID": str(contract.award_id), "title": contract.title,
                 "status": "active", "implementation": {"transactions": transactions, "milestones": milestones}}
        return self._release(_Event(f"implementation-{contract.id}-{installment.position}", at, "implementation", 7),
                             parties, contracts=[block])


def _processes(tender_ids) -> list[_Process]:
    if not tender_ids:
        return []
    query = (sa.select(Tender).where(Tender.published_at.is_not(None), Tender.id.in_(tender_ids))
             .options(selectinload(Tender.bureau), selectinload(Tender.bids).selectinload(Bid.supplier))
             .order_by(Tender.published_at, Tender.id))
    tenders = db.session.scalars(query).all()
    ids = [t.id for t in tenders]
    if not ids:
        return []
    clar, awards, contracts = {}, {}, {}
    for row in db.session.scalars(sa.select(Clarification).where(Clarification.tender_id.in_(ids))):
        clar.setdefault(row.tender_id, []).append(row)
    for row in db.session.scalars(sa.select(Award).where(Award.tender_id.in_(ids))
                                  .options(selectinload(Award.supplier))):
        awards.setdefault(row.tender_id, []).append(row)
    for row in db.session.scalars(
            sa.select(Contract).where(Contract.tender_id.in_(ids), Contract.signed_at.is_not(None))
            .options(selectinload(Contract.bureau), selectinload(Contract.supplier),
                     selectinload(Contract.amendments), selectinload(Contract.installments))):
        contracts.setdefault(row.tender_id, []).append(row)
    return [_Process(t, clar.get(t.id, []), awards.get(t.id, []), contracts.get(t.id, [])) for t in tenders]


def _published_ids(since: datetime | None):
    """Published processes in publication order; with ``since``, only those with a release dated from then on."""
    query = sa.select(Tender.id).where(Tender.published_at.is_not(None)).order_by(Tender.published_at, Tender.id)
    return query if since is None else query.where(_changed_since(since))


def _changed_since(since: datetime):
    """The tender has an event at or after ``since``: the same columns the releases take their dates from (a
    payment recorded without its time is dated by its day, hence the day's margin)."""
    tender = Tender.id
    in_process = Contract.tender_id == tender
    return sa.or_(
        Tender.published_at >= since, Tender.opened_at >= since, Tender.failed_at >= since,
        Tender.cancelled_at >= since,
        sa.exists().where(Clarification.tender_id == tender, Clarification.published_at >= since),
        sa.exists().where(Award.tender_id == tender, sa.or_(Award.decided_at >= since, Award.annulled_at >= since)),
        sa.exists().where(in_process, Contract.signed_at >= since),
        sa.exists().where(in_process, Amendment.contract_id == Contract.id, Amendment.confirmed_at >= since),
        sa.exists().where(in_process, Installment.contract_id == Contract.id, sa.or_(
            Installment.paid_recorded_at >= since,
            sa.and_(Installment.paid_recorded_at.is_(None), Installment.paid_on >= (since - timedelta(days=1)).date()),
        )),
    )


def _releases_of(tender_ids, since: datetime | None) -> list[dict]:
    releases = [release for process in _processes(tender_ids) for release in process.releases()]
    if since is not None:
        floor = stamp(since)
        releases = [r for r in releases if r["date"] >= floor]
    return sorted(releases, key=lambda r: r["date"])  # stable: a process's own order is kept on ties


def release_page(page: int, *, since: datetime | None = None) -> tuple[list[dict], bool] | None:
    """The releases of one page of processes (PAGE_PROCESSES, in publication order), by date, and whether more
    pages follow; None past the last page. Only the page's processes are loaded, however many there are."""
    ids = db.session.scalars(_published_ids(since).offset((page - 1) * PAGE_PROCESSES)
                             .limit(PAGE_PROCESSES + 1)).all()
    if page > 1 and not ids:
        return None
    return _releases_of(ids[:PAGE_PROCESSES], since), len(ids) > PAGE_PROCESSES


def iter_releases(*, since: datetime | None = None) -> Iterator[dict]:
    """Every release of every published process, a chunk of processes at a time (each chunk by date)."""
    ids = db.session.scalars(_published_ids(since)).all()
    for start in range(0, len(ids), CHUNK_PROCESSES):
        yield from _releases_of(ids[start:start + CHUNK_PROCESSES], since)


def all_releases(*, since: datetime | None = None) -> list[dict]:
    """Every release of every published process, by date (then ocid and id), optionally from ``since`` on."""
    return sorted(iter_releases(since=since), key=lambda r: r["date"])


def process_releases(ocid: str) -> list[dict] | None:
    """The releases of one process in date order, or None when there is no such published process."""
    reference = reference_from(ocid)
    if reference is None:
        return None
    tender_id = db.session.scalar(sa.select(Tender.id).where(Tender.reference == reference,
                                                             Tender.published_at.is_not(None)))
    if tender_id is None:
        return None
    return _processes([tender_id])[0].releases()


def package(releases: list[dict], *, uri: str, now: datetime) -> dict:
    """A release package (OCDS 1.1) around ``releases``."""
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "publishedDate": stamp(now),
        "publisher": {"name": current_app.config.get("OCDS_PUBLISHER", "社会工作服务政府采购平台")},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "publicationPolicy": uri.rsplit("/ocds/", 1)[0] + "/notices",
        "releases": releases,
    }
