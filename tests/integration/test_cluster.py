"""Cluster mode end to end: real Redis, clickhouse-server, Celery worker processes, the writer and
the lab. A worker is killed with SIGKILL and the ClickHouse server is stopped in the middle of the
scan; afterwards every domain and MX host is in ClickHouse exactly once, with the verdicts of the
ground truth and of the embedded scan."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from danescan.embedded import ScanOptions, run_scan
from producer.domains import read_domains
from producer.enqueue import EnqueueOptions, celery_publisher, enqueue
from producer.inputfile import InputDamaged
from tests.integration.clickhouse_fixtures import ClickHouseServer
from tests.integration.cluster_procs import (
    cluster_env,
    enqueue_lab,
    fresh_redis,
    processes,
    wait_for,
)
from tests.integration.lab_fixtures import LabHandle, running_lab
from tests.integration.test_scan_lab import compare
from workers.cluster import ledger
from workers.cluster.state import RESULTS, key, progress
from workers.store.backend import Database, connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover

pytestmark = [pytest.mark.redis, pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]


def _embedded(lab: LabHandle, target: str, scan_id: str) -> Database:
    db = connect(target)
    Migrator(db, discover(), profile("single")).apply()
    run_scan(db, [str(p) for p in lab.zone_files],
             ScanOptions(scan_id=scan_id, resolver=lab.resolver, trust_anchor=str(lab.trust_anchor),
                         batch_size=250, public_roots=str(lab.dir / "pki" / "public-roots.pem"),
                         progress=False))
    return db


VERDICTS = ("SELECT mx_host, ip, valid, reason, rfc_outcome, paper_valid, tlsa_dnssec_status, "
            "matched_usage, matched_selector, matched_mtype, matched_depth "
            "FROM dane_verdicts FINAL WHERE scan_id = '{s}' ORDER BY mx_host, ip")
DOMAINS = ("SELECT domain, mx, implicit_mx, null_mx, mx_status, mx_dnssec_status, "
           "mx_dnssec_reason, status FROM domains FINAL WHERE scan_id = '{s}' ORDER BY domain")


@pytest.fixture(scope="module")
def cluster_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The issue asks for a lab of 2,000 domains here (the session's lab is smaller)."""
    with running_lab(tmp_path_factory.mktemp("cluster-lab"), domains=2000, seed=13) as handle:
        yield handle


