"""The NGO's evidence for a review (issue 7, item 3): files checked by content, added until the grade and removed
only before the review starts; who may read them (the parties, the overseers, the declared reviewers: case files
hold personal data of service users); the self-assessment; satisfaction surveys and their rate.

The review (tests/review_builders.py) is a mid-term review of a contract of a district bureau under the city bureau,
running through 2027. Surveys are entered in March 2027.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.errors import DomainError, NotAllowed
from portal.extensions import db
from portal.files import UploadRejected
from portal.reviews import evidence
from portal.reviews.models import Evidence, EvidenceKind, ReviewerStatus, ReviewStatus, SatisfactionSurvey
from tests.files_support import DOCX_BYTES, ELF_BYTES, JPEG_BYTES, PDF_BYTES, PNG_BYTES, XLSX_BYTES, zip_bytes
from tests.review_builders import add_reviewers, planned_review
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

MARCH = bj("2027-03-10")
SELF = "本期完成入户探访612人次、个案服务18个，服务目标基本达成，志愿者培训尚有不足。"


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def built(district, create_user, now):
    return planned_review(district, create_user, now=now)


def upload(data: bytes = PDF_BYTES, name: str = "活动记录.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def add(built, *, kind=EvidenceKind.ACTIVITY, data=PDF_BYTES, name="活动记录.pdf", note="", actor=None, now=MARCH):
    item = evidence.upload_evidence(built.review, kind=kind, upload=upload(data, name), note=note,
                                    actor=actor or built.supplier, now=now)
    db.session.commit()
    return item


def set_status(review, status: str, **values) -> None:
    review.status = status
    for name, value in values.items():
        setattr(review, name, value)
    db.session.commit()


def grade(review) -> None:
    set_status(review, ReviewStatus.GRADED, score=Decimal("72.50"), grade="pass", graded_at=MARCH)


def audit_of(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)))


# --- Uploading --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "name"), [
    (PDF_BYTES, "自评报告.pdf"), (PNG_BYTES, "照片.png"), (JPEG_BYTES, "照片.jpg"), (DOCX_BYTES, "个案.docx"),
    (XLSX_BYTES, "财务报表.xlsx"), (zip_bytes({"a.txt": b"x"}), "档案.zip")])
def test_the_ngo_uploads_each_accepted_kind_of_file(built, data, name):
    item = add(built, data=data, name=name, note="  第一季度  活动 ")
    assert item.review_id == built.review.id and item.file.original_name == name
    assert item.note == "第一季度 活动" and item.uploaded_by_id == built.supplier.id and item.uploaded_at == MARCH
    [entry] = audit_of("review.evidence_added")
    assert json.loads(entry.new_values)["sha256"] == item.file.sha256


def test_evidence_is_checked_by_content_not_by_name(built):
    with pytest.raises(UploadRejected):
        add(built, data=ELF_BYTES, name="活动记录.pdf")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 0


def test_evidence_is_added_while_under_review_too(built):
    set_status(built.review, ReviewStatus.STARTED, started_at=MARCH)
    assert add(built).id


@pytest.mark.parametrize("status", [ReviewStatus.GRADED, ReviewStatus.CANCELLED])
def test_no_evidence_once_graded_or_cancelled(built, status):
    grade(built.review) if status == ReviewStatus.GRADED else set_status(built.review, status)
    with pytest.raises(DomainError, match="graded or cancelled"):
        add(built)


def test_only_the_ngo_uploads_evidence(built, create_user):
    for outsider in (built.officer, create_user("supplier")):
        with pytest.raises(NotAllowed, match="Only the contracted organisation"):
            add(built, actor=outsider)
        db.session.rollback()


@pytest.mark.parametrize(("values", "message"), [
    ({"kind": "diary"}, "Choose the kind of evidence"),
    ({"note": "说" * 201}, "at most 200 characters"),
])
def test_upload_refuses_bad_input(built, values, message):
    with pytest.raises(DomainError, match=message):
        add(built, **values)


def test_upload_needs_a_file(built):
    with pytest.raises(DomainError, match="Choose a file"):
        evidence.upload_evidence(built.review, kind=EvidenceKind.CASE, upload=None, actor=built.supplier, now=MARCH)


# --- Removing ---------------------------------------------------------------------------------------------------------


def test_the_ngo_removes_evidence_before_the_review_starts(built):
    item = add(built)
    evidence.remove_evidence(item, actor=built.supplier, now=MARCH)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 0
    [entry] = audit_of("review.evidence_removed")
    assert json.loads(entry.old_values)["file"] == "活动记录.pdf"


def test_evidence_stays_once_the_review_has_started(built):
    item = add(built)
    set_status(built.review, ReviewStatus.STARTED, started_at=MARCH)
    with pytest.raises(DomainError, match="only before the review starts"):
        evidence.remove_evidence(item, actor=built.supplier, now=MARCH)


def test_nobody_else_removes_the_ngos_evidence(built, create_user):
    item = add(built)
    for outsider in (built.officer, create_user("supplier")):
        with pytest.raises(NotAllowed):
            evidence.remove_evidence(item, actor=outsider, now=MARCH)
        db.session.rollback()


# --- Who reads it -------------------------------------------------------------------------------------------------


def test_the_parties_the_overseers_and_the_declared_reviewers_read_the_evidence(built, create_user, create_org):
    declared, undeclared, withdrawn = (add_reviewers(built, 1, now=MARCH, create_user=create_user,
                                                     declared=flag)[0] for flag in (True, False, True))
    withdrawn.status = ReviewerStatus.WITHDRAWN
    db.session.commit()
    review = built.review
    readers = [built.supplier, built.officers[0], built.officers[1], create_user("officer"),  # the city bureau
               create_user("admin"), declared.user]
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    outsiders = [undeclared.user, withdrawn.user, create_user("supplier"), create_user("evaluator"),
                 create_user("officer", organisation_id=other_city.id)]
    assert [evidence.can_read_evidence(review, u) for u in readers] == [True] * len(readers)
    assert [evidence.can_read_evidence(review, u) for u in outsiders] == [False] * len(outsiders)


def test_an_officer_of_a_sibling_district_does_not_read_the_evidence(built, create_user, create_org, city_bureau):
    sibling = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    assert not evidence.can_read_evidence(built.review, create_user("officer", organisation_id=sibling.id))


# --- The self-assessment ----------------------------------------------------------------------------------------------


def test_the_ngo_writes_and_rewrites_its_self_assessment(built):
    evidence.save_self_assessment(built.review, text=f"  {SELF}  ", actor=built.supplier, now=MARCH)
    db.session.commit()
    assert built.review.self_assessment == SELF and built.review.self_assessed_at == MARCH
    later = bj("2027-03-12")
    evidence.save_self_assessment(built.review, text=SELF + "补充：志愿者培训已安排。", actor=built.supplier, now=later)
    db.session.commit()
    entries = audit_of("review.self_assessed")
    assert len(entries) == 2
    assert json.loads(entries[1].old_values)["self_assessment"] == SELF
    assert built.review.self_assessed_at == later


def test_the_self_assessment_is_refused_when_short_by_others_or_after_the_grade(built):
    with pytest.raises(DomainError, match="at least 20 characters"):
        evidence.save_self_assessment(built.review, text="很好。", actor=built.supplier, now=MARCH)
    with pytest.raises(NotAllowed):
        evidence.save_self_assessment(built.review, text=SELF, actor=built.officer, now=MARCH)
    db.session.rollback()
    grade(built.review)
    with pytest.raises(DomainError, match="graded or cancelled"):
        evidence.save_self_assessment(built.review, text=SELF, actor=built.supplier, now=MARCH)


# --- Satisfaction surveys ------------------------------------------------------------------------------------------


def survey(built, *, actor=None, now=MARCH, **values) -> SatisfactionSurvey:
    fields = {"title": "一季度服务对象满意度调查", "surveyed_on": date(2027, 3, 5), "method": "问卷",
              "respondents": 50, "satisfied": 40} | values
    made = evidence.add_survey(built.review, actor=actor or built.supplier, now=now, **fields)
    db.session.commit()
    return made


def test_the_ngo_and_the_officer_enter_surveys_and_the_rate_covers_them_all(built):
    assert evidence.satisfaction(built.review) is None
    first = survey(built)
    second = survey(built, actor=built.officer, title="电话回访", method="电话回访", respondents=30, satisfied=29)
    db.session.refresh(built.review)
    assert [s.id for s in built.review.surveys] == [first.id, second.id]
    assert evidence.satisfaction(built.review) == Decimal("86.25")  # 69 of 80
    assert second.entered_by_id == built.officer.id and second.entered_at == MARCH
    assert len(audit_of("review.survey_added")) == 2


def test_a_survey_with_everyone_satisfied_or_no_one(built):
    survey(built, respondents=12, satisfied=12)
    survey(built, respondents=8, satisfied=0)
    db.session.refresh(built.review)
    assert evidence.satisfaction(built.review) == Decimal("60.00")


@pytest.mark.parametrize(("values", "message"), [
    ({"respondents": 0, "satisfied": 0}, "at least one respondent"),
    ({"respondents": None}, "at least one respondent"),
    ({"respondents": 10, "satisfied": 11}, "from 0 to the number of respondents \\(10\\)"),
    ({"satisfied": -1}, "from 0 to the number of respondents"),
    ({"surveyed_on": date(2027, 3, 11)}, "cannot be in the future"),
    ({"surveyed_on": date(2026, 12, 31)}, "before the contract's term starts \\(2027-01-01\\)"),
    ({"title": "  "}, "Name the survey"),
    ({"method": "问" * 201}, "method is at most 200"),
])
def test_a_survey_is_refused_with_bad_figures_or_dates(built, values, message):
    with pytest.raises(DomainError, match=message):
        survey(built, **values)


def test_a_survey_on_the_day_itself_is_accepted(built):
    assert survey(built, surveyed_on=date(2027, 3, 10)).id  # today in Beijing


def test_other_bureaus_and_ngos_enter_no_survey(built, create_user):
    for outsider in (create_user("officer"), create_user("supplier"), create_user("evaluator")):
        with pytest.raises(NotAllowed):
            survey(built, actor=outsider)
        db.session.rollback()


def test_no_survey_once_graded(built):
    grade(built.review)
    with pytest.raises(DomainError, match="graded or cancelled"):
        survey(built)


def test_the_ngo_withdraws_its_own_survey_before_the_review_starts(built):
    own = survey(built)
    evidence.remove_survey(own, actor=built.supplier, now=MARCH)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(SatisfactionSurvey.id))) == 0
    [entry] = audit_of("review.survey_removed")
    assert json.loads(entry.old_values)["respondents"] == 50


def test_the_ngo_cannot_withdraw_the_officers_survey_nor_its_own_once_started(built):
    officers = survey(built, actor=built.officer)
    with pytest.raises(DomainError, match="can no longer be removed"):
        evidence.remove_survey(officers, actor=built.supplier, now=MARCH)
    db.session.rollback()
    own = survey(built)
    set_status(built.review, ReviewStatus.STARTED, started_at=MARCH)
    with pytest.raises(DomainError, match="can no longer be removed"):
        evidence.remove_survey(own, actor=built.supplier, now=MARCH)


def test_the_officer_corrects_any_survey_until_the_grade(built, create_user):
    own = survey(built)
    other = survey(built, title="入户访谈")
    set_status(built.review, ReviewStatus.STARTED, started_at=MARCH)
    with pytest.raises(NotAllowed):
        evidence.remove_survey(own, actor=create_user("supplier"), now=MARCH)
    db.session.rollback()
    evidence.remove_survey(own, actor=built.officer, now=MARCH)
    db.session.commit()
    grade(built.review)
    assert not evidence.can_remove_survey(other, built.officer)
    with pytest.raises(DomainError, match="can no longer be removed"):
        evidence.remove_survey(other, actor=built.officer, now=MARCH)
