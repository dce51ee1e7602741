"""The evaluation blueprint and what its view modules share.

The views live in three modules on this blueprint: ``committee_views`` (forming the committee, declarations,
replacements, qualification review, low-price justifications, bid files for members), ``scoring_views``
(score sheets, re-checks, lawful changes, ranking, tie decisions, the report and its confirmations) and
``award_views`` (award, pass-overs, result notice, award letter, each bidder's own result, challenges,
complaints).
"""

from __future__ import annotations

from flask import Blueprint, abort

from portal.actions import run_action
from portal.evaluation.models import Committee
from portal.extensions import db
from portal.tenders.models import Tender

bp = Blueprint("evaluation", __name__, template_folder="templates")


def load_tender(tender_id: int) -> Tender:
    return db.get_or_404(Tender, tender_id)


def load_committee(tender_id: int) -> Committee:
    committee = db.session.scalar(db.select(Committee).where(Committee.tender_id == tender_id))
    if committee is None:
        abort(404)
    return committee


run = run_action  # one service per request: commit and redirect, or roll back and flash
