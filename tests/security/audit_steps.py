"""Steps of the audit-trail suite (tests/security/test_audit_trail.py): requests through the web with the audit
rows each left, a fingerprint of everything else in the database, and the worlds the requests start from.

The worlds are setup, not the requests under test: they come from the builders (tests/*_builders.py,
tests/evaluation_factories.py) and, where no builder stops at the state wanted (a committee drawn but not yet
declared), from the services with their own actors and clocks. The form data here is what the portal's forms post.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from portal.audit import AuditEntry, verify_chain
from portal.calendar import save_year
from portal.contracts.models import Gate
from portal.evaluation import committee as committees
from portal.evaluation.models import Committee
from portal.extensions import db
from portal.reviews import scoring as review_scoring
from portal.tenders.models import Bid, Tender
from tests.award_builders import POINTS, PRICES
from tests.conftest import PASSWORD, csrf_token, login
from tests.evaluation_factories import make_opened_tender, make_pool
from tests.review_builders import leaf_points
from tests.tender_factories import pdf_with

AUDIT_TABLES = {"audit_entries", "audit_head"}


def last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.seq), 0)))


class Trail:
    """Requests of signed-in users, each with the audit rows it left."""

    def __init__(self, app):
        self.app = app
        self.clients = {}

    def client(self, user):
        if user.id not in self.clients:
            client = self.app.test_client()
            assert login(client, user.username).status_code == 302
            self.clients[user.id] = client
        return self.clients[user.id]

    def forget_sessions(self) -> None:
        """Sign everyone in again (after the test moved the clock past the sessions' lifetime)."""
        self.clients.clear()

    def request(self, user, method: str, url: str, **data):
        """(response, rows) of one request by ``user``; a POST carries a valid CSRF token."""
        client = self.client(user)
        if method == "POST":
            data["csrf_token"] = csrf_token(client, "/notices")
        before = last_seq()
        response = client.open(url, method=method, data=data, content_type="multipart/form-data")
        response.close()
        db.session.expire_all()
        rows = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq > before).order_by(AuditEntry.seq))
        return response, list(rows)


def fingerprint() -> dict[str, list[str]]:
    """Every row of every table but the audit chain's, as text: two fingerprints are equal when nothing else
    changed in between."""
    tables = {}
    for table in db.metadata.sorted_tables:
        if table.name not in AUDIT_TABLES:
            tables[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(sa.select(table)))
    return tables


def changed_tables(before: dict[str, list[str]]) -> list[str]:
    after = fingerprint()
    return sorted(name for name in before if before[name] != after[name])


def chain_ok() -> bool:
    return verify_chain().ok


# --- The evaluation world: an opened tender and a committee drawn, nobody declared yet -----------------------------


@dataclass
class Drawn:
    tender: Tender
    committee: Committee
    bids: list[Bid]
    officers: list  # the bureau's two officers (officers[0] manages the tender)
    suppliers: list  # the bidders' users, in bid order: supplier 2 ranks first, supplier 1 last (award_builders)
    experts: list  # the five members; experts[0] is made chair once everyone has declared


def drawn_committee(bureau, create_user, *, at: datetime) -> Drawn:
    """Three bids (tests/award_builders.PRICES) received at ``at`` and opened a day later; a committee of the whole
    pool of five experts drawn an hour after the opening. Committed."""
    officers = [create_user("officer", organisation_id=bureau.id) for _ in range(2)]
    suppliers = [create_user("supplier") for _ in PRICES]
    experts = make_pool(create_user, 5)
    tender, bids, opened_at = make_opened_tender(bureau, officers, suppliers, PRICES, now=at)
    with current_app.test_request_context():
        committee = committees.form_committee(tender, size=5, specialty="", representative_ids=[], actor=officers[0],
                                              now=opened_at + timedelta(hours=1), seed="audit-trail")
    db.session.commit()
    order = {m.user_id: m.position for m in committee.members}
    return Drawn(tender, committee, bids, officers, suppliers, sorted(experts, key=lambda e: order[e.id]))


