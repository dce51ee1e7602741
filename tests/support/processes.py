"""`flask scheduler run` processes for tests: started against the test database, always killed.

Output goes to a log file (not a pipe, which could fill up and block the child or leave an
unclosed pipe behind); every wait is bounded.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from portal.config import PROJECT_ROOT


def scheduler_env(database_url: str, instance: Path, job_modules: str = "tests.support.jobs") -> dict[str, str]:
    """The environment of a scheduler process on the test database, with the test jobs loaded."""
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return os.environ | {
        "DATABASE_URL": database_url,
        "PORTAL_ENV": "testing",
        "PORTAL_INSTANCE": str(instance),
        "SECRET_KEY": "test-secret-key",
        "PORTAL_AUDIT_KEY": "test-audit-key",
        "PORTAL_SEALING_KEY": secrets.token_hex(32),
        "PORTAL_SCHEDULER_EXTRA_JOBS": job_modules,
        "PYTHONPATH": python_path,
        "PYTHONUNBUFFERED": "1",
    }


class SchedulerProcess:
    """One `flask --app portal scheduler run` child process and its log."""

    def __init__(self, name: str, popen: subprocess.Popen, log_path: Path):
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @classmethod
    def start(cls, name: str, *, database_url: str, workdir: Path, args: tuple[str, ...] = ()) -> SchedulerProcess:
        """Start a scheduler that logs to ``workdir/<name>.log``."""
        instance = workdir / "instance"
        instance.mkdir(parents=True, exist_ok=True)
        log_path = workdir / f"{name}.log"
        command = [sys.executable, "-m", "flask", "--app", "portal", "scheduler", "run", *args]
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(command, cwd=PROJECT_ROOT, env=scheduler_env(database_url, instance),
                                     stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def returncode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean-up runs in the child."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def __repr__(self) -> str:
        return f"<scheduler {self.name} pid={self.pid} rc={self.popen.poll()}>"


def describe(processes: list[SchedulerProcess]) -> str:
    """Every process's state and log, for an assertion message."""
    return "\n".join(f"--- {p!r}\n{p.log()[-4000:]}" for p in processes)


def wait_until(condition: Callable[[], object], *, timeout: float, what: str,
               details: Callable[[], str] = lambda: "", interval: float = 0.2):
    """Poll ``condition`` until it returns something truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{details()}")
        time.sleep(interval)
