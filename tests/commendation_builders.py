"""Records that make commendation candidates, and commendation lists in each state, for the commendation tests of
every layer (and the route-matrix world).

Reviews are graded by setting the rows directly (``graded_review``): the grading service is tested on its own.
Bureau candidates come from Assessment rows made CONFIRMED with a grade (``confirmed_assessment``), as the yearly
assessment would leave them. Lists go through the commendation services.

    ngo = excellent_ngo(city_bureau, create_user, year=2026)            # an NGO with 优秀 + 良好 reviews in 2026
    lst = publicised_list(city_bureau, officer, [ngo.key], at=bj("2026-09-30"))
    lst = confirmed_list(city_bureau, officer, [ngo.key], at=bj("2026-09-30"))  # confirmed 2026-10-14
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from portal.accounts.models import Organisation, OrgKind
from portal.assessment import commendations
from portal.assessment.models import Assessment, AssessmentStatus, CommendationList, SubjectKind
from portal.calendar import load_calendar
from portal.contracts.models import ContractStatus
from portal.evaluation.models import Challenge, ChallengeStatus
from portal.extensions import db
from portal.reviews.models import ReviewStatus
from portal.reviews.rules import Grade, ReviewKind
from portal.tenders.rules import local_date
from tests.review_builders import BuiltReview, planned_review
from tests.support.web import bj

SCORES = {Grade.EXCELLENT: Decimal("93.50"), Grade.GOOD: Decimal("85.00"), Grade.PASS: Decimal("70.00"),
          Grade.FAIL: Decimal("50.00")}


@dataclass
class BuiltNgo:
    """An NGO with a contract of ``bureau`` and reviews of it graded in a year."""

    reviews: list[BuiltReview]

    @property
    def first(self) -> BuiltReview:
        return self.reviews[0]

    @property
    def organisation(self) -> Organisation:
        return self.first.contract.supplier

    @property
    def key(self) -> str:
        return f"ngo:{self.first.contract.supplier_id}"


def district(create_org, city: Organisation, name: str = "金水区民政局") -> Organisation:
    """A district/county bureau under ``city``."""
    return create_org(OrgKind.BUREAU, name=name, level="district", parent_id=city.id)


def graded_review(bureau, create_user, *, grade: str, graded_at: datetime, score: Decimal | None = None,
                  kind: str = ReviewKind.MIDTERM, on=None) -> BuiltReview:
    """A review GRADED at ``graded_at`` with ``grade`` (and a score inside its band), on a new contract of ``bureau``
    or ``on`` another review's contract."""
    now = graded_at - timedelta(days=30)
    built = planned_review(bureau, create_user, now=now, kind=kind, on=on)
    review = built.review
    review.status, review.grade, review.score = ReviewStatus.GRADED, grade, score or SCORES[Grade(grade)]
    review.started_at, review.graded_at, review.graded_by_id = now, graded_at, built.officer.id
    db.session.commit()
    return built


def excellent_ngo(bureau, create_user, *, year: int, grades=(Grade.EXCELLENT, Grade.GOOD)) -> BuiltNgo:
    """An NGO whose reviews graded in ``year`` (one a month from March, on one contract) have ``grades``."""
    reviews = []
    for month, grade in enumerate(grades, 3):
        reviews.append(graded_review(bureau, create_user, grade=grade, graded_at=bj(f"{year}-{month:02d}-15"),
                                     on=reviews[0] if reviews else None))
    return BuiltNgo(reviews)


def excellent_project(bureau, create_user, *, year: int, grade: str = Grade.EXCELLENT) -> BuiltReview:
    """A project whose final review (末期效果评估) was graded ``grade`` in ``year``."""
    return graded_review(bureau, create_user, grade=grade, graded_at=bj(f"{year}-11-20"), kind=ReviewKind.FINAL)


