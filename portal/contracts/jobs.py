"""Timed work of contracts: the contract notice on its last allowed day, and reminders to sign and to file.

Each job takes the scheduler's clock reading, calls one service and can run twice without harm; the scheduler
commits (``portal.scheduler`` runs every job inside ``transaction()``).
"""

from __future__ import annotations

from portal.contracts.delivery import expiry_reminders, flag_late_reports
from portal.contracts.services import publish_due_notices, remind_contracts

JOBS = [
    {"id": "contracts.publish_due_notices", "func": publish_due_notices, "minutes": 30},
    {"id": "contracts.remind_contracts", "func": remind_contracts, "minutes": 60},
    {"id": "contracts.flag_late_reports", "func": flag_late_reports, "minutes": 60},
    {"id": "contracts.expiry_reminders", "func": expiry_reminders, "minutes": 60},
]
