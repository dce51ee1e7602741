"""Reading the raw bytes of the SQLite test database without breaking SQLite's locks.

Closing *any* file descriptor on a file drops every POSIX lock the process holds on it. If the
test process opened ``portal-test.db`` with ``open()`` and closed it, its live SQLite connections
would silently lose their locks; a scheduler or server process closing its last connection then
believes it is alone, checkpoints and deletes the ``-wal`` and ``-shm`` files, and the test
process goes on reading a deleted shared-memory index: stale snapshots, then ``disk I/O error``.
So the bytes are read by a child process, whose descriptors are its own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def database_bytes(database: str | Path) -> bytes:
    """The bytes of an SQLite database file followed by those of its write-ahead log, if there is one."""
    path = Path(database)
    parts = [str(part) for part in (path, path.with_name(path.name + "-wal")) if part.exists()]
    return subprocess.run(["cat", *parts], check=True, capture_output=True, timeout=60).stdout