def terminate(contract, *, on: datetime) -> None:
    contract.status, contract.ended_at = ContractStatus.TERMINATED, on
    contract.termination_grounds = "乙方严重违反合同约定，经催告仍未改正，依约解除合同。"
    db.session.commit()


def uphold_challenge(award, challenger, *, answered_at: datetime) -> Challenge:
    """An upheld challenge (质疑成立) against ``award``, filed by ``challenger`` (a supplier user)."""
    filed = answered_at - timedelta(days=3)
    challenge = Challenge(tender_id=award.tender_id, award_id=award.id, supplier_id=challenger.organisation_id,
                          filed_by_id=challenger.id, grounds="中标供应商的资格证明材料不实。", filed_at=filed,
                          received_on=local_date(filed), answer_due=local_date(filed) + timedelta(days=9),
                          status=ChallengeStatus.UPHELD, remedy="reevaluate", answer="质疑成立，重新评审。",
                          answered_at=answered_at)
    db.session.add(challenge)
    db.session.commit()
    return challenge


def confirmed_assessment(city: Organisation, bureau: Organisation, *, year: int, grade: str = Grade.EXCELLENT,
                         score: Decimal | None = None) -> Assessment:
    """The bureau's yearly assessment of ``year``, CONFIRMED by the city with ``grade``."""
    assessment = Assessment(year=year, city_id=city.id, organisation_id=bureau.id, kind=SubjectKind.BUREAU,
                            status=AssessmentStatus.CONFIRMED, score=score or SCORES[Grade(grade)], grade=grade,
                            confirmed_at=bj(f"{year + 1}-01-20"))
    db.session.add(assessment)
    db.session.commit()
    return assessment


def draft_list(city, officer, keys, *, year: int = 2026, at: datetime, level: str = "second") -> CommendationList:
    """The city's list of ``year`` opened at ``at`` with the candidates ``keys`` added."""
    lst = commendations.create_list(city, year, actor=officer, now=at)
    for key in keys:
        commendations.add_commendation(lst, key=key, level=level, actor=officer, now=at)
    db.session.commit()
    return lst


def publicised_list(city, officer, keys, *, year: int = 2026, at: datetime) -> CommendationList:
    """A draft list publicised at ``at``."""
    lst = draft_list(city, officer, keys, year=year, at=at)
    commendations.publicise(lst, actor=officer, now=at)
    db.session.commit()
    return lst


def day_after_publicity(lst: CommendationList) -> datetime:
    """10:00 Beijing on the first day after the 公示."""
    return bj((lst.publicity_ends_on + timedelta(days=1)).isoformat())


def confirmed_list(city, officer, keys, *, year: int = 2026, at: datetime) -> CommendationList:
    """A list publicised at ``at`` and confirmed the day after its 公示 (no comment)."""
    lst = publicised_list(city, officer, keys, year=year, at=at)
    commendations.confirm(lst, actor=officer, now=day_after_publicity(lst))
    db.session.commit()
    return lst


def working_days_after(day: date, n: int) -> date:
    return load_calendar().add_working_days(day, n)


def route_world(city, officer, create_user) -> dict:
    """For the route-matrix walk: a CONFIRMED list of ``city`` (its 公示 from 30 September 2026) with one entry, its
    certificate and one answered comment. ``officer`` is an officer of the city bureau."""
    ngo = excellent_ngo(city, create_user, year=2026)
    lst = publicised_list(city, officer, [ngo.key], at=bj("2026-09-30"))
    comment = commendations.add_public_comment(lst, name="张三", contact="13800000000", text="请核实该机构的服务情况。",
                                               now=bj("2026-10-09"))
    commendations.answer_comment(comment, response="经核实，情况正常。", actor=officer, now=bj("2026-10-12"))
    commendations.confirm(lst, actor=officer, now=day_after_publicity(lst))
    db.session.commit()
    return {"list_id": lst.id, "commendation_id": lst.commendations[0].id, "comment_id": comment.id}
