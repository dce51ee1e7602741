"""Award pages through HTTP: confirm and pass over, the award letter, a bidder's own result (its own numbers only),
challenges with evidence, answers, complaints, and who may reach each page.

The clock is frozen on Thursday 3 December 2026, 10:00 Beijing, the day after the report; the challenge period of
an award made then runs until Tuesday 15 December.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from flask import render_template_string
from flask_login import login_user

from portal.accounts.models import OrgKind
from portal.evaluation import award as service
from portal.evaluation import results
from portal.evaluation.models import Challenge, ChallengeStatus, Complaint, PassOver
from portal.extensions import db
from portal.tenders.models import TenderStatus
from tests.award_builders import evaluated_open_tender
from tests.conftest import csrf_token
from tests.files_support import PNG_BYTES
from tests.support.queries import queries_for
from tests.support.web import as_user, bj, fetch, text

GROUNDS = "评审委员会对我单位服务方案的评分明显畸低，与评分标准不符，请求复核。"
ANSWER = "经组织原评标委员会复核，评分符合评分标准，质疑不成立。"


AT = bj("2026-12-03")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ev(city_bureau, create_user, now):
    ev = evaluated_open_tender(city_bureau, create_user, now=now)
    for user in ev.officers + ev.suppliers:
        user.locale = "en"
    db.session.commit()
    return ev


def awarded(ev):
    service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.commit()
    return ev


def post(client, url, data, form_page):
    """POST with the CSRF token of ``form_page``; the test's session then reads what the request wrote."""
    response = client.post(url, data=data | {"csrf_token": csrf_token(client, form_page)})
    db.session.expire_all()
    return response


# --- The award page ----------------------------------------------------------------------------------------------


def test_officer_sees_the_candidates_and_confirms(client, ev):
    tender_id = ev.tender.id
    as_user(client, ev.officers[0])
    page = text(client.get(f"/tenders/{tender_id}/award"))
    assert "93.84" in page and "90.90" in page and "80.20" in page
    assert "2026-12-10" in page  # the deemed-award day
    assert ev.suppliers[2].organisation.name in page
    response = post(client, f"/tenders/{tender_id}/award/confirm", {}, f"/tenders/{tender_id}/award")
    assert response.status_code == 302
    award = service.active_award(ev.tender)
    assert award.supplier_id == ev.suppliers[2].organisation_id and ev.tender.status == TenderStatus.AWARDED
    page = text(client.get(f"/tenders/{tender_id}/award"))
    assert "中标结果公告" in page and award.letter_document.number in page and "2026-12-15" in page
    again = post(client, f"/tenders/{tender_id}/award/confirm", {}, f"/tenders/{tender_id}/award")
    assert again.status_code == 302 and "already been awarded" in text(client.get(f"/tenders/{tender_id}/award"))


def test_award_pages_refuse_other_bureaus_and_suppliers(client, city_bureau, create_org, create_user, now):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    other = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    ev = evaluated_open_tender(district, create_user, now=now)
    url = f"/tenders/{ev.tender.id}/award"
    as_user(client, create_user("officer"))  # the city bureau oversees the district's tender, but does not run it
    assert client.get(url).status_code == 200
    assert post(client, f"{url}/confirm", {}, url).status_code == 403
    assert service.active_award(ev.tender) is None
    as_user(client, create_user("admin"))
    assert client.get(url).status_code == 200
    as_user(client, create_user("officer", organisation_id=other.id))
    assert client.get(url).status_code == 403
    assert client.get(f"{url}/challenges").status_code == 403
    as_user(client, ev.suppliers[0])
    assert client.get(url).status_code == 403
    as_user(client, ev.officers[0])
    assert post(client, f"{url}/confirm", {}, url).status_code == 302
    assert service.active_award(ev.tender) is not None


def test_pass_over_through_the_form(client, ev):
    url = f"/tenders/{ev.tender.id}/award"
    as_user(client, ev.officers[0])
    top = ev.suppliers[2].organisation_id
    response = post(client, f"{url}/pass-over", {"supplier_id": top, "reason": "declined", "note": ""}, url)
    assert response.status_code == 302 and db.session.scalar(sa.select(PassOver)) is None
    response = post(client, f"{url}/pass-over", {"supplier_id": top, "reason": "declined",
                                                 "note": "书面声明放弃中标资格"}, url)
    assert response.status_code == 302
    assert db.session.scalar(sa.select(PassOver.supplier_id)) == top
    assert "The candidate declined" in text(client.get(url))


