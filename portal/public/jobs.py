"""Timed work of the public board: the daily audit anchor.

The job runs hourly but publishes at most one anchor per Beijing day (the first run of the day does it), so a
scheduler that was down catches up at its next tick and a double trigger changes nothing. The scheduler commits.
"""

from __future__ import annotations

from portal.public.anchor import publish_anchor_job

JOBS = [
    {"id": "public.audit_anchor", "func": publish_anchor_job, "hours": 1},
]
