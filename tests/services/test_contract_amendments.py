"""Amendments of a signed contract (issue 6 item 5): a reason, the new version of the affected terms with the old
kept, added amounts capped at 10% of the original over all amendments (L49), extensions within 36 months and with
the grounds of 102-24 past 12, the yearly budget lines kept whole, a PDF per amendment, audit and notification.

The contract of tests/contract_builders.py: 180,000 yuan from 1 January 2027, so the add-ons may total 18,000.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind, User
from portal.audit import AuditEntry
from portal.contracts import amendments, payments
from portal.contracts.models import Amendment, Contract, Gate
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import Notification
from portal.pdf import GeneratedDocument, content_hash, issue_document
from tests.contract_builders import draft_contract_row, signed_contract
from tests.support.concurrency import postgresql_only, run_concurrently

pytestmark = pytest.mark.usefixtures("english_messages")

AT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
REASON = "服务对象人数增加，双方协商一致追加服务量。"


@pytest.fixture
def built(city_bureau, create_user, now):
    return signed_contract(city_bureau, create_user, now=now)


def amend(built, *, reason=REASON, changes=None, added="0", new_end=None, actor=None, at=AT,
          confirm=True) -> Amendment:
    """The officer proposes the amendment and (unless ``confirm`` is False) the NGO's user confirms it."""
    made = amendments.amend(built.contract, reason=reason, changes=changes or {}, added_amount=Decimal(added),
                            new_end_date=new_end, actor=actor or built.officers[0], now=at)
    db.session.commit()
    if confirm:
        amendments.confirm_amendment(made, actor=built.supplier, now=at)
        db.session.commit()
    return made


def refused(built, message, **values) -> None:
    with pytest.raises(DomainError, match=message):
        amend(built, **values)
    db.session.rollback()


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def assert_schedule_exact(contract) -> None:
    assert sum(i.amount for i in contract.installments) == contract.amount


# --- The 10% cap on added amounts (L49) ----------------------------------------------------------------------


def test_the_ten_percent_cap_holds_across_several_amendments(built):
    contract = built.contract
    first = amend(built, added="7200.00")  # 4%
    second = amend(built, added="9000.00")  # 5%: 9% in total
    assert (first.number, second.number) == (1, 2)
    assert contract.amount == Decimal("196200.00") and amendments.add_on_left(contract) == Decimal("1800.00")
    refused(built, r"at most 10 percent of the original amount \(18000.00 yuan\); 1800.00 yuan are left. \(L49\)",
            added="3600.00")  # 2% more would make 11%
    assert contract.amount == Decimal("196200.00") and len(contract.amendments) == 2
    last = amend(built, added="1800.00")  # exactly the remaining 1%: 10% in total
    assert last.number == 3 and contract.amount == Decimal("198000.00")
    assert amendments.add_on_left(contract) == Decimal("0.00")
    assert amendments.original_amount(contract) == Decimal("180000.00")
    refused(built, "0.00 yuan are left", added="0.01")
    assert_schedule_exact(contract)
    added = contract.installments[3:]
    assert [(i.position, i.gate, i.amount) for i in added] == [
        (4, Gate.ACCEPTANCE, Decimal("7200.00")), (5, Gate.ACCEPTANCE, Decimal("9000.00")),
        (6, Gate.ACCEPTANCE, Decimal("1800.00"))]
    assert [i.percent for i in added] == [Decimal("3.85"), Decimal("4.59"), Decimal("0.91")]  # of the new amount
    assert "补充协议第1号" in added[0].gate_label and not any(payments.payable(i) for i in added)
    assert [i.amount for i in contract.installments[:3]] == [Decimal("72000.00"), Decimal("54000.00"),
                                                             Decimal("54000.00")]  # unchanged
    assert json.loads(first.changes)["amount"] == {"old": "180000.00", "new": "187200.00"}


def test_an_added_amount_after_acceptance_is_payable_at_once(built):
    payments.record_acceptance(built.contract, record="服务内容与目标均已完成，验收合格。", conclusion="验收合格",
                               accepted_on=date(2027, 2, 26), participants="王芳、李强（服务对象代表）",
                               actor=built.officers[0], now=AT)
    db.session.commit()
    amend(built, added="1000.00")
    assert payments.payable(built.contract.installments[-1])


@pytest.mark.parametrize(("added", "message"), [("-1.00", "cannot be negative"), ("0.001", "at most two decimals")])
def test_a_malformed_added_amount_is_refused(built, added, message):
    refused(built, message, added=added)


# --- Extensions (102-24) ------------------------------------------------------------------------------------------


def test_an_extension_past_36_months_is_refused(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=36)
    assert built.contract.end_date == date(2029, 12, 31)
    refused(built, r"takes the term to 37 months: a service agreement runs at most 36 months, extensions "
                   r"included. \(102-24\)", new_end=date(2030, 1, 1))
    assert built.contract.end_date == date(2029, 12, 31)
    assert amendments.latest_end(built.contract) == date(2029, 12, 31)


def test_an_extension_past_12_months_needs_the_grounds(built):
    assert not built.contract.budget_secured
    refused(built, r"covers 13 months: more than 12 months needs both grounds", new_end=date(2028, 1, 1),
            changes={"budget_lines": {2027: "100000.00", 2028: "80000.00"}})
    assert built.contract.end_date == date(2027, 12, 31)
    refused(built, "recorded with an extension", changes={"budget_secured": True})
    grounds = {"budget_secured": True, "service_stable": True, "long_term_note": "第二年预算已纳入中期财政规划。"}
    made = amend(built, new_end=date(2028, 6, 30),
                 changes={"budget_lines": {2027: "120000.00", 2028: "60000.00"}} | grounds)
    contract = built.contract
    assert contract.end_date == date(2028, 6, 30) and contract.budget_secured and contract.service_stable
    assert contract.long_term_note == "第二年预算已纳入中期财政规划。"
    stored = json.loads(made.changes)
    assert stored["budget_secured"] == {"old": False, "new": True} and "long_term_note" in stored
    refused(built, "at most 36 months", new_end=date(2030, 1, 31),
            changes={"budget_lines": {2027: "60000.00", 2028: "40000.00", 2029: "40000.00", 2030: "40000.00"}})


def test_an_extension_within_the_year(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=10)
    made = amend(built, new_end=date(2027, 12, 31))
    assert built.contract.end_date == date(2027, 12, 31) == made.new_end_date
    assert json.loads(made.changes) == {"end_date": {"old": "2027-10-31", "new": "2027-12-31"}}
    refused(built, "can only extend the term", new_end=date(2027, 11, 30))


def test_an_extension_into_a_new_fiscal_year_needs_its_budget_line(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=24)  # with grounds; 2027 and 2028
    contract = built.contract
    assert {b.fiscal_year: b.amount for b in contract.budget_lines} == {2027: Decimal("90000.00"),
                                                                       2028: Decimal("90000.00")}
    refused(built, r"each of the years 2027、2028、2029", new_end=date(2029, 6, 30))
    made = amend(built, new_end=date(2029, 6, 30), changes={"budget_lines": {"2027": "90000", "2028": "60000",
                                                                             "2029": "30000.00"}})
    assert {b.fiscal_year: b.amount for b in contract.budget_lines} == {
        2027: Decimal("90000.00"), 2028: Decimal("60000.00"), 2029: Decimal("30000.00")}
    assert json.loads(made.changes)["budget_lines"] == {
        "old": {"2027": "90000.00", "2028": "90000.00"},
        "new": {"2027": "90000.00", "2028": "60000.00", "2029": "30000.00"}}


def test_an_added_amount_on_a_multi_year_contract_updates_its_budget_lines(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=24)
    refused(built, r"must add up to the contract amount \(185000.00 yuan\)", added="5000.00")
    amend(built, added="5000.00", changes={"budget_lines": {2027: "90000.00", 2028: "95000.00"}})
    assert built.contract.amount == Decimal("185000.00")
    assert sum(b.amount for b in built.contract.budget_lines) == built.contract.amount
    assert_schedule_exact(built.contract)


