"""Run ``lab.smtpd`` as a subprocess for tests and benchmarks: start, wait for ``ready``, signal, stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class SmtpdProcess:
    def __init__(self, directory: Path, config: dict[str, Any], name: str = "smtpd") -> None:
        self.dir = directory
        self.config_path = directory / f"{name}.json"
        self.pidfile = directory / f"{name}.pid"
        self.stats_path = directory / f"{name}.stats.json"
        self.write_config(config)
        self.proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(json.dumps(config))

    def start(self, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.smtpd",
                "--config",
                str(self.config_path),
                "--pidfile",
                str(self.pidfile),
                "--stats",
                str(self.stats_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait_for("ready", timeout)

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"smtpd did not print {prefix!r} within {timeout} s") from None
            if line is None:
                assert self.proc is not None
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"smtpd exited ({self.proc.wait()}): {stderr}")
            if line.startswith(prefix):
                return line

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def reload(self, config: dict[str, Any]) -> str:
        self.write_config(config)
        self.signal(signal.SIGHUP)
        return self.wait_for("reloaded")

    def stats(self, timeout: float = 10.0) -> dict[str, Any]:
        self.stats_path.unlink(missing_ok=True)
        self.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.stats_path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("smtpd wrote no statistics")
            time.sleep(0.02)
        data: dict[str, Any] = json.loads(self.stats_path.read_text())
        return data

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
