"""Payments, the final acceptance and amendments through HTTP: the panel of the contract page, recording a payment
(refused before its gate), the acceptance, amending and reading an amendment and its PDF, and who may do each.

The contract of tests/contract_builders.py (180,000 yuan, signed on 30 November 2026); the clock is frozen on
Wednesday 2 December 2026, 10:00 Beijing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.contracts import amendments, payments
from portal.contracts.models import Amendment, Gate
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from tests.conftest import PASSWORD, csrf_token
from tests.contract_builders import signed_contract
from tests.support.queries import queries_for
from tests.support.web import as_user, fetch, in_english, text

AT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
REASON = "服务对象人数增加，双方协商一致追加服务量。"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def built(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    in_english(*built.officers, built.supplier)
    return built


def detail_url(built) -> str:
    return f"/contracts/{built.contract.id}"


def pay(client, built, position: int, **values):
    installment = built.installments[position - 1]
    prefix = f"pay{installment.id}-"
    data = {"paid_on": "2026-12-02", "amount": f"{installment.amount:.2f}", "voucher": "记账凭证2026-1201"} | values
    return client.post(f"/contracts/installments/{installment.id}/payment",
                       data={prefix + "csrf_token": csrf_token(client, "/")} | {prefix + k: v for k, v in data.items()})


def amend_data(client, contract, **values) -> dict:
    data = {"csrf_token": csrf_token(client, "/"), "reason": REASON, "service_content": contract.service_content,
            "targets": contract.targets, "breach_terms": contract.breach_terms,
            "report_interval": contract.report_interval, "new_end_date": "", "added_amount": "", "budget_lines": ""}
    return data | values


def make_amendment(built, confirm=True, **values) -> Amendment:
    """The officer proposes, and (unless ``confirm`` is False) the NGO's user confirms, an amendment."""
    made = amendments.amend(built.contract, reason=REASON, changes=values.pop("changes", {}), actor=built.officers[0],
                            now=AT, **values)
    db.session.commit()
    if confirm:
        amendments.confirm_amendment(made, actor=built.supplier, now=AT)
        db.session.commit()
    return made


# --- The panel --------------------------------------------------------------------------------------------------


def test_the_officer_sees_the_schedule_and_the_form_for_what_is_payable(client, built):
    as_user(client, built.officers[0])
    page = text(fetch(client, detail_url(built)))
    first, second, _third = built.installments
    assert "Payable now" in page and "¥72,000.00" in page
    assert f"/contracts/installments/{first.id}/payment" in page  # payable: a form
    assert f"/contracts/installments/{second.id}/payment" not in page  # gate not met: no form
    assert "中期评估" in page and "Gate not met" in page and "by signing" in page
    assert f"/contracts/{built.contract.id}/acceptance" in page and f"/contracts/{built.contract.id}/amend" in page


def test_the_supplier_reads_the_schedule_but_gets_no_forms(client, built):
    as_user(client, built.supplier)
    page = text(fetch(client, detail_url(built)))
    assert "Payable now" in page and "中期评估" in page
    assert "/payment" not in page and "/acceptance" not in page and "/amend" not in page


# --- Recording a payment ----------------------------------------------------------------------------------------


def test_the_officer_records_a_payment(client, built):
    as_user(client, built.officers[0])
    response = pay(client, built, 1)
    assert response.status_code == 302 and response.headers["Location"].endswith(detail_url(built))
    installment = built.installments[0]
    db.session.refresh(installment)
    assert (installment.paid_on, installment.paid_amount, installment.voucher) == (
        date(2026, 12, 2), Decimal("72000.00"), "记账凭证2026-1201")
    page = text(fetch(client, detail_url(built)))
    assert "The payment of installment 1 is recorded." in page and "voucher 记账凭证2026-1201" in page
    assert f"/contracts/installments/{installment.id}/payment" not in page
    again = pay(client, built, 1, voucher="另一凭证")
    assert again.status_code == 400 and "Installment 1 was already paid on 2026-12-02" in text(again)


def test_a_payment_before_its_gate_is_refused_with_a_message(client, built):
    as_user(client, built.officers[0])
    response = pay(client, built, 2, amount="54000.00")
    assert response.status_code == 400
    assert "Installment 2 is not payable yet: its gate (中期评估) is not met." in text(response)
    assert built.installments[1].paid_on is None


@pytest.mark.parametrize(("values", "message"), [
    ({"amount": "70000.00"}, "must be the installment&#39;s amount, ¥72,000.00"),
    ({"voucher": ""}, "This field is required."),
    ({"paid_on": "2026-12-03"}, "cannot be in the future"),
])
def test_a_wrong_payment_is_refused(client, built, values, message):
    as_user(client, built.officers[0])
    response = pay(client, built, 1, **values)
    assert response.status_code == 400 and message in text(response)
    db.session.refresh(built.installments[0])
    assert built.installments[0].paid_on is None