# --- Letter and own result -------------------------------------------------------------------------------------


def test_award_letter_for_the_winner_and_the_overseers_only(client, ev, create_user):
    url = f"/tenders/{ev.tender.id}/award/letter.pdf"
    as_user(client, ev.suppliers[2])
    assert fetch(client, url).status_code == 302  # nothing awarded yet: back to the tender
    awarded(ev)
    response = fetch(client, url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    as_user(client, ev.suppliers[0])
    assert client.get(url).status_code == 403
    as_user(client, create_user("supplier"))
    assert client.get(url).status_code == 403
    as_user(client, ev.officers[1])
    assert fetch(client, url).status_code == 200


def test_a_losing_bidder_sees_only_its_own_numbers(client, ev, create_user):
    url = f"/tenders/{ev.tender.id}/award/my-result"
    as_user(client, ev.suppliers[1])
    before = text(client.get(url))
    assert "has not been published yet" in before and "80.20" not in before
    awarded(ev)
    page = text(client.get(url))
    for own in ("80.20", "70.20", "10.00", "¥380,000.00", "3 of 3", "30.20", "24.20", "15.80"):
        assert own in page, own
    assert ev.suppliers[2].organisation.name in page and "¥450,000.00" in page  # the winner: public anyway
    for other in ("90.90", "93.84", "81.40", "85.40", "8.44", "9.50", "¥400,000.00", "36.20", "38.20",
                  ev.suppliers[0].organisation.name):
        assert other not in page, other
    assert "2026-12-15" in page  # the last day to challenge
    as_user(client, create_user("supplier"))
    assert client.get(url).status_code == 403
    as_user(client, ev.officers[0])
    assert client.get(url).status_code == 403  # a supplier's page


# --- Challenges ------------------------------------------------------------------------------------------------


def file(client, tender_id, grounds=GROUNDS, evidence=None):
    url = f"/tenders/{tender_id}/award/challenge"
    data = {"grounds": grounds, "csrf_token": csrf_token(client, url)}
    if evidence is not None:
        data["evidence"] = evidence
    response = client.post(url, data=data, content_type="multipart/form-data")
    db.session.expire_all()
    return response


def test_a_bidder_files_a_challenge_with_evidence(client, ev, create_user):
    awarded(ev)
    tender_id = ev.tender.id
    as_user(client, ev.suppliers[1])
    assert "2026-12-15" in text(client.get(f"/tenders/{tender_id}/award/challenge"))
    short = file(client, tender_id, grounds="评分不公")
    assert short.status_code == 400 and "at least 20" in text(short)
    response = file(client, tender_id, evidence=(io.BytesIO(PNG_BYTES), "评分表.png"))
    assert response.status_code == 302
    filed = db.session.scalar(sa.select(Challenge))
    assert response.headers["Location"].endswith(f"/challenges/{filed.id}")
    assert filed.supplier_id == ev.suppliers[1].organisation_id and filed.evidence_file.kind == "png"
    page = text(client.get(f"/challenges/{filed.id}"))
    assert GROUNDS in page and "2026-12-14" in page  # answer due 7 WD after Thursday 3 December
    assert fetch(client, f"/challenges/{filed.id}/evidence").data == PNG_BYTES
    for outsider in (ev.suppliers[0], create_user("supplier")):
        as_user(client, outsider)
        assert client.get(f"/challenges/{filed.id}").status_code == 403
        assert fetch(client, f"/challenges/{filed.id}/evidence").status_code == 403
    as_user(client, create_user("supplier"))
    assert client.get(f"/tenders/{tender_id}/award/challenge").status_code == 403
    as_user(client, ev.officers[1])
    assert client.get(f"/challenges/{filed.id}").status_code == 200
    assert fetch(client, f"/challenges/{filed.id}/evidence").status_code == 200


def test_a_challenge_after_the_last_day_is_refused(client, ev, clock):
    awarded(ev)
    clock.move_to(bj("2026-12-16", "00:00"))
    as_user(client, ev.suppliers[1])
    assert "ended on 2026-12-15" in text(client.get(f"/tenders/{ev.tender.id}/award/challenge"))
    response = file(client, ev.tender.id)
    assert response.status_code == 400 and "ended on 2026-12-15" in text(response)
    assert db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 0


def test_a_challenge_on_the_last_day_is_accepted(client, ev, clock):
    awarded(ev)
    clock.move_to(bj("2026-12-15", "23:59:00"))
    as_user(client, ev.suppliers[0])
    assert file(client, ev.tender.id).status_code == 302
    assert db.session.scalar(sa.select(Challenge.received_on)) == date(2026, 12, 15)


def test_officer_answers_and_records_a_challenge_that_cannot_change_the_result(client, ev):
    awarded(ev)
    first = service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[1], now=AT)
    second = service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[0], now=AT)
    db.session.commit()
    first_id, second_id, tender_id = first.id, second.id, ev.tender.id
    as_user(client, ev.suppliers[1])
    assert client.get(f"/tenders/{tender_id}/award/challenges").status_code == 403
    as_user(client, ev.officers[0])
    listing = text(client.get(f"/tenders/{tender_id}/award/challenges"))
    assert ev.suppliers[1].organisation.name in listing and ev.suppliers[0].organisation.name in listing
    page = f"/challenges/{first_id}"
    refused = post(client, f"{page}/answer", {"outcome": "upheld", "remedy": "", "answer": ANSWER}, page)
    assert refused.status_code == 302 and "needs its remedy" in text(client.get(page))
    assert db.session.get(Challenge, first_id).status == ChallengeStatus.OPEN
    done = post(client, f"{page}/answer", {"outcome": "rejected", "remedy": "", "answer": ANSWER}, page)
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Challenge, first_id).status == ChallengeStatus.REJECTED
    page = f"/challenges/{second_id}"
    marked = post(client, f"{page}/not-affecting", {"reason": "质疑事项仅涉及公告格式，不影响中标结果"}, page)
    assert marked.status_code == 302
    db.session.expire_all()
    assert db.session.get(Challenge, second_id).could_change_result is False
    as_user(client, ev.suppliers[0])  # the challenger cannot answer its own challenge
    answer = post(client, f"{page}/answer", {"outcome": "rejected", "answer": ANSWER},
                  f"/tenders/{tender_id}/award/challenge")
    assert answer.status_code == 403 and db.session.get(Challenge, second_id).status == ChallengeStatus.OPEN


