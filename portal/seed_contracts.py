"""Demo contracts: a draft, a signed one-year and a signed three-year agreement with payments and an amendment.

Part of ``seed-demo``, after the evaluation stages, through the services with the clock of each step:
- the competitive negotiation's award (（已成交）) gets a draft contract, not yet signed;
- the open tender's award (（已中标）) a one-year contract, signed by both parties, published, filed, its first
  installment paid and its first quarterly service report submitted;
- the invited tender's award (（已中标）) a three-year contract on the grounds of 102-24, with a budget line per
  fiscal year, signed, its first installment paid and an amendment adding 5% for more service hours.
The single source's award is left awaiting its contract. Steps are dated after each award's challenge window
and never after the present; a stage whose dates would not fit is skipped.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import User
from portal.calendar import load_calendar
from portal.contracts import amendments, delivery, payments, rules
from portal.contracts import services as contracts
from portal.contracts.models import Gate
from portal.evaluation import award as awards
from portal.extensions import db
from portal.permissions import Role
from portal.seed_support import NotYet, demo_user, run_stages
from portal.tenders.models import Tender
from portal.tenders.rules import beijing_instant, local_date

ONE_YEAR_SCHEDULE = [(Decimal("30"), Gate.SIGNING, "合同签订后"), (Decimal("40"), Gate.REVIEW, "中期评估合格后"),
                     (Decimal("30"), Gate.ACCEPTANCE, "项目终期验收合格后")]
THREE_YEAR_SCHEDULE = [(Decimal("20"), Gate.SIGNING, "合同签订后"),
                       (Decimal("25"), Gate.REVIEW, "第一年度评估合格后"),
                       (Decimal("25"), Gate.REVIEW, "第二年度评估合格后"),
                       (Decimal("30"), Gate.ACCEPTANCE, "项目终期验收合格后")]


def _award_of(title_suffix: str, method: str):
    tender = db.session.scalar(sa.select(Tender).where(Tender.title.endswith(title_suffix), Tender.method == method))
    return awards.active_award(tender) if tender is not None else None


def _draft(award, officer: User, *, months: int, schedule, at: datetime, long_term: bool = False):
    values = contracts.draft_defaults(award, local_date(at))
    values["end_date"] = rules.longest_end(values["start_date"], months)
    if long_term:
        values |= {"budget_secured": True, "service_stable": True,
                   "long_term_note": "项目资金已纳入中期财政规划；服务内容固定、需长期连续提供，价格稳定。"}
    lines = (contracts.default_budget_lines(award.amount, values["start_date"], values["end_date"])
             if len(rules.fiscal_years(values["start_date"], values["end_date"])) > 1 else {})
    return contracts.draft_contract(award, values, schedule, lines, actor=officer, now=at)


def _sign(contract, officer: User, at: datetime) -> None:
    supplier_user = db.session.scalar(sa.select(User).where(User.organisation_id == contract.supplier_id,
                                                            User.active.is_(True)).order_by(User.id))
    contracts.sign(contract, actor=officer, now=at)
    contracts.sign(contract, actor=supplier_user, now=at + timedelta(hours=2))


def _pay_signing_installment(contract, officer: User, at: datetime) -> None:
    first = contract.installments[0]
    payments.record_payment(first, paid_on=local_date(at), amount=first.amount,
                            voucher=f"ZF{local_date(at):%Y%m%d}-{contract.id:03d}", actor=officer, now=at)


def seed_contracts(now: datetime) -> int:
    """Create the demo contracts that are missing; return how many were created."""
    officer = demo_user("officer")
    if officer is None:
        return 0
    calendar = load_calendar()

    def start_after(award) -> datetime:
        """10:00 Beijing on the first working day after the award's challenge window: when drafting may begin."""
        at = beijing_instant(calendar.next_working_day(award.challenge_last_day), time(10))
        if at + timedelta(days=10) >= now:
            raise NotYet
        return at

    def draft_only():
        award = _award_of("（已成交）", "negotiation")
        if award is None or contracts.contract_for_award(award):
            return None
        return _draft(award, officer, months=12, schedule=ONE_YEAR_SCHEDULE, at=start_after(award))

    def one_year():
        award = _award_of("（已中标）", "open")
        if award is None or contracts.contract_for_award(award):
            return None
        at = start_after(award)
        contract = _draft(award, officer, months=12, schedule=ONE_YEAR_SCHEDULE, at=at)
        _sign(contract, officer, at + timedelta(days=3))
        signed_on = local_date(contract.signed_at)
        contracts.publish_contract_notice(contract, actor=officer, now=contract.signed_at + timedelta(hours=3))
        filed = beijing_instant(calendar.add_working_days(signed_on, 3), time(15))
        contracts.record_filing(contract, reference=f"郑财购备〔{signed_on.year}〕{contract.id:03d}号",
                                filed_on=local_date(filed), actor=officer, now=filed)
        _pay_signing_installment(contract, officer, filed + timedelta(days=1))
        first = delivery.schedule(contract, local_date(now))[0]
        submitted = beijing_instant(first.period.end, time(16))
        if submitted < now:
            supplier_user = db.session.scalar(sa.select(User).where(User.organisation_id == contract.supplier_id))
            delivery.submit_report(contract, period_start=first.period.start,
                                   summary="本季度开展入户探访126人次、个案服务18个、小组活动6节，服务对象满意度96%。",
                                   actor=supplier_user, now=submitted)
        return contract

    def three_years():
        award = _award_of("（已中标）", "invited")
        if award is None or contracts.contract_for_award(award):
            return None
        at = start_after(award)
        contract = _draft(award, officer, months=36, schedule=THREE_YEAR_SCHEDULE, at=at, long_term=True)
        _sign(contract, officer, at + timedelta(days=2))
        contracts.publish_contract_notice(contract, actor=officer, now=contract.signed_at + timedelta(hours=3))
        _pay_signing_installment(contract, officer, contract.signed_at + timedelta(days=2))
        added = (contract.amount * Decimal("0.05")).quantize(Decimal("0.01"))
        amended_at = contract.signed_at + timedelta(days=7)
        proposed = amendments.amend(
            contract, reason="经双方协商，增加留守儿童暑期托管服务时数，追加服务经费。",
            changes={"targets": contract.targets + "\n暑期托管服务不少于40天，服务儿童不少于60人。",
                     "budget_lines": _with_added(contract, added)},
            added_amount=added, new_end_date=None, actor=officer, now=amended_at)
        ngo_user = db.session.scalar(sa.select(User).where(User.organisation_id == contract.supplier_id,
                                                           User.role == Role.SUPPLIER).order_by(User.id))
        amendments.confirm_amendment(proposed, actor=ngo_user, now=amended_at + timedelta(days=1))  # the NGO agrees
        return contract

    return run_stages((draft_only, one_year, three_years))


def _with_added(contract, added: Decimal) -> dict[int, Decimal]:
    """The yearly budget lines with the added amount in the first fiscal year."""
    lines = {line.fiscal_year: line.amount for line in contract.budget_lines}
    first = min(lines)
    return lines | {first: lines[first] + added}
