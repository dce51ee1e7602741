"""The Excel exports of the registers (issue 9, item 3): Chinese headers, the rows of the bureaus the user oversees,
bids only of opened tenders (never a sealed price), formula-like texts kept as text."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook

from portal.errors import NotAllowed
from portal.extensions import db
from portal.public import exports
from tests.export_builders import OPENED_PRICE, column, rows_of, world
from tests.tender_factories import CANARY_PRICE

pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def w(city_bureau, create_org, create_user, now):
    return world(city_bureau, create_org, create_user, now=now)


def _export(key, user, now):
    data, name = exports.export(key, user, now)
    assert name.endswith(".xlsx")
    return data


def _xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".xml"))


def test_tenders_register_has_chinese_headers_and_only_the_districts_own_rows(w, now):
    data = _export("tenders", w.officers["east"], now)
    assert rows_of(data)[0] == ("项目编号", "项目名称", "采购单位", "采购方式", "状态", "预算金额（元）", "发布日期",
                                "投标截止时间")
    references = column(data, "项目编号")
    assert w.opened_tender.reference in references and w.sealed_tender.reference in references
    assert w.contracts["east"].tender.reference in references
    assert w.contracts["west"].tender.reference not in references
    assert set(column(data, "采购单位")) == {"东区民政局"}
    assert "公开招标" in column(data, "采购方式")


def test_the_city_sees_its_districts_and_admin_sees_all(w, now, create_user):
    for user in (w.officers["city"], create_user("admin")):
        references = column(_export("contracts", user, now), "合同编号")
        assert {b.contract.reference for b in w.contracts.values()} <= set(references)
    west_only = column(_export("contracts", w.officers["west"], now), "合同编号")
    assert west_only == [w.contracts["west"].contract.reference]


def test_bids_only_of_opened_tenders_and_never_a_sealed_price(w, now):
    data = _export("bids", w.officers["east"], now)
    assert column(data, "项目编号") == [w.opened_tender.reference]
    assert column(data, "开标报价（元）") == [float(OPENED_PRICE)]
    assert w.sealed_tender.reference not in _xml(data)
    assert str(CANARY_PRICE) not in _xml(data) and str(float(CANARY_PRICE)) not in _xml(data)
    assert rows_of(_export("bids", w.officers["west"], now))[1:] == []


def test_contracts_payments_and_reviews_registers(w, now):
    east = w.contracts["east"].contract
    contracts = _export("contracts", w.officers["east"], now)
    assert rows_of(contracts)[0][:5] == ("合同编号", "合同名称", "采购人（甲方）", "供应商（乙方）", "合同金额（元）")
    assert column(contracts, "合同金额（元）") == [float(east.amount)]
    assert column(contracts, "状态") == ["已签订（履行中）"]

    payments = _export("payments", w.officers["east"], now)
    assert column(payments, "合同编号") == [east.reference] * len(east.installments)
    assert sum(column(payments, "应付金额（元）")) == pytest.approx(float(east.amount))
    assert column(payments, "支付条件")[0] == "合同签订后"

    reviews = _export("reviews", w.officers["east"], now)
    assert column(reviews, "合同编号") == [east.reference]
    assert column(reviews, "评估类型") == ["中期评估"] and column(reviews, "状态") == ["已计划"]


def test_funding_lines_approved_plans_for_districts_drafts_for_the_city(w, now, create_user):
    east = _export("funding", w.officers["east"], now)
    assert column(east, "项目名称") == ["东区留守儿童关爱"]
    assert column(east, "安排金额（元）") == [180000.0]
    city = column(_export("funding", w.officers["city"], now), "项目名称")
    assert city == ["东区留守儿童关爱", "西区留守儿童关爱", "东区草稿计划项目"]
    admin = column(_export("funding", create_user("admin"), now), "项目名称")
    assert admin == city


def test_formula_like_texts_stay_text(w, now):
    w.opened_tender.title = '=HYPERLINK("http://evil.example","点此")'
    db.session.commit()
    data = _export("tenders", w.officers["east"], now)
    sheet = load_workbook(io.BytesIO(data)).active
    cells = [row[1] for row in sheet.iter_rows(min_row=2) if str(row[1].value).startswith("=")]
    assert len(cells) == 1 and cells[0].data_type == "s" and cells[0].value.startswith("=HYPERLINK")
    assert "<f>" not in _xml(data)


@pytest.mark.parametrize("role", ["supplier", "evaluator"])
def test_suppliers_and_evaluators_export_nothing(create_user, now, role):
    with pytest.raises(NotAllowed):
        exports.export("contracts", create_user(role), now)