def test_record_a_complaint_and_its_outcome(client, ev, clock):
    awarded(ev)
    filed = service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[1], now=AT)
    db.session.commit()
    clock.move_to(bj("2026-12-21"))
    url = f"/tenders/{ev.tender.id}/award/complaint"
    as_user(client, ev.officers[0])
    form = text(client.get(url))
    assert "郑州市财政局" in form
    response = post(client, url, {"supplier_id": filed.supplier_id, "challenge_id": filed.id,
                                  "filed_on": "2026-12-18", "authority": "郑州市财政局",
                                  "summary": "对质疑答复不满意，向财政部门投诉"}, url)
    assert response.status_code == 302
    complaint = db.session.scalar(sa.select(Complaint))
    assert complaint.filed_on == date(2026, 12, 18) and complaint.challenge_id == filed.id
    listing = f"/tenders/{ev.tender.id}/award/challenges"
    response = post(client, f"/complaints/{complaint.id}/outcome",
                    {"outcome": "投诉缺乏事实依据，驳回投诉", "decided_on": "2026-12-21"}, listing)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).decided_on == date(2026, 12, 21)
    assert "驳回投诉" in text(client.get(listing))
    as_user(client, ev.suppliers[1])
    assert client.get(url).status_code == 403


def test_challenge_lists_do_not_grow_with_the_number_of_challenges(client, ev):
    awarded(ev)
    service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[2], now=AT)
    db.session.commit()
    as_user(client, ev.officers[0])
    urls = [f"/tenders/{ev.tender.id}/award/challenges", f"/tenders/{ev.tender.id}/award"]
    [queries_for(client, url) for url in urls]  # warm up: the first request of a session does a little more
    with_one = [queries_for(client, url) for url in urls]
    for supplier in ev.suppliers[:2]:
        service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=supplier, now=AT)
    db.session.commit()
    assert [queries_for(client, url) for url in urls] == with_one


# --- The partials other pages include ---------------------------------------------------------------------------


