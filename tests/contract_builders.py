"""Contracts built straight through the models, for the payment, amendment and delivery tests.

An awarded single-source tender (tests/award_builders.py, then an ACTIVE Award row) gives the contract its parties
and amount; ``draft_contract_row`` adds a DRAFT contract with its installments, ``signed_contract`` a SIGNED one,
its SIGNING gates opened at ``signed_at`` through ``payments.open_signing_gates`` as the signing service does.
No PDF is rendered and no notice published: the drafting and signing services are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from portal.contracts import payments, rules
from portal.contracts.models import BudgetLine, Contract, ContractStatus, Gate, Installment
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.tenders.models import Tender, TenderStatus
from portal.tenders.rules import local_date
from tests.award_builders import evaluated_single_source

AMOUNT = Decimal("180000.00")  # the single source's agreed price
# (percent, gate, label): 40% on signing, 30% after the mid-term review, 30% after the final acceptance.
BREACH_TERMS = "乙方未按约定提供服务的，按合同约定承担违约责任。"
SCHEDULE = (("40", Gate.SIGNING, ""), ("30", Gate.REVIEW, "中期评估"), ("30", Gate.ACCEPTANCE, ""))


@dataclass
class Built:
    contract: Contract
    tender: Tender
    award: Award
    officers: list  # the bureau's two officers
    supplier: object  # the NGO's user
    experts: list

    @property
    def installments(self) -> list[Installment]:
        return self.contract.installments


def awarded(bureau, create_user, *, now: datetime, amount: Decimal = AMOUNT) -> tuple[Tender, Award, object]:
    """A single-source tender awarded at ``now`` (challenge window closed); returns (tender, award, evaluated)."""
    ev = evaluated_single_source(bureau, create_user, now=now)
    award = Award(tender_id=ev.tender.id, supplier_id=ev.suppliers[0].organisation_id, amount=amount,
                  status=AwardStatus.ACTIVE, decided_at=now, decided_by_id=ev.officers[0].id,
                  notice_ends_on=local_date(now), challenge_last_day=local_date(now))
    ev.tender.status = TenderStatus.AWARDED
    for user in (*ev.officers, *ev.suppliers):
        user.locale = "en"  # notifications in the source language, for tests that read their wording
    db.session.add(award)
    db.session.commit()
    return ev.tender, award, ev


def _yearly(amount: Decimal, start: date, end: date) -> dict[int, Decimal]:
    """One line per fiscal year (a single-year term gets its one line, as the drafting service creates it)."""
    years = rules.fiscal_years(start, end)
    share = (amount / len(years)).quantize(rules.FEN, rounding=ROUND_DOWN)
    lines = {year: share for year in years}
    lines[years[-1]] = amount - share * (len(years) - 1)
    return lines


def draft_contract_row(bureau, create_user, *, now: datetime, amount: Decimal = AMOUNT,
                       start: date = date(2027, 1, 1), months: int = 12, schedule=SCHEDULE, grounds: bool | None = None,
                       report_interval: str = "quarterly", bond: Decimal | None = None) -> Built:
    """A DRAFT contract from a fresh award: ``months`` from ``start``, a budget line per fiscal year (one for a
    single-year term, as the drafting service creates), installments per ``schedule`` (their amounts by largest
    remainder). ``grounds`` (default: a term over 12 months) records both grounds of 102-24 and a note."""
    tender, award, ev = awarded(bureau, create_user, now=now, amount=amount)
    end = rules.longest_end(start, months)
    grounds = months > rules.DEFAULT_MAX_TERM_MONTHS if grounds is None else grounds
    contract = Contract(
        reference=f"HT{local_date(now).year}-{tender.id:03d}-0001", tender_id=tender.id, award_id=award.id,
        bureau_id=tender.bureau_id, supplier_id=award.supplier_id, status=ContractStatus.DRAFT, title=tender.title,
        service_content=tender.service_content, targets="每月探访困难老年人不少于200人次。", amount=amount,
        start_date=start, end_date=end, budget_secured=grounds, service_stable=grounds,
        long_term_note="财政预算已分年度落实，服务内容固定、持续且价格稳定。" if grounds else "",
        report_interval=report_interval, performance_bond=bond, breach_terms=BREACH_TERMS,
        award_letter_on=local_date(now), drafted_at=now, drafted_by_id=ev.officers[0].id)
    contract.budget_lines = [BudgetLine(fiscal_year=y, amount=a) for y, a in _yearly(amount, start, end).items()]
    percents = [Decimal(p) for p, _gate, _label in schedule]
    amounts = rules.installment_amounts(amount, percents)
    rows = zip(schedule, percents, amounts, strict=True)
    contract.installments = [Installment(position=i, percent=p, amount=a, gate=gate, gate_label=label)
                             for i, ((_p, gate, label), p, a) in enumerate(rows, 1)]
    db.session.add(contract)
    db.session.commit()
    return Built(contract, tender, award, ev.officers, ev.suppliers[0], ev.experts)


def signed_contract(bureau, create_user, *, now: datetime, signed_at: datetime | None = None, **values) -> Built:
    """A SIGNED contract (see ``draft_contract_row``), both parties signed at ``signed_at`` (an hour after ``now``
    unless given), its SIGNING installments payable from then on."""
    built = draft_contract_row(bureau, create_user, now=now, **values)
    contract = built.contract
    signed_at = signed_at or now + timedelta(hours=1)
    contract.status = ContractStatus.SIGNED
    contract.officer_signed_at = contract.supplier_signed_at = contract.signed_at = signed_at
    contract.officer_signed_by_id, contract.supplier_signed_by_id = built.officers[0].id, built.supplier.id
    db.session.flush()
    payments.open_signing_gates(contract, actor=built.officers[0], now=signed_at)
    db.session.commit()
    return built
