"""Challenges (质疑) of the result and complaints (投诉), RULES-CN G.32-G.33: the 7-working-day window after the
1-WD notice (also across the 2026 National Day holiday), the 7-WD answer with reminders, the answer to every
bidder, upheld challenges (re-evaluation or a new procurement), the contract gate (R54) and complaint records.

The open tender of tests/award_builders.py is awarded on Thursday 3 December 2026: its notice runs until Friday
4 December and the challenge period until Tuesday 15 December (7-11, 14, 15 December).
"""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import award as service
from portal.evaluation.models import AwardStatus, ChallengeStatus, PassOverReason, Remedy, ScoreSheet
from portal.extensions import db
from portal.files import UploadRejected
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.tenders.models import TenderStatus
from tests.award_builders import evaluated_open_tender, evaluated_single_source
from tests.files_support import ELF_BYTES, PNG_BYTES
from tests.support.web import bj

GROUNDS = "评审委员会对我单位服务方案的评分明显畸低，与评分标准不符，请求复核。"
ANSWER = "经组织原评标委员会复核，评分符合评分标准，质疑不成立。"

pytestmark = pytest.mark.usefixtures("english_messages")


AT = bj("2026-12-03")


@pytest.fixture
def ev(city_bureau, create_user, now):
    ev = evaluated_open_tender(city_bureau, create_user, now=now)
    for user in ev.officers + ev.suppliers:
        user.locale = "en"  # notification texts checked below in English, whatever the catalogues say
    db.session.commit()
    service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.commit()
    return ev


def challenge(ev, supplier: int = 1, at=bj("2026-12-07"), grounds=GROUNDS, evidence=None):
    filed = service.file_challenge(ev.tender, grounds=grounds, evidence=evidence, actor=ev.suppliers[supplier], now=at)
    db.session.commit()
    return filed


def inbox(user, since: datetime) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.created_at >= since)
                                   .order_by(Notification.id)))


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


# --- The window ---------------------------------------------------------------------------------------------


def test_challenge_window_is_open_until_the_end_of_the_last_day(ev):
    award = service.active_award(ev.tender)
    assert service.challenge_window(award, date(2026, 12, 15)) == (True, date(2026, 12, 15))
    assert service.challenge_window(award, date(2026, 12, 16)) == (False, date(2026, 12, 15))
    filed = challenge(ev, at=bj("2026-12-15", "23:59:59"))
    assert filed.received_on == date(2026, 12, 15) and filed.status == ChallengeStatus.OPEN
    with pytest.raises(DomainError, match="ended on 2026-12-15") as info:
        service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[0],
                               now=bj("2026-12-16", "00:00"))
    assert "2026-12-15" in str(info.value)


@pytest.mark.parametrize(("filed_on", "accepted"), [
    ("2026-10-13", True),  # the day before the last day
    ("2026-10-14", True),  # the last day
    ("2026-10-15", False),  # the day after
])
def test_challenge_window_across_the_national_day_holiday(city_bureau, create_user, filed_on, accepted):
    # Awarded Monday 28 September; the 1-WD notice ends Tuesday 29. The 7 WD: 30 Sep, then (1-7 Oct off) 8, 9,
    # 10 (Saturday worked, 调休), 12, 13, 14 October.
    ev = evaluated_open_tender(city_bureau, create_user, now=bj("2026-09-20"), report_at=bj("2026-09-24", "16:00"))
    award = service.confirm_award(ev.tender, actor=ev.officers[0], now=bj("2026-09-28"))
    db.session.commit()
    assert (award.notice_ends_on, award.challenge_last_day) == (date(2026, 9, 29), date(2026, 10, 14))
    at = bj(filed_on, "23:59:59" if accepted else "00:00")
    if accepted:
        filed = challenge(ev, at=at)
        # Answered within 7 WD of receipt (L53, 94-13); a complaint within 15 WD after that (L55, 94-17).
        expected_due = {"2026-10-13": date(2026, 10, 22), "2026-10-14": date(2026, 10, 23)}[filed_on]
        assert filed.answer_due == expected_due
        if filed_on == "2026-10-14":
            assert service.complaint_last_day(filed) == date(2026, 11, 13)
    else:
        with pytest.raises(DomainError, match="2026-10-14"):
            challenge(ev, at=at)


