"""Delivery and the end of a contract (issue 6, items 6 and 7): the reporting schedule, service reports from the
period's last day on, the late flag after the due day, the expiry reminders at 90 and 30 days, termination with
grounds and its public notice, completion after the final acceptance, and the yearly review of a multi-year
contract.

The contracts come from tests/contract_builders.py: signed, starting on 1 January 2027, quarterly unless stated.
Reports are due 10 days after their period (rules.REPORT_DUE_DAYS): the first quarter's by 10 April 2027.
"""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.contracts import delivery, payments
from portal.contracts.delivery import ReportState
from portal.contracts.models import ContractStatus, ServiceReport
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from tests.contract_builders import signed_contract
from tests.files_support import ELF_BYTES, PDF_BYTES
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

SUMMARY = "本季度开展入户探访612人次，组织社区活动8场，服务目标按计划完成。"
GROUNDS = "乙方连续两个季度未按合同约定提供入户探访服务，经书面催告后仍未改正，构成根本违约。"


def d(day: str) -> date:
    return date.fromisoformat(day)


@pytest.fixture
def built(city_bureau, create_user, now):
    return signed_contract(city_bureau, create_user, now=now)


def submit(built, period_start: str, day: str, *, hour: str = "10:00", actor=None, summary: str = SUMMARY,
           upload=None):
    report = delivery.submit_report(built.contract, period_start=d(period_start), summary=summary, upload=upload,
                                    actor=actor or built.supplier, now=bj(day, hour))
    db.session.commit()
    return report


def inbox(user, template_words: str) -> list[Notification]:
    return [n for n in db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id))
            if template_words in n.subject]


def audit_actions(subject_type: str, subject_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id)).order_by(AuditEntry.seq)))


# --- The schedule ------------------------------------------------------------------------------------------------


def test_schedule_of_a_quarterly_contract_with_a_short_last_period(built):
    built.contract.end_date = d("2027-11-20")  # the last quarter is cut at the end date
    rows = delivery.schedule(built.contract, d("2027-04-11"))
    assert [(r.period.start, r.period.end, r.period.due) for r in rows] == [
        (d("2027-01-01"), d("2027-03-31"), d("2027-04-10")),
        (d("2027-04-01"), d("2027-06-30"), d("2027-07-10")),
        (d("2027-07-01"), d("2027-09-30"), d("2027-10-10")),
        (d("2027-10-01"), d("2027-11-20"), d("2027-11-30")),
    ]
    assert [r.state for r in rows] == [ReportState.MISSING] + [ReportState.UPCOMING] * 3


def test_schedule_of_a_monthly_contract(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, report_interval="monthly")
    built.contract.end_date = d("2027-12-15")
    rows = delivery.schedule(built.contract, d("2027-02-10"))
    assert len(rows) == 12
    assert (rows[0].period.start, rows[0].period.end, rows[0].period.due) == (d("2027-01-01"), d("2027-01-31"),
                                                                              d("2027-02-10"))
    assert (rows[1].period.end, rows[1].period.due) == (d("2027-02-28"), d("2027-03-10"))
    assert (rows[-1].period.start, rows[-1].period.end, rows[-1].period.due) == (d("2027-12-01"), d("2027-12-15"),
                                                                                 d("2027-12-25"))
    assert rows[0].state == ReportState.OPEN and rows[0].submittable  # due today: still on time
    assert rows[1].state == ReportState.UPCOMING and not rows[1].submittable


def test_schedule_follows_an_amended_interval_and_keeps_submitted_reports(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, report_interval="monthly")
    submit(built, "2027-02-01", "2027-03-01")
    built.contract.report_interval = "quarterly"  # as an amendment would change it
    db.session.commit()
    rows = delivery.schedule(built.contract, d("2027-03-05"))
    assert [r.period.start for r in rows] == [d("2027-01-01"), d("2027-02-01"), d("2027-04-01"), d("2027-07-01"),
                                              d("2027-10-01")]
    assert rows[1].report is not None and rows[1].state == ReportState.SUBMITTED
    assert rows[1].period.end == d("2027-02-28")  # the report keeps the period it covered
    assert rows[0].period.end == d("2027-03-31") and rows[0].report is None  # Q1 only partly reported: still due


