"""Timed work of the evaluation: the deemed award after 5 working days and reminders of challenges to answer.

Each job takes the scheduler's clock reading, calls one service and can run twice without harm; the scheduler
commits (``portal.scheduler`` runs every job inside ``transaction()``).
"""

from __future__ import annotations

from portal.evaluation.award import deem_awards, remind_challenges

JOBS = [
    {"id": "evaluation.deem_awards", "func": deem_awards, "minutes": 15},
    {"id": "evaluation.remind_challenges", "func": remind_challenges, "minutes": 60},
]
