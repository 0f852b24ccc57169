"""``danescan schedule --once`` end to end: after a finished snapshot in clickhouse-server, the
hourly re-scan of the DANE MX hosts is enqueued once, as host tasks covering every DANE host of the
snapshot, and a worker judges each of them again (the same verdicts as the snapshot's, history aside)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from danescan.embedded import ScanOptions, run_scan
from producer.schedule import hourly_id
from tests.integration.cluster_procs import cluster_env, fresh_redis, processes, wait_for
from tests.integration.lab_fixtures import LabHandle
from workers.cluster.state import progress, read_meta
from workers.store.backend import connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover

pytestmark = [pytest.mark.redis, pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]


def test_hourly_rescan_is_enqueued_once_and_covers_every_dane_host(
        lab: LabHandle, clickhouse_url: str, tmp_path: Path) -> None:
    r = fresh_redis()
    db = connect(clickhouse_url)
    Migrator(db, discover(), profile("single")).apply()
    run_scan(db, [str(p) for p in lab.zone_files],
             ScanOptions(scan_id="snapshot", resolver=lab.resolver,
                         trust_anchor=str(lab.trust_anchor), progress=False,
                         public_roots=str(lab.dir / "pki" / "public-roots.pem")))
    dane_hosts = {row[0] for row in db.query(
        "SELECT DISTINCT mx_host FROM tlsa_records WHERE scan_id = 'snapshot'")}
    assert len(dane_hosts) > 50
    env = cluster_env(clickhouse_url, hourly_minute="0", resolver=lab.resolver,
                      trust_anchor=str(lab.trust_anchor), nightly_at="23:59", zone_files="")

    def tick() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "danescan.cli", "schedule", "--once"],
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    before = hourly_id(dt.datetime.now(dt.UTC))
    first = tick()
    assert first.returncode == 0, first.stderr
    started = [line.split()[-1] for line in first.stderr.splitlines() if "started hourly scan" in line]
    assert len(started) == 1 and started[0] in (before, hourly_id(dt.datetime.now(dt.UTC)))
    scan_id = started[0]
    meta = read_meta(r, scan_id)
    assert meta and meta["kind"] == "hourly"
    # host tasks, not domains: every DANE MX host of the snapshot once, on queue smtp
    assert int(meta["total"]) == len(dane_hosts) and int(r.llen("dns")) == 0
    assert int(r.llen("smtp")) == -(-len(dane_hosts) // 20)  # DANESCAN_SMTP_HOSTS_PER_TASK
    logs = [tmp_path / "writer.log", tmp_path / "worker.log"]
    with processes() as start:
        start(["writer"], env, logs[0])
        start(["worker", "-c", "1"], env, logs[1])
        wait_for(lambda: (p := progress(r, scan_id)) is not None and p.complete, 120,
                 "the hourly re-scan", logs)
    judged = {row[0] for row in db.query(
        f"SELECT DISTINCT mx_host FROM dane_verdicts FINAL WHERE scan_id = '{scan_id}'")}
    assert judged == dane_hosts
    same = ("SELECT mx_host, ip, valid, reason FROM dane_verdicts FINAL WHERE scan_id = '{s}' "
            "AND mx_host IN (SELECT mx_host FROM tlsa_records WHERE scan_id = 'snapshot') "
            "ORDER BY mx_host, ip")
    hourly, snapshot = db.query(same.format(s=scan_id)), db.query(same.format(s="snapshot"))
    assert [r[:3] for r in hourly] == [r[:3] for r in snapshot]
    # The reasons are the snapshot's, but for one thing the snapshot could not know: it was the
    # first scan, the re-scan has the snapshot as history. A host whose addresses serve different
    # keys (the lab's rollover-addr-diverge after its switch) had its record's key served by one
    # address in the snapshot, so the other address's mismatch is now "matches-old-certificate"
    # (the lab's truth for a scan with history), not "no-match".
    leaves = dict(db.query("SELECT mx_host, uniqExact(chain[1]) FROM starttls_probes "
                           "WHERE scan_id = 'snapshot' AND length(chain) > 0 GROUP BY mx_host"))
    for now, then in zip(hourly, snapshot, strict=True):
        if now[3] != then[3]:
            assert (then[3], now[3]) == ("no-match", "matches-old-certificate"), (then, now)
            assert leaves.get(now[0], 0) > 1, (then, now)
    assert db.query(f"SELECT count() FROM domains WHERE scan_id = '{scan_id}'") == [(0,)]
    second = tick()  # the same hour again: nothing new
    assert second.returncode == 0 and "started" not in second.stderr


@pytest.mark.redis
def test_a_zone_file_that_vanished_is_one_error_and_enqueue_resumes(tmp_path: Path) -> None:
    r = fresh_redis()
    # the Internet's root anchor (the default): a real identity is required (issue 14)
    env = cluster_env("clickhouse://127.0.0.1:1/unused", ehlo_name="scan1.dane-research.net",
                      contact="mailto:scans@dane-research.net")
    first = tmp_path / "a.txt"
    first.write_text("".join(f"d{i}.example\n" for i in range(6)))
    gone = tmp_path / "b.txt"
    args = [sys.executable, "-m", "danescan.cli", "enqueue", str(first), str(gone),
            "--scan-id", "vanish", "--chunk", "2", "--resolver", "127.0.0.1"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and f"{gone}: no such file" in out.stderr
    # every input is checked before anything is published (a file deleted while it is being read
    # stays readable on Linux through the open descriptor)
    assert int(r.llen("dns")) == 0
    gone.write_text("e1.example\ne2.example\n")
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert int(r.llen("dns")) == 4
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert int(r.llen("dns")) == 4  # enqueueing the same scan again publishes nothing