def test_months_of_a_reported_quarter_are_covered_after_a_switch_to_monthly(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)  # quarterly
    submit(built, "2027-01-01", "2027-04-01")
    built.contract.report_interval = "monthly"  # as an amendment would change it
    db.session.commit()
    rows = delivery.schedule(built.contract, d("2027-05-05"))
    assert [(r.period.start, r.period.end) for r in rows[:3]] == [
        (d("2027-01-01"), d("2027-03-31")), (d("2027-04-01"), d("2027-04-30")), (d("2027-05-01"), d("2027-05-31"))]
    assert rows[0].state == ReportState.SUBMITTED
    assert delivery.overdue_reports(built.contract, d("2027-05-05")) == []  # January to March are not flagged
    assert delivery.flag_late_reports(bj("2027-05-05")) == 0


def test_a_second_submission_stores_no_file(built):
    from portal.files import StoredFile

    assert built.contract.reports == []  # loaded before the other submission
    db.session.add(ServiceReport(contract_id=built.contract.id, period_start=d("2027-01-01"),
                                 period_end=d("2027-03-31"), due_on=d("2027-04-10"), summary=SUMMARY,
                                 submitted_at=bj("2027-04-01"), submitted_by_id=built.supplier.id))
    db.session.flush()
    upload = FileStorage(io.BytesIO(PDF_BYTES), filename="report.pdf", content_type="application/pdf")
    with pytest.raises(Conflict, match="already been submitted"):
        submit(built, "2027-01-01", "2027-04-02", upload=upload)
    assert db.session.scalar(sa.select(sa.func.count(StoredFile.id))) == 0


# --- Submitting ---------------------------------------------------------------------------------------------------


def test_a_report_is_refused_before_the_last_day_of_its_period(built):
    with pytest.raises(DomainError, match="from its last day, 2027-03-31"):
        submit(built, "2027-01-01", "2027-03-30")


def test_a_report_on_the_last_day_of_its_period_is_on_time(built):
    report = submit(built, "2027-01-01", "2027-03-31")
    assert (report.period_end, report.due_on, report.late) == (d("2027-03-31"), d("2027-04-10"), False)
    assert report.submitted_by_id == built.supplier.id
    assert "contract.report_submitted" in audit_actions("ServiceReport", report.id)
    for officer in built.officers:
        assert inbox(officer, "Service report received")


def test_a_report_on_its_due_day_is_on_time_and_the_day_after_late(city_bureau, create_user, now):
    on_time = signed_contract(city_bureau, create_user, now=now)
    assert submit(on_time, "2027-01-01", "2027-04-10", hour="23:59").late is False
    late = signed_contract(city_bureau, create_user, now=now)
    report = submit(late, "2027-01-01", "2027-04-11", hour="00:01")
    assert report.late is True
    assert delivery.schedule(late.contract, d("2027-04-11"))[0].state == ReportState.LATE


def test_one_report_per_period(built):
    submit(built, "2027-01-01", "2027-04-01")
    with pytest.raises(Conflict, match="already been submitted"):
        submit(built, "2027-01-01", "2027-04-02")
    assert db.session.scalar(sa.select(sa.func.count(ServiceReport.id))) == 1


def test_only_the_contracted_ngo_reports(built, create_user):
    with pytest.raises(NotAllowed):
        submit(built, "2027-01-01", "2027-04-01", actor=create_user("supplier"))
    with pytest.raises(NotAllowed):
        submit(built, "2027-01-01", "2027-04-01", actor=built.officers[0])


def test_a_report_needs_a_summary_and_a_period_of_the_schedule(built):
    with pytest.raises(DomainError, match="at least 20 characters"):
        submit(built, "2027-01-01", "2027-04-01", summary="已完成。")
    with pytest.raises(DomainError, match="not in the contract's reporting schedule"):
        submit(built, "2027-01-15", "2027-04-01")


def test_a_report_carries_its_attachment_checked_by_content(built):
    upload = FileStorage(stream=io.BytesIO(PDF_BYTES), filename="第一季度服务报告.pdf")
    report = submit(built, "2027-01-01", "2027-04-01", upload=upload)
    assert report.file is not None and report.file.kind == "pdf" and report.file.original_name == "第一季度服务报告.pdf"
    with pytest.raises(DomainError):
        submit(built, "2027-04-01", "2027-07-01", upload=FileStorage(stream=io.BytesIO(ELF_BYTES), filename="x.pdf"))