def test_the_tender_page_partial_shows_a_bidder_its_links(app, ev, create_user):
    awarded(ev)
    template = '{% include "evaluation/_detail_award.html" %}'
    with app.test_request_context():
        login_user(ev.suppliers[1])
        html = render_template_string(template, tender=ev.tender)
    assert f"/tenders/{ev.tender.id}/award/my-result" in html and f"/tenders/{ev.tender.id}/award/challenge" in html
    assert "2026-12-15" in html and "/notices/" in html
    with app.test_request_context():
        login_user(create_user("supplier"))
        html = render_template_string(template, tender=ev.tender)
    assert "/notices/" in html and "my-result" not in html
    with app.test_request_context():
        html = render_template_string(template, tender=ev.tender)  # anonymous
    assert "/notices/" in html and "challenge" not in html


def test_the_committee_overview_partial(app, ev):
    template = '{% include "evaluation/_award_panel.html" %}'
    with app.test_request_context():
        login_user(ev.officers[0])
        html = render_template_string(template, tender=ev.tender, committee=ev.committee,
                                      results=results.results(ev.committee))
    assert "2026-12-10" in html and ev.suppliers[2].organisation.name in html
    assert f"/tenders/{ev.tender.id}/award" in html
    with app.test_request_context():
        login_user(ev.experts[0])  # a member sees the state, without a link to the officers' page
        html = render_template_string(template, tender=ev.tender, committee=ev.committee, results=None)
    assert "2026-12-10" in html and f"/tenders/{ev.tender.id}/award" not in html


def test_the_tender_page_shows_the_result_and_a_bidder_its_links(client, ev):
    awarded(ev)
    as_user(client, ev.suppliers[0])
    page = text(client.get(f"/tenders/{ev.tender.id}"))
    assert "my-result" in page and f"/tenders/{ev.tender.id}/award/challenge" in page and "2026-12-15" in page


# --- Review fixes ---------------------------------------------------------------------------------------------------


def test_the_award_page_shows_no_totals_before_the_scoring_is_closed(app, client, ev):
    ev.committee.scoring_closed_at = ev.committee.report_completed_at = None
    db.session.commit()
    assert results.results(ev.committee).ranked
    as_user(client, ev.officers[0])
    page = text(client.get(f"/tenders/{ev.tender.id}/award"))
    assert "closed its scoring" in page
    for total in ("93.84", "90.90", "80.20"):
        assert total not in page
    assert f"/tenders/{ev.tender.id}/award/confirm" not in page
    with app.test_request_context():
        login_user(ev.officers[0])
        html = render_template_string('{% include "evaluation/_award_panel.html" %}', tender=ev.tender,
                                      committee=ev.committee, results=results.results(ev.committee))
    assert "closed its scoring" in html and ev.suppliers[2].organisation.name not in html


def test_an_officer_of_another_bureau_cannot_answer_pass_over_or_record_a_complaint(client, ev, create_org,
                                                                                    create_user, city_bureau):
    awarded(ev)
    filed = service.file_challenge(ev.tender, grounds=GROUNDS, evidence=None, actor=ev.suppliers[1], now=AT)
    db.session.commit()
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    as_user(client, create_user("officer", organisation_id=district.id))
    base = f"/tenders/{ev.tender.id}/award"
    token = csrf_token(client, "/notices")
    answer = client.post(f"/challenges/{filed.id}/answer", data={"outcome": "upheld", "remedy": "retender",
                                                                 "answer": ANSWER, "csrf_token": token})
    over = client.post(f"{base}/pass-over", data={"supplier_id": ev.suppliers[2].organisation_id,
                                                  "reason": "declined", "note": "书面声明放弃中标资格",
                                                  "csrf_token": token})
    complaint = client.post(f"{base}/complaint", data={"supplier_id": filed.supplier_id, "challenge_id": filed.id,
                                                       "filed_on": "2026-12-03", "authority": "郑州市财政局",
                                                       "summary": "对质疑答复不满意", "csrf_token": token})
    assert [answer.status_code, over.status_code, complaint.status_code, client.get(f"{base}/complaint").status_code,
            client.get(f"/challenges/{filed.id}").status_code] == [403] * 5
    db.session.expire_all()
    assert db.session.get(Challenge, filed.id).status == ChallengeStatus.OPEN
    assert db.session.scalar(sa.select(PassOver)) is None and db.session.scalar(sa.select(Complaint)) is None
    assert service.active_award(ev.tender).supplier_id == ev.suppliers[2].organisation_id