def test_challenge_refusals(ev, create_user, city_bureau, now):
    with pytest.raises(NotAllowed):  # a supplier that did not bid
        service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=create_user("supplier"), now=AT)
    with pytest.raises(NotAllowed):  # an officer
        service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.officers[0], now=AT)
    with pytest.raises(DomainError, match="at least 20"):
        service.file_challenge(ev.tender, grounds="评分不公" * 4, evidence=None, actor=ev.suppliers[0], now=AT)
    bad = FileStorage(io.BytesIO(ELF_BYTES), filename="evidence.pdf")
    with pytest.raises(UploadRejected, match="PDF, Word"):
        service.file_challenge(ev.tender, grounds=GROUNDS, evidence=bad, actor=ev.suppliers[0], now=AT)
    db.session.rollback()
    unawarded = evaluated_open_tender(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="once the result notice"):
        service.file_challenge(unawarded.tender, grounds=GROUNDS, evidence=None, actor=unawarded.suppliers[0],
                               now=AT)


def test_filed_challenge_with_evidence_tells_the_officers(ev):
    evidence = FileStorage(io.BytesIO(PNG_BYTES), filename="评分表照片.png")
    filed = challenge(ev, at=bj("2026-12-07"), evidence=evidence)
    assert filed.supplier_id == ev.suppliers[1].organisation_id and filed.filed_by_id == ev.suppliers[1].id
    assert filed.evidence_file.kind == "png" and filed.evidence_file.original_name == "评分表照片.png"
    assert filed.received_on == date(2026, 12, 7)
    assert filed.answer_due == date(2026, 12, 16)  # 7 WD after Monday 7 December: 8-11, 14-16
    assert filed.could_change_result
    for officer in ev.officers:
        [note] = inbox(officer, AT)
        assert note.link == f"/challenges/{filed.id}" and "2026-12-16" in note.body
    assert len(audited("challenge.filed")) == 1


def test_the_single_source_supplier_may_challenge(city_bureau, create_user, now):
    ev = evaluated_single_source(city_bureau, create_user, now=now)
    service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.commit()
    assert challenge(ev, supplier=0).supplier_id == ev.tender.single_source_supplier_id


# --- Reminders ----------------------------------------------------------------------------------------------


def test_reminders_as_the_answer_falls_due_then_overdue_once_a_day(ev):
    filed = challenge(ev)  # answer due Wednesday 16 December
    officer = ev.officers[0]
    start = bj("2026-12-08")

    def reminders():
        return [n.subject for n in inbox(officer, start)]

    assert service.remind_challenges(bj("2026-12-11")) == 0  # 3 WD to go (14, 15, 16)
    db.session.commit()
    assert reminders() == []
    assert service.remind_challenges(bj("2026-12-14", "08:00")) == 1  # 2 WD to go
    assert service.remind_challenges(bj("2026-12-14", "18:00")) == 0  # once a day
    db.session.commit()
    assert filed.reminded_on == date(2026, 12, 14)
    assert service.remind_challenges(bj("2026-12-16")) == 1  # the day it is due
    assert service.remind_challenges(bj("2026-12-17")) == 1  # overdue
    db.session.commit()
    subjects = reminders()
    assert len(subjects) == 3 and all(ev.tender.reference in s for s in subjects)
    assert [("overdue" in s) for s in subjects] == [False, False, True]
    service.answer_challenge(filed, upheld=False, remedy=None, answer=ANSWER, actor=officer, now=bj("2026-12-17"))
    db.session.commit()
    assert service.remind_challenges(bj("2026-12-18")) == 0  # answered: no more reminders