def test_no_report_on_a_contract_not_in_force(built):
    built.contract.status = ContractStatus.TERMINATED
    built.contract.ended_at = bj("2027-03-01")
    built.contract.termination_grounds = GROUNDS
    db.session.commit()
    with pytest.raises(DomainError, match="in force"):
        submit(built, "2027-01-01", "2027-04-01")


# --- Late flags ----------------------------------------------------------------------------------------------------


def test_missing_reports_are_flagged_once_after_their_due_day(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, report_interval="monthly")
    submit(built, "2027-02-01", "2027-03-01")  # February on time; January never comes
    assert delivery.flag_late_reports(bj("2027-02-10", "23:00")) == 0  # due today
    db.session.commit()
    assert delivery.flag_late_reports(bj("2027-02-11", "08:00")) == 1
    db.session.commit()
    assert delivery.flag_late_reports(bj("2027-02-11", "09:00")) == 0  # idempotent
    assert delivery.flag_late_reports(bj("2027-03-11")) == 0  # January is not flagged again, February is in
    db.session.commit()
    assert len(inbox(built.supplier, "Service report overdue")) == 1
    assert all(len(inbox(o, "Service report overdue")) == 1 for o in built.officers)
    assert delivery.overdue_reports(built.contract, d("2027-03-11"))[0].period.start == d("2027-01-01")
    assert delivery.flag_late_reports(bj("2027-04-11")) == 1  # March is missing too
    db.session.commit()
    assert len(inbox(built.supplier, "Service report overdue")) == 2
    assert "report:2027-04-10" in built.contract.reminded


def test_late_flags_catch_up_and_keep_the_key_short(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, report_interval="monthly", months=36)
    built.contract.reminded = "sign20,filing"  # the signing feature's keys stay
    db.session.commit()
    assert delivery.flag_late_reports(bj("2029-12-31")) == 35
    db.session.commit()
    assert delivery.flag_late_reports(bj("2029-12-31", "11:00")) == 0
    assert built.contract.reminded == "sign20,filing,report:2029-12-10"


# --- Expiry reminders ------------------------------------------------------------------------------------------------


def test_expiry_reminders_at_90_and_30_days(built):
    # The contract ends on 31 December 2027: 90 days before is 2 October, 30 days before is 1 December.
    assert delivery.expiry_reminders(bj("2027-10-01")) == 0
    assert delivery.expiry_reminders(bj("2027-10-02", "00:05")) == 1
    db.session.commit()
    assert delivery.expiry_reminders(bj("2027-10-02", "12:00")) == 0
    assert delivery.expiry_reminders(bj("2027-10-03")) == 0
    assert delivery.expiry_reminders(bj("2027-11-30")) == 0
    assert delivery.expiry_reminders(bj("2027-12-01")) == 1
    db.session.commit()
    assert delivery.expiry_reminders(bj("2027-12-02")) == 0
    assert delivery.expiry_reminders(bj("2028-01-01")) == 0
    reminders = inbox(built.supplier, "Contract ends in")
    assert sorted(n.subject for n in reminders) == ["Contract ends in 30 days: " + built.contract.reference,
                                                    "Contract ends in 90 days: " + built.contract.reference]
    assert all(len(inbox(o, "Contract ends in")) == 2 for o in built.officers)


def test_an_extension_moves_the_expiry_reminders(built):
    assert delivery.expiry_reminders(bj("2027-10-02")) == 1
    db.session.commit()
    built.contract.end_date = d("2028-03-31")  # extended by an amendment
    db.session.commit()
    assert delivery.expiry_reminders(bj("2027-12-01")) == 0
    assert delivery.expiry_reminders(bj("2028-01-01")) == 1  # 90 days before 31 March 2028
    db.session.commit()
    assert built.contract.reminded == "expiry90:2028-03-31"


def test_one_reminder_when_both_thresholds_fall_due_at_once(built):
    assert delivery.expiry_reminders(bj("2027-12-20")) == 1
    db.session.commit()
    assert delivery.expiry_reminders(bj("2027-12-21")) == 0
    assert len(inbox(built.supplier, "Contract ends in")) == 1


