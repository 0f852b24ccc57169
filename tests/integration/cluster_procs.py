"""Real cluster processes for the cluster tests and the benchmark: workers and the writer as
``danescan`` subprocesses in their own process groups (so SIGKILL reaches the pool children)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.integration.lab_fixtures import LabHandle
from tests.integration.redis_dbs import claim

REDIS_DB = claim(7)
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


def cluster_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANESCAN_")}
    env.update({"DANESCAN_REDIS_URL": REDIS_URL, "DANESCAN_DB": db_url,
                "DANESCAN_VISIBILITY_TIMEOUT": "60", "DANESCAN_UNACKED_RESTORE_INTERVAL": "1",
                "DANESCAN_RETRY_BACKOFF": "0.2", "DANESCAN_TASK_RETRIES": "2",
                "DANESCAN_WRITER_MAX_AGE": "0.3", "DANESCAN_REDIS_RETRIES": "1",
                "DANESCAN_LEDGER_SWEEP_SECONDS": "1", "DANESCAN_LEDGER_GRACE_SECONDS": "3",
                "DANESCAN_WORKER_HEARTBEAT_SECONDS": "5", "DANESCAN_IP_LEASE_SECONDS": "10"})
    env.update({f"DANESCAN_{k.upper()}": v for k, v in extra.items()})
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-c", "from danescan.cli import main; main()", *args], env=env,
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)  # our own group: the worker and its pool children
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):  # pool children left behind
            os.killpg(self.popen.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@contextmanager
def processes() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str], log: Path) -> Proc:
        p = Proc(args, env, log)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.stop()


def fresh_redis() -> redis.Redis:
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()  # our own db number only
    return r


def wait_for(check: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                              for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.1)


def enqueue_lab(lab: LabHandle, env: dict[str, str], scan_id: str, chunk: int,
                *extra: str) -> str:
    """``danescan enqueue`` of the lab's zone files (its resolver, anchor and public roots);
    its standard output. Fails the test when the command fails."""
    out = subprocess.run(
        [sys.executable, "-c", "from danescan.cli import main; main()", "enqueue",
         *[str(p) for p in lab.zone_files], "--scan-id", scan_id, "--chunk", str(chunk),
         "--resolver", lab.resolver, "--trust-anchor", str(lab.trust_anchor),
         "--public-roots", str(lab.dir / "pki" / "public-roots.pem"), *extra],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout
