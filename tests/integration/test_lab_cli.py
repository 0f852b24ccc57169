"""The lab's command line: clear one-line errors, and nothing left listening after 'down'."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import plan as pl
from lab.control import needed_addresses
from lab.servers import alive, check_free
from tests.integration.lab_fixtures import LabHandle

pytestmark = [pytest.mark.lab]


def danescan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "danescan.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_up_on_a_running_lab_is_refused(lab: LabHandle) -> None:
    r = danescan("lab", "up", "--dir", str(lab.dir), "--domains", "100")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "already running" in r.stderr


def test_status_and_errors_name_the_problem(lab: LabHandle, tmp_path: Path) -> None:
    r = danescan("lab", "status", "--dir", str(lab.dir))
    assert r.returncode == 0 and "running" in r.stdout and lab.resolver in r.stdout
    r = danescan("lab", "status", "--dir", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "no lab in" in r.stderr
    r = danescan("lab", "up", "--dir", str(tmp_path / "x"), "--domains", "10")
    assert r.returncode == 1 and "at least 100" in r.stderr
    r = danescan("lab", "up", "--dir", str(tmp_path / "x"), "--slot", "eleven")
    assert r.returncode == 2 and "slot" in r.stderr
    r = danescan("lab", "up", "--dir", str(tmp_path / "x"), "--shape", "internet",
                 "--domains", "500")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "at least 1000 for the internet shape" in r.stderr
    r = danescan("lab", "up", "--dir", str(tmp_path / "x"), "--shape", "flat")
    assert r.returncode == 2 and "shape" in r.stderr


def test_a_taken_address_is_reported_before_anything_starts(tmp_path: Path) -> None:
    slot = 9
    net = pl.Net(slot)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((net.resolver, 53))
        except OSError:
            pytest.skip(f"slot {slot} is in use by another lab")
        r = danescan("lab", "up", "--dir", str(tmp_path / "l"), "--domains", "100",
                     "--slot", str(slot))
    assert r.returncode == 1 and f"{net.resolver}:53/udp is already in use" in r.stderr
    assert not (tmp_path / "l" / "lab.json").exists() or not json.loads(
        (tmp_path / "l" / "lab.json").read_text()).get("pids")


def test_down_leaves_nothing_listening(tmp_path: Path) -> None:
    d = tmp_path / "lab"
    r = danescan("lab", "up", "--dir", str(d), "--domains", "100", "--slot", "auto")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((d / "lab.json").read_text())
    pids = [manifest["pids"]["nsd"], manifest["pids"]["unbound"], *manifest["pids"]["smtpd"]]
    assert all(alive(p) for p in pids)
    listeners = [ls["ip"] for f in sorted((d / "smtp").glob("smtpd-*.json"))
                 for ls in json.loads(f.read_text())["listeners"]]
    r = danescan("lab", "down", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    assert not any(alive(p) for p in pids)
    check_free(needed_addresses(pl.Net(manifest["slot"]), listeners))  # raises if anything listens
