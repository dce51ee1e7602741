"""OCDS 1.1 open data: releases per event, method mapping, no sealed data before the opening, and every package
(built processes and the seeded demo) valid against the vendored OCDS 1.1.5 schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from portal.extensions import db
from portal.public import ocds
from portal.tenders.models import Clarification, Method, MethodGround, Tender, TenderStatus
from tests.contract_builders import signed_contract
from tests.evaluation_flow import run_evaluation
from tests.tender_factories import CANARY_PRICE, make_published_tender, submit

pytestmark = pytest.mark.usefixtures("english_messages")

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "ocds"


def _validator() -> Draft4Validator:
    package_schema = json.loads((SCHEMA_DIR / "release-package-schema.json").read_text(encoding="utf-8"))
    release_schema = json.loads((SCHEMA_DIR / "release-schema.json").read_text(encoding="utf-8"))
    ref = package_schema["properties"]["releases"]["items"]["$ref"]
    assert ref == release_schema["id"]  # the package refers to the release schema by its id
    registry = Registry().with_resources([
        (package_schema["id"], Resource.from_contents(package_schema, default_specification=DRAFT4)),
        (release_schema["id"], Resource.from_contents(release_schema, default_specification=DRAFT4)),
    ])
    return Draft4Validator(package_schema, registry=registry)


VALIDATOR = _validator()


def assert_valid(package: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(package), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def full_package(now) -> dict:
    return ocds.package(ocds.all_releases(), uri="http://localhost/ocds/releases.json", now=now)


def test_validator_rejects_a_broken_release(now, city_bureau):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=5))
    package = ocds.package(ocds.process_releases(ocds.ocid_for(tender)), uri="http://x/ocds", now=now)
    assert_valid(package)
    del package["releases"][0]["ocid"]
    assert list(VALIDATOR.iter_errors(package))


@pytest.mark.parametrize(("method", "code", "details"), [
    (Method.OPEN, "open", "公开招标"), (Method.INVITED, "selective", "邀请招标"),
    (Method.NEGOTIATION, "limited", "竞争性谈判"), (Method.SINGLE_SOURCE, "direct", "单一来源")])
def test_method_mapping(now, city_bureau, method, code, details):
    tender = make_published_tender(city_bureau, method=method, deadline=now + timedelta(days=5))
    if method == Method.SINGLE_SOURCE:
        tender.method_ground = MethodGround.ONLY_SUPPLIER
        tender.justification = "全区唯一具备该服务能力的社会工作机构。"
        db.session.commit()
    (release,) = ocds.process_releases(ocds.ocid_for(tender))
    assert release["ocid"] == "ocds-portal-" + tender.reference
    assert release["tag"] == ["tender"]
    assert release["tender"]["procurementMethod"] == code
    assert release["tender"]["procurementMethodDetails"] == details
    assert release["tender"]["value"] == {"amount": 500000.0, "currency": "CNY"}
    assert release["buyer"]["name"] == city_bureau.name
    assert release["parties"][0]["roles"] == ["buyer", "procuringEntity"]
    if method == Method.SINGLE_SOURCE:
        assert "全区唯一" in release["tender"]["procurementMethodRationale"]
        assert "(L31)" in release["tender"]["procurementMethodRationale"]
    else:
        assert "procurementMethodRationale" not in release["tender"]


def test_prefix_is_a_setting(app, now, city_bureau):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=5))
    app.config["OCDS_PREFIX"] = "ocds-zz9zz9-"
    try:
        (release,) = ocds.process_releases("ocds-zz9zz9-" + tender.reference)
        assert release["ocid"] == "ocds-zz9zz9-" + tender.reference
        assert ocds.process_releases("ocds-portal-" + tender.reference) is None
    finally:
        app.config["OCDS_PREFIX"] = "ocds-portal-"


def test_drafts_are_not_published(now, city_bureau):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=5))
    tender.status, tender.published_at = TenderStatus.DRAFT, None
    db.session.commit()
    assert ocds.process_releases(ocds.ocid_for(tender)) is None
    assert ocds.all_releases() == []


def test_no_sealed_data_before_opening(now, city_bureau, create_user):
    deadline = now + timedelta(days=2)
    tender = make_published_tender(city_bureau, deadline=deadline, published_at=now - timedelta(days=20))
    bidder = create_user("supplier")
    submit(tender, bidder, CANARY_PRICE, now=now)
    db.session.add(Clarification(tender_id=tender.id, number=1, text="服务时长调整为每周五天。", affects_bids=True,
                                 published_at=now - timedelta(days=1), deadline_before=deadline,
                                 deadline_after=deadline + timedelta(days=3),
                                 published_by_id=create_user("officer").id))
    db.session.commit()
    package = full_package(now)
    assert_valid(package)
    dumped = json.dumps(package, ensure_ascii=False)
    assert str(CANARY_PRICE) not in dumped and "98765" not in dumped
    assert bidder.organisation.name not in dumped
    assert bidder.organisation.credit_code not in dumped
    assert "tenderers" not in dumped and "numberOfTenderers" not in dumped
    assert [r["tag"] for r in package["releases"]] == [["tender"], ["tenderUpdate"]]
    update = package["releases"][1]
    assert update["tender"]["amendments"][0]["description"] == "服务时长调整为每周五天。"
    assert update["tender"]["tenderPeriod"]["endDate"] == ocds.stamp(deadline + timedelta(days=3))
    assert package["releases"][0]["tender"]["tenderPeriod"]["endDate"] == ocds.stamp(deadline)


def test_failed_and_cancelled_processes(now, city_bureau):
    failed = make_published_tender(city_bureau, deadline=now - timedelta(days=3))
    failed.status, failed.failed_at, failed.failure_reason = TenderStatus.FAILED, now - timedelta(days=1), "不足三家"
    cancelled = make_published_tender(city_bureau, deadline=now + timedelta(days=3))
    cancelled.status, cancelled.cancelled_at = TenderStatus.CANCELLED, now - timedelta(hours=2)
    db.session.commit()
    *_, last = ocds.process_releases(ocds.ocid_for(failed))
    assert last["tag"] == ["tenderCancellation"] and last["tender"]["status"] == "unsuccessful"
    *_, last = ocds.process_releases(ocds.ocid_for(cancelled))
    assert last["tag"] == ["tenderCancellation"] and last["tender"]["status"] == "cancelled"
    assert_valid(full_package(now))


def test_evaluated_process_releases_in_order(now, city_bureau, create_user):
    officers = [create_user("officer"), create_user("officer")]
    suppliers = [create_user("supplier") for _ in range(3)]
    experts = [create_user("evaluator") for _ in range(5)]
    evaluation = run_evaluation(city_bureau, officers, suppliers, experts, start=now)
    releases = ocds.process_releases(ocds.ocid_for(evaluation.tender))
    tags = [r["tag"][0] for r in releases]
    assert tags[0] == "tender" and "award" in tags
    assert tags.index("tenderUpdate") < tags.index("award")
    dates = [r["date"] for r in releases]
    assert dates == sorted(dates)
    assert len({r["id"] for r in releases}) == len(releases)
    opening = next(r for r in releases if r["id"].endswith("tenderUpdate-opening"))
    assert opening["tender"]["numberOfTenderers"] == 3
    assert {p["name"] for p in opening["parties"] if "tenderer" in p["roles"]} == {
        s.organisation.name for s in suppliers}
    tenderer = next(p for p in opening["parties"] if "tenderer" in p["roles"])
    assert tenderer["identifier"]["scheme"] == "CN-USCC"
    assert tenderer["id"] == "CN-USCC-" + tenderer["identifier"]["id"]
    award = next(r for r in releases if r["tag"] == ["award"])
    (block,) = award["awards"]
    winner = next(p for p in award["parties"] if "supplier" in p["roles"])
    assert block["suppliers"] == [{"id": winner["id"], "name": winner["name"]}]
    assert block["value"]["currency"] == "CNY"
    # stable: building again gives the same ids and dates
    again = ocds.process_releases(ocds.ocid_for(evaluation.tender))
    assert [(r["id"], r["date"]) for r in again] == [(r["id"], r["date"]) for r in releases]
    assert_valid(full_package(now))


def test_contract_amendment_and_implementation(now, city_bureau, create_user):
    from portal.contracts.models import Amendment

    built = signed_contract(city_bureau, create_user, now=now - timedelta(days=60))
    contract = built.contract
    first = contract.installments[0]
    first.paid_on = (now - timedelta(days=30)).date()
    first.paid_amount = first.amount
    first.voucher = "PZ-2026-0012"
    first.paid_recorded_at = now - timedelta(days=30)
    db.session.add(Amendment(contract_id=contract.id, number=1, reason="服务对象增加", changes='{"amount": {}}',
                             added_amount=Decimal("10000.00"), created_at=now - timedelta(days=10),
                             created_by_id=built.officers[0].id, confirmed_at=now - timedelta(days=9),
                             confirmed_by_id=built.supplier.id))
    db.session.add(Amendment(contract_id=contract.id, number=2, reason="未确认", changes="{}",
                             created_at=now - timedelta(days=5), created_by_id=built.officers[0].id))
    contract.amount += Decimal("10000.00")
    db.session.commit()
    releases = ocds.process_releases(ocds.ocid_for(built.tender))
    tags = [r["tag"][0] for r in releases]
    assert tags[-3:] == ["contract", "implementation", "contractAmendment"]
    signed = releases[tags.index("contract")]["contracts"][0]
    assert signed["value"] == {"amount": float(contract.amount - Decimal("10000.00")), "currency": "CNY"}
    assert signed["period"]["startDate"] and signed["dateSigned"]
    amended = releases[tags.index("contractAmendment")]["contracts"][0]
    assert amended["value"]["amount"] == float(contract.amount)
    assert [a["rationale"] for a in amended["amendments"]] == ["服务对象增加"]  # the unconfirmed one is left out
    implementation = releases[tags.index("implementation")]
    (tx,) = implementation["contracts"][0]["implementation"]["transactions"]
    assert tx["value"] == {"amount": float(first.amount), "currency": "CNY"} and tx["source"] == "PZ-2026-0012"
    roles = {p["id"]: p["roles"] for p in implementation["parties"]}
    assert "payer" in roles[tx["payer"]["id"]] and "payee" in roles[tx["payee"]["id"]]
    milestones = implementation["contracts"][0]["implementation"]["milestones"]
    assert len(milestones) == len(contract.installments)
    assert milestones[0]["status"] == "met"
    assert_valid(full_package(now))


def test_since_filter(now, city_bureau):
    old = make_published_tender(city_bureau, deadline=now + timedelta(days=5), published_at=now - timedelta(days=9))
    new = make_published_tender(city_bureau, deadline=now + timedelta(days=5), published_at=now - timedelta(days=1))
    ocids = [r["ocid"] for r in ocds.all_releases(since=now - timedelta(days=2))]
    assert ocids == [ocds.ocid_for(new)]
    assert [r["ocid"] for r in ocds.all_releases()] == [ocds.ocid_for(old), ocds.ocid_for(new)]


def test_seeded_demo_validates(app, now):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    tenders = db.session.scalars(db.select(Tender).where(Tender.published_at.is_not(None))).all()
    assert tenders
    package = full_package(datetime.now(UTC))
    assert_valid(package)
    for tender in tenders:
        releases = ocds.process_releases(ocds.ocid_for(tender))
        assert releases and [r["date"] for r in releases] == sorted(r["date"] for r in releases)
        assert_valid(ocds.package(releases, uri="http://localhost/ocds/x.json", now=now))
        opened = tender.opened_at
        for release in releases:
            if opened is None or release["date"] < ocds.stamp(opened):
                assert "tenderers" not in release.get("tender", {}), release["id"]
    methods = {r["tender"]["procurementMethod"] for r in package["releases"] if r["tag"] == ["tender"]}
    assert methods <= {"open", "selective", "limited", "direct"}
    tags = {r["tag"][0] for r in package["releases"]}
    assert {"tender", "award", "contract"} <= tags


def test_cli_export_writes_a_valid_package(app, now, city_bureau, tmp_path):
    empty = app.test_cli_runner().invoke(args=["ocds", "export", "--output", str(tmp_path / "none.json")])
    assert empty.exit_code == 1
    make_published_tender(city_bureau, deadline=now + timedelta(days=5))
    out = tmp_path / "ocds.json"
    result = app.test_cli_runner().invoke(args=["ocds", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert_valid(data)
    assert len(data["releases"]) == 1


@pytest.mark.parametrize("recorded", [True, False], ids=["payment-recorded-at", "payment-day-only"])
def test_since_finds_an_old_process_by_its_latest_event(now, city_bureau, create_user, recorded):
    """A process published months ago whose only recent event is a payment is in the ``since`` page, with only
    that release; a process with nothing recent is not."""
    quiet = make_published_tender(city_bureau, deadline=now - timedelta(days=60), published_at=now - timedelta(days=90))
    built = signed_contract(city_bureau, create_user, now=now - timedelta(days=60))
    first = built.contract.installments[0]
    first.paid_on, first.paid_amount = (now - timedelta(days=1)).date(), first.amount
    first.paid_recorded_at = now - timedelta(days=1) if recorded else None
    db.session.commit()
    since = now - timedelta(days=2)

    releases, more = ocds.release_page(1, since=since)

    assert not more
    assert {r["ocid"] for r in releases} == {ocds.ocid_for(built.contract.tender)}
    assert [r["tag"] for r in releases] == [["implementation"]]
    assert ocds.ocid_for(quiet) not in {r["ocid"] for r in ocds.all_releases(since=since)}
    assert [r["id"] for r in releases] == [r["id"] for r in ocds.all_releases(since=since)]


def test_a_page_loads_only_its_own_processes(now, city_bureau, monkeypatch):
    monkeypatch.setattr(ocds, "PAGE_PROCESSES", 2)
    tenders = [make_published_tender(city_bureau, deadline=now + timedelta(days=3),
                                     published_at=now - timedelta(days=10 - i)) for i in range(5)]
    loaded = []
    real = ocds._processes
    monkeypatch.setattr(ocds, "_processes", lambda ids: loaded.append(list(ids)) or real(ids))

    releases, more = ocds.release_page(2)

    assert more and loaded == [[t.id for t in tenders[2:4]]]
    assert [r["ocid"] for r in releases] == [ocds.ocid_for(t) for t in tenders[2:4]]
    assert ocds.release_page(4) is None
