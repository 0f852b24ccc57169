"""Redis database numbers for test modules, claimed per test process: two test runs side by side
(worktrees, helpers, CI and a developer) never share one and flush each other's keys.

A claim is an exclusive lock on a file under the temporary directory, held until the process
ends; the preferred number when it is free, else the first free one of 1..15."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_HELD: dict[int, int] = {}  # db -> open lock file descriptor (kept for the process's life)


def claim(preferred: int) -> int:
    for db in (preferred, *range(1, 16)):
        if db in _HELD:
            continue
        path = Path(tempfile.gettempdir()) / f"danescan-test-redis-db-{db}.lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _HELD[db] = fd
        return db
    raise RuntimeError("every Redis database 1..15 is claimed by other test runs")