# --- Answers and remedies --------------------------------------------------------------------------------------


def test_answer_goes_to_the_challenger_and_the_other_bidders(ev):
    filed = challenge(ev)
    answered_at = bj("2026-12-09")
    service.answer_challenge(filed, upheld=False, remedy=Remedy.RETENDER, answer=ANSWER, actor=ev.officers[1],
                             now=answered_at)
    db.session.commit()
    assert filed.status == ChallengeStatus.REJECTED and filed.remedy is None and filed.answer == ANSWER
    assert (filed.answered_at, filed.answered_by_id) == (answered_at, ev.officers[1].id)
    [own] = inbox(ev.suppliers[1], answered_at)
    assert own.link == f"/challenges/{filed.id}" and ANSWER in own.body and "Your challenge" in own.body
    for other in (ev.suppliers[0], ev.suppliers[2]):
        [note] = inbox(other, answered_at)
        assert ANSWER in note.body and note.link == f"/tenders/{ev.tender.id}"
        assert ev.suppliers[1].organisation.name not in note.body
    assert service.active_award(ev.tender).status == AwardStatus.ACTIVE
    assert json_has(audited("challenge.answered")[0].new_values, "rejected")


def json_has(text: str, value: str) -> bool:
    return f'"{value}"' in text


def test_answer_refusals(ev, create_user, create_org, city_bureau):
    filed = challenge(ev)
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    with pytest.raises(NotAllowed):
        service.answer_challenge(filed, upheld=False, remedy=None, answer=ANSWER,
                                 actor=create_user("officer", organisation_id=district.id), now=AT)
    with pytest.raises(DomainError, match="Write the answer"):
        service.answer_challenge(filed, upheld=False, remedy=None, answer="不成立", actor=ev.officers[0], now=AT)
    with pytest.raises(DomainError, match="remedy"):
        service.answer_challenge(filed, upheld=True, remedy=None, answer=ANSWER, actor=ev.officers[0], now=AT)
    db.session.rollback()
    service.answer_challenge(filed, upheld=False, remedy=None, answer=ANSWER, actor=ev.officers[0], now=AT)
    db.session.commit()
    with pytest.raises(Conflict):
        service.answer_challenge(filed, upheld=True, remedy=Remedy.RETENDER, answer=ANSWER, actor=ev.officers[0],
                                 now=AT)


def test_upheld_for_re_evaluation_reopens_the_committee(ev):
    award = service.active_award(ev.tender)
    filed = challenge(ev)
    answered_at = bj("2026-12-10")
    service.answer_challenge(filed, upheld=True, remedy=Remedy.REEVALUATE, answer="质疑成立，由原评标委员会重新评审。",
                             actor=ev.officers[0], now=answered_at)
    db.session.commit()
    assert filed.status == ChallengeStatus.UPHELD and filed.remedy == Remedy.REEVALUATE
    assert award.status == AwardStatus.ANNULLED and award.annulled_at == answered_at
    assert ev.tender.status == TenderStatus.EVALUATING and service.active_award(ev.tender) is None
    committee = ev.committee
    assert committee.round == 2
    assert (committee.scoring_closed_at, committee.report_completed_at, committee.report_document_id) == (None,) * 3
    assert all(m.report_confirmed_at is None for m in committee.members)
    sheets = db.session.scalars(sa.select(ScoreSheet).where(ScoreSheet.committee_id == committee.id)).all()
    assert len(sheets) == 5 and all(s.submitted_at is not None for s in sheets)  # sheets stay submitted
    for expert in ev.experts:
        assert len(inbox(expert, answered_at)) == 1
    assert [n.subject.split(":")[0] for n in inbox(ev.suppliers[2], answered_at)] == [
        "Challenge answered", "Award annulled"]  # the former winner
    assert len(audited("committee.reopened")) == 1 and len(audited("award.annulled")) == 1
    with pytest.raises(DomainError):  # no award until the new report is confirmed
        service.confirm_award(ev.tender, actor=ev.officers[0], now=answered_at)


