"""Every route against every principal, and other organisations' objects requested by ID.

The walk goes through app.url_map with the security world's objects (tests/security/world.py): a principal gets a
2xx (or a redirect) only where the tables below say it is entitled; everywhere else a signed-in principal gets
403/404 and an anonymous one the login page. The role gate is ROUTE_MATRIX (the written specification) with the
route-matrix walk's OBJECT_RULES for the principals it already knows; what the new principals may reach is written
out by hand here, so a permission bug cannot hide behind the code that has it.
"""

from __future__ import annotations

from flask import url_for

from portal.permissions import PUBLIC, ROUTE_MATRIX, is_allowed
from tests.conftest import csrf_token
from tests.security.world import NEUTRAL_ARGUMENTS, PRINCIPALS
from tests.views.test_route_matrix import OBJECT_RULES

# Routes naming an object of bureau A or NGO X that an outsider still reaches, and why.
OUTSIDER_REACHES = {
    "officer_b": {
        "accounts.download_document",  # any bureau's officer reads an NGO's credentials (qualification checks)
        "reviews.organisation_record",  # any bureau's officer reads an NGO's performance record
    },
    "ngo_y": {
        "tenders.bid", "tenders.bid_submit", "tenders.bid_withdraw",  # its own bid on the open tender
        "tenders.ask",  # any supplier may ask about an open tender
        "tenders.opening", "tenders.opening_pdf",  # a bidder follows the opening of a tender it bid on
    },
    "expert_out": set(),
}
# POST routes whose refusal is a service rule: the request is answered with a redirect and an error message.
SERVICE_REFUSED = {"tenders.final_quote"}  # only suppliers still in a negotiation may send a final quote
# Routes a colleague at bureau A does not reach although the world's officer does: the officer's own notification.
COLLEAGUE_REFUSED = {"notify.read"}


def _names_an_object(rule) -> bool:
    return bool(set(rule.arguments) - NEUTRAL_ARGUMENTS) and ROUTE_MATRIX.get(rule.endpoint) != PUBLIC


def entitled(principal: str, rule, user) -> bool:
    """What the tables above say about ``principal`` reaching ``rule`` in the security world."""
    role = PRINCIPALS[principal]
    if not is_allowed(rule.endpoint, user):
        return False
    if principal in OUTSIDER_REACHES and _names_an_object(rule):
        return rule.endpoint in OUTSIDER_REACHES[principal]
    if principal == "city_officer" and rule.endpoint in COLLEAGUE_REFUSED:
        return False
    return rule.endpoint not in OBJECT_RULES or role in OBJECT_RULES[rule.endpoint]


def _outcome(principal, rule, url, response, allowed) -> str | None:
    """What is wrong with ``response``, or None."""
    status, location = response.status_code, response.location or ""
    where = f"{principal} {rule.endpoint} {url}: {status} {location}"
    if allowed:
        if status not in (200, 302) or ("/login" in location and rule.endpoint != "accounts.login"):
            return "refused although entitled: " + where
    elif principal == "anonymous":
        if not (status == 302 and "/login" in location):
            return "not sent to the login page: " + where
    elif status not in (403, 404):
        return "reached without entitlement: " + where
    return None


def _told_so(client, principal, url, response) -> str | None:
    """A service-rule refusal: the page redirected to shows an error and no success."""
    page = client.get(response.location).get_data(as_text=True)
    if "alert-danger" in page and "alert-success" not in page:
        return None
    return f"service rule did not refuse {principal} at {url}"


def test_every_route_refuses_every_principal_not_entitled(app, security_world):
    routes = security_world.routes(app)
    problems = []
    for principal in PRINCIPALS:
        client = security_world.client(app, principal)
        user = security_world.users[principal]
        token = csrf_token(client, "/")
        for rule, url in routes:
            allowed = entitled(principal, rule, user)
            if "GET" in rule.methods:
                response = client.get(url)
            elif allowed:
                continue  # a permitted POST changes data: the features' own tests drive it
            else:
                response = client.post(url, data={"csrf_token": token})
            response.close()
            if user and not allowed and rule.endpoint in SERVICE_REFUSED and response.status_code == 302:
                problems.append(_told_so(client, principal, url, response))
                continue
            problems.append(_outcome(principal, rule, url, response, allowed))
    found = [p for p in problems if p]
    assert not found, "\n".join(found)


