"""The load side of the benchmark: gunicorn (4 workers on 127.0.0.1, a free port) on the generated database, a
signed-in session taken with the standard library, and Apache Bench (``ab``, Debian's apache2-utils) runs whose
requests per second and 50th/95th percentile latency are read from its report."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.measure import CSRF_RE, OFFICER
from portal.config import PROJECT_ROOT
from portal.seed import DEMO_PASSWORD

WORKERS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn running ``bench.app:wsgi()``; its log in ``log_path``; always stopped by ``stop``."""

    def __init__(self, database_url: str, instance: Path, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"BENCH_DATABASE_URL": database_url, "BENCH_INSTANCE": str(instance),
                            "PYTHONPATH": str(PROJECT_ROOT)}
        command = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(WORKERS), "--bind",
                   f"127.0.0.1:{self.port}", "--log-level", "warning", "bench.app:wsgi()"]
        with log_path.open("wb") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
                command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(log_path)

    def wait_ready(self, log_path: Path, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/bench/ping", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("gunicorn did not answer within the time allowed")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def ab_version() -> str:
    """ab's version number, as it sends it in its User-Agent header."""
    done = subprocess.run(["ab", "-V"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603, S607
    match = re.search(r"Version (\S+)", done.stdout)
    return match.group(1) if match else "2.3"


def session_cookies(base: str, username: str = OFFICER, password: str = DEMO_PASSWORD) -> list[str]:
    """Sign in over HTTP; return the cookies as ``name=value`` for ab's ``-C``. The sign-in uses ab's User-Agent:
    Flask-Login's strong session protection drops a session presented by another client."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", f"ApacheBench/{ab_version()}")]
    with opener.open(f"{base}/login") as response:
        token = CSRF_RE.search(response.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
    with opener.open(f"{base}/login", data=form) as response:
        if "/login" in response.geturl():
            raise RuntimeError(f"could not sign in as {username}")
    return [f"{cookie.name}={cookie.value}" for cookie in jar]


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    complete: int
    non_2xx: int


def parse_ab(output: str) -> Result:
    def number(pattern: str, default: str | None = None) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None and default is None:
            raise RuntimeError(f"ab output without {pattern!r}:\n{output[-1500:]}")
        return float(match.group(1) if match else default)

    return Result(number(r"^Requests per second:\s+([\d.]+)"), number(r"^\s+50%\s+(\d+)"),
                  number(r"^\s+95%\s+(\d+)"), int(number(r"^Complete requests:\s+(\d+)")),
                  int(number(r"^Non-2xx responses:\s+(\d+)", "0")))


def ab(url: str, *, requests: int, concurrency: int, cookies: list[str] = ()) -> Result:
    """One Apache Bench run (keep-alive off, as browsers opening pages one by one would mostly be)."""
    command = ["ab", "-q", "-t", "60", "-n", str(requests), "-c", str(concurrency), "-s", "120"]
    for cookie in cookies:
        command += ["-C", cookie]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=3600,  # noqa: S603 - ab, our URLs
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ab failed on {url}: {done.stderr[-1500:]}")
    return parse_ab(done.stdout)