def test_upheld_for_a_new_procurement_fails_the_tender(ev):
    award = service.active_award(ev.tender)
    filed = challenge(ev)
    service.answer_challenge(filed, upheld=True, remedy=Remedy.RETENDER, answer="质疑成立，本项目重新开展采购活动。",
                             actor=ev.officers[0], now=bj("2026-12-10"))
    db.session.commit()
    assert award.status == AwardStatus.ANNULLED and ev.tender.status == TenderStatus.FAILED
    assert db.session.scalar(sa.select(Notice).where(Notice.tender_id == ev.tender.id,
                                                     Notice.kind == NoticeKind.FAILURE)) is not None


# --- The contract gate (L52, R54) -------------------------------------------------------------------------------


def test_contract_block_reason_in_each_state(ev, city_bureau, create_user, now):
    unawarded = evaluated_open_tender(city_bureau, create_user, now=now, experts=ev.experts)
    assert "no award" in service.contract_block_reason(unawarded.tender, bj("2026-12-20"))
    assert "2026-12-15" in service.contract_block_reason(ev.tender, bj("2026-12-15", "23:59"))  # window open
    assert service.contract_block_reason(ev.tender, bj("2026-12-16", "00:00")) is None  # window over, no challenge
    filed = challenge(ev, at=bj("2026-12-15"))
    assert "R54" in service.contract_block_reason(ev.tender, bj("2026-12-16"))  # open, could change the result
    with pytest.raises(DomainError, match="Explain"):
        service.mark_not_affecting(filed, reason="否", actor=ev.officers[0], now=bj("2026-12-16"))
    with pytest.raises(NotAllowed):
        service.mark_not_affecting(filed, reason="质疑事项不影响中标结果", actor=ev.suppliers[0], now=bj("2026-12-16"))
    db.session.rollback()
    service.mark_not_affecting(filed, reason="质疑事项仅涉及公告格式，不影响中标结果", actor=ev.officers[0],
                               now=bj("2026-12-16"))
    db.session.commit()
    assert not filed.could_change_result and filed.status == ChallengeStatus.OPEN
    assert "不影响中标结果" in audited("challenge.not_affecting")[0].new_values
    assert service.contract_block_reason(ev.tender, bj("2026-12-16")) is None
    with pytest.raises(Conflict):
        service.mark_not_affecting(filed, reason="再次记录不影响结果", actor=ev.officers[0], now=bj("2026-12-16"))


def test_contract_unblocked_once_the_challenge_is_answered(ev):
    filed = challenge(ev, at=bj("2026-12-14"))
    assert service.contract_block_reason(ev.tender, bj("2026-12-17")) is not None
    service.answer_challenge(filed, upheld=False, remedy=None, answer=ANSWER, actor=ev.officers[0],
                             now=bj("2026-12-17"))
    db.session.commit()
    assert service.contract_block_reason(ev.tender, bj("2026-12-17")) is None


# --- Complaints (投诉) ----------------------------------------------------------------------------------------