def test_only_the_contracting_bureaus_officer_records_a_payment(client, built, create_org, create_user, city_bureau):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    outsiders = [create_user("officer", organisation_id=district.id), built.supplier, create_user("supplier"),
                 create_user("evaluator"), create_user("admin")]
    for outsider in outsiders:
        as_user(client, outsider)
        assert pay(client, built, 1).status_code == 403, outsider.role
    db.session.refresh(built.installments[0])
    assert built.installments[0].paid_on is None


# --- The acceptance ----------------------------------------------------------------------------------------------


def test_the_officer_records_the_acceptance(client, built):
    as_user(client, built.officers[0])
    data = {"accepted_on": "2026-12-02", "participants": "王芳（采购人）、李强（服务对象代表）",
            "record": "服务内容与目标均已完成，验收合格。", "conclusion": "验收合格"}
    response = client.post(f"/contracts/{built.contract.id}/acceptance",
                           data=data | {"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 400 and "before the term starts (2027-01-01)" in text(response)
    built.contract.start_date = date(2026, 12, 1)  # a term already running
    db.session.commit()
    response = client.post(f"/contracts/{built.contract.id}/acceptance",
                           data=data | {"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    db.session.refresh(built.contract)
    assert built.contract.accepted_at is not None and payments.payable(built.installments[2])
    [notice] = db.session.scalars(sa.select(Notice).where(Notice.kind == NoticeKind.CONTRACT))
    assert notice.title.endswith("验收结果公告") and "李强" not in notice.body
    page = text(fetch(client, detail_url(built)))
    assert "验收合格" in page and f"/contracts/{built.contract.id}/acceptance" not in page


def test_a_short_acceptance_record_is_refused(client, built):
    as_user(client, built.officers[0])
    response = client.post(f"/contracts/{built.contract.id}/acceptance", data={
        "csrf_token": csrf_token(client, "/"), "accepted_on": "2026-12-02", "participants": "王芳", "record": "合格",
        "conclusion": "验收合格"})
    assert response.status_code == 400 and "Write the acceptance record" in text(response)


def test_others_cannot_record_the_acceptance(client, built, create_org, create_user, city_bureau):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    for outsider in (built.supplier, create_user("officer", organisation_id=district.id), create_user("admin")):
        as_user(client, outsider)
        response = client.post(f"/contracts/{built.contract.id}/acceptance", data={
            "csrf_token": csrf_token(client, "/"), "accepted_on": "2026-12-02", "participants": "王芳",
            "record": "服务内容与目标均已完成，验收合格。",
            "conclusion": "验收合格"})
        assert response.status_code == 403, outsider.role
    db.session.refresh(built.contract)
    assert built.contract.accepted_at is None


# --- Amendments --------------------------------------------------------------------------------------------------


def test_the_officer_amends_and_both_parties_read_the_history(client, built):
    as_user(client, built.officers[0])
    form = text(fetch(client, f"/contracts/{built.contract.id}/amend"))
    assert built.contract.service_content in form and "¥18,000.00" in form  # prefilled; 10% still addable
    response = client.post(f"/contracts/{built.contract.id}/amend", data=amend_data(
        client, built.contract, targets="每月探访困难老年人不少于250人次。", added_amount="9000"))
    [made] = built.contract.amendments
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/amendments/{made.id}")
    assert made.added_amount == Decimal("9000.00") and made.confirmed_at is None and made.document is None
    assert built.contract.amount == Decimal("180000.00")  # proposed only
    page = text(fetch(client, f"/contracts/amendments/{made.id}"))
    assert "Awaiting the supplier" in page and "/confirm" not in page and "/withdraw" in page
    assert "Add an amendment" not in text(fetch(client, detail_url(built)))  # one proposal at a time
    as_user(client, built.supplier)
    url = f"/contracts/amendments/{made.id}"
    page = text(fetch(client, url))
    assert f'action="{url}/confirm"' in page and f"{url}/withdraw" not in page
    response = client.post(f"{url}/confirm", data={"csrf_token": csrf_token(client, url), "agree": "y",
                                                   "password": "wrong-password"})
    assert response.status_code == 400 and made.confirmed_at is None
    response = client.post(f"{url}/confirm", data={"csrf_token": csrf_token(client, url), "agree": "y",
                                                   "password": PASSWORD})
    assert response.status_code == 302
    db.session.expire_all()
    made = db.session.get(Amendment, made.id)
    assert made.confirmed_by_id == built.supplier.id and built.installments[-1].gate == Gate.ACCEPTANCE
    for user in (built.officers[0], built.supplier):
        as_user(client, user)
        page = text(fetch(client, detail_url(built)))
        assert f"/contracts/amendments/{made.id}" in page and made.document.number in page and REASON in page
        details = text(fetch(client, f"/contracts/amendments/{made.id}"))
        assert made.document.file.sha256 in details
        assert "每月探访困难老年人不少于200人次。" in details and "每月探访困难老年人不少于250人次。" in details
        assert "¥180,000.00" in details and "¥189,000.00" in details
        pdf = fetch(client, f"/contracts/amendments/{made.id}/amendment.pdf")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"


def test_an_amendment_over_the_cap_is_refused_with_a_message(client, built):
    make_amendment(built, added_amount=Decimal("9000.00"), changes={})
    as_user(client, built.officers[0])
    response = client.post(f"/contracts/{built.contract.id}/amend",
                           data=amend_data(client, built.contract, added_amount="9000.01"))
    assert response.status_code == 400
    assert "at most 10 percent of the original amount (18000.00 yuan); 9000.00 yuan are left." in text(response)
    assert len(built.contract.amendments) == 1


def test_an_extension_with_malformed_budget_lines_is_refused(client, built):
    as_user(client, built.officers[0])
    response = client.post(f"/contracts/{built.contract.id}/amend", data=amend_data(
        client, built.contract, new_end_date="2027-12-31", budget_lines="明年 十万"))
    assert response.status_code == 400 and "one budget line per fiscal year" in text(response)


def test_who_may_amend_and_read_amendments(client, built, create_org, create_user, city_bureau):
    made = make_amendment(built, changes={"targets": "每月探访困难老年人不少于250人次。"})
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    other_officer = create_user("officer", organisation_id=district.id)
    other_ngo, evaluator = create_user("supplier"), create_user("evaluator")
    urls = (f"/contracts/amendments/{made.id}", f"/contracts/amendments/{made.id}/amendment.pdf")
    for outsider in (other_officer, other_ngo, evaluator):
        as_user(client, outsider)
        assert [fetch(client, url).status_code for url in urls] == [403, 403], outsider.role
        assert fetch(client, f"/contracts/{built.contract.id}/amend").status_code == 403
    as_user(client, built.supplier)
    assert fetch(client, f"/contracts/{built.contract.id}/amend").status_code == 403
    assert [fetch(client, url).status_code for url in urls] == [200, 200]
    as_user(client, create_user("admin"))
    assert [fetch(client, url).status_code for url in urls] == [200, 200]
    assert fetch(client, f"/contracts/{built.contract.id}/amend").status_code == 403


def test_the_city_bureau_reads_a_district_contract_but_does_not_act(client, create_org, create_user, city_bureau, now):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    built = signed_contract(district, create_user, now=now)
    made = make_amendment(built, changes={"targets": "每月探访困难老年人不少于250人次。"})
    city_officer = create_user("officer")
    in_english(city_officer)
    as_user(client, city_officer)
    assert fetch(client, f"/contracts/amendments/{made.id}").status_code == 200
    page = text(fetch(client, detail_url(built)))
    assert f"/contracts/amendments/{made.id}" in page and "/payment" not in page
    assert pay(client, built, 1).status_code == 403
    assert fetch(client, f"/contracts/{built.contract.id}/amend").status_code == 403


# --- No N+1 on the contract page ------------------------------------------------------------------------------------


def test_the_contract_page_queries_do_not_grow_with_installments_and_amendments(client, city_bureau, create_user,
                                                                                now):
    few = signed_contract(city_bureau, create_user, now=now)
    schedule = tuple((p, gate, "") for p, gate in (("10", Gate.SIGNING), ("10", Gate.SIGNING), ("10", Gate.REVIEW),
                                                   ("10", Gate.REVIEW), ("10", Gate.REVIEW), ("10", Gate.REVIEW),
                                                   ("10", Gate.REVIEW), ("10", Gate.REVIEW), ("10", Gate.ACCEPTANCE),
                                                   ("10", Gate.ACCEPTANCE)))
    many = signed_contract(city_bureau, create_user, now=now, schedule=schedule)
    payments.record_payment(many.installments[0], paid_on=date(2026, 12, 1), amount=Decimal("18000.00"),
                            voucher="V-1", actor=many.officers[0], now=AT - timedelta(hours=1))
    db.session.commit()
    make_amendment(few, changes={"targets": "每月探访困难老年人不少于210人次。"})
    for n in range(4):
        make_amendment(many, changes={"targets": f"每月探访困难老年人不少于{220 + n}人次。"},
                       added_amount=Decimal("1000"))
    officer = create_user("officer")  # the city bureau's: sees both
    as_user(client, officer)
    assert queries_for(client, detail_url(few)) == queries_for(client, detail_url(many))