def qualify(drawn: Drawn, *, at: datetime) -> None:
    """The declared committee gets its chair (experts[0]), finds every bid qualified and closes that review."""
    committee, chair = drawn.committee, drawn.experts[0]
    with current_app.test_request_context():
        committees.set_chair(committee, committee.member_for(chair), actor=drawn.officers[0], now=at)
        for bid in drawn.bids:
            committees.record_checks(committee, bid, {r.id: (True, "") for r in drawn.tender.requirements},
                                     actor=chair, now=at)
        committees.close_qualification(committee, actor=chair, now=at)
    db.session.commit()


def sheet_data(drawn: Drawn, member_index: int) -> dict:
    """The member's whole sheet (POINTS of tests/award_builders), submitted."""
    data = {"submit_sheet": "y"}
    for b, bid in enumerate(drawn.bids):
        for c, criterion in enumerate(drawn.tender.criteria):
            data[f"points_{bid.id}_{criterion.id}"] = str(POINTS[b][member_index][c])
    return data


def challenge_data() -> dict:
    return {"grounds": "评标委员会对我方服务方案的评分明显偏低，与评分标准不符，请求复核。",
            "evidence": (io.BytesIO(pdf_with("证据材料")), "证据材料.pdf")}


# --- The contract world: forms of drafting, signing, reporting, scoring and paying ---------------------------------


def enter_2027(admin) -> None:
    """The 2027 holiday calendar, which the review's appeal window and the reports of a 2027 term count in."""
    db.session.refresh(admin)  # loaded: save_year reads the actor after adding the year's row
    save_year(2027, [date(2027, 1, 1)], [], "国办发明电〔2026〕1号", actor=admin, now=datetime(2026, 11, 1, tzinfo=UTC))
    db.session.commit()


def contract_data(amount: Decimal, *, start: date, end: date) -> dict:
    """A 12-month contract: 40% on signing, 30% after the mid-term review, 30% after the acceptance; one budget line."""
    data = {"title": "社区困难老年人关爱服务合同", "service_content": "为辖区困难老年人提供探访、照料与心理支持服务。",
            "targets": "每月探访困难老年人不少于200人次。", "start_date": start.isoformat(),
            "end_date": end.isoformat(), "report_interval": "quarterly",
            "breach_terms": "乙方未按约定提供服务的，按合同约定承担违约责任。",
            "budget_lines-0-fiscal_year": str(start.year), "budget_lines-0-amount": str(amount)}
    schedule = (("40", Gate.SIGNING, ""), ("30", Gate.REVIEW, "中期评估"), ("30", Gate.ACCEPTANCE, ""))
    for i, (percent, gate, condition) in enumerate(schedule):
        data |= {f"installments-{i}-percent": percent, f"installments-{i}-gate": str(gate),
                 f"installments-{i}-condition": condition}
    return data


def sign_data() -> dict:
    return {"password": PASSWORD, "agree": "y"}


def report_data(period_start: date) -> dict:
    return {"period": period_start.isoformat(), "summary": "本季度开展入户探访126人次、个案服务18个、小组活动6节。"}


def review_sheet_data(review, total) -> dict:
    """A reviewer's whole sheet with the weighted ``total`` out of 100 (no points low enough to need a comment)."""
    assert {leaf.key for leaf in review_scoring.scored_indicators(review)} == set(leaf_points(review, total))
    return {"submit_sheet": "y"} | {f"points_{key}": str(points) for key, points in leaf_points(review, total).items()}


def payment_data(installment, paid_on: date) -> dict:
    prefix = f"pay{installment.id}"
    return {f"{prefix}-paid_on": paid_on.isoformat(), f"{prefix}-amount": str(installment.amount),
            f"{prefix}-voucher": f"记-2026-{installment.position:04d}"}
