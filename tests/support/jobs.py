"""Jobs for scheduler tests, loaded through SCHEDULER_EXTRA_JOB_MODULES / PORTAL_SCHEDULER_EXTRA_JOBS.

The heartbeat does nothing: each run is seen only through its ``JobRun`` row, which names the
process that ran it.
"""

from __future__ import annotations

from datetime import datetime

HEARTBEAT_ID = "support.heartbeat"
HEARTBEAT_SECONDS = 1


def heartbeat(now: datetime) -> None:
    """Do nothing; the scheduler's JobRun row is the evidence of the run."""


JOBS = [{"id": HEARTBEAT_ID, "func": heartbeat, "seconds": HEARTBEAT_SECONDS}]