def test_no_expiry_reminder_for_a_contract_not_in_force(built):
    built.contract.status = ContractStatus.COMPLETED
    built.contract.ended_at = bj("2027-09-01")
    db.session.commit()
    assert delivery.expiry_reminders(bj("2027-10-02")) == 0


# --- Termination ------------------------------------------------------------------------------------------------------


def test_termination_needs_grounds(built):
    with pytest.raises(DomainError, match="at least 20 characters"):
        delivery.terminate(built.contract, grounds="违约。", cause="breach", actor=built.officers[0],
                           now=bj("2027-05-01"))
    with pytest.raises(DomainError, match="kind of grounds"):
        delivery.terminate(built.contract, grounds=GROUNDS, cause="whim", actor=built.officers[0],
                           now=bj("2027-05-01"))


def test_only_the_bureaus_officer_terminates(built, create_user, create_org):
    other_bureau = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    for actor in (built.supplier, create_user("officer", organisation_id=other_bureau.id), create_user("admin")):
        with pytest.raises(NotAllowed):
            delivery.terminate(built.contract, grounds=GROUNDS, cause="breach", actor=actor, now=bj("2027-05-01"))
        db.session.rollback()


def test_termination_ends_the_contract_and_publishes_its_notice(built):
    contract = delivery.terminate(built.contract, grounds=GROUNDS, cause="breach", actor=built.officers[0],
                                  now=bj("2027-05-01"))
    db.session.commit()
    assert contract.status == ContractStatus.TERMINATED and contract.termination_grounds == GROUNDS
    assert contract.ended_at == bj("2027-05-01")
    notice = delivery.termination_notice(contract)
    assert notice is not None and notice.kind == NoticeKind.CONTRACT and notice.title.endswith("合同终止公告")
    assert notice.document is not None and notice.tender_id == built.tender.id
    assert "终止日期：2027-05-01" in notice.body and "供应商违反合同约定" in notice.body
    assert GROUNDS not in notice.body  # the officer's account stays private; the notice states the kind of grounds
    assert inbox(built.supplier, "Contract terminated")
    assert inbox(built.officers[1], "Contract terminated") and not inbox(built.officers[0], "Contract terminated")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "contract.terminated"))
    assert json.loads(entry.new_values)["cause"] == "breach" and entry.subject_id == str(contract.id)
    with pytest.raises(DomainError, match="in force"):
        delivery.terminate(contract, grounds=GROUNDS, cause="breach", actor=built.officers[0], now=bj("2027-05-02"))
    # Reports stop at the termination day; nothing more is flagged or reminded.
    rows = delivery.schedule(contract, d("2027-06-01"))
    assert [r.period.end for r in rows] == [d("2027-03-31"), d("2027-05-01")]
    assert delivery.flag_late_reports(bj("2027-06-01")) == 0
    assert db.session.scalar(sa.select(sa.func.count(Notice.id)).where(Notice.kind == NoticeKind.CONTRACT)) == 1


# --- Completion ----------------------------------------------------------------------------------------------------


def test_completion_needs_the_final_acceptance(built):
    with pytest.raises(DomainError, match="final acceptance"):
        delivery.complete(built.contract, actor=built.officers[0], now=bj("2028-01-05"))
    payments.record_acceptance(built.contract, record="对照合同逐项核查服务目标，全部达成，验收合格。",
                               conclusion="验收合格", accepted_on=d("2028-01-05"),
                               participants="民政局张科长、服务对象代表2名、第三方机构",
                               actor=built.officers[0], now=bj("2028-01-05"))
    db.session.commit()
    with pytest.raises(DomainError, match="wait for their payment condition: 2\\."):  # the review gate is shut
        delivery.complete(built.contract, actor=built.officers[0], now=bj("2028-01-06"))
    db.session.rollback()
    payments.open_review_gate(built.contract, review_ref="review:1", grade="合格", actor=None, now=bj("2028-01-05"))
    db.session.commit()
    with pytest.raises(NotAllowed):
        delivery.complete(built.contract, actor=built.supplier, now=bj("2028-01-06"))
    db.session.rollback()
    contract = delivery.complete(built.contract, actor=built.officers[0], now=bj("2028-01-06"))
    db.session.commit()
    assert contract.status == ContractStatus.COMPLETED and contract.ended_at == bj("2028-01-06")
    assert "contract.completed" in audit_actions("Contract", contract.id)
    assert inbox(built.supplier, "Contract completed")
    with pytest.raises(DomainError, match="in force"):
        delivery.complete(contract, actor=built.officers[0], now=bj("2028-01-07"))


