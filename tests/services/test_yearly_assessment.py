"""The yearly assessment (年度考核): drafts for the year's subjects, indicators computed from seeded records with links
to them, the officer's weights and points, confirmation with the review bands, and who may do what."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import Organisation, OrgKind, User
from portal.assessment import yearly
from portal.assessment.common import year_bounds
from portal.assessment.models import Assessment, AssessmentStatus, SubjectKind
from portal.audit import AuditEntry
from portal.contracts import services as contract_services
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation.models import ChallengeStatus
from portal.extensions import db
from portal.notify import Notification
from portal.reviews.rules import GradeBands
from tests.support.concurrency import postgresql_only, run_concurrently
from tests.support.web import bj
from tests.yearly_builders import (
    challenge,
    contract,
    contract_notice,
    graded,
    make_district,
    rectification,
    terminate,
)

pytestmark = pytest.mark.usefixtures("english_messages")

YEAR = 2026


@pytest.fixture
def city_officer(create_user, city_bureau):
    user = create_user("officer", organisation_id=city_bureau.id)
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def district(create_org, city_bureau):
    return make_district(create_org, city_bureau, "金水区民政局")


def indicator(assessment: Assessment, code: str):
    return next(i for i in assessment.indicators if i.code == code)


def entered(assessment: Assessment):
    return [i for i in assessment.indicators if not i.computed]


def paths(ind) -> list[str]:
    return [path for _label, path in yearly.sources_of(ind)]


def create(city, officer, now, year=YEAR):
    made = yearly.create_assessments(city, year, actor=officer, now=now)
    db.session.commit()
    return made


def assessment_of(org, year=YEAR) -> Assessment:
    return db.session.scalar(sa.select(Assessment).where(Assessment.organisation_id == org.id,
                                                         Assessment.year == year))


# --- The year's drafts -------------------------------------------------------------------------------------------


def test_drafts_for_every_district_and_every_ngo_active_in_the_year(city_bureau, city_officer, district,
                                                                     create_org, create_user, now):
    other_district = make_district(create_org, city_bureau, "中原区民政局")
    make_district(create_org, city_bureau, "撤销的区民政局", status="inactive")
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    foreign_district = make_district(create_org, other_city, "鼓楼区民政局")
    signed_ngo, reviewed_ngo, idle_ngo, city_ngo, foreign_ngo = (create_org(name=n) for n in (
        "阳光社工", "晨曦社工", "去年社工", "市直社工", "外市社工"))
    contract(district, create_user, signed="2026-03-02", supplier=signed_ngo)
    last_year = contract(other_district, create_user, signed="2025-05-06", supplier=reviewed_ngo)
    graded(last_year, "88", on="2026-02-10")  # a review graded this year on last year's contract
    contract(district, create_user, signed="2025-07-01", supplier=idle_ngo)
    contract(city_bureau, create_user, signed="2026-08-03", supplier=city_ngo)  # the city bureau's own contract
    contract(foreign_district, create_user, signed="2026-04-01", supplier=foreign_ngo)

    made = create(city_bureau, city_officer, now)

    subjects = {a.organisation.name: a.kind for a in made}
    assert subjects == {"金水区民政局": SubjectKind.BUREAU, "中原区民政局": SubjectKind.BUREAU,
                        "阳光社工": SubjectKind.NGO, "晨曦社工": SubjectKind.NGO, "市直社工": SubjectKind.NGO}
    for assessment in made:
        assert assessment.status == AssessmentStatus.DRAFT and assessment.city_id == city_bureau.id
        assert sum(i.weight for i in assessment.indicators) == 100
        assert [i.position for i in assessment.indicators] == list(range(1, len(assessment.indicators) + 1))
    bureau = assessment_of(district)
    assert [i.code for i in bureau.indicators] == [
        "poor_village_share", "projects_contracts", "review_mean", "notices_on_time", "challenges_upheld",
        "rectifications", "entered"]
    assert [i.name for i in entered(bureau)] == ["工作总结与创新"]
    assert [i.name for i in entered(assessment_of(signed_ngo))] == ["服务对象投诉处理", "年检与信用"]
    assert all(i.points is None for i in entered(bureau)) and all(i.points is not None for i in bureau.indicators
                                                                     if i.computed)
    audited = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action == "assessment.created"))
    assert len(list(audited)) == 5
    # Idempotent: a second run adds only newcomers.
    assert create(city_bureau, city_officer, now) == []
    newcomer = create_org(name="新来社工")
    contract(district, create_user, signed="2026-09-01", supplier=newcomer)
    assert [a.organisation.name for a in create(city_bureau, city_officer, now)] == ["新来社工"]
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 6


def test_only_a_city_officer_creates_and_only_for_a_past_or_current_year(city_bureau, city_officer, district,
                                                                          create_user, now):
    district_officer = create_user("officer", organisation_id=district.id)
    admin = create_user("admin", organisation_id=None)
    for actor in (district_officer, admin):
        with pytest.raises(NotAllowed):
            yearly.create_assessments(city_bureau, YEAR, actor=actor, now=now)
    with pytest.raises(NotAllowed):  # a city officer, but for a district
        yearly.create_assessments(district, YEAR, actor=city_officer, now=now)
    with pytest.raises(DomainError, match="Choose a year from 2000 to 2026"):
        yearly.create_assessments(city_bureau, 2027, actor=city_officer, now=now)
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 0


# --- Indicators computed from the records ---------------------------------------------------------------------------


def test_bureau_indicators_come_from_the_year_s_records_with_links(city_bureau, city_officer, district,
                                                                     create_org, create_user, now):
    ngo = create_org(name="阳光社工")
    poor = contract(district, create_user, signed="2026-03-02", poor_village=True, amount="60000.00", supplier=ngo)
    plain = contract(district, create_user, signed="2026-03-09", amount="140000.00", supplier=ngo)
    silent = contract(district, create_user, signed="2026-06-01", amount="100000.00", supplier=ngo)
    fresh = contract(district, create_user, signed="2026-11-30", amount="50000.00", supplier=ngo)  # due not passed
    old = contract(district, create_user, signed="2025-11-03", poor_village=True, amount="900000.00", supplier=ngo)
    on_time = contract_notice(poor, on="2026-03-04")  # 2 working days after Monday 2 March
    late = contract_notice(plain, on="2026-03-16")
    first = graded(poor, "92.50", on="2026-05-10")
    second = graded(plain, "58.00", on="2026-07-01")
    graded(old, "70", on="2025-12-20")  # last year's grading
    opened = rectification(plain, second, on="2026-07-01")
    rectification(old, graded(old, "50", on="2025-12-21"), on="2025-12-21")
    upheld = challenge(poor, answered="2026-02-20")
    challenge(plain, answered="2026-02-21", status=ChallengeStatus.REJECTED)
    challenge(old, answered="2025-10-01")

    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)

    share = indicator(assessment, "poor_village_share")
    assert share.points == Decimal("17.14")  # 60,000 of 350,000 signed in 2026
    assert share.figure == "17.14%（贫困村项目 60,000.00元 / 全部合同 350,000.00元）"
    assert paths(share) == [f"/contracts/{c.contract.id}" for c in (poor, plain, silent, fresh)]
    assert "贫困村项目" in yearly.sources_of(share)[0][0] and poor.contract.reference in yearly.sources_of(share)[0][0]

    volume = indicator(assessment, "projects_contracts")
    assert volume.points == Decimal("80.00") and volume.figure == "5个服务项目，4份合同"  # 20 points a contract
    assert f"/contracts/{fresh.contract.id}" in paths(volume)
    assert f"/projects/{poor.tender.project_id}" in paths(volume)

    mean = indicator(assessment, "review_mean")
    assert mean.points == Decimal("75.25") and mean.figure == "平均75.25分（2次评估）"
    assert paths(mean) == [f"/reviews/{first.id}", f"/reviews/{second.id}"]

    notices = indicator(assessment, "notices_on_time")
    assert contract_services.notice_due_on(poor.contract) == date(2026, 3, 4)
    # poor: on time; plain: late; silent: none and overdue; fresh: not due yet, left out.
    assert notices.points == Decimal("33.33") and notices.figure == "1/3份合同公告按时发布"
    assert paths(notices) == [f"/notices/{on_time.id}", f"/notices/{late.id}", f"/contracts/{silent.contract.id}",
                              f"/contracts/{fresh.contract.id}"]
    assert "尚未到期的1份不计入" in notices.basis

    challenges = indicator(assessment, "challenges_upheld")
    assert challenges.points == Decimal("80.00") and challenges.figure == "1件质疑成立"
    assert paths(challenges) == [f"/challenges/{upheld.id}"]

    rectifications = indicator(assessment, "rectifications")
    assert rectifications.points == Decimal("90.00") and rectifications.figure == "1项整改"
    assert paths(rectifications) == [f"/reviews/rectifications/{opened.id}"]
    for computed in (i for i in assessment.indicators if i.computed):
        assert computed.basis, computed.code


def test_ngo_indicators_count_its_contracts_with_the_city_s_bureaus_only(city_bureau, city_officer, district,
                                                                          create_org, create_user, now):
    ngo = create_org(name="阳光社工")
    a = contract(district, create_user, signed="2026-02-02", supplier=ngo)
    b = contract(city_bureau, create_user, signed="2026-04-01", supplier=ngo)
    c = contract(district, create_user, signed="2025-09-01", supplier=ngo)
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    foreign = contract(other_city, create_user, signed="2026-05-05", supplier=ngo)
    r1, r2 = graded(a, "90", on="2026-06-01"), graded(c, "81.25", on="2026-03-01")
    graded(foreign, "40", on="2026-06-02")  # another city's review does not count
    failed = graded(b, "55", on="2026-08-01")
    opened = rectification(b, failed, on="2026-08-01")
    terminate(c, on="2026-10-10")
    terminate(foreign, on="2026-10-11")

    create(city_bureau, city_officer, now)
    assessment = assessment_of(ngo)

    mean = indicator(assessment, "review_mean")
    assert mean.points == Decimal("75.42")  # (90 + 81.25 + 55) / 3 = 75.4166...
    assert set(paths(mean)) == {f"/reviews/{r.id}" for r in (r1, r2, failed)}
    contracts = indicator(assessment, "contracts")
    assert contracts.points == Decimal("40.00") and contracts.figure == "2份合同"
    assert paths(contracts) == [f"/contracts/{a.contract.id}", f"/contracts/{b.contract.id}"]
    rect = indicator(assessment, "rectifications")
    assert rect.points == Decimal("80.00") and paths(rect) == [f"/reviews/rectifications/{opened.id}"]
    ended = indicator(assessment, "terminations")
    assert ended.points == Decimal("50.00") and paths(ended) == [f"/contracts/{c.contract.id}"]


def test_the_year_of_a_record_is_its_beijing_year(city_bureau, city_officer, district, create_org, create_user,
                                                  now):
    ngo = create_org(name="阳光社工")
    contract(district, create_user, signed="2025-12-31", at="23:30", supplier=ngo)  # 15:30 UTC, still 2025
    early = contract(district, create_user, signed="2026-01-01", at="00:30", supplier=ngo)  # 2025-12-31 16:30 UTC
    contract(district, create_user, signed="2027-01-01", at="00:10", supplier=ngo)  # the next year
    assert early.contract.signed_at.year == 2025
    assert year_bounds(2026) == (bj("2026-01-01", "00:00"), bj("2027-01-01", "00:00"))

    create(city_bureau, city_officer, bj("2027-01-05"))
    volume = indicator(assessment_of(district), "projects_contracts")
    assert volume.figure.endswith("1份合同") and paths(volume)[-1] == f"/contracts/{early.contract.id}"


def test_no_record_gives_zero_points_and_says_why(city_bureau, city_officer, district, now):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    assert indicator(assessment, "poor_village_share").points == 0
    assert indicator(assessment, "review_mean").figure == "本年度无已评定的绩效评估"
    assert "权重调为0" in indicator(assessment, "review_mean").basis
    assert indicator(assessment, "challenges_upheld").points == 100  # nothing to deduct
    assert yearly.sources_of(indicator(assessment, "poor_village_share")) == []


# --- Refresh, edit, confirm ----------------------------------------------------------------------------------------


def test_refresh_follows_new_records_until_confirmed(city_bureau, city_officer, district, create_org, create_user,
                                                     now):
    ngo = create_org(name="阳光社工")
    built = contract(district, create_user, signed="2026-03-02", supplier=ngo)
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    assert indicator(assessment, "review_mean").points == 0
    review = graded(built, "88.80", on="2026-11-20")
    yearly.refresh(assessment, actor=city_officer, now=now)
    db.session.commit()
    assert indicator(assessment, "review_mean").points == Decimal("88.80")
    assert paths(indicator(assessment, "review_mean")) == [f"/reviews/{review.id}"]
    refreshed = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "assessment.refreshed"))
    assert "review_mean" in refreshed.new_values


def _complete(assessment, officer, now, points="80"):
    rows = [{"id": i.id, "name": i.name, "weight": i.weight, "points": points if not i.computed else "",
             "note": ""} for i in assessment.indicators]
    yearly.update_indicators(assessment, rows, actor=officer, now=now)
    db.session.commit()


def test_update_weights_points_and_entered_indicators(city_bureau, city_officer, district, now):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    summary = entered(assessment)[0]
    share = indicator(assessment, "poor_village_share")
    rows = [{"id": summary.id, "name": "工作总结", "weight": "5", "points": "95.5", "note": "总结详实"},
            {"id": share.id, "name": "改名无效", "weight": "10", "points": "100", "note": "区内无贫困村较少"},
            {"id": None, "name": "社工人才队伍建设", "weight": "15", "points": "", "note": ""}]
    yearly.update_indicators(assessment, rows, actor=city_officer, now=now)
    db.session.commit()
    assert (summary.name, summary.weight, summary.points, summary.note) == ("工作总结", 5, Decimal("95.50"), "总结详实")
    assert (share.name, share.weight, share.points) == ("贫困村服务资金占比", 10, 0)  # computed points stay
    added = entered(assessment)[-1]
    assert (added.name, added.weight, added.points, added.position) == ("社工人才队伍建设", 15, None, 8)
    assert yearly.weight_total(assessment) == 100
    # Remove the new one; a computed one cannot be removed.
    yearly.update_indicators(assessment, [{"id": added.id, "remove": True}], actor=city_officer, now=now)
    db.session.commit()
    assert [i.name for i in entered(assessment)] == ["工作总结"]
    with pytest.raises(DomainError, match="cannot be removed"):
        yearly.update_indicators(assessment, [{"id": share.id, "remove": True}], actor=city_officer, now=now)


@pytest.mark.parametrize(("row", "message"), [
    ({"weight": "101"}, "the weight is a number from 0 to 100"),
    ({"weight": "-1"}, "the weight is a number from 0 to 100"),
    ({"weight": "1.005"}, "at most two decimal places"),
    ({"weight": ""}, "the weight is a number"),
    ({"points": "100.5"}, "the points are a number from 0 to 100"),
    ({"points": "abc"}, "the points are a number"),
    ({"name": ""}, "Every entered indicator needs a name"),
    ({"name": "整改情况"}, "Two indicators of the assessment have the same name"),
    ({"id": 999999}, "An indicator of another assessment"),
])
def test_update_refuses_bad_rows(city_bureau, city_officer, district, now, row, message):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    summary = entered(assessment)[0]
    base = {"id": summary.id, "name": summary.name, "weight": "10", "points": "80", "note": ""}
    with pytest.raises(DomainError, match=message):
        yearly.update_indicators(assessment, [base | row], actor=city_officer, now=now)


def test_confirm_needs_weights_of_100_and_every_point(city_bureau, city_officer, district, now):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    with pytest.raises(DomainError, match="Enter the points of every entered indicator: 工作总结与创新."):
        yearly.confirm(assessment, actor=city_officer, now=now)
    db.session.rollback()
    summary = entered(assessment)[0]
    yearly.update_indicators(assessment, [{"id": summary.id, "name": summary.name, "weight": "12", "points": "80"}],
                             actor=city_officer, now=now)
    db.session.commit()
    assert yearly.problems(assessment) == ["The weights add up to 102.00; they must add up to 100."]
    assert yearly.provisional(assessment) is None
    with pytest.raises(DomainError, match="The weights add up to 102.00"):
        yearly.confirm(assessment, actor=city_officer, now=now)
    db.session.rollback()
    assert assessment.status == AssessmentStatus.DRAFT


def test_confirm_scores_grades_freezes_and_tells_the_district(city_bureau, city_officer, district, create_org,
                                                              create_user, now):
    ngo = create_org(name="阳光社工")
    built = contract(district, create_user, signed="2026-03-02", poor_village=True, supplier=ngo)
    contract_notice(built, on="2026-03-03")
    graded(built, "90", on="2026-09-01")
    district_officer = create_user("officer", organisation_id=district.id)
    district_officer.locale = "en"
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    _complete(assessment, city_officer, now, points="50")
    # Points: share 100 (w20), volume 20 (w15), mean 90 (w25), notices 100 (w10), challenges 100 (w10),
    # rectifications 100 (w10), summary 50 (w10): 20 + 3 + 22.5 + 10 + 10 + 10 + 5 = 80.50 -> 良好.
    assert yearly.provisional(assessment) == (Decimal("80.50"), "good")

    yearly.confirm(assessment, actor=city_officer, now=now)
    db.session.commit()

    assert (assessment.status, assessment.score, assessment.grade) == ("confirmed", Decimal("80.50"), "good")
    assert assessment.confirmed_at == now and assessment.confirmed_by_id == city_officer.id
    assert yearly.confirmed_grade(district, YEAR) == "good" and yearly.confirmed_grade(district.id, YEAR) == "good"
    assert yearly.confirmed_grade(district, YEAR - 1) is None
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == district_officer.id))
    assert note.subject == "Yearly assessment 2026 confirmed: 金水区民政局 graded Good (良好)"
    assert "80.50 points" in note.body and note.link == f"/assessment/yearly/{assessment.id}"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "assessment.confirmed"))
    assert json.loads(entry.new_values)["score"] == "80.50"
    # Frozen: a later review changes nothing and nothing can be edited.
    graded(built, "10", on="2026-11-29")
    for change in (lambda: yearly.refresh(assessment, actor=city_officer, now=now),
                   lambda: yearly.update_indicators(assessment, [], actor=city_officer, now=now),
                   lambda: yearly.confirm(assessment, actor=city_officer, now=now)):
        with pytest.raises(Conflict, match="A confirmed assessment is frozen"):
            change()
        db.session.rollback()
    assert indicator(assessment, "review_mean").points == 90


def test_grade_follows_the_review_bands_setting(city_bureau, city_officer, district, now, monkeypatch):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    rows = [{"id": i.id, "name": i.name, "weight": "100" if not i.computed else "0", "points": "82"}
            for i in assessment.indicators]
    yearly.update_indicators(assessment, rows, actor=city_officer, now=now)
    assert yearly.provisional(assessment) == (Decimal("82.00"), "good")  # 良好 from 80 by default
    monkeypatch.setitem(current_app.config, "REVIEW_GRADE_BANDS", GradeBands(Decimal("95"), Decimal("85"),
                                                                             Decimal("70")))
    yearly.confirm(assessment, actor=city_officer, now=now)
    assert (assessment.score, assessment.grade) == (Decimal("82.00"), "pass")


def test_an_ngo_is_told_and_its_grade_is_readable(city_bureau, city_officer, create_org, create_user, district,
                                                  now):
    ngo_user = create_user("supplier")
    ngo_user.locale = "en"
    ngo = ngo_user.organisation
    built = contract(district, create_user, signed="2026-03-02", supplier=ngo)
    graded(built, "95", on="2026-06-01")
    create(city_bureau, city_officer, now)
    assessment = assessment_of(ngo)
    _complete(assessment, city_officer, now, points="100")
    yearly.confirm(assessment, actor=city_officer, now=now)
    db.session.commit()
    # 95 x 40% + 20 x 10% + 100 x 15% + 100 x 15% + 100 x 10% + 100 x 10% = 90.00 -> 优秀
    assert (assessment.score, assessment.grade) == (Decimal("90.00"), "excellent")
    assert yearly.confirmed_grade(ngo, YEAR) == "excellent"
    assert db.session.scalar(sa.select(Notification.subject).where(Notification.user_id == ngo_user.id)) == (
        f"Yearly assessment 2026 confirmed: {ngo.name} graded Excellent (优秀)")


def test_only_the_city_s_officers_change_an_assessment(city_bureau, city_officer, district, create_user, create_org,
                                                       now):
    create(city_bureau, city_officer, now)
    assessment = assessment_of(district)
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    outsiders = [create_user("officer", organisation_id=district.id), create_user("admin", organisation_id=None),
                 create_user("officer", organisation_id=other_city.id), create_user("supplier")]
    for actor in outsiders:
        for change in (lambda a=actor: yearly.refresh(assessment, actor=a, now=now),
                       lambda a=actor: yearly.update_indicators(assessment, [], actor=a, now=now),
                       lambda a=actor: yearly.confirm(assessment, actor=a, now=now)):
            with pytest.raises(NotAllowed):
                change()
            db.session.rollback()


def test_who_sees_which_assessments(city_bureau, city_officer, district, create_user, create_org, now):
    other = make_district(create_org, city_bureau, "中原区民政局")
    create(city_bureau, city_officer, now)
    mine = assessment_of(district)
    _complete(mine, city_officer, now)
    yearly.confirm(mine, actor=city_officer, now=now)
    db.session.commit()
    district_officer = create_user("officer", organisation_id=district.id)
    other_officer = create_user("officer", organisation_id=other.id)
    admin = create_user("admin", organisation_id=None)
    assert sorted(a.organisation.name for a in yearly.assessments_for(city_officer, YEAR)) == sorted(
        ["中原区民政局", "金水区民政局"])
    assert len(yearly.assessments_for(admin, YEAR)) == 2
    assert yearly.assessments_for(district_officer, YEAR) == [mine]
    assert yearly.assessments_for(other_officer, YEAR) == []  # its own is still a draft
    assert mine.can_view(district_officer) and not mine.can_view(other_officer)
    assert not assessment_of(other).can_view(other_officer)


def test_two_officers_at_once_make_one_set_of_drafts_and_one_confirmation(app, city_bureau, city_officer, district,
                                                                          create_user, now):
    postgresql_only()
    second = create_user("officer", organisation_id=city_bureau.id)
    city_id, officer_ids = city_bureau.id, [city_officer.id, second.id]

    def create_as(officer_id):
        return lambda: yearly.create_assessments(db.session.get(Organisation, city_id), YEAR,
                                                 actor=db.session.get(User, officer_id), now=now)

    assert run_concurrently(app, [create_as(i) for i in officer_ids]) == ["ok", "ok"]
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 1
    assessment = assessment_of(district)
    _complete(assessment, city_officer, now)
    assessment_id = assessment.id

    def confirm_as(officer_id):
        return lambda: yearly.confirm(db.session.get(Assessment, assessment_id),
                                      actor=db.session.get(User, officer_id), now=now)

    outcomes = run_concurrently(app, [confirm_as(i) for i in officer_ids])
    assert outcomes.count("ok") == 1 and any(isinstance(o, Conflict) for o in outcomes), outcomes
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "assessment.confirmed")) == 1
