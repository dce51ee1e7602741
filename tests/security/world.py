"""One populated world for the security suites, and the walk of every route through it.

The route-matrix world (tests/views/test_route_matrix.py) already holds a real object of every kind a route takes
(a tender taking sealed bids, an evaluated and challenged tender, a signed contract with installments, a graded and
appealed review with evidence, an assessment, a commendation list, a funding plan); its objects belong to the city
bureau (bureau A) and its NGO (X). This module adds the principals the matrix walk lacks: an officer of another
bureau (B, a district of the city), a colleague of bureau A who authored nothing, a second bidder (NGO Y, with its
own sealed bid on the world's tender) and an expert who sits on nothing.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from portal.accounts.models import OrgKind, User
from portal.extensions import db
from portal.tenders import bidding
from tests.conftest import login
from tests.tender_factories import submission
from tests.views.test_route_matrix import _url

# Each principal, and the route-matrix role whose entitlements it starts from.
PRINCIPALS = {
    "anonymous": "anonymous",
    "officer_a": "officer",  # the world's officer: bureau A (the city bureau) made every object
    "city_officer": "officer",  # a colleague at bureau A who made nothing
    "officer_b": "officer",  # an officer of another bureau (a district under the city)
    "ngo_x": "supplier",  # the world's NGO: bidder, contractor, reviewed, appellant
    "ngo_y": "supplier",  # another bidder on the world's tender, party to nothing else
    "expert_in": "evaluator",  # the world's expert: chairs the committee, reviews the contract
    "expert_out": "evaluator",  # an expert in the pool who sits on nothing
    "admin": "admin",
}

# Route arguments that do not name an object of bureau A or NGO X.
NEUTRAL_ARGUMENTS = {"year", "filename", "ocid"}


@dataclass
class SecurityWorld:
    users: dict[str, User | None]  # by principal
    args: dict  # the route-matrix world's URL arguments, plus "bid_y_id"

    def client(self, app, principal: str):
        """A test client signed in as ``principal`` (anonymous: not signed in)."""
        client = app.test_client()
        user = self.users[principal]
        if user is not None:
            response = login(client, user.username)
            assert response.status_code == 302, f"{principal} could not sign in"
        return client

    def routes(self, app, args: dict | None = None) -> list[tuple[object, str]]:
        """Every rule of the URL map with a URL naming the world's objects (or those of ``args``)."""
        return [(rule, _url(app, rule, args or self.args)) for rule in app.url_map.iter_rules()]


def extend_world(world, create_user, create_org, *, now: datetime) -> SecurityWorld:
    """The route-matrix ``world`` with the principals it lacks (see the module docstring)."""
    users, args = world
    city = users["officer"].organisation
    district = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city.id)
    ngo_y = create_user("supplier")
    principals = {
        "anonymous": None, "officer_a": users["officer"], "city_officer": create_user("officer"),
        "officer_b": create_user("officer", organisation_id=district.id), "ngo_x": users["supplier"],
        "ngo_y": ngo_y, "expert_in": users["evaluator"], "expert_out": create_user("evaluator"),
        "admin": users["admin"],
    }
    from portal.tenders.models import Tender

    tender = db.session.get(Tender, args["tender_id"])
    with current_app.test_request_context():
        bid_y = bidding.submit_bid(tender, submission("390000.00"), actor=ngo_y, now=now)
    db.session.commit()
    return SecurityWorld(principals, args | {"bid_y_id": bid_y.id, "file_y_id": bid_y.files[0].id})


def pdf_text(data: bytes) -> str:
    """The text of a PDF as pdftotext (poppler) extracts it, streams decompressed; empty if it is no real PDF."""
    done = subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True,
                          check=False, timeout=60)
    return done.stdout.decode("utf-8", "replace")


def readable(response) -> str:
    """Everything a reader of ``response`` could see: the body as text, a PDF's extracted text, every member of a
    zip container (xlsx, docx) unpacked."""
    data = response.get_data()
    text = data.decode("utf-8", "replace")
    if data.startswith(b"%PDF"):
        return text + pdf_text(data)
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return text + "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    return text
