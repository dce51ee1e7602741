"""The portal under gunicorn for fault tests: a real multi-process server on loopback, on a travelled clock.

``GunicornServer.start`` runs ``gunicorn 'portal:create_app()'`` (4 gthread workers by default) against the test
database, listening only on a socket this process bound to 127.0.0.1 on a free port (handed over as ``fd://``, so
no other process can take the port in between), the app preloaded and gunicorn's control socket (a file in the
home folder) off. Output goes to a log file; every wait is bounded; ``stop`` always ends the master and every
worker it started. ``travelled_scheduler`` starts ``flask scheduler run`` the same way.

A server process cannot see the test's ``time_machine``, so each process is started through this module
(``python -m tests.support.gunicorn CLOCK PROGRAM ARGS...``): it starts ``time_machine.travel(CLOCK, tick=True)``
and then runs ``gunicorn`` or ``flask`` in the same interpreter, so the portal's clock reads CLOCK plus the real
time since the start. The launcher also uses the cheap Argon2 parameters of the test suite (tests/conftest.py) so
that twenty sign-ins do not cost seconds of CPU each. ``HttpSession`` is a small HTTP client with its own cookie
jar that never follows redirects, so a test sees each response as a browser tab would.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path

from portal.config import PROJECT_ROOT
from tests.support.processes import SchedulerProcess, scheduler_env, wait_until

START_TIMEOUT = 90  # a loaded two-core CI machine; only ever waited for by polling
REQUEST_TIMEOUT = 60
FLASH_RE = re.compile(r'<div class="alert alert-(\w+)" role="alert">(.*?)</div>', re.S)
ACCESS_RE = re.compile(r'^<(\d+)> "([^"]*)" (\d{3})$', re.M)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# ---------------------------------------------------------------- processes on a travelled clock


def travelled_command(clock: datetime, program: str, *args: str) -> list[str]:
    """The command that runs ``program`` (``gunicorn`` or ``flask``) with ``args`` on a clock starting at ``clock``."""
    if program not in ("gunicorn", "flask"):
        raise ValueError(f"unknown program {program!r}")
    return [sys.executable, "-m", "tests.support.gunicorn", clock.isoformat(), program, *args]


def portal_env(database_url: str, instance: Path, **settings: str) -> dict[str, str]:
    """A server's environment: the scheduler tests' environment on the test database, without mail or a PORT."""
    env = scheduler_env(database_url, instance, job_modules="") | settings
    for name in ("SMTP_HOST", "PORT", "GUNICORN_CMD_ARGS"):
        env.pop(name, None)
    return env


def travelled_scheduler(name: str, *, clock: datetime, env: dict[str, str], workdir: Path) -> SchedulerProcess:
    """``flask scheduler run`` (polling fast) on a clock starting at ``clock``, logging to ``workdir/<name>.log``."""
    log_path = workdir / f"{name}.log"
    command = travelled_command(clock, "flask", "--app", "portal", "scheduler", "run", "--poll-seconds", "0.5",
                                "--tick-seconds", "0.5")
    with log_path.open("wb") as log_file:
        popen = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                 stderr=subprocess.STDOUT)
    return SchedulerProcess(name, popen, log_path)


def _children(pid: int) -> list[int]:
    """The pids of the live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The socket inode of the server's end of the loopback connection from ``client_port`` (0 until accepted)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        local_port = int(columns[1].split(":")[1], 16)
        remote_port = int(columns[2].split(":")[1], 16)
        if local_port == server_port and remote_port == client_port and columns[9] != "0":
            return columns[9]
    return None


def _holds_socket(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) == target:
                return True
        except OSError:
            continue
    return False