def _get(app, client, endpoint, **values):
    with app.test_request_context():
        url = url_for(endpoint, **values)
    response = client.get(url)
    response.close()
    return response.status_code, url


def _refused(app, world, principal, requests) -> list[str]:
    client = world.client(app, principal)
    reached = []
    for endpoint, values in requests:
        status, url = _get(app, client, endpoint, **values)
        if status not in (403, 404):
            reached.append(f"{principal} {url}: {status}")
    return reached


def test_other_organisations_objects_are_refused_by_id(app, security_world):
    world = security_world
    a, ev = world.args, world.args["evaluation"]
    ngo_x_objects = [
        ("tenders.bid_receipt", {"bid_id": a["bid_id"]}),
        ("tenders.bid_file", {"bid_id": a["bid_id"], "file_id": a["file_id"]}),
        ("evaluation.bid_file", {"tender_id": ev["tender_id"], "file_id": ev["file_id"]}),
        ("evaluation.member_sheet", {"tender_id": ev["tender_id"], "member_id": ev["member_id"]}),
        ("evaluation.sheets", {"tender_id": ev["tender_id"]}),
        ("evaluation.challenge", {"challenge_id": a["challenge_id"]}),
        ("evaluation.challenge_evidence", {"challenge_id": a["challenge_id"]}),
        ("contracts.detail", {"contract_id": a["contract_id"]}),
        ("contracts.pdf", {"contract_id": a["contract_id"]}),
        ("contracts.amendment_pdf", {"amendment_id": a["amendment_id"]}),
        ("contracts.report_file", {"report_id": a["report_id"]}),
        ("reviews.review_detail", {"review_id": a["review_id"]}),
        ("reviews.sheets", {"review_id": a["review_id"]}),
        ("reviews.evidence_file", {"evidence_id": a["evidence_id"]}),
        ("reviews.rectification_file", {"rectification_id": a["rectification_id"]}),
        ("assessment.yearly_detail", {"assessment_id": a["assessment_id"]}),
    ]
    bureau_a_objects = ngo_x_objects[2:] + [
        ("projects.project_detail", {"project_id": a["project_id"]}),
        ("projects.download_survey", {"project_id": a["project_id"]}),
        ("tenders.bids", {"tender_id": a["tender_id"]}),
        ("evaluation.report_pdf", {"tender_id": ev["tender_id"]}),
        ("evaluation.award_letter", {"tender_id": ev["tender_id"]}),
        ("assessment.funding_plan", {"plan_id": a["plan_id"]}),
    ]
    committee_objects = [
        ("evaluation.overview", {"tender_id": ev["tender_id"]}),
        ("evaluation.sheet", {"tender_id": ev["tender_id"]}),
        ("evaluation.sheets", {"tender_id": ev["tender_id"]}),
        ("evaluation.member_sheet", {"tender_id": ev["tender_id"], "member_id": ev["member_id"]}),
        ("evaluation.report", {"tender_id": ev["tender_id"]}),
        ("evaluation.bid_file", {"tender_id": ev["tender_id"], "file_id": ev["file_id"]}),
        ("reviews.sheet", {"review_id": a["review_id"]}),
        ("reviews.sheets", {"review_id": a["review_id"]}),
        ("reviews.evidence_file", {"evidence_id": a["evidence_id"]}),
    ]
    own_bid_y = [("tenders.bid_file", {"bid_id": a["bid_y_id"], "file_id": a["file_y_id"]})]
    assert (_refused(app, world, "ngo_y", ngo_x_objects + [("accounts.download_document",
                                                            {"document_id": a["document_id"]})])
            + _refused(app, world, "ngo_x", own_bid_y)
            + _refused(app, world, "officer_b", bureau_a_objects)
            + _refused(app, world, "expert_out", committee_objects)) == []
    # The same requests reach the object for its owner: the refusals above are about who asks, not what exists.
    client = world.client(app, "ngo_x")
    assert _get(app, client, "contracts.detail", contract_id=a["contract_id"])[0] == 200
    assert _get(app, client, "reviews.evidence_file", evidence_id=a["evidence_id"])[0] == 200
    assert _get(app, client, "tenders.bid_receipt", bid_id=a["bid_id"])[0] == 200
