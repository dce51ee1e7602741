"""Every list page in one place: the SQL statements of a request are the same with N rows and with 3N (issue 10).

The pages are found, not listed: every GET route of the URL map without path arguments, visited by each
principal ROUTE_MATRIX lets in (anonymous for public pages; a city officer, an NGO user, an expert and an
administrator for the others). The rows come in blocks: ten tenders from the benchmark generator (every status:
open for bids, opened, failed, under evaluation, awarded with contract, installments and reviews), plus a
notification for each signed-in user, a review assignment for the expert, a user, an NGO, a confirmed commendation list,
a funding plan and a yearly assessment. A page whose count differs between one block and three has an N+1."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bench.generate import new_rows, sync_sequences, write
from bench.tenders import tender as bench_tender
from bench.world import World
from portal.assessment.models import PlanStatus
from portal.contracts.models import Contract
from portal.evaluation.models import Committee, CommitteeMember
from portal.extensions import db
from portal.notify import notify
from portal.permissions import PUBLIC, ROUTE_MATRIX, SIGNED_IN, Role
from portal.reviews.models import Review, Reviewer
from portal.tenders.models import Tender
from tests.export_builders import funding_plan
from tests.funding_builders import assessment, commendation_list, district, project
from tests.support.queries import queries_for
from tests.support.web import as_user, fetch

BLOCK = 10  # tenders per block: one of each status digit of the generator
PRINCIPALS = ("anonymous", "officer", "supplier", "evaluator", "admin")
SKIP = {"accounts.logout", "main.set_language"}  # act on GET (sign out, switch language): nothing to list


def list_pages(app) -> list[str]:
    """(endpoint, url) of every GET route that takes no argument, static files aside."""
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static" and rule.endpoint not in SKIP:
            pages.append((rule.endpoint, rule.rule))
    return sorted(pages)


def allowed(endpoint: str, principal: str) -> bool:
    rule = ROUTE_MATRIX[endpoint]
    if principal == "anonymous":
        return rule == PUBLIC
    return rule == SIGNED_IN or (rule != PUBLIC and Role(principal) in rule)


class Grower:
    """Adds blocks of rows for the signed-in principals."""

    def __init__(self, city, create_org, create_user, now):
        self.city, self.create_org, self.create_user, self.now, self.blocks = city, create_org, create_user, now, 0
        bureau = district(create_org, city, "增长区民政局")
        officers = [create_user("officer", organisation_id=bureau.id) for _ in range(2)]
        ngos = [create_user("supplier") for _ in range(BLOCK)]
        experts = [create_user("evaluator") for _ in range(8)]
        self.world = World(bureaus=[(bureau.id, officers[0].id, officers[1].id, bureau.name)],
                           ngos=[(u.organisation_id, u.id, u.organisation.name) for u in ngos],
                           experts=[e.id for e in experts])
        self.bureau, self.officer = bureau, create_user("officer", organisation_id=city.id)
        self.admin = create_user("admin")
        self.grow()
        first = db.session.scalar(sa.select(Tender.id).where(Tender.reference == "BM-0000000"))
        winner = db.session.scalar(sa.select(Contract.supplier_id).where(Contract.tender_id == first))
        seats = sa.select(CommitteeMember.user_id).join(Committee, CommitteeMember.committee_id == Committee.id)
        chair = db.session.scalar(seats.where(Committee.tender_id == first, CommitteeMember.position == 1))
        self.users = {"officer": self.officer, "admin": self.admin, "anonymous": None,
                      "supplier": next(u for u in ngos if u.organisation_id == winner),
                      "evaluator": next(e for e in experts if e.id == chair)}
        self.extras()

    def grow(self) -> None:
        """Ten more bench tenders (with all they hold)."""
        rows = new_rows(self.world, self.now)
        for n in range(self.blocks * BLOCK, (self.blocks + 1) * BLOCK):
            bench_tender(rows, n)
        write(rows)
        sync_sequences()
        db.session.commit()
        self.blocks += 1

    def extras(self) -> None:
        """What the bench tenders do not make: notifications, review assignments, users, assessment records."""
        year = 2000 + self.blocks
        for user in (self.officer, self.admin, self.users["supplier"], self.users["evaluator"]):
            notify(user, "mail_check", {"sent_at": self.now}, now=self.now)
        for review in db.session.scalars(sa.select(Review).where(Review.status == "planned", ~Review.reviewers.any())):
            db.session.add(Reviewer(review_id=review.id, user_id=self.users["evaluator"].id, kind="expert",
                                    assigned_by_id=self.officer.id, assigned_at=self.now - timedelta(days=1)))
        self.create_user("officer", organisation_id=self.bureau.id)
        self.create_org()
        commendation_list(self.city, year, [(self.users["supplier"].organisation, "first", "ngo")])
        assessment(self.city, self.bureau, year, "good", now=self.now)
        funding_plan(self.city, [(project(self.bureau, f"增长项目{year}", budget=100_000, base_priority=50,
                                          fiscal_year=year), "90000")], status=PlanStatus.APPROVED, year=year,
                     title=f"{year}年度资金安排")
        db.session.commit()


def landing(client, url: str) -> str:
    """The page a URL shows: itself, or where it redirects (e.g. the NGO's own record)."""
    response = fetch(client, url)
    return urlsplit(response.location).path if response.status_code in (301, 302, 303) else url


def counts(app, client, grower) -> dict:
    found = {}
    for principal in PRINCIPALS:
        as_user(client, grower.users[principal])
        for endpoint, url in list_pages(app):
            if allowed(endpoint, principal):
                found[principal, url] = queries_for(client, landing(client, url))
    return found


@pytest.mark.usefixtures("english_messages")
def test_no_list_page_runs_more_queries_with_more_rows(app, client, city_bureau, create_org, create_user, now):
    grower = Grower(city_bureau, create_org, create_user, now)
    few = counts(app, client, grower)
    assert len(few) > 30  # the discovery found the pages
    for _ in range(2):
        grower.grow()
        grower.extras()
    many = counts(app, client, grower)
    grown = {key: (few[key], many[key]) for key in few if few[key] != many[key]}
    assert not grown, f"pages whose query count grows with the rows (N, 3N): {grown}"