def test_cluster_survives_a_killed_worker_and_a_clickhouse_restart(
        cluster_lab: LabHandle, clickhouse_server: ClickHouseServer, clickhouse_url: str,
        tmp_path: Path) -> None:
    lab = cluster_lab
    r = fresh_redis()
    env = cluster_env(clickhouse_url, resolver=lab.resolver)  # the workers' start check asks it
    scan_id = "cluster-truth"
    logs = [tmp_path / n for n in ("writer.log", "worker-a.log", "worker-b.log", "worker-c.log")]
    with processes() as start:
        start(["writer"], env, logs[0])
        # the first worker holds few chunks at once, so that most of the scan is still queued
        # when it is killed (with 32 a process, two processes can hold a third of this lab)
        worker_a = start(["worker", "-c", "2"], {**env, "DANESCAN_CHUNKS_IN_FLIGHT": "4"},
                         logs[1])
        enqueue_lab(lab, env, scan_id, 10)
        total = lab.domains
        wait_for(lambda: (p := progress(r, scan_id)) is not None and p.done > 0, 90,
                 "the first domains in ClickHouse", logs)
        # a worker dies with tasks in hand (prefetched, unacked) in the middle of the scan ...
        assert int(r.llen("dns")) > 0, "the scan ended before the worker could be killed"
        assert r.hlen(ledger.holders_key(scan_id)) > 0, "the worker held no chunk"
        worker_a.kill()
        # ... and ClickHouse goes away (killed first: stopping clickhouse-server takes seconds,
        # and without it a chunk's DANE hosts are deferred, so the worker raced through the rest
        # of the scan meanwhile and there was nothing left to kill it in)
        clickhouse_server.stop()
        start(["worker", "-c", "2"], env, logs[2])
        start(["worker", "-c", "2"], env, logs[3])
        wait_for(lambda: int(r.llen(RESULTS)) >= 5, 90, "results waiting in Redis", logs)
        p = progress(r, scan_id)
        assert p is not None and not p.complete and p.done < total
        clickhouse_server.start()  # ClickHouse is back: the waiting results go in
        wait_for(lambda: (p := progress(r, scan_id)) is not None and p.complete, 150,
                 "the scan to finish", logs)
        p = progress(r, scan_id)
        assert p is not None
        assert (p.done, p.failed_domains, p.failures) == (total, 0, {})
        # the killed worker's chunks came back (the ledger's sweep, within the heartbeat and
        # the grace; kombu's own restore comes after the visibility timeout of 60 s)
        assert p.redelivered + int(r.get(key("republished", scan_id)) or 0) >= 1
        assert p.in_ledger == 0 and not r.hlen(ledger.holders_key(scan_id))

    db = connect(clickhouse_url)
    wrong = compare(db, lab, scan_id)
    assert not wrong, (Counter((w[0], w[2] if len(w) > 2 else "") for w in wrong), wrong[:10])

    # exactly once: after merging, one row per key (a redelivered chunk wrote its rows twice)
    for table, keys in (("domains", "domain"), ("dane_verdicts", "mx_host, ip"),
                        ("dns_rrsets", "qname, qtype")):
        db.execute(f"OPTIMIZE TABLE {table} FINAL")
        rows, distinct = db.query(f"SELECT count(), uniqExact({keys}) FROM {table} "
                                  f"WHERE scan_id = '{scan_id}'")[0]
        assert rows == distinct, table
    assert db.query(f"SELECT count() FROM domains WHERE scan_id = '{scan_id}'")[0][0] == total
    status = db.query(f"SELECT status FROM scans FINAL WHERE scan_id = '{scan_id}'")
    assert status == [("finished",)]

    # the embedded scan of the same lab gives the same rows (same code path)
    other = clickhouse_url.rsplit("/", 1)[0] + "/" + clickhouse_url.rsplit("/", 1)[1] + "_emb"
    try:
        emb = _embedded(lab, other, "embedded")
        for sql in (VERDICTS, DOMAINS):
            got = [tuple(map(str, row)) for row in db.query(sql.format(s=scan_id))]
            want = [tuple(map(str, row)) for row in emb.query(sql.format(s="embedded"))]
            assert got == want
    finally:
        connect(other).execute(f"DROP DATABASE IF EXISTS {other.rsplit('/', 1)[1]}")


def test_poison_task_is_recorded_and_the_scan_finishes(
        lab: LabHandle, clickhouse_url: str, tmp_path: Path) -> None:
    """A chunk that can never be processed is retried twice, recorded with its reason, and the
    scan still finishes; enqueueing the scan again publishes nothing."""
    r = fresh_redis()
    env = cluster_env(clickhouse_url, resolver=lab.resolver)
    names = sorted(lab.truth().domains)[:12]
    listing = tmp_path / "domains.txt"
    listing.write_text("".join(f"{n}\n" for n in names))
    logs = [tmp_path / "writer.log", tmp_path / "worker.log"]
    opts = EnqueueOptions(scan_id="poison", resolver=lab.resolver,
                          trust_anchor=str(lab.trust_anchor), chunk=4)
    import os

    old = dict(os.environ)
    os.environ.update(env)  # the publisher's Celery app reads the settings at import
    try:
        with celery_publisher() as publish:
            def poisoned(scan_id: str, entry: str, spec: Mapping[str, Any]) -> None:
                if entry == "c1":  # the chunk in the ledger is garbage
                    r.hset(ledger.ledger_key(scan_id), entry,
                           json.dumps({**spec, "payload": [["bad", 1]] * 4}))
                publish(scan_id, entry, spec)

            first = enqueue(r, [str(listing)], opts, poisoned)
            assert (first.chunks, first.published) == (3, 3)
            with processes() as start:
                start(["writer"], env, logs[0])
                start(["worker", "-c", "1"], env, logs[1])
                wait_for(lambda: (p := progress(r, "poison")) is not None and p.complete, 90,
                         "the poisoned scan to finish", logs)
            again = enqueue(r, [str(listing)], opts, publish)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert (again.chunks, again.published, again.skipped) == (3, 0, 3)
    p = progress(r, "poison")
    assert p is not None
    assert (p.done, p.failed_domains) == (8, 4)
    assert p.failures == {"dns: ValueError": 1}
    assert "not a domain of a chunk" in p.failure_examples[0]
    db = connect(clickhouse_url)
    assert db.query("SELECT count() FROM domains FINAL WHERE scan_id = 'poison'")[0][0] == 8
    assert db.query("SELECT status FROM scans FINAL WHERE scan_id = 'poison'") == [
        ("finished-with-failures",)]
    status = subprocess.run([sys.executable, "-c", "from danescan.cli import main; main()",
                             "status", "--scan-id", "poison", "--json"], env=env,
                            capture_output=True, text=True, timeout=30, check=True)
    shown = json.loads(status.stdout)
    assert shown["scans"][0]["failures"] == {"dns: ValueError": 1}
    assert set(shown["queues"]) == {"dns", "smtp", "results"}
    time.sleep(0)