# --- Terms, the record and the PDF ----------------------------------------------------------------------------------


def test_an_amendment_keeps_the_old_terms_issues_its_pdf_once_and_is_audited(built):
    contract = built.contract
    old_content = contract.service_content
    made = amend(built, changes={"service_content": "为辖区困难老年人提供探访、照料、心理支持与助餐服务。\r\n",
                                 "report_interval": "monthly", "targets": contract.targets}, added="3000.00")
    assert contract.service_content == "为辖区困难老年人提供探访、照料、心理支持与助餐服务。"
    assert contract.report_interval == "monthly"
    assert [c["term"] for c in amendments.changes_of(made)] == ["service_content", "report_interval", "budget_lines",
                                                               "amount"]
    assert amendments.changes_of(made)[0] == {"term": "service_content", "old": old_content,
                                              "new": "为辖区困难老年人提供探访、照料、心理支持与助餐服务。"}
    document = db.session.get(GeneratedDocument, made.document_id)
    assert document.key == f"amendment:{made.id}" and document.number.startswith("BG-2027-")
    assert document.file.read_bytes().startswith(b"%PDF")
    context = amendments.amendment_context(contract, made)
    assert document.content_sha256 == content_hash(amendments.AMENDMENT_TEMPLATE, context)
    text = json.dumps(context, ensure_ascii=False)
    for part in (contract.reference, REASON, old_content, "心理支持与助餐", "按季度报告", "按月报告",
                 "¥180,000.00", "¥183,000.00", "人民币叁仟元整", contract.supplier.name):
        assert part in text, part
    again = issue_document(f"amendment:{made.id}", amendments.AMENDMENT_TEMPLATE, context,
                           prefix=amendments.AMENDMENT_PREFIX, now=AT)
    assert again.id == document.id
    [entry] = audited("contract.amended")
    assert entry.subject_id == str(contract.id)
    assert json.loads(entry.old_values)["report_interval"] == "quarterly"
    new = json.loads(entry.new_values)
    assert new["report_interval"] == "monthly" and new["amendment"] == 1 and new["document"] == document.number
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.user_id == built.supplier.id,
                                                                  Notification.subject.like("Contract amended%"))))
    assert [n.link for n in notes] == [f"/contracts/amendments/{made.id}"]


def test_each_amendment_has_its_own_pdf(built):
    first = amend(built, changes={"targets": "每月探访困难老年人不少于250人次。"})
    second = amend(built, changes={"breach_terms": "乙方未按约定提供服务的，甲方可扣减相应服务费。"})
    assert first.document_id != second.document_id
    assert first.document.number != second.document.number


@pytest.mark.parametrize(("values", "message"), [
    ({"changes": {"amount": "200000"}}, "cannot be changed by an amendment: amount"),
    ({"changes": {"title": "新名称", "start_date": "2027-02-01"}}, "cannot be changed by an amendment: start_date, "
                                                                 "title"),
    ({"changes": {"service_content": "  "}}, "cannot be emptied"),
    ({"changes": {"report_interval": "weekly"}}, "monthly or quarterly"),
    ({"changes": {"targets": "每月探访困难老年人不少于200人次。"}}, "changes nothing"),
    ({"changes": {}}, "changes nothing"),
    ({"reason": "变更", "changes": {"targets": "新目标：每月300人次"}}, "reason for the amendment"),
    ({"changes": {"end_date": "2027-11-30"}, "new_end": date(2027, 12, 15)}, "Two different new end dates"),
])
def test_a_wrong_amendment_is_refused(built, values, message):
    refused(built, message, **values)
    assert built.contract.amendments == []
    assert audited("contract.amended") == []