def test_record_a_complaint_and_its_outcome(ev):
    filed = challenge(ev)
    service.answer_challenge(filed, upheld=False, remedy=None, answer=ANSWER, actor=ev.officers[0],
                             now=bj("2026-12-09"))
    supplier_id = ev.suppliers[1].organisation_id
    complaint = service.record_complaint(ev.tender, challenge_id=filed.id, supplier_id=supplier_id,
                                         filed_on=date(2026, 12, 14), authority="",
                                         summary="对质疑答复不满意，向财政部门投诉", actor=ev.officers[0],
                                         now=bj("2026-12-15"))
    db.session.commit()
    assert complaint.authority == "郑州市财政局" and complaint.challenge_id == filed.id
    assert service.default_authority(ev.tender) == "郑州市财政局"
    assert service.complaint_last_day(filed) is None  # 15 WD after 16 December reach 2027, not yet entered
    with pytest.raises(DomainError, match="between"):
        service.record_complaint_outcome(complaint, outcome="投诉缺乏事实依据，驳回投诉", decided_on=date(2026, 12, 13),
                                         actor=ev.officers[0], now=bj("2026-12-28"))
    with pytest.raises(DomainError, match="between"):
        service.record_complaint_outcome(complaint, outcome="投诉缺乏事实依据，驳回投诉", decided_on=date(2026, 12, 29),
                                         actor=ev.officers[0], now=bj("2026-12-28"))
    db.session.rollback()
    service.record_complaint_outcome(complaint, outcome="投诉缺乏事实依据，驳回投诉", decided_on=date(2026, 12, 28),
                                     actor=ev.officers[0], now=bj("2026-12-28"))
    db.session.commit()
    assert complaint.decided_on == date(2026, 12, 28) and "驳回" in complaint.outcome
    with pytest.raises(Conflict):
        service.record_complaint_outcome(complaint, outcome="再次记录结果", decided_on=date(2026, 12, 28),
                                         actor=ev.officers[0], now=bj("2026-12-28"))
    assert [len(audited(a)) for a in ("complaint.recorded", "complaint.decided")] == [1, 1]


def test_complaint_refusals(ev, create_user):
    filed = challenge(ev)
    officer, today = ev.officers[0], bj("2026-12-15")
    values = dict(challenge_id=None, supplier_id=ev.suppliers[1].organisation_id, filed_on=date(2026, 12, 14),
                  authority="河南省财政厅", summary="对质疑答复不满意")
    with pytest.raises(NotAllowed):
        service.record_complaint(ev.tender, **values, actor=ev.suppliers[1], now=today)
    with pytest.raises(DomainError, match="future"):
        service.record_complaint(ev.tender, **values | {"filed_on": date(2026, 12, 16)}, actor=officer, now=today)
    with pytest.raises(DomainError, match="took part"):
        service.record_complaint(ev.tender, **values | {"supplier_id": create_user("supplier").organisation_id},
                                 actor=officer, now=today)
    with pytest.raises(DomainError, match="challenges"):  # another supplier's challenge
        service.record_complaint(ev.tender, **values | {"challenge_id": filed.id,
                                                        "supplier_id": ev.suppliers[0].organisation_id},
                                 actor=officer, now=today)
    db.session.rollback()
    complaint = service.record_complaint(ev.tender, **values, actor=officer, now=today)
    assert complaint.authority == "河南省财政厅"


# --- Review fixes: challenges that outlive their award, complaints out of time ------------------------------------


def _replace_the_award(ev, at=bj("2026-12-08")):
    """The winner declines: its award is annulled and the next candidate is awarded (a new notice)."""
    first = service.active_award(ev.tender)
    service.pass_over(ev.tender, supplier_id=first.supplier_id, reason=PassOverReason.DECLINED, note="拒绝签订合同",
                      actor=ev.officers[0], now=at)
    second = service.confirm_award(ev.tender, actor=ev.officers[0], now=at)
    db.session.commit()
    return first, second


def test_a_challenge_of_an_earlier_award_still_blocks_the_contract(ev):
    filed = challenge(ev, supplier=1, at=bj("2026-12-07"))
    first, second = _replace_the_award(ev)
    assert filed.award_id == first.id and second.challenge_last_day == date(2026, 12, 18)
    assert "R54" in service.contract_block_reason(ev.tender, bj("2026-12-21"))  # the earlier challenge is open
    service.mark_not_affecting(filed, reason="质疑针对已撤销的中标结果，不影响现结果", actor=ev.officers[0],
                               now=bj("2026-12-21"))
    db.session.commit()
    assert service.contract_block_reason(ev.tender, bj("2026-12-21")) is None


