"""``danescan scan`` as a user runs it: one-line errors, a killed scan resumed to the same data, and
damaged input files scanned up to the damage, reported in one line, resumed when repaired."""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from producer.zonefile import InputDamaged, read_zone
from tests.integration.lab_fixtures import LabHandle
from tests.integration.test_scan_lab import compare
from workers.store.backend import connect


def danescan(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "danescan.cli", *args], capture_output=True, text=True,
        timeout=600, check=False, **kw)
    return done


def test_missing_input_unknown_db_and_server_down(tmp_path: Path) -> None:
    zone = tmp_path / "com.zone"
    zone.write_text("$ORIGIN com.\nexample 3600 IN NS ns1.example.net.\n")
    r = danescan("scan", str(tmp_path / "nope.zone"), "--db", str(tmp_path / "db"))
    assert r.returncode == 2 and r.stderr.strip().endswith("nope.zone: no such file")
    assert r.stderr.count("\n") == 1
    # past the start checks (issue 14): an identity, and no resolver asked (the default one is
    # not on loopback)
    env = {**os.environ, "DANESCAN_EHLO_NAME": "scan1.dane-research.net",
           "DANESCAN_CONTACT": "mailto:scans@dane-research.net", "DANESCAN_SKIP_RESOLVER_CHECK": "1"}
    r = danescan("scan", str(zone), "--db", "mysql://127.0.0.1/x", env=env)
    assert r.returncode == 2 and "mysql" in r.stderr and r.stderr.count("\n") == 1
    r = danescan("scan", str(zone), "--db", "clickhouse://127.0.0.1:1/x", env=env)
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


def _read_until_damage(path: Path) -> tuple[set[str], InputDamaged]:
    """The domains the reader gives before the damage (tested on its own in the unit tests)."""
    _, it = read_zone(path)
    names: set[str] = set()
    try:
        names.update(d.name.rstrip(".") for d in it)
    except InputDamaged as damage:
        return names, damage
    raise AssertionError(f"{path} is not damaged")


def _stored(db_dir: Path, scan_id: str) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    db = connect(str(db_dir))
    try:
        mx = {r[0]: list(r[1]) for r in db.query(
            f"SELECT domain, mx FROM domains FINAL WHERE scan_id = '{scan_id}'")}
        row = [(str(s), str(r)) for s, r in db.query(
            f"SELECT status, status_reason FROM scans FINAL WHERE scan_id = '{scan_id}'")]
        dup = db.query(f"SELECT count() - uniqExact(domain) FROM domains FINAL "
                       f"WHERE scan_id = '{scan_id}'")[0][0]
        assert dup == 0
    finally:
        db.close()
    return mx, row


def _damage_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "damaged input" in line]


@pytest.mark.lab
@pytest.mark.clickhouse
@pytest.mark.slow
def test_damaged_zone_file_is_scanned_up_to_the_damage_then_resumed(
        lab: LabHandle, tmp_path: Path) -> None:
    """A gzip zone file cut in the middle: the domains before the cut are scanned and stored,
    the next input too, one line names the file and the damage, exit 3, the scan is recorded as
    incomplete and the report says so; a resume with the same file ends the same way without
    scanning anything again; with the file repaired it completes."""
    com = next(p for p in lab.zone_files if p.name == "com.zone")
    net = next(p for p in lab.zone_files if p.name == "net.zone")
    packed = gzip.compress(com.read_bytes())
    damaged = tmp_path / "com.zone.gz"
    damaged.write_bytes(packed[: len(packed) // 2])
    readable, damage = _read_until_damage(damaged)
    truth = lab.truth()
    com_all = {n for n in truth.domains if n.endswith(".com")}
    net_all = {n for n in truth.domains if n.endswith(".net")}
    assert 5 < len(readable) < len(com_all) and readable <= com_all and net_all
    db_dir = tmp_path / "db"
    args = ["scan", str(damaged), str(net), "--resolver", lab.resolver, "--trust-anchor",
            str(lab.trust_anchor), "--db", str(db_dir), "--scan-id", "damaged", "--batch", "25",
            "--public-roots", str(lab.dir / "pki" / "public-roots.pem"), "--no-progress"]
    r = danescan(*args)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and "Aborted" not in r.stderr
    (line,) = _damage_lines(r.stderr)
    assert line.startswith(f"danescan: {damaged}: damaged input at byte {damage.at:,} of "
                           f"{len(packed) // 2:,}: the compressed data ends early")
    assert f"({damage.lines:,} lines) read before it" in line
    assert f"the {len(readable):,} domain(s) read from it were scanned" in line
    assert line.endswith("scan damaged is recorded as incomplete")
    mx, row = _stored(db_dir, "damaged")
    assert set(mx) == readable | net_all  # every readable domain, and the next input
    wrong = [(n, mx[n], truth.domains[n]["mx"]) for n in mx if mx[n] != truth.domains[n]["mx"]]
    assert not wrong, wrong[:5]
    assert row == [("incomplete", f"{damage}")]

    report = subprocess.run([sys.executable, "-m", "danescan.cli", "report", "--db", str(db_dir),
                             "--scan-id", "damaged"], capture_output=True, text=True,
                            timeout=600, check=False)
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[0] == (
        f"danescan report: scan damaged (incomplete: {damage})")

    # the same damaged file again: nothing scanned twice, the same end
    r = danescan(*args)
    assert r.returncode == 3, r.stderr
    assert f"{len(readable) + len(net_all)} domain(s) were already stored in scan damaged" in r.stderr
    assert len(_damage_lines(r.stderr)) == 1
    assert _stored(db_dir, "damaged") == (mx, row)

    # repaired: the rest is scanned, the scan is finished
    damaged.write_bytes(packed)
    r = danescan(*args)
    assert r.returncode == 0, r.stderr
    assert not _damage_lines(r.stderr)
    mx, row = _stored(db_dir, "damaged")
    assert set(mx) == com_all | net_all and row == [("finished", "")]


@pytest.mark.lab
@pytest.mark.clickhouse
@pytest.mark.slow
def test_corrupt_gzip_and_zeroed_blocks_each_give_one_line(lab: LabHandle, tmp_path: Path) -> None:
    """Junk over the middle of a gzip zone (zlib stops at an invalid code) and a plain zone with
    a zeroed block: what can be read is scanned, one line per file, no zlib traceback; the
    malformed lines the zeroed block spoils are printed with their bytes escaped."""
    com = next(p for p in lab.zone_files if p.name == "com.zone")
    org = next(p for p in lab.zone_files if p.name == "org.zone")
    packed = gzip.compress(com.read_bytes())
    corrupt = tmp_path / "com.zone.gz"
    for seed in range(50):  # junk that zlib refuses before the end (not only the CRC)
        junk = random.Random(seed).randbytes(256)
        mid = len(packed) // 2
        corrupt.write_bytes(packed[:mid] + junk + packed[mid + len(junk):])
        readable, damage = _read_until_damage(corrupt)
        if damage.problem.startswith("corrupt compressed data"):
            break
    else:
        pytest.fail("no junk made zlib fail")
    text = org.read_bytes()
    cut = text.index(b"\n", len(text) // 2) + 1
    zeroed = tmp_path / "org.zone"
    # a line of its own: whatever the lab's zone holds at the cut, the block is a malformed line
    zeroed.write_bytes(text[:cut] + b"\x1b[2J" + b"\0" * 4096 + b"\n" + text[cut + 4096:])
    org_readable, org_damage = _read_until_damage(zeroed)
    assert not org_damage.stopped and "4,096 NUL byte(s)" in org_damage.problem
    db_dir = tmp_path / "db"
    # the zeroed file first: the examples of malformed lines are its own (the first three)
    r = danescan("scan", str(zeroed), str(corrupt), "--resolver", lab.resolver,
                 "--trust-anchor", str(lab.trust_anchor), "--db", str(db_dir), "--scan-id", "junk",
                 "--public-roots", str(lab.dir / "pki" / "public-roots.pem"), "--no-progress")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and "zlib" not in r.stderr
    assert "\x1b" not in r.stderr and "\0" not in r.stderr  # escaped: \x1b[2J\x00...
    assert f"{zeroed}:" in r.stderr and "\\x1b[2J\\x00" in r.stderr
    lines = _damage_lines(r.stderr)
    assert len(lines) == 2
    assert lines[1].startswith(f"danescan: {corrupt}: damaged input at byte {damage.at:,} of ")
    assert "corrupt compressed data (" in lines[1]
    assert lines[0].startswith(f"danescan: {zeroed}: damaged input: 4,096 NUL byte(s)")
    mx, row = _stored(db_dir, "junk")
    truth = lab.truth()
    # the junk may decode to a few odd names before zlib stops: only the lab's are scanned right
    assert {n for n in readable if n in truth.domains} <= set(mx)
    assert org_readable <= set(mx) and len(org_readable) > 5
    assert row[0][0] == "incomplete" and str(zeroed) in row[0][1] and "corrupt" in row[0][1]
