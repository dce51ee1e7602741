"""Timed work of reviews: reminders of reviews falling due or overdue, and of overdue rectification plans.

Each job takes the scheduler's clock reading, calls one service and can run twice without harm; the scheduler
commits (``portal.scheduler`` runs every job inside ``transaction()``).
"""

from __future__ import annotations

from portal.reviews.planning import remind_due_reviews
from portal.reviews.rectification import remind_overdue_plans

JOBS = [
    {"id": "reviews.remind_due_reviews", "func": remind_due_reviews, "hours": 6},
    {"id": "reviews.remind_overdue_plans", "func": remind_overdue_plans, "hours": 6},
]