def test_damaged_input_is_enqueued_up_to_the_damage_and_the_scan_ends_incomplete(
        lab: LabHandle, clickhouse_url: str, tmp_path: Path) -> None:
    """A gzip domain list cut short: the names before the cut are enqueued and scanned, enqueue
    says so in one line and exits 3, the writer closes the scan as incomplete with the damage,
    'danescan status' shows it, and enqueueing the scan again is refused in one line."""
    r = fresh_redis()
    env = cluster_env(clickhouse_url, resolver=lab.resolver)
    names = sorted(lab.truth().domains)
    packed = gzip.compress("".join(f"{n}\n" for n in names).encode())
    listing = tmp_path / "domains.txt.gz"
    listing.write_bytes(packed[: len(packed) // 2])
    readable: list[str] = []
    with pytest.raises(InputDamaged) as caught:
        readable.extend(d.name.rstrip(".") for d in read_domains(listing))
    damage = caught.value
    assert 10 < len(readable) < len(names) and readable == names[: len(readable)]
    cli = [sys.executable, "-c", "from danescan.cli import main; main()"]
    enqueue_args = [*cli, "enqueue", str(listing), "--scan-id", "cut", "--chunk", "10",
                    "--resolver", lab.resolver, "--trust-anchor", str(lab.trust_anchor)]
    out = subprocess.run(enqueue_args, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and "Aborted" not in out.stderr
    (line,) = [x for x in out.stderr.splitlines() if "damaged input" in x]
    assert line == (f"danescan: {damage}; the {len(readable):,} domain(s) read from it were "
                    "enqueued; scan cut will end incomplete")
    assert "cut short" in line and f"{listing}: damaged input at byte " in line
    logs = [tmp_path / "writer.log", tmp_path / "worker.log"]
    with processes() as start:
        start(["writer"], env, logs[0])
        start(["worker", "-c", "1"], env, logs[1])
        wait_for(lambda: (p := progress(r, "cut")) is not None and p.complete, 120,
                 "the damaged scan to finish", logs)
    db = connect(clickhouse_url)
    stored = {row[0] for row in db.query("SELECT domain FROM domains FINAL WHERE scan_id = 'cut'")}
    assert stored == set(readable)
    assert db.query("SELECT status, status_reason FROM scans FINAL WHERE scan_id = 'cut'") == [
        ("incomplete", str(damage))]
    shown = subprocess.run([*cli, "status", "--scan-id", "cut"], env=env, capture_output=True,
                           text=True, timeout=30, check=True).stdout
    assert f"cut (adhoc, incomplete): {len(readable):,} of {len(readable):,} domains done" in shown
    assert f"  damaged input, read up to the damage: {damage}" in shown
    as_json = subprocess.run([*cli, "status", "--scan-id", "cut", "--json"], env=env,
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(as_json)["scans"][0]["damage"] == str(damage)
    again = subprocess.run(enqueue_args, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "was enqueued from a damaged input" in again.stderr
    assert "under a new --scan-id" in again.stderr
