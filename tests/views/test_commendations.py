"""Commendations through HTTP: the city officer's lists (opening a year, candidates with their reasons and sources,
adding and removing, publicising, answering comments, withdrawing, confirming), the public pages (no sign-in, only
publicised and confirmed lists, the comment form during the 公示 only, CSRF on, no commenter's details shown), the
certificates (public once confirmed), who may do what, and no N+1 queries.

The clock starts on Wednesday 30 September 2026, 10:00 Beijing: a list publicised then takes comments until Tuesday
13 October (National Day 1-7 October is no working day; Saturday 10 October is) and is confirmed from 14 October.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
import time_machine

from portal.assessment import commendations
from portal.assessment.models import Commendation, CommendationList, ListStatus, PublicComment
from portal.extensions import db
from portal.i18n import LANG_COOKIE
from tests.commendation_builders import (
    confirmed_list,
    district,
    draft_list,
    excellent_ngo,
    publicised_list,
)
from tests.conftest import csrf_token
from tests.support.queries import queries_for
from tests.support.web import as_user, bj, fetch, text

START = bj("2026-09-30")
CONTACT = "13912345678"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def officer(create_user):
    user = create_user("officer")
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def ngo(city_bureau, create_user):
    return excellent_ngo(city_bureau, create_user, year=2026)


def post(client, url, csrf_from="/", **data):
    return client.post(url, data={"csrf_token": csrf_token(client, csrf_from)} | data)


def detail_url(lst) -> str:
    return f"/assessment/commendations/{lst.id}"


def public_url(lst) -> str:
    return f"/assessment/public/commendations/{lst.id}"


def anonymous_in_english(client):
    as_user(client, None)
    client.set_cookie(LANG_COOKIE, "en")
    return client


# --- The officer's lists -------------------------------------------------------------------------------------------


def test_the_city_officer_opens_a_year_and_lands_on_its_candidates(client, city_bureau, officer, ngo):
    as_user(client, officer)
    page = text(client.get("/assessment/commendations"))
    assert "Open the commendation list of a year" in page and 'value="2026"' in page
    response = post(client, "/assessment/commendations", year="2026")
    lst = db.session.scalar(sa.select(CommendationList))
    assert response.status_code == 302 and response.location.endswith(detail_url(lst))
    page = text(client.get(detail_url(lst)))
    assert "郑州市民政局2026年度社会工作服务表彰" in page and "Candidates proposed by rule" in page
    assert ngo.organisation.name in page and "平均得分89.25分" in page
    assert all(f'href="/reviews/{r.review.id}"' in page for r in ngo.reviews)
    again = post(client, "/assessment/commendations", year="2026")
    assert again.status_code == 422 and "The commendation list of 2026 already exists." in text(again)
    assert post(client, "/assessment/commendations", year="1999").status_code == 400
    assert "郑州市民政局2026年度社会工作服务表彰" in text(client.get("/assessment/commendations"))


def test_who_sees_and_opens_lists(client, city_bureau, create_org, create_user, officer):
    lst = draft_list(city_bureau, officer, [], at=START)
    other_city = create_org("bureau", name="洛阳市民政局", level="city")
    other = draft_list(other_city, create_user("officer", organisation_id=other_city.id), [], at=START)
    district_officer = create_user("officer", organisation_id=district(create_org, city_bureau).id)
    as_user(client, district_officer)
    page = text(client.get("/assessment/commendations"))
    assert lst.title not in page and "Open the list" not in page
    assert client.get(detail_url(lst)).status_code == 403
    assert post(client, "/assessment/commendations", year="2026").status_code == 403
    as_user(client, create_user("admin"))
    page = text(client.get("/assessment/commendations"))
    assert lst.title in page and other.title in page and "Open the list" not in page
    assert client.get(detail_url(lst)).status_code == 200
    assert post(client, f"{detail_url(lst)}/publicise").status_code == 403  # admin reads, never acts
    as_user(client, create_user("supplier"))
    assert client.get("/assessment/commendations").status_code == 403
    as_user(client, None)
    assert "/login" in client.get(detail_url(lst)).location


def test_adding_a_candidate_and_refusing_one_that_is_not(client, city_bureau, create_user, officer, ngo):
    lst = draft_list(city_bureau, officer, [], at=START)
    as_user(client, officer)
    response = post(client, f"{detail_url(lst)}/entries", key=ngo.key, level="first", reason="")
    assert response.status_code == 302
    [entry] = db.session.scalars(sa.select(Commendation)).all()
    assert (entry.level, entry.organisation_id) == ("first", ngo.organisation.id)
    page = text(client.get(detail_url(lst)))
    assert "On the list" in page and "First class (一等)" in page
    refused = post(client, f"{detail_url(lst)}/entries", key="ngo:424242", level="second", reason="")
    assert refused.status_code == 422 and "Only a candidate proposed by the rules for 2026" in text(refused)
    assert post(client, f"{detail_url(lst)}/entries", key="", level="second").status_code == 400
    assert post(client, f"{detail_url(lst)}/entries", key=ngo.key, level="gold").status_code == 400
    removed = post(client, f"/assessment/commendations/entries/{entry.id}/remove")
    assert removed.status_code == 302 and db.session.scalar(sa.select(sa.func.count(Commendation.id))) == 0
    as_user(client, create_user("officer"))  # another officer of the city bureau: may act too
    assert post(client, f"{detail_url(lst)}/entries", key=ngo.key, level="second").status_code == 302


def test_publicising_opens_the_public_page_with_the_comment_form(client, city_bureau, officer, ngo):
    lst = draft_list(city_bureau, officer, [ngo.key], at=START)
    anonymous_in_english(client)
    assert client.get(public_url(lst)).status_code == 404  # a draft is not public
    assert ngo.organisation.name not in text(client.get("/assessment/public/commendations"))
    as_user(client, officer)
    response = post(client, f"{detail_url(lst)}/publicise")
    assert response.status_code == 302
    db.session.refresh(lst)
    assert lst.status == ListStatus.PUBLICISED and lst.publicity_ends_on == date(2026, 10, 13)
    assert "2026-10-13" in text(client.get(detail_url(lst)))
    anonymous_in_english(client)
    index = text(client.get("/assessment/public/commendations"))
    assert lst.title in index and "Comments until 2026-10-13" in index
    page = text(client.get(public_url(lst)))
    assert ngo.organisation.name in page and "Comment on this list" in page and 'name="csrf_token"' in page
    assert f'href="/notices/{lst.publicity_notice_id}"' in page
    assert "Download (PDF)" not in page


def test_anyone_comments_during_the_publicity_with_a_csrf_token_and_is_never_shown(client, city_bureau, officer,
                                                                                   ngo, clock):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=START)
    anonymous_in_english(client)
    data = {"name": "王五", "contact": CONTACT, "text": "该机构负责人系评审专家亲属，请核实。"}
    assert client.post(f"{public_url(lst)}/comments", data=data).status_code == 400  # no CSRF token
    short = post(client, f"{public_url(lst)}/comments", public_url(lst), **(data | {"text": "太短"}))
    assert short.status_code == 400 and db.session.scalar(sa.select(sa.func.count(PublicComment.id))) == 0
    clock.move_to(bj("2026-10-13", "23:50"))  # the last day of comment
    sent = post(client, f"{public_url(lst)}/comments", public_url(lst), **data)
    assert sent.status_code == 302 and sent.location.endswith(public_url(lst))
    page = text(client.get(public_url(lst)))
    assert "Your comment has been received" in page
    assert CONTACT not in page and "王五" not in page and "评审专家亲属" not in page
    clock.move_to(bj("2026-10-14", "00:10"))
    page = text(client.get(public_url(lst)))
    assert "Comment on this list" not in page and "The public comment period has ended" in page
    late = post(client, f"{public_url(lst)}/comments", "/", **data)
    assert late.status_code == 422 and "which ended on 2026-10-13" in text(late)
    as_user(client, officer)
    page = text(client.get(detail_url(lst)))
    assert CONTACT in page and "王五" in page and "Not answered yet." not in page  # the form is there instead
    assert "1 comment still needs an answer" in page


def test_the_officer_answers_withdraws_and_confirms_then_certificates_are_public(client, city_bureau, create_user,
                                                                                  officer, ngo, clock):
    other = excellent_ngo(city_bureau, create_user, year=2026)
    lst = publicised_list(city_bureau, officer, [ngo.key, other.key], at=START)
    comment = commendations.add_public_comment(lst, name="王五", contact=CONTACT,
                                               text="该机构年度内有投诉未处理，请核实。", now=bj("2026-10-09"))
    db.session.commit()
    entry_id = next(c.id for c in lst.commendations if c.organisation_id == ngo.organisation.id)
    clock.move_to(bj("2026-10-13"))
    as_user(client, officer)
    early = post(client, f"{detail_url(lst)}/confirm")
    assert early.status_code == 422 and "runs until 2026-10-13" in text(early)
    assert post(client, f"/assessment/commendations/comments/{comment.id}/answer", response="").status_code == 400
    answered = post(client, f"/assessment/commendations/comments/{comment.id}/answer",
                    response="经核实，投诉属实且未处理，已撤销该机构的表彰。")
    assert answered.status_code == 302
    short = post(client, f"/assessment/commendations/entries/{entry_id}/withdraw", reason="不实")
    assert short.status_code == 400
    withdrawn = post(client, f"/assessment/commendations/entries/{entry_id}/withdraw",
                     reason="经核实，该机构年度内有服务对象投诉未处理。")
    db.session.expire_all()
    assert withdrawn.status_code == 302 and db.session.get(Commendation, entry_id) is None
    [kept] = db.session.scalars(sa.select(Commendation)).all()
    anonymous_in_english(client)
    assert client.get(f"/assessment/public/certificates/{kept.id}.pdf").status_code == 404  # not confirmed yet
    clock.move_to(bj("2026-10-14"))
    as_user(client, officer)
    assert post(client, f"{detail_url(lst)}/confirm").status_code == 302
    db.session.refresh(kept)
    db.session.refresh(lst)
    assert kept.certificate.number == "RY-2026-00001"
    assert "经核实，投诉属实且未处理" in text(client.get(detail_url(lst)))
    anonymous_in_english(client)
    page = text(client.get(public_url(lst)))
    assert f'href="/assessment/public/certificates/{kept.id}.pdf"' in page and "No. RY-2026-00001" in page
    assert ngo.organisation.name not in page and other.organisation.name in page
    assert f'href="/notices/{lst.notice_id}"' in page
    response = fetch(client, f"/assessment/public/certificates/{kept.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_actions_of_another_bureau_or_role_are_refused(client, city_bureau, create_org, create_user, officer, ngo):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=START)
    comment = commendations.add_public_comment(lst, name="王五", contact=CONTACT, text="请核实该机构的服务情况。",
                                               now=START)
    db.session.commit()
    entry = lst.commendations[0]
    as_user(client, create_user("officer", organisation_id=district(create_org, city_bureau).id))
    for url in (f"{detail_url(lst)}/confirm", f"{detail_url(lst)}/publicise", f"{detail_url(lst)}/entries",
                f"/assessment/commendations/entries/{entry.id}/withdraw",
                f"/assessment/commendations/entries/{entry.id}/remove",
                f"/assessment/commendations/comments/{comment.id}/answer"):
        assert post(client, url, reason="经核实，该机构不符合条件。", response="答复内容。").status_code == 403, url
    as_user(client, ngo.first.supplier)
    assert client.get(detail_url(lst)).status_code == 403
    assert post(client, f"{detail_url(lst)}/confirm").status_code == 403
    as_user(client, officer)
    assert client.get("/assessment/commendations/999999").status_code == 404


def test_pages_do_not_grow_queries_with_entries_or_candidates(client, city_bureau, create_user, officer):
    few = [excellent_ngo(city_bureau, create_user, year=2025)]
    many = [excellent_ngo(city_bureau, create_user, year=2024) for _ in range(4)]
    small = draft_list(city_bureau, officer, [n.key for n in few], year=2025, at=START)
    large = draft_list(city_bureau, officer, [n.key for n in many], year=2024, at=START)
    as_user(client, officer)
    assert queries_for(client, detail_url(small)) == queries_for(client, detail_url(large))
    for lst in (small, large):
        commendations.publicise(lst, actor=officer, now=START)
        commendations.confirm(lst, actor=officer, now=bj("2026-10-14"))
    db.session.commit()
    assert queries_for(client, detail_url(small)) == queries_for(client, detail_url(large))
    anonymous_in_english(client)
    assert queries_for(client, public_url(small)) == queries_for(client, public_url(large))
    one = queries_for(client, "/assessment/public/commendations")
    draft_list(city_bureau, officer, [], year=2023, at=START)
    confirmed_list(city_bureau, officer, [excellent_ngo(city_bureau, create_user, year=2022).key], year=2022, at=START)
    assert queries_for(client, "/assessment/public/commendations") == one
    as_user(client, officer)
    one = queries_for(client, "/assessment/commendations")
    draft_list(city_bureau, officer, [], year=2021, at=START)
    assert queries_for(client, "/assessment/commendations") == one


def test_one_address_sends_at_most_five_comments_a_day_on_a_list(client, city_bureau, officer, ngo, clock):
    lst = publicised_list(city_bureau, officer, [ngo.key], at=START)
    anonymous_in_english(client)
    data = {"name": "王五", "contact": CONTACT, "text": "该机构负责人系评审专家亲属，请核实。"}
    clock.move_to(bj("2026-10-09", "09:00"))
    for _n in range(commendations.COMMENTS_PER_IP_PER_DAY):
        assert post(client, f"{public_url(lst)}/comments", public_url(lst), **data).status_code == 302
    refused = post(client, f"{public_url(lst)}/comments", public_url(lst), **data)
    assert refused.status_code == 429 and "already sent 5 comments on this list today" in text(refused)
    other = client.post(f"{public_url(lst)}/comments", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                        data={"csrf_token": csrf_token(client, public_url(lst))} | data)
    assert other.status_code == 302  # another address
    clock.move_to(bj("2026-10-10", "09:00"))  # the next day
    assert post(client, f"{public_url(lst)}/comments", public_url(lst), **data).status_code == 302
    ips = db.session.scalars(sa.select(PublicComment.ip)).all()
    assert len(ips) == 7 and set(ips) == {"127.0.0.1", "203.0.113.9"}
