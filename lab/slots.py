"""Address-slot claims: two labs started at once (tests, helpers, a user's lab) never pick the
same slot. A claim is a file created exclusively under the system's temporary directory naming the
lab directory and the claiming process; it is stale once that process is gone and the lab it names
runs nothing, and is released by ``lab down``."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

CLAIMS = Path(tempfile.gettempdir()) / "danescan-lab-slots"


def _claim_file(slot: int) -> Path:
    return CLAIMS / f"slot-{slot}.json"


def _holder(slot: int) -> dict[str, object] | None:
    try:
        data = json.loads(_claim_file(slot).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim(slot: int, lab_dir: Path, lab_running: Callable[[Path], bool],
          pid_alive: Callable[[int], bool]) -> bool:
    """Claim ``slot`` for ``lab_dir``; False when another live lab holds it."""
    CLAIMS.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(_claim_file(slot), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            held = _holder(slot)
            if held is None:
                continue  # being written this instant, or unreadable: try once more
            owner = Path(str(held.get("dir", "")))
            pid = held.get("pid")
            if owner == lab_dir:
                return True
            if (isinstance(pid, int) and pid_alive(pid)) or lab_running(owner):
                return False
            with contextlib.suppress(FileNotFoundError):
                _claim_file(slot).unlink()  # stale: its process is gone and its lab is down
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump({"dir": str(lab_dir), "pid": os.getpid()}, fh)
        return True
    return False


def release(slot: int, lab_dir: Path) -> None:
    held = _holder(slot)
    if held is not None and Path(str(held.get("dir", ""))) == lab_dir:
        with contextlib.suppress(FileNotFoundError):
            _claim_file(slot).unlink()


def release_pid(slot: int, lab_dir: Path) -> None:
    """After a successful ``up``: the claim stays, held by the running lab, not by this process."""
    held = _holder(slot)
    if held is not None and Path(str(held.get("dir", ""))) == lab_dir:
        tmp = _claim_file(slot).with_suffix(".tmp")
        tmp.write_text(json.dumps({"dir": str(lab_dir), "pid": None}))
        tmp.replace(_claim_file(slot))
