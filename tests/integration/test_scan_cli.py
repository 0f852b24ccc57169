"""``danescan scan`` as a user runs it: one-line errors, and a killed scan resumed to the same data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.lab_fixtures import LabHandle
from tests.integration.test_scan_lab import compare
from workers.store.backend import connect


def danescan(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "danescan.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False, **kw)  # type: ignore[call-overload]


def test_missing_input_unknown_db_and_server_down(tmp_path: Path) -> None:
    zone = tmp_path / "com.zone"
    zone.write_text("$ORIGIN com.\nexample 3600 IN NS ns1.example.net.\n")
    r = danescan("scan", str(tmp_path / "nope.zone"), "--db", str(tmp_path / "db"))
    assert r.returncode == 2 and r.stderr.strip().endswith("nope.zone: no such file")
    assert r.stderr.count("\n") == 1
    r = danescan("scan", str(zone), "--db", "mysql://127.0.0.1/x")
    assert r.returncode == 2 and "mysql" in r.stderr and r.stderr.count("\n") == 1
    r = danescan("scan", str(zone), "--db", "clickhouse://127.0.0.1:1/x")
    assert r.returncode == 2 and "127.0.0.1:1" in r.stderr and r.stderr.count("\n") == 1
    r = danescan("scan", str(zone), "--trust-anchor", str(tmp_path / "none.txt"), "--db",
                 str(tmp_path / "db"))
    assert r.returncode == 2 and "trust anchor" in r.stderr


@pytest.mark.lab
@pytest.mark.clickhouse
@pytest.mark.slow
def test_killed_scan_resumes_to_the_same_data(lab: LabHandle, tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    args = ["scan", *map(str, lab.zone_files), "--resolver", lab.resolver, "--trust-anchor",
            str(lab.trust_anchor), "--db", str(db_dir), "--scan-id", "killed", "--batch", "20",
            "--public-roots", str(lab.dir / "pki" / "public-roots.pem")]
    proc = subprocess.Popen([sys.executable, "-m", "danescan.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # progress log lines: "N domains done, R/s"
        if line.split()[0].isdigit() and int(line.split()[0]) >= 40:
            break
    assert proc.poll() is None, "the scan ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = danescan(*args)
    assert r.returncode == 0, r.stderr
    assert "already stored in scan killed" in r.stderr
    db = connect(str(db_dir))
    try:
        wrong = compare(db, lab, "killed")
        assert not wrong, wrong[:10]
        for table, key in (("domains", "domain"), ("dane_verdicts", "mx_host, ip")):
            dup = db.query(f"SELECT count() - uniqExact({key}) FROM {table} FINAL "
                           "WHERE scan_id = 'killed'")[0][0]
            assert dup == 0, table
    finally:
        db.close()