def test_an_accepted_contract_may_be_completed_before_its_end_date(built):
    built.contract.accepted_at = bj("2027-11-20")
    for installment in built.contract.installments:
        installment.gate_met_at = installment.gate_met_at or bj("2027-11-20")
    db.session.commit()
    assert delivery.complete(built.contract, actor=built.officers[0], now=bj("2027-11-21")).status == "completed"


# --- Multi-year contracts: the yearly review ------------------------------------------------------------------------


@pytest.fixture
def three_years(city_bureau, create_user, now):
    return signed_contract(city_bureau, create_user, now=now, months=36)


def test_a_failed_yearly_review_stops_the_next_year(three_years):
    contract, officer = three_years.contract, three_years.officers[0]
    assert all(delivery.year_may_continue(contract, k) for k in (1, 2, 3))
    delivery.record_year_review(contract, year_index=1, passed=False, review_ref="review:7", actor=officer,
                                now=bj("2027-12-01"))
    db.session.commit()
    assert delivery.year_may_continue(contract, 1) and not delivery.year_may_continue(contract, 2)
    assert delivery.year_may_continue(contract, 3)  # year 2 has not been reviewed
    assert contract.status == ContractStatus.SIGNED  # nothing is terminated automatically
    for user in three_years.officers:
        (message,) = inbox(user, "Yearly review failed")
        assert "2028-01-01" in message.body and "review:7" in message.body
    assert not inbox(three_years.supplier, "Yearly review failed")
    years = delivery.years(contract)
    assert [(y.index, y.start, y.end, y.may_start) for y in years] == [
        (1, d("2027-01-01"), d("2027-12-31"), True), (2, d("2028-01-01"), d("2028-12-31"), False),
        (3, d("2029-01-01"), d("2029-12-31"), True)]
    assert years[0].review["passed"] is False and years[0].review["review"] == "review:7"
    # The contract is rectified and reviewed again: the latest outcome counts.
    delivery.record_year_review(contract, year_index=1, passed=True, review_ref="review:9", actor=officer,
                                now=bj("2027-12-20"))
    db.session.commit()
    assert delivery.year_may_continue(contract, 2)
    assert audit_actions("Contract", contract.id).count("contract.year_review") == 2


def test_the_last_years_review_has_no_next_year(three_years):
    delivery.record_year_review(three_years.contract, year_index=3, passed=False, review_ref="review:3",
                                actor=None, now=bj("2029-11-01"))
    db.session.commit()
    assert not inbox(three_years.officers[0], "Yearly review failed")
    with pytest.raises(DomainError, match="no year 4"):
        delivery.record_year_review(three_years.contract, year_index=4, passed=True, review_ref="x", actor=None,
                                    now=bj("2029-11-01"))
    with pytest.raises(DomainError, match="no year 0"):
        delivery.record_year_review(three_years.contract, year_index=0, passed=True, review_ref="x", actor=None,
                                    now=bj("2029-11-01"))


def test_reviews_of_one_contract_do_not_touch_another(three_years, city_bureau, create_user, now):
    other = signed_contract(city_bureau, create_user, now=now, months=36)
    delivery.record_year_review(other.contract, year_index=1, passed=False, review_ref="r", actor=None,
                                now=bj("2027-12-01"))
    db.session.commit()
    assert delivery.year_may_continue(three_years.contract, 2) and not delivery.year_may_continue(other.contract, 2)


def test_the_key_column_stays_within_its_length(three_years):
    three_years.contract.reminded = "sign20,signlate,filing,filinglate"
    db.session.commit()
    delivery.flag_late_reports(bj("2029-12-31"))
    delivery.expiry_reminders(bj("2029-12-31"))
    db.session.commit()
    assert len(three_years.contract.reminded) <= 200
    assert three_years.contract.reminded.startswith("sign20,signlate,filing,filinglate,")
