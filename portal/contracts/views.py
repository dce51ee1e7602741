"""The contracts blueprint and what its view modules share."""

from __future__ import annotations

from flask import Blueprint

from portal.actions import run_action
from portal.contracts.models import Contract
from portal.extensions import db

bp = Blueprint("contracts", __name__, template_folder="templates")

run = run_action  # one service per request: commit and redirect, or roll back and flash


def load_contract(contract_id: int) -> Contract:
    return db.get_or_404(Contract, contract_id)
