"""Demo yearly assessment, commendation list and funding plan.

Part of ``seed-demo``, after the reviews stage, through the services with the clock of each step:
- the yearly assessment (年度考核) of the present year for the city's district/county bureaus and the NGOs it worked
  with, entered points filled in and confirmed: a district with no procurement yet is judged on its entered work
  report alone (its computed indicators weigh 0), so the districts spread over the grades;
- the year's commendation list (表彰名单) with every candidate the rules propose, publicised for 5 working days
  (公示) with one public comment answered, then confirmed with its certificates;
- the funding plan (资金安排) of the next fiscal year (see ``seed_funding``).
Steps never fall after the present; a stage that would not fit is left out.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import Organisation
from portal.assessment import commendations, yearly
from portal.assessment.models import Assessment, AssessmentStatus, CommendationList, Level, SubjectKind
from portal.assessment.rules import PUBLICITY_WORKING_DAYS
from portal.calendar import load_calendar
from portal.extensions import db
from portal.seed_support import NotYet, demo_user, run_stages
from portal.tenders.rules import beijing_instant, local_date

# The entered work-report points of each district (by name): a spread over the grades for the demo.
DISTRICT_POINTS = {"中原区民政局": "93", "二七区民政局": "84", "金水区民政局": "72", "登封市民政局": "66",
                   "中牟县民政局": "55"}
NGO_ENTERED_POINTS = "90"


def _rows(assessment: Assessment) -> list[dict]:
    """The officer's entries: a district without records is judged on its work report alone; others keep the
    default weights and get their entered points."""
    name = assessment.organisation.name
    if assessment.kind == SubjectKind.BUREAU:
        points = DISTRICT_POINTS.get(name, "80")
        empty = all(i.sources in ("", "[]") for i in assessment.indicators if i.computed)  # no records at all
        if empty:
            rows = [{"id": i.id, "name": i.name, "weight": Decimal("0") if i.computed else None, "points": None,
                     "note": "本年度尚无政府购买服务合同，按工作总结考核。" if i.computed else ""}
                    for i in assessment.indicators]
            entered = [r for r in rows if r["weight"] is None]
            for row in entered:
                row["weight"] = Decimal("0")
            entered[0] |= {"weight": Decimal("100"), "points": Decimal(points), "note": "年度工作总结已审阅。"}
            return rows
    else:
        points = NGO_ENTERED_POINTS
    return [{"id": i.id, "name": i.name, "weight": i.weight,
             "points": None if i.computed else Decimal(points), "note": i.note}
            for i in assessment.indicators]


def seed_assessment(now: datetime) -> int:
    """Run the demo assessment stages that are missing; return how many created something."""
    officer = demo_user("officer")
    if officer is None or not officer.organisation.is_city_bureau:
        return 0
    city: Organisation = officer.organisation
    calendar = load_calendar()
    year = local_date(now).year

    def at(day, hour: int = 10) -> datetime:
        moment = beijing_instant(day, time(hour))
        if moment >= now:
            raise NotYet
        return moment

    # The 公示 must have ended before the present: start it so that its 5th working day is two working days ago.
    publicise_on = calendar.add_working_days(calendar.add_working_days(local_date(now), -2),
                                             -PUBLICITY_WORKING_DAYS)

    def assessment_stage():
        if db.session.scalar(sa.select(Assessment.id).where(Assessment.year == year, Assessment.city_id == city.id)):
            return None
        when = at(calendar.add_working_days(publicise_on, -1), 9)
        drafts = yearly.create_assessments(city, year, actor=officer, now=when)
        for assessment in drafts:
            yearly.update_indicators(assessment, _rows(assessment), actor=officer, now=when + timedelta(minutes=30))
            yearly.confirm(assessment, actor=officer, now=when + timedelta(hours=1))
        return drafts

    def commendation_stage():
        if db.session.scalar(sa.select(CommendationList.id).where(CommendationList.year == year,
                                                                  CommendationList.bureau_id == city.id)):
            return None
        if not db.session.scalar(sa.select(Assessment.id).where(Assessment.year == year,
                                                                Assessment.status == AssessmentStatus.CONFIRMED)):
            return None
        start = at(publicise_on, 9)
        proposed = commendations.candidates(city, year)
        if not proposed:
            return None
        listing = commendations.create_list(city, year, actor=officer, now=start)
        for n, candidate in enumerate(proposed):
            level = Level.FIRST if n == 0 else Level.SECOND
            commendations.add_commendation(listing, key=candidate.key, level=level, actor=officer,
                                           now=start + timedelta(minutes=10))
        commendations.publicise(listing, actor=officer, now=start + timedelta(hours=1))
        comment = commendations.add_public_comment(
            listing, name="李女士", contact="13903710000", text="建议在公示中写明各单位的具体服务成效，便于群众监督。",
            now=at(calendar.add_working_days(publicise_on, 2), 15))
        commendations.answer_comment(comment, response="感谢监督。各单位的评估结果和服务成效已在表彰理由中列明。",
                                     actor=officer, now=at(calendar.add_working_days(publicise_on, 3), 10))
        commendations.confirm(listing, actor=officer,
                              now=at(calendar.next_working_day(listing.publicity_ends_on), 10))
        return listing

    from portal.seed_funding import funding_stage

    return run_stages((assessment_stage, commendation_stage, lambda: funding_stage(city, officer, now)))
