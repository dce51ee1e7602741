"""Commendations (issue 8 item 2): candidates by rule (NGOs, projects, bureaus), the officer's choice among them, the
公示 of 5 working days with public comments and their answers, withdrawal, confirmation with the final notice, and
the certificates (荣誉证书).

The 公示 at its boundaries: publicised on Wednesday 30 September 2026, the National Day holiday (1-7 October) does
not count, 8 and 9 October and the working Saturday 10 October (调休) do: the fifth working day is Tuesday 13 October,
the last day of comment; the list can be confirmed from Wednesday 14 October.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.assessment import commendations
from portal.assessment.models import (
    Assessment,
    AssessmentStatus,
    Commendation,
    CommendationList,
    ListStatus,
    PublicComment,
    SubjectKind,
)
from portal.audit import AuditEntry
from portal.calendar import CalendarYearMissing
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.reviews import grading
from portal.reviews.rules import Grade, ReviewKind
from tests.commendation_builders import (
    confirmed_assessment,
    confirmed_list,
    day_after_publicity,
    district,
    draft_list,
    excellent_ngo,
    excellent_project,
    graded_review,
    publicised_list,
    terminate,
    uphold_challenge,
)
from tests.review_builders import score_all, started_review
from tests.support.concurrency import postgresql_only, run_concurrently
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

PUBLICISED_AT = bj("2026-09-30")
LAST_DAY = date(2026, 10, 13)


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def pdftotext(data: bytes, tmp_path) -> str:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


def keys(city, year: int = 2026) -> list[str]:
    return [c.key for c in commendations.candidates(city, year)]


@pytest.fixture
def officer(create_user):
    user = create_user("officer")
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def ngo(city_bureau, create_user):
    return excellent_ngo(city_bureau, create_user, year=2026)


def comment(lst, *, at, text="该机构年度内曾有服务对象投诉未处理，请核实。"):
    made = commendations.add_public_comment(lst, name="李四", contact="13800000000", text=text, now=at)
    db.session.commit()
    return made


# --- Candidates by rule ----------------------------------------------------------------------------------------------


def test_an_ngo_with_every_review_good_or_better_and_one_excellent_is_a_candidate_with_its_figures(
        city_bureau, create_user, ngo):
    [candidate] = commendations.candidates(city_bureau, 2026)
    assert candidate.key == ngo.key and candidate.subject == SubjectKind.NGO
    assert candidate.organisation_id == ngo.organisation.id and candidate.name == ngo.organisation.name
    assert candidate.rule == commendations.RULE_NGO
    assert "完成绩效评估2次，其中优秀1次、良好1次，平均得分89.25分" in candidate.reason  # (93.50 + 85.00) / 2
    assert "无合同被终止，无质疑成立" in candidate.reason
    assert [path for _label, path in candidate.sources] == [f"/reviews/{r.review.id}" for r in ngo.reviews]


@pytest.mark.parametrize("grades", [(Grade.GOOD, Grade.GOOD), (Grade.EXCELLENT, Grade.PASS),
                                    (Grade.EXCELLENT, Grade.FAIL)])
def test_an_ngo_without_an_excellent_or_with_a_review_below_good_is_not_a_candidate(city_bureau, create_user, grades):
    excellent_ngo(city_bureau, create_user, year=2026, grades=grades)
    assert keys(city_bureau) == []


def test_only_reviews_graded_in_the_beijing_year_on_the_city_and_its_districts_count(city_bureau, create_org,
                                                                                     create_user):
    own_district = district(create_org, city_bureau)
    on_district = excellent_ngo(own_district, create_user, year=2026, grades=(Grade.EXCELLENT,))
    other_city = create_org("bureau", name="洛阳市民政局", level="city")
    excellent_ngo(other_city, create_user, year=2026, grades=(Grade.EXCELLENT,))
    # 23:30 on 31 December in Beijing is still 2026; 00:30 on 1 January is 2027 (though 2026 in UTC).
    late = graded_review(city_bureau, create_user, grade=Grade.EXCELLENT, graded_at=bj("2026-12-31", "23:30"))
    early = graded_review(city_bureau, create_user, grade=Grade.EXCELLENT, graded_at=bj("2027-01-01", "00:30"))
    assert early.review.graded_at.year == 2026  # in UTC
    assert set(keys(city_bureau)) == {on_district.key, f"ngo:{late.contract.supplier_id}"}
    assert keys(city_bureau, 2027) == [f"ngo:{early.contract.supplier_id}"]
    assert keys(other_city) != [] and on_district.key not in keys(other_city)


def test_a_termination_or_an_upheld_challenge_in_the_year_rules_an_ngo_out(city_bureau, create_user, ngo):
    second = excellent_ngo(city_bureau, create_user, year=2026)
    third = excellent_ngo(city_bureau, create_user, year=2026)
    terminate(ngo.first.contract, on=bj("2026-08-01"))
    challenger = create_user("supplier")
    uphold_challenge(second.first.contract_built.award, challenger, answered_at=bj("2026-05-10"))
    # The year before does not count.
    uphold_challenge(third.first.contract_built.award, challenger, answered_at=bj("2025-12-31", "12:00"))
    assert keys(city_bureau) == [third.key]


def test_a_project_whose_latest_final_review_of_the_year_is_excellent_is_a_candidate_for_its_ngo(city_bureau,
                                                                                                 create_user):
    built = excellent_project(city_bureau, create_user, year=2026)
    good = excellent_project(city_bureau, create_user, year=2026, grade=Grade.GOOD)
    # A later final review of the same project, graded 良好, replaces an earlier 优秀.
    replaced = excellent_project(city_bureau, create_user, year=2026)
    graded_review(city_bureau, create_user, grade=Grade.GOOD, graded_at=bj("2026-12-01"), kind="final", on=replaced)
    project_keys = [c for c in commendations.candidates(city_bureau, 2026) if c.subject == SubjectKind.PROJECT]
    [candidate] = project_keys
    project = built.contract.tender.project
    assert candidate.key == f"project:{project.id}" and candidate.project_id == project.id
    assert candidate.organisation_id == built.contract.supplier_id and candidate.contract_id == built.contract.id
    assert "末期效果评估于2026-11-20评定，得分93.50分，等次优秀" in candidate.reason
    assert built.contract.reference in candidate.reason
    assert good.contract.tender.project_id != candidate.project_id


def test_reviews_graded_by_the_grading_service_make_the_candidates(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, kind=ReviewKind.FINAL)
    score_all(built.review, [95, 92], now=now)
    grading.finalise(built.review, actor=built.officer, now=now + timedelta(hours=2))
    db.session.commit()
    assert (built.review.grade, built.review.score) == (Grade.EXCELLENT, Decimal("93.50"))
    found = {c.subject: c for c in commendations.candidates(city_bureau, 2026)}
    assert found[SubjectKind.NGO].key == f"ngo:{built.contract.supplier_id}"
    assert "其中优秀1次，平均得分93.50分" in found[SubjectKind.NGO].reason
    assert found[SubjectKind.PROJECT].key == f"project:{built.contract.tender.project_id}"


def test_a_midterm_review_makes_no_project_candidate(city_bureau, create_user):
    graded_review(city_bureau, create_user, grade=Grade.EXCELLENT, graded_at=bj("2026-06-01"))
    assert [c.subject for c in commendations.candidates(city_bureau, 2026)] == [SubjectKind.NGO]


def test_a_district_bureau_graded_excellent_in_its_confirmed_assessment_is_a_candidate(city_bureau, create_org):
    excellent = district(create_org, city_bureau, "金水区民政局")
    good = district(create_org, city_bureau, "二七区民政局")
    drafted = district(create_org, city_bureau, "中原区民政局")
    earlier = district(create_org, city_bureau, "管城区民政局")
    confirmed_assessment(city_bureau, excellent, year=2026, score=Decimal("92.40"))
    confirmed_assessment(city_bureau, good, year=2026, grade=Grade.GOOD)
    confirmed_assessment(city_bureau, earlier, year=2025)
    db.session.add(Assessment(year=2026, city_id=city_bureau.id, organisation_id=drafted.id, kind=SubjectKind.BUREAU,
                              status=AssessmentStatus.DRAFT, score=Decimal("95"), grade=Grade.EXCELLENT))
    db.session.commit()
    [candidate] = commendations.candidates(city_bureau, 2026)
    assert candidate.key == f"bureau:{excellent.id}" and candidate.rule == commendations.RULE_BUREAU
    assert candidate.reason == "2026年度考核得分92.40分，考核等次为优秀。"


# --- The draft list ----------------------------------------------------------------------------------------------


def test_only_a_city_officer_opens_one_list_per_year(city_bureau, create_org, create_user, officer, now):
    lst = commendations.create_list(city_bureau, 2026, actor=officer, now=now)
    db.session.commit()
    assert (lst.status, lst.title, lst.year) == (ListStatus.DRAFT, "郑州市民政局2026年度社会工作服务表彰", 2026)
    assert [e.new_values for e in audited("commendation_list.created")]
    with pytest.raises(Conflict, match="already exists"):
        commendations.create_list(city_bureau, 2026, actor=officer, now=now)
    with pytest.raises(DomainError, match="to the current year"):
        commendations.create_list(city_bureau, 2027, actor=officer, now=now)
    own = district(create_org, city_bureau)
    for outsider in (create_user("officer", organisation_id=own.id), create_user("supplier"), create_user("admin")):
        with pytest.raises(NotAllowed):
            commendations.create_list(city_bureau, 2025, actor=outsider, now=now)
    with pytest.raises(NotAllowed):  # a district officer cannot open a list of its own bureau either
        commendations.create_list(own, 2025, actor=create_user("officer", organisation_id=own.id), now=now)


def test_the_officer_adds_only_candidates_by_rule_with_a_level_and_the_rules_reason(city_bureau, create_user, ngo,
                                                                                    officer, now):
    not_candidate = excellent_ngo(city_bureau, create_user, year=2026, grades=(Grade.GOOD,))
    lst = commendations.create_list(city_bureau, 2026, actor=officer, now=now)
    entry = commendations.add_commendation(lst, key=ngo.key, level="first", actor=officer, now=now)
    db.session.commit()
    assert (entry.subject, entry.organisation_id, entry.level, entry.rule) == (
        SubjectKind.NGO, ngo.organisation.id, "first", commendations.RULE_NGO)
    assert entry.reason.startswith("2026年度在郑州市民政局及所辖区县")
    with pytest.raises(Conflict, match="already on the list"):
        commendations.add_commendation(lst, key=ngo.key, level="second", actor=officer, now=now)
    with pytest.raises(DomainError, match="Only a candidate proposed by the rules for 2026"):
        commendations.add_commendation(lst, key=not_candidate.key, level="second", actor=officer, now=now)
    with pytest.raises(DomainError, match="Only a candidate"):
        commendations.add_commendation(lst, key="ngo:999999", level="second", actor=officer, now=now)
    with pytest.raises(DomainError, match="level"):
        commendations.add_commendation(lst, key=ngo.key, level="gold", actor=officer, now=now)
    with pytest.raises(NotAllowed):
        commendations.add_commendation(lst, key=ngo.key, level="first", actor=ngo.first.supplier, now=now)
    assert len(audited("commendation.added")) == 1


def test_a_written_reason_replaces_the_rules_and_is_limited(city_bureau, ngo, officer, now):
    lst = commendations.create_list(city_bureau, 2026, actor=officer, now=now)
    with pytest.raises(DomainError, match="at most 1000"):
        commendations.add_commendation(lst, key=ngo.key, level="second", reason="事" * 1001, actor=officer, now=now)
    entry = commendations.add_commendation(lst, key=ngo.key, level="second", reason="  深耕社区养老服务。 ",
                                           actor=officer, now=now)
    assert entry.reason == "深耕社区养老服务。"


def test_an_entry_is_removed_only_from_a_draft(city_bureau, ngo, officer):
    lst = draft_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    entry = lst.commendations[0]
    commendations.remove_commendation(entry, actor=officer, now=PUBLICISED_AT)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Commendation.id))) == 0
    assert audited("commendation.removed")[0].old_values
    commendations.add_commendation(lst, key=ngo.key, level="second", actor=officer, now=PUBLICISED_AT)
    commendations.publicise(lst, actor=officer, now=PUBLICISED_AT)
    db.session.commit()
    with pytest.raises(Conflict, match="while the list is a draft"):
        commendations.remove_commendation(lst.commendations[0], actor=officer, now=PUBLICISED_AT)
    with pytest.raises(Conflict, match="while the list is a draft"):
        commendations.add_commendation(lst, key=ngo.key, level="second", actor=officer, now=PUBLICISED_AT)


# --- The 公示 -----------------------------------------------------------------------------------------------------


def test_publicising_publishes_the_notice_and_opens_five_working_days_over_the_national_day(city_bureau, create_org,
                                                                                           create_user, ngo, officer):
    bureau = district(create_org, city_bureau)
    confirmed_assessment(city_bureau, bureau, year=2026)
    project = excellent_project(city_bureau, create_user, year=2026)
    lst = draft_list(city_bureau, officer, [ngo.key, f"bureau:{bureau.id}",
                                            f"project:{project.contract.tender.project_id}"], at=PUBLICISED_AT)
    commendations.publicise(lst, actor=officer, now=PUBLICISED_AT)
    db.session.commit()
    assert lst.status == ListStatus.PUBLICISED and lst.publicised_at == PUBLICISED_AT
    assert lst.publicity_ends_on == LAST_DAY  # 8, 9, 10 (调休 Saturday), 12, 13 October
    notice = lst.publicity_notice
    assert notice.kind == NoticeKind.COMMENDATION and notice.title == "郑州市民政局2026年度社会工作服务表彰名单公示"
    assert notice.runs_until == LAST_DAY and notice.document is not None
    assert "公示期：2026-09-30至2026-10-13（5个工作日）" in notice.body
    assert f"/assessment/public/commendations/{lst.id}" in notice.body
    lines = [p for p in notice.paragraphs if p[:2] in ("1.", "2.", "3.")]
    assert lines[0].startswith(f"1. {ngo.organisation.name}（社会工作服务机构，二等）：2026年度")
    assert lines[1].startswith(f"2. {project.contract.tender.project.title}（{project.contract.supplier.name}）"
                               "（社会工作服务项目，二等）")
    assert lines[2].startswith(f"3. {bureau.name}（区县民政部门，二等）：2026年度考核得分")
    assert audited("commendation_list.publicised")[0].new_values
    with pytest.raises(Conflict, match="already been publicised"):
        commendations.publicise(lst, actor=officer, now=PUBLICISED_AT)


def test_a_list_publicised_on_a_friday_runs_over_the_weekend(city_bureau, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=bj("2026-11-27"))
    assert lst.publicity_ends_on == date(2026, 12, 4)  # Mon 30 Nov to Fri 4 Dec


def test_a_list_is_publicised_with_entries_still_proposed_by_the_rules(city_bureau, ngo, officer):
    lst = commendations.create_list(city_bureau, 2026, actor=officer, now=PUBLICISED_AT)
    with pytest.raises(DomainError, match="at least one"):
        commendations.publicise(lst, actor=officer, now=PUBLICISED_AT)
    commendations.add_commendation(lst, key=ngo.key, level="third", actor=officer, now=PUBLICISED_AT)
    ngo.reviews[1].review.grade = Grade.PASS  # re-graded after an appeal, say
    db.session.commit()
    with pytest.raises(DomainError, match=f"No longer proposed by the rules .*{ngo.organisation.name}.* Remove"):
        commendations.publicise(lst, actor=officer, now=PUBLICISED_AT)


def test_a_publicity_period_reaching_a_year_nobody_entered_is_refused(city_bureau, ngo, officer):
    lst = draft_list(city_bureau, officer, [ngo.key], at=bj("2026-12-28"))
    with pytest.raises(CalendarYearMissing, match="2027"):
        commendations.publicise(lst, actor=officer, now=bj("2026-12-28"))


def test_anyone_comments_up_to_the_last_day_of_the_publicity_and_not_after(city_bureau, ngo, officer):
    draft = draft_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    with pytest.raises(DomainError, match="only during the public comment period"):
        comment(draft, at=PUBLICISED_AT)
    lst = commendations.publicise(draft, actor=officer, now=PUBLICISED_AT)
    db.session.commit()
    comment(lst, at=bj("2026-10-03"))  # a holiday: comments are taken every day of the period
    made = comment(lst, at=bj("2026-10-13", "23:59"))
    assert (made.name, made.contact, made.list_id) == ("李四", "13800000000", lst.id)
    with pytest.raises(DomainError, match="which ended on 2026-10-13"):
        comment(lst, at=bj("2026-10-14", "00:00"))
    assert db.session.scalar(sa.select(sa.func.count(PublicComment.id))) == 2
    assert len(audited("commendation_list.comment_received")) == 2
    assert audited("commendation_list.comment_received")[0].actor_id is None
    assert [n.subject for n in inbox(officer)] == [
        "A comment on the commendation list 郑州市民政局2026年度社会工作服务表彰"] * 2


@pytest.mark.parametrize(("name", "contact", "text", "message"), [
    ("", "13800000000", "这是一条足够长的意见内容。", "name"),
    ("名" * 101, "13800000000", "这是一条足够长的意见内容。", "name"),
    ("李四", " ", "这是一条足够长的意见内容。", "telephone"),
    ("李四", "1" * 201, "这是一条足够长的意见内容。", "telephone"),
    ("李四", "13800000000", "太短了", "10 to 2000"),
    ("李四", "13800000000", "长" * 2001, "10 to 2000"),
])
def test_a_comment_has_a_name_a_contact_and_a_text_within_limits(city_bureau, ngo, officer, name, contact, text,
                                                                message):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    with pytest.raises(DomainError, match=message):
        commendations.add_public_comment(lst, name=name, contact=contact, text=text, now=PUBLICISED_AT)


def test_the_officer_answers_each_comment_once(city_bureau, create_user, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    made = comment(lst, at=bj("2026-10-09"))
    with pytest.raises(NotAllowed):
        commendations.answer_comment(made, response="经核实，情况不属实。", actor=ngo.first.supplier,
                                     now=bj("2026-10-09"))
    with pytest.raises(DomainError, match="5 to 5000"):
        commendations.answer_comment(made, response="不", actor=officer, now=bj("2026-10-09"))
    commendations.answer_comment(made, response=" 经核实，该投诉已于当月妥善处理。 ", actor=officer,
                                 now=bj("2026-10-09"))
    db.session.commit()
    assert (made.response, made.responded_at, made.responded_by_id) == (
        "经核实，该投诉已于当月妥善处理。", bj("2026-10-09"), officer.id)
    with pytest.raises(Conflict, match="already been answered"):
        commendations.answer_comment(made, response="再次答复的内容。", actor=officer, now=bj("2026-10-09"))
    assert len(audited("commendation_list.comment_answered")) == 1


def test_an_entry_is_withdrawn_during_the_publicity_with_its_reason_and_the_ngo_is_told(city_bureau, create_user,
                                                                                       ngo, officer):
    other = excellent_ngo(city_bureau, create_user, year=2026)
    draft = draft_list(city_bureau, officer, [ngo.key, other.key], at=PUBLICISED_AT)
    with pytest.raises(Conflict, match="before it, remove it"):
        commendations.withdraw_commendation(draft.commendations[0], reason="经核实存在投诉未处理情形。", actor=officer,
                                            now=PUBLICISED_AT)
    lst = commendations.publicise(draft, actor=officer, now=PUBLICISED_AT)
    db.session.commit()
    entry = next(c for c in lst.commendations if c.organisation_id == ngo.organisation.id)
    with pytest.raises(DomainError, match="10 to 1000"):
        commendations.withdraw_commendation(entry, reason="不实", actor=officer, now=bj("2026-10-09"))
    with pytest.raises(NotAllowed):
        commendations.withdraw_commendation(entry, reason="经核实存在投诉未处理情形。", actor=ngo.first.supplier,
                                            now=bj("2026-10-09"))
    commendations.withdraw_commendation(entry, reason="经核实，该机构年度内有服务对象投诉未处理。", actor=officer,
                                        now=bj("2026-10-09"))
    db.session.commit()
    assert [c.organisation_id for c in lst.commendations] == [other.organisation.id]
    [row] = audited("commendation.withdrawn")
    assert json.loads(row.new_values) == {"withdrawal_reason": "经核实，该机构年度内有服务对象投诉未处理。"}
    assert ngo.organisation.name in row.old_values
    [note] = inbox(ngo.first.supplier)
    assert note.subject == f"Withdrawn from the commendation list: {ngo.organisation.name}"
    assert "经核实，该机构年度内有服务对象投诉未处理。" in note.body
    assert inbox(other.first.supplier) == []


# --- Confirmation and certificates -----------------------------------------------------------------------------------


def test_confirmation_waits_for_the_day_after_the_publicity_and_every_answer(city_bureau, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    made = comment(lst, at=bj("2026-10-12"))
    with pytest.raises(DomainError, match="runs until 2026-10-13: the list can be confirmed from the next day"):
        commendations.confirm(lst, actor=officer, now=bj("2026-10-13", "23:59"))
    with pytest.raises(DomainError, match="1 comment"):
        commendations.confirm(lst, actor=officer, now=bj("2026-10-14", "00:00"))
    commendations.answer_comment(made, response="经核实，该投诉已妥善处理。", actor=officer, now=bj("2026-10-14"))
    commendations.confirm(lst, actor=officer, now=bj("2026-10-14", "00:00"))
    db.session.commit()
    assert (lst.status, lst.confirmed_at, lst.confirmed_by_id) == (ListStatus.CONFIRMED, bj("2026-10-14", "00:00"),
                                                                   officer.id)
    with pytest.raises(Conflict, match="Only a publicised list"):
        commendations.confirm(lst, actor=officer, now=bj("2026-10-15"))
    with pytest.raises(Conflict, match="answered while the list is publicised"):
        commendations.answer_comment(made, response="补充答复的内容。", actor=officer, now=bj("2026-10-15"))


def test_only_the_city_officer_confirms(city_bureau, create_org, create_user, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    district_officer = create_user("officer", organisation_id=district(create_org, city_bureau).id)
    for outsider in (district_officer, create_user("admin"), ngo.first.supplier):
        with pytest.raises(NotAllowed):
            commendations.confirm(lst, actor=outsider, now=day_after_publicity(lst))


def test_an_entry_no_longer_proposed_must_be_withdrawn_before_confirming(city_bureau, create_user, ngo, officer):
    other = excellent_ngo(city_bureau, create_user, year=2026)
    lst = publicised_list(city_bureau, officer, [ngo.key, other.key], at=PUBLICISED_AT)
    terminate(ngo.first.contract, on=bj("2026-10-09"))
    after = day_after_publicity(lst)
    with pytest.raises(DomainError, match=f"{ngo.organisation.name}. Withdraw them before confirming"):
        commendations.confirm(lst, actor=officer, now=after)
    entry = next(c for c in lst.commendations if c.organisation_id == ngo.organisation.id)
    commendations.withdraw_commendation(entry, reason="合同已于公示期间终止，不再符合表彰条件。", actor=officer,
                                        now=after)
    commendations.confirm(lst, actor=officer, now=after)
    db.session.commit()
    assert [c.organisation_id for c in lst.commendations] == [other.organisation.id]


def test_a_list_whose_every_entry_was_withdrawn_cannot_be_confirmed(city_bureau, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    commendations.withdraw_commendation(lst.commendations[0], reason="经核实，该机构不符合表彰条件。", actor=officer,
                                        now=bj("2026-10-09"))
    with pytest.raises(DomainError, match="nothing to confirm"):
        commendations.confirm(lst, actor=officer, now=day_after_publicity(lst))


def test_confirmation_issues_a_certificate_per_entry_publishes_the_list_and_tells_the_commended(
        city_bureau, create_org, create_user, ngo, officer, tmp_path):
    bureau = district(create_org, city_bureau)
    bureau_officer = create_user("officer", organisation_id=bureau.id)
    bureau_officer.locale = "en"
    confirmed_assessment(city_bureau, bureau, year=2026)
    project = excellent_project(city_bureau, create_user, year=2026)
    project_key = f"project:{project.contract.tender.project_id}"
    lst = publicised_list(city_bureau, officer, [ngo.key, f"bureau:{bureau.id}", project_key], at=PUBLICISED_AT)
    lst.commendations[0].level = "first"
    db.session.commit()
    commendations.confirm(lst, actor=officer, now=bj("2026-10-14"))
    db.session.commit()
    entries = {commendations.entry_key(c): c for c in lst.commendations}
    numbers = [c.certificate.number for c in lst.commendations]
    assert numbers == ["RY-2026-00001", "RY-2026-00002", "RY-2026-00003"]
    # The final notice lists every entry with its certificate.
    notice = lst.notice
    assert notice.kind == NoticeKind.COMMENDATION and notice.title == "郑州市民政局2026年度社会工作服务表彰名单"
    assert notice.runs_until is None and notice.id != lst.publicity_notice_id
    assert "公示5个工作日（至2026-10-13）。公示期间未收到异议。" in notice.body
    assert f"{ngo.organisation.name}（社会工作服务机构，一等）（证书编号RY-2026-00001）" in notice.body
    # The certificates: a real one in Chinese, per kind of entry.
    ngo_text = pdftotext(entries[ngo.key].certificate.file.read_bytes(), tmp_path)
    compact = "".join(ngo_text.split())
    assert "荣誉证书" in compact and f"{ngo.organisation.name}：" in compact
    assert "你单位在2026年度政府购买社会工作服务中表现突出，被评为2026年度优秀社会工作服务机构（一等）。" in compact
    assert "特发此证，以资鼓励。" in compact and "郑州市民政局" in compact and "二〇二六年十月十四日" in compact
    assert "RY-2026-00001" in compact and entries[ngo.key].certificate.content_sha256 in compact
    project_text = "".join(pdftotext(entries[project_key].certificate.file.read_bytes(), tmp_path).split())
    assert f"你单位承接的“{project.contract.tender.project.title}”项目" in project_text
    assert "2026年度优秀社会工作服务项目（二等）" in project_text and project.contract.supplier.name in project_text
    bureau_text = "".join(pdftotext(entries[f"bureau:{bureau.id}"].certificate.file.read_bytes(), tmp_path).split())
    assert f"{bureau.name}：" in bureau_text and "2026年度社会工作服务先进单位（二等）" in bureau_text
    info = subprocess.run(["pdfinfo", str(tmp_path / "certificate.pdf")], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Pages:\s+1\n", info) and "841.89 x 595.276 pts (A4)" in info  # one A4 landscape page
    # The commended are told: the NGOs' users, the bureau's officers.
    [note] = inbox(ngo.first.supplier)
    assert note.subject == f"Commended: {ngo.organisation.name} (First class (一等))"
    assert "RY-2026-00001" in note.body and note.link == f"/assessment/public/commendations/{lst.id}"
    assert len(inbox(project.supplier)) == 1 and len(inbox(bureau_officer)) == 1
    assert not [n for n in inbox(officer) if n.subject.startswith("Commended")]
    [row] = audited("commendation_list.confirmed")
    assert "RY-2026-00003" in row.new_values


def test_the_final_notice_counts_the_comments_answered(city_bureau, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    for made in (comment(lst, at=bj("2026-10-08")), comment(lst, at=bj("2026-10-09"))):
        commendations.answer_comment(made, response="经核实，情况已妥善处理。", actor=officer, now=bj("2026-10-12"))
    commendations.confirm(lst, actor=officer, now=day_after_publicity(lst))
    assert "公示期间收到意见2条，均已核实答复。" in lst.notice.body


def test_two_officers_confirming_at_once_issue_the_certificates_once(app, city_bureau, create_user, ngo, officer):
    postgresql_only()
    second = create_user("officer")
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    list_id, after = lst.id, day_after_publicity(lst)

    def attempt(user_id: int):
        return lambda: commendations.confirm(db.session.get(CommendationList, list_id),
                                             actor=db.session.get(User, user_id), now=after)

    outcomes = run_concurrently(app, [attempt(officer.id), attempt(second.id)])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    assert len(audited("commendation_list.confirmed")) == 1
    assert db.session.scalar(sa.select(sa.func.count(Notice.id)).where(Notice.kind == NoticeKind.COMMENDATION)) == 2


def test_a_confirmed_list_is_what_the_funding_plan_reads(city_bureau, ngo, officer):
    lst = confirmed_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    rows = db.session.scalars(sa.select(Commendation).join(CommendationList).where(
        CommendationList.status == ListStatus.CONFIRMED, CommendationList.year == 2026,
        CommendationList.bureau_id == city_bureau.id, Commendation.subject == SubjectKind.NGO)).all()
    assert [(c.organisation_id, c.level, c.certificate_id is not None) for c in rows] == [
        (ngo.organisation.id, "second", True)]
    assert lst.confirmed_at == day_after_publicity(lst) and day_after_publicity(lst).date() == LAST_DAY + timedelta(1)


def test_two_officers_withdrawing_one_entry_at_once_withdraw_it_once(app, city_bureau, create_user, ngo, officer):
    postgresql_only()
    other = excellent_ngo(city_bureau, create_user, year=2026)
    second = create_user("officer")
    lst = publicised_list(city_bureau, officer, [ngo.key, other.key], at=PUBLICISED_AT)
    entry_id = lst.commendations[0].id

    def attempt(user_id: int):
        return lambda: commendations.withdraw_commendation(
            db.session.get(Commendation, entry_id), reason="经核实，该机构不符合表彰条件。",
            actor=db.session.get(User, user_id), now=bj("2026-10-09"))

    outcomes = run_concurrently(app, [attempt(officer.id), attempt(second.id)])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    assert len(audited("commendation.withdrawn")) == 1


def test_comments_are_throttled_per_address_and_list_and_day(city_bureau, ngo, officer):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    text = "该机构年度内曾有服务对象投诉未处理，请核实。"

    def send(at, ip="198.51.100.7"):
        made = commendations.add_public_comment(lst, name="李四", contact="13800000000", text=text, now=at, ip=ip)
        db.session.commit()
        return made

    for _n in range(commendations.COMMENTS_PER_IP_PER_DAY):
        assert send(bj("2026-10-09", "23:00")).ip == "198.51.100.7"
    with pytest.raises(commendations.TooManyComments, match="already sent 5 comments on this list today") as refused:
        send(bj("2026-10-09", "23:59"))
    assert refused.value.status_code == 429
    send(bj("2026-10-09", "23:59"), ip="198.51.100.8")  # another address
    send(bj("2026-10-10", "00:00"))  # the next Beijing day
    assert db.session.scalar(sa.select(sa.func.count(PublicComment.id))) == 7


def test_the_comment_window_is_read_from_the_locked_row(city_bureau, ngo, officer):
    """A stale copy of the list (publicised in memory, closed meanwhile) does not let a comment in."""
    lst = publicised_list(city_bureau, officer, [ngo.key], at=PUBLICISED_AT)
    db.session.execute(sa.update(CommendationList).where(CommendationList.id == lst.id)
                       .values(publicity_ends_on=date(2026, 10, 8)).execution_options(synchronize_session=False))
    assert lst.publicity_ends_on == LAST_DAY  # the copy in memory still says the 13th
    with pytest.raises(DomainError, match="which ended on 2026-10-08"):
        commendations.add_public_comment(lst, name="李四", contact="13800000000",
                                         text="该机构年度内曾有服务对象投诉未处理，请核实。", now=bj("2026-10-09"))