class GunicornServer:
    """One gunicorn master with its workers, serving the portal on 127.0.0.1:``port``."""

    def __init__(self, popen: subprocess.Popen, port: int, log_path: Path, upload_folder: Path, workers: int):
        self.popen = popen
        self.port = port
        self.log_path = log_path
        self.upload_folder = upload_folder
        self.workers = workers
        self._seen_workers: set[int] = set()

    @classmethod
    def start(cls, *, database_url: str, workdir: Path, clock: datetime, sealing_key: str, upload_folder: Path,
              workers: int = 4, threads: int = 5) -> GunicornServer:
        """Start gunicorn on a fresh loopback port; returns once every worker answers (or fails, killing it)."""
        instance = workdir / "instance"
        instance.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "gunicorn.log"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            port = listener.getsockname()[1]
            args = ("--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
                    "--bind", f"fd://{listener.fileno()}", "--no-control-socket", "--preload",
                    "--timeout", "60", "--graceful-timeout", "2",
                    "--error-logfile", "-", "--access-logfile", "-", "--access-logformat",
                    '%(p)s "%(r)s" %(s)s', "portal:create_app()")
            env = portal_env(database_url, instance, PORTAL_SEALING_KEY=sealing_key,
                             PORTAL_UPLOAD_FOLDER=str(upload_folder))
            with log_path.open("wb") as log_file:
                popen = subprocess.Popen(travelled_command(clock, "gunicorn", *args), cwd=PROJECT_ROOT, env=env,
                                         stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                         pass_fds=(listener.fileno(),))
        finally:
            listener.close()
        server = cls(popen, port, log_path, upload_folder, workers)
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uploaded_files(self) -> set[str]:
        """The names of the files under the server's upload folder."""
        return {path.name for path in self.upload_folder.rglob("*") if path.is_file()}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        """Where the log ends now, to read only what comes after (``access_statuses(since=...)``)."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def access_statuses(self, since: int = 0) -> list[tuple[int, str, int]]:
        """(worker pid, request line, status) of every request logged after byte ``since``."""
        with self.log_path.open("rb") as log_file:
            log_file.seek(since)
            text = log_file.read().decode(errors="replace")
        return [(int(pid), request, int(status)) for pid, request, status in ACCESS_RE.findall(text)]

    def describe(self) -> str:
        state = f"gunicorn pid={self.popen.pid} rc={self.popen.poll()} workers={self.worker_pids()}"
        return f"{state}\n{self.log()[-6000:]}"

    def worker_pids(self) -> list[int]:
        """The live workers of this master (remembered, so that ``stop`` can end them even if the master died)."""
        pids = _children(self.popen.pid) if self.popen.poll() is None else []
        self._seen_workers.update(pids)
        return pids

    def wait_ready(self, timeout: float = START_TIMEOUT) -> list[int]:
        """Wait until the master runs ``workers`` workers and the portal answers; returns the worker pids."""
        def ready():
            if self.popen.poll() is not None:
                raise AssertionError(f"gunicorn exited\n{self.describe()}")
            workers = self.worker_pids()
            if len(workers) != self.workers or self.log().count("Booting worker") < self.workers:
                return None
            return workers if self._answers() else None

        return wait_until(ready, timeout=timeout, what=f"{self.workers} gunicorn workers", details=self.describe)

    def _answers(self) -> bool:
        try:
            return HttpSession(self.base_url).get("/login").status == 200
        except OSError:
            return False

    def worker_serving(self, client_port: int, timeout: float = 30) -> int:
        """The pid of the worker that accepted the connection from the local port ``client_port``."""
        def holder():
            inode = _server_side_inode(self.port, client_port)
            if inode is None:
                return None
            return next((pid for pid in self.worker_pids() if _holds_socket(pid, inode)), None)

        return wait_until(holder, timeout=timeout, what=f"the worker serving port {client_port}",
                          details=self.describe, interval=0.05)

    def stop(self) -> None:
        """SIGINT (quick shutdown) the master and wait; SIGKILL it and any worker it started if that is not enough."""
        self.worker_pids()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        for pid in sorted(self._seen_workers):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- talking to it over HTTP


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def flashes(self) -> list[tuple[str, str]]:
        """The flashed messages on the page: (category, text)."""
        return [(category, unescape(message).strip()) for category, message in FLASH_RE.findall(self.text)]


@dataclass
class HttpSession:
    """One browser tab's worth of HTTP: its own cookies, one connection per request, no redirects followed."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def _address(self) -> tuple[str, int]:
        host, port = self.base_url.removeprefix("http://").split(":")
        return host, int(port)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self._address, timeout=REQUEST_TIMEOUT)

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Connection": "close", "Accept-Language": "en"} | extra
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return headers

    def keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    def finish(self, connection: http.client.HTTPConnection) -> Response:
        """Read the response of a request sent on ``connection`` and close it."""
        try:
            raw = connection.getresponse()
            body = raw.read()
            self.keep_cookies(raw)
            return Response(raw.status, raw.headers, body)
        finally:
            connection.close()

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Response:
        connection = self.connection()
        connection.request(method, path, body=body, headers=self.headers(**headers))
        return self.finish(connection)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str]) -> Response:
        from urllib.parse import urlencode

        return self.request("POST", path, urlencode(fields).encode(),
                            **{"Content-Type": "application/x-www-form-urlencoded"})

    def post_multipart(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> Response:
        body, content_type = multipart(fields, files)
        return self.request("POST", path, body, **{"Content-Type": content_type})

    def csrf(self, path: str) -> str:
        """The session's CSRF token, read from the form on ``path``."""
        page = self.get(path)
        match = CSRF_RE.search(page.text)
        assert page.status == 200 and match, f"no CSRF token on {path}: {page.status}"
        return match.group(1)

    def login(self, username: str, password: str) -> HttpSession:
        response = self.post("/login", {"username": username, "password": password,
                                        "csrf_token": self.csrf("/login")})
        assert response.status == 302, f"sign-in of {username} answered {response.status}"
        return self

    def follow(self, response: Response) -> Response:
        """GET the page a redirect points to (where its flashed message is shown)."""
        assert response.status in (302, 303), response.status
        return self.get(response.location.removeprefix(self.base_url))


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = f"----faults{secrets.token_hex(12)}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def at_once(calls: list[Callable[[], object]], timeout: float = 120) -> list:
    """Run every call in its own thread, released together by a barrier; one result (or exception) per call."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the caller's assertion
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a request did not finish in time"
    return results


# ---------------------------------------------------------------- the launcher (python -m tests.support.gunicorn)


def _cheap_password_hashing() -> None:
    """The test suite's Argon2 parameters (tests/conftest.py), so sign-ins neither cost nor rehash much."""
    from argon2 import PasswordHasher

    from portal.accounts import services

    services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    services._DUMMY_HASH = services._hasher.hash("not-a-real-password-0")


def main(argv: list[str]) -> None:
    """``CLOCK PROGRAM ARGS...``: travel to CLOCK (ticking), then run gunicorn or flask with ARGS."""
    import time_machine

    clock, program, *args = argv
    time_machine.travel(datetime.fromisoformat(clock), tick=True).start()
    time.time()  # the travelled clock ticks from its first reading: take it now, before gunicorn forks its workers
    _cheap_password_hashing()
    sys.argv = [program, *args]
    if program == "gunicorn":
        from gunicorn.app.wsgiapp import run

        run()
    else:
        from flask.cli import main as flask_main

        flask_main()


if __name__ == "__main__":
    main(sys.argv[1:])
