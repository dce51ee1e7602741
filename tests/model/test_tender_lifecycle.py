"""The lifecycle model (tests/model/lifecycle.py) run by hypothesis: random sequences of tender actions by random
actors on a moving clock, the invariants checked after every step.

Deterministic for CI: derandomized, no example database. Every document the portal issues on the way (notices,
opening record, evaluation report, award letter, contract) is rendered to HTML from its template and context as
always, but WeasyPrint's layout, half a second to a second per document and tested in tests/services/test_pdf.py,
is left out: it would be four fifths of the run.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.lifecycle import LifecycleModel

SETTINGS = settings(max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "20")), stateful_step_count=40,
                    deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


class LayoutFreeHTML:
    """weasyprint.HTML without the layout: the PDF bytes carry the SHA-256 of the HTML the portal rendered."""

    def __init__(self, string: str, **_options):
        self.string = string

    def write_pdf(self) -> bytes:
        digest = hashlib.sha256(self.string.encode()).hexdigest()
        return f"%PDF-1.4\n% {digest}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".encode()


@pytest.fixture
def layout_free_pdfs(monkeypatch):
    monkeypatch.setattr("portal.pdf.HTML", LayoutFreeHTML)


# What the run must have reached for its invariants to mean something: every phase, with right and wrong actors.
REACHED = ("publish", "submit_bid", "submit_bid refused", "ask_question", "start_opening", "confirm_opening",
           "form_committee", "declare", "submit_scores", "submit_scores refused", "close_scoring", "confirm_report",
           "award", "file_challenge", "file_challenge refused", "draft_contract", "sign", "sign refused",
           "ends concluded", "ends failed", "ends cancelled")


def test_tender_lifecycle_keeps_its_invariants(layout_free_pdfs, create_user, create_org):
    machine = LifecycleModel.bind(create_user, create_org)
    run_state_machine_as_test(machine, settings=SETTINGS)
    assert not [name for name in REACHED if not machine.tally[name]], sorted(machine.tally.items())
