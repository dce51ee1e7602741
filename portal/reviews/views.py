"""The reviews blueprint and what its view modules share."""

from __future__ import annotations

from flask import Blueprint

from portal.actions import run_action
from portal.extensions import db
from portal.reviews.models import Appeal, Evidence, Rectification, Review, Reviewer, RubricTemplate

bp = Blueprint("reviews", __name__, template_folder="templates", url_prefix="/reviews")

run = run_action  # one service per request: commit and redirect, or roll back and flash


def load_review(review_id: int) -> Review:
    return db.get_or_404(Review, review_id)


def load_template(template_id: int) -> RubricTemplate:
    return db.get_or_404(RubricTemplate, template_id)


def load_reviewer(reviewer_id: int) -> Reviewer:
    return db.get_or_404(Reviewer, reviewer_id)


def load_evidence(evidence_id: int) -> Evidence:
    return db.get_or_404(Evidence, evidence_id)


def load_rectification(rectification_id: int) -> Rectification:
    return db.get_or_404(Rectification, rectification_id)


def load_appeal(appeal_id: int) -> Appeal:
    return db.get_or_404(Appeal, appeal_id)
