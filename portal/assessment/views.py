"""The assessment blueprint and what its view modules share."""

from __future__ import annotations

from flask import Blueprint

from portal.actions import run_action
from portal.assessment.models import Assessment, CommendationList, FundingPlan
from portal.extensions import db

bp = Blueprint("assessment", __name__, template_folder="templates", url_prefix="/assessment")

run = run_action  # one service per request: commit and redirect, or roll back and flash


def load_assessment(assessment_id: int) -> Assessment:
    return db.get_or_404(Assessment, assessment_id)


def load_list(list_id: int) -> CommendationList:
    return db.get_or_404(CommendationList, list_id)


def load_plan(plan_id: int) -> FundingPlan:
    return db.get_or_404(FundingPlan, plan_id)