def test_only_the_contracting_bureau_amends_a_signed_contract(built, create_org, create_user, city_bureau, now):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    for outsider in (create_user("officer", organisation_id=district.id), built.supplier, create_user("supplier"),
                     create_user("evaluator"), create_user("admin")):
        with pytest.raises(NotAllowed):
            amend(built, changes={"targets": "新目标：每月300人次"}, actor=outsider)
        db.session.rollback()
    draft = draft_contract_row(city_bureau, create_user, now=now)
    refused(draft, "Only a signed contract", changes={"targets": "新目标：每月300人次"})


def test_two_concurrent_amendments_cannot_pass_the_cap_together(app, built):
    postgresql_only()
    contract_id, officer_ids = built.contract.id, [o.id for o in built.officers]
    db.session.commit()

    def attempt(officer_id: int):
        return lambda: amendments.amend(db.session.get(Contract, contract_id), reason=REASON, changes={},
                                        added_amount=Decimal("10800.00"),  # 6% each
                                        actor=db.session.get(User, officer_id), now=AT)

    outcomes = run_concurrently(app, [attempt(officer_id) for officer_id in officer_ids])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, DomainError) for o in outcomes), outcomes
    db.session.expire_all()
    contract = db.session.get(Contract, contract_id)
    assert contract.amount == Decimal("180000.00") and len(contract.amendments) == 1  # proposed, not yet in force
    amendments.confirm_amendment(contract.amendments[0], actor=built.supplier, now=AT)
    db.session.commit()
    assert contract.amount == Decimal("190800.00")


# --- Both parties agree (民法典 543): proposed by the officer, confirmed by the supplier ------------------------------


def test_an_amendment_applies_only_once_the_supplier_confirms_it(built):
    contract = built.contract
    made = amend(built, added="9000.00", changes={"targets": "每月探访困难老年人不少于250人次。"}, confirm=False)
    assert amendments.is_pending(made) and made.document_id is None
    assert contract.amount == Decimal("180000.00") and contract.targets == "每月探访困难老年人不少于200人次。"
    assert len(contract.installments) == 3
    assert amendments.add_on_left(contract) == Decimal("9000.00")  # the pending 5% counts against the cap
    assert audited("contract.amendment_proposed") and not audited("contract.amended")
    supplier_subjects = [n.subject for n in db.session.scalars(sa.select(Notification).where(
        Notification.user_id == built.supplier.id))]
    assert any(s.startswith("Amendment proposed for your confirmation") for s in supplier_subjects)
    with pytest.raises(Conflict, match="awaits the supplier's confirmation"):
        amend(built, changes={"breach_terms": "乙方未按约定提供服务的，甲方可扣减相应服务费。"})
    db.session.rollback()
    with pytest.raises(NotAllowed):
        amendments.confirm_amendment(made, actor=built.officers[0], now=AT)
    db.session.rollback()
    amendments.confirm_amendment(made, actor=built.supplier, now=AT + timedelta(days=1))
    db.session.commit()
    assert made.confirmed_at == AT + timedelta(days=1) and made.confirmed_by_id == built.supplier.id
    assert contract.amount == Decimal("189000.00") and contract.targets == "每月探访困难老年人不少于250人次。"
    assert contract.budget_lines[0].amount == Decimal("189000.00")  # the single year's line raised with it
    assert made.document is not None and len(contract.installments) == 4
    [entry] = audited("contract.amended")
    assert json.loads(entry.new_values)["sha256"] == made.document.file.sha256
    with pytest.raises(Conflict, match="already been confirmed"):
        amendments.confirm_amendment(made, actor=built.supplier, now=AT)
    db.session.rollback()


def test_the_officer_withdraws_a_pending_proposal(built):
    made = amend(built, added="18000.00", confirm=False)
    amendments.withdraw_amendment(made, actor=built.officers[0], now=AT)
    db.session.commit()
    assert built.contract.amendments == [] and amendments.add_on_left(built.contract) == Decimal("18000.00")
    assert audited("contract.amendment_withdrawn")
    again = amend(built, added="18000.00")
    assert again.number == 1 and built.contract.amount == Decimal("198000.00")