def test_upholding_a_challenge_of_an_annulled_award_re_evaluates_the_current_one(ev):
    filed = challenge(ev, supplier=1, at=bj("2026-12-07"))
    first, second = _replace_the_award(ev)
    answered_at = bj("2026-12-10")
    service.answer_challenge(filed, upheld=True, remedy=Remedy.REEVALUATE, answer="质疑成立，由原评标委员会重新评审。",
                             actor=ev.officers[0], now=answered_at)
    db.session.commit()
    assert second.status == AwardStatus.ANNULLED and first.status == AwardStatus.ANNULLED
    assert service.active_award(ev.tender) is None and ev.tender.status == TenderStatus.EVALUATING
    assert ev.committee.round == 2 and ev.committee.report_completed_at is None
    # The members are sent to the evaluation itself.
    assert [n.link for n in inbox(ev.experts[0], answered_at)] == [f"/tenders/{ev.tender.id}/evaluation"]


def test_upholding_a_challenge_of_an_annulled_award_with_a_new_procurement_annuls_the_current_one(ev):
    filed = challenge(ev, supplier=1, at=bj("2026-12-07"))
    _first, second = _replace_the_award(ev)
    service.answer_challenge(filed, upheld=True, remedy=Remedy.RETENDER, answer="质疑成立，本项目重新开展采购活动。",
                             actor=ev.officers[0], now=bj("2026-12-10"))
    db.session.commit()
    assert second.status == AwardStatus.ANNULLED and ev.tender.status == TenderStatus.FAILED
    assert service.active_award(ev.tender) is None


def test_no_re_evaluation_once_the_procurement_has_failed(ev):
    filed = challenge(ev, supplier=1)
    other = challenge(ev, supplier=0)
    service.answer_challenge(filed, upheld=True, remedy=Remedy.RETENDER, answer="质疑成立，本项目重新开展采购活动。",
                             actor=ev.officers[0], now=bj("2026-12-10"))
    db.session.commit()
    with pytest.raises(Conflict, match="no longer be evaluated again"):
        service.answer_challenge(other, upheld=True, remedy=Remedy.REEVALUATE, answer="质疑成立，重新评审。",
                                 actor=ev.officers[0], now=bj("2026-12-10"))
    db.session.rollback()
    service.answer_challenge(other, upheld=True, remedy=Remedy.RETENDER, answer="质疑成立，已重新开展采购活动。",
                             actor=ev.officers[0], now=bj("2026-12-10"))
    assert ev.tender.status == TenderStatus.FAILED


def test_a_complaint_after_its_15_working_days_is_refused(city_bureau, create_user):
    # Awarded Monday 28 September; a challenge filed on 14 October is to be answered by 23 October, and a complaint
    # (投诉) may follow until 13 November (L55, 94-17).
    ev = evaluated_open_tender(city_bureau, create_user, now=bj("2026-09-20"), report_at=bj("2026-09-24", "16:00"))
    service.confirm_award(ev.tender, actor=ev.officers[0], now=bj("2026-09-28"))
    filed = challenge(ev, at=bj("2026-10-14"))
    assert service.complaint_last_day(filed) == date(2026, 11, 13)
    values = dict(challenge_id=filed.id, supplier_id=filed.supplier_id, authority="", summary="对质疑答复不满意")
    with pytest.raises(DomainError, match="until 2026-11-13") as refused:
        service.record_complaint(ev.tender, **values, filed_on=date(2026, 11, 16), actor=ev.officers[0],
                                 now=bj("2026-11-20"))
    assert "out of time" in str(refused.value)
    db.session.rollback()
    complaint = service.record_complaint(ev.tender, **values, filed_on=date(2026, 11, 13), actor=ev.officers[0],
                                         now=bj("2026-11-20"))
    assert complaint.filed_on == date(2026, 11, 13)
