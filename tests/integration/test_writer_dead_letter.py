"""The cluster writer and poison messages, against real Redis and real ClickHouse (chdb and
clickhouse-server 18.16): a message that does not decode or that ClickHouse rejects goes to the
dead-letter list with its error, the good ones around it are written, the scan still ends,
``danescan status`` reports the dead letters and ``danescan deadletter replay`` puts them back.
A ClickHouse that is down or lacks a table sets nothing aside. The ``danescan writer`` process
survives the poison, and a kill -9 in the middle of a batch loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.enqueue import EnqueueOptions, enqueue
from tests.integration.clickhouse_fixtures import free_port
from tests.integration.cluster_procs import cluster_env, processes, wait_for
from tests.integration.redis_dbs import claim
from workers.cluster import codec, deadletter, ledger
from workers.cluster.drain import LOCK, Drain
from workers.cluster.state import RESULTS, progress
from workers.store.backend import Database, connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover
from workers.store.rows import DnsRrsetRow, DomainRow

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

# a Redis database of its own: the other cluster tests flush theirs (7)
REDIS_URL = f"redis://127.0.0.1:6379/{claim(12)}"
DEEP = b"[" * 100_000  # json.loads raises RecursionError: it used to kill the writer


@pytest.fixture
def r() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = env or {**{k: v for k, v in os.environ.items() if not k.startswith("DANESCAN_")},
                  "DANESCAN_REDIS_URL": REDIS_URL, "DANESCAN_REDIS_RETRIES": "1"}
    return subprocess.run([sys.executable, "-c", "from danescan.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def _domain(scan: str, name: str, **over: Any) -> DomainRow:
    values: dict[str, Any] = {
        "scan_id": scan, "domain": name, "tld": "test", "ns": [f"ns.{name}"], "ds_in_parent": 1,
        "has_dnskey": 1, "mx": [f"mx.{name}"], "mx_preferences": [10], "implicit_mx": 0,
        "null_mx": 0, "mx_status": "NOERROR", "mx_dnssec_status": "secure",
        "mx_dnssec_reason": "", "status": "NOERROR", "registered": name}
    return DomainRow(**{**values, **over})


def _rrset(scan: str, name: str) -> DnsRrsetRow:
    return DnsRrsetRow(scan_id=scan, qname=name, qtype="MX", status="NOERROR", rcode=0, ttl=300,
                       records=[f"10 mx.{name}."], rrsig_count=1, rrsigs=["MX 13 2 300"],
                       dnssec_status="secure", dnssec_reason="", resolver="127.0.0.1",
                       queried_at=1_700_000_000, duration_ms=1.5, attempts=1)


def _chunk_message(scan: str, no: int, names: list[str], **bad: Any) -> bytes:
    """What a worker pushes for one DNS chunk (tasks.dns_chunk): host rows, then domain rows;
    ``bad`` gives the chunk's first domain row a value of its own."""
    rows: list[Any] = [_rrset(scan, n) for n in names]
    rows += [_domain(scan, n, **(bad if i == 0 else {})) for i, n in enumerate(names)]
    return codec.encode_message(scan, "dns", f"c{no}", len(names), rows)


def _register(r: redis.Redis, tmp_path: Path, scan: str, domains: int,
              chunk: int) -> list[list[str]]:
    """The scan enqueued as the producer does it; returns the chunks' domain names."""
    listing = tmp_path / f"{scan}.txt"
    listing.write_text("".join(f"d{i:04d}.test\n" for i in range(domains)))
    published: list[list[str]] = []

    def publish(_scan: str, entry: str, spec: dict[str, Any]) -> None:
        published.append([d.name.rstrip(".") for d in codec.decode_chunk(spec["payload"])])
        ledger.drop(r, _scan, entry)  # the test plays the workers: it pushes their messages

    enqueue(r, [str(listing)], EnqueueOptions(scan_id=scan, resolver="127.0.0.1", chunk=chunk),
            publish)
    return published


def _drain_until(drain: Drain, r: redis.Redis, done: Callable[[], bool], what: str) -> None:
    """Runs the writer's steps as its loop does, until ``done``; generous bound on steps."""
    assert drain.hold_lock()
    for _ in range(2000):
        if done():
            return
        if drain.step() == 0:
            time.sleep(0.05)
    raise AssertionError(f"the writer did not get to: {what}; results list {r.llen(RESULTS)}")


def _migrated(target: str) -> Callable[[], Database]:
    def connect_db() -> Database:
        db = connect(target, timeout=30.0)
        Migrator(db, discover(), profile("single")).apply()
        return db
    return connect_db


def _count(db: Database, sql: str) -> int:
    return int(db.query(sql)[0][0])


def test_poison_between_good_messages(r: redis.Redis, db_target: str, tmp_path: Path) -> None:
    scan = "poisoned"
    chunks = _register(r, tmp_path, scan, domains=60, chunk=10)  # c0 .. c5, ten domains each
    assert len(chunks) == 6
    lone_surrogate = json.dumps({"scan": scan, "kind": "dns", "key": "c9", "domains": 0,
                                 "rows": codec.encode_rows([_rrset(scan, "x\udc80.test")])})
    wrong_type = json.loads(_chunk_message(scan, 4, chunks[4]))
    wrong_type["rows"][-1][2] = 12345  # domains.domain: a number where a string goes
    r.rpush(RESULTS,
            _chunk_message(scan, 0, chunks[0]),
            DEEP,
            _chunk_message(scan, 1, chunks[1]),
            _chunk_message(scan, 2, chunks[2], ds_in_parent=70_000),  # UInt8: ClickHouse rejects it
            b"\xff\xfe not even text",
            _chunk_message(scan, 3, chunks[3]),
            json.dumps(wrong_type).encode(),
            lone_surrogate.encode(),  # valid JSON, not valid UTF-8 for ClickHouse
            _chunk_message(scan, 5, chunks[5]))
    said: list[str] = []
    drain = Drain(r, _migrated(db_target), max_age=0.0, say=said.append)

    def finished() -> bool:
        p = progress(r, scan)
        return p is not None and p.complete

    _drain_until(drain, r, finished, "the end of the scan")
    assert drain.db is not None
    db = drain.db  # chdb: one session per path, so read through the writer's
    good = {n for c in (0, 1, 3, 5) for n in chunks[c]}
    got = {row[0] for row in db.query(f"SELECT domain FROM domains FINAL WHERE scan_id = '{scan}'")}
    assert got == good
    assert db.query(f"SELECT status FROM scans FINAL WHERE scan_id = '{scan}'") == [
        ("finished-with-failures",)]
    if db.table_exists("leaf_snapshots"):  # chdb, or a server new enough for migration 0015
        # the writer stored the closed scan's snapshot rows, as the embedded scan's close does
        assert db.query("SELECT scan_id FROM derived_scans FINAL") == [(scan,)]

    dead = deadletter.entries(r, deadletter.ids(r))
    assert len(dead) == 5 and r.llen(RESULTS) == 0
    by_key = {(d.stage, d.key): d for d in dead}
    assert set(by_key) == {("decode", None), ("write", "c2"), ("decode", "c4"), ("write", "c9")}
    deep = next(d for d in dead if d.size == len(DEEP))
    assert deep.error == "DecodeError: nested too deeply to decode" and deep.scan is None
    assert deadletter.raw(r, deep.id) == DEEP  # the bytes are kept as they came
    assert any(d.error.startswith("DecodeError: not JSON") for d in dead if d.key is None)
    c2 = by_key["write", "c2"]
    assert c2.tables[0] == "domains" and c2.scan == scan and c2.domains == 10
    assert ("Code: 53" in c2.error and "ds_in_parent" in c2.error) or "70000" in c2.error
    assert by_key["decode", "c4"].error == (
        "DecodeError: row 19 (domains) domain: int, not str")
    assert "surrogates not allowed" in by_key["write", "c9"].error
    assert all("\n" not in d.error for d in dead)
    p = progress(r, scan)
    assert p is not None
    # the dead-lettered chunks count as failed domains, so the scan could end
    assert (p.done, p.failed_domains, p.failures) == (40, 20, {"writer: dead letter": 3})
    assert drain.dead_letters == 5

    # status reports them: the count and the newest errors, one line each
    out = _cli("status")
    assert out.returncode == 0, out.stderr
    assert "dead letters: 5 (" in out.stdout
    lines = out.stdout.splitlines()
    newest = lines[lines.index(next(x for x in lines if x.startswith("dead letters:"))) + 1:]
    assert len(newest) == 5 and newest[0].startswith(f"  #{dead[-1].id} ")
    assert "write domains (poisoned dns c2, " in out.stdout
    shown = json.loads(_cli("status", "--json").stdout)["dead_letters"]
    assert (shown["count"], shown["dropped"]) == (5, 0)
    assert [d["id"] for d in shown["newest"]] == [d.id for d in reversed(dead)]
    listed = _cli("deadletter", "list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 6
    show = subprocess.run([sys.executable, "-c", "from danescan.cli import main; main()",
                           "deadletter", "show", str(c2.id)], capture_output=True, timeout=60,
                          env={**os.environ, "DANESCAN_REDIS_URL": REDIS_URL}, check=True)
    assert codec.decode_message(show.stdout)[0]["key"] == "c2"

    # the operator widens the column; replaying c2 writes it, the scan ends again, one fewer
    db.execute("ALTER TABLE domains MODIFY COLUMN ds_in_parent UInt32")
    out = _cli("deadletter", "replay", str(c2.id))
    assert out.returncode == 0, out.stderr
    assert "1 dead letter(s) moved back" in out.stdout
    assert r.llen(RESULTS) == 1 and len(deadletter.ids(r)) == 4
    _drain_until(drain, r, finished, "the end of the scan after the replay")
    got = {row[0] for row in db.query(f"SELECT domain FROM domains FINAL WHERE scan_id = '{scan}'")}
    assert got == good | set(chunks[2])
    assert _count(db, f"SELECT max(ds_in_parent) FROM domains WHERE scan_id = '{scan}'") == 70_000
    p = progress(r, scan)
    assert p is not None
    assert (p.done, p.failed_domains, p.failures) == (50, 10, {"writer: dead letter": 2})

    # replaying what still does not decode sets it aside again, under a new id
    c4 = by_key["decode", "c4"]
    assert _cli("deadletter", "replay", "--scan-id", scan, str(c4.id)).returncode == 0
    _drain_until(drain, r, lambda: r.llen(RESULTS) == 0, "the replayed poison")
    again = deadletter.entries(r, deadletter.ids(r))
    assert len(again) == 4 and c4.id not in {d.id for d in again}
    assert [d.error for d in again if d.key == "c4"] == [c4.error]
    assert progress(r, scan).failed_domains == 10  # type: ignore[union-attr]

    # drop; a missing id is one line and rc 2; nothing named is refused
    assert _cli("deadletter", "drop", str(deep.id)).returncode == 0
    assert deadletter.summary(r).count == 3
    missing = _cli("deadletter", "replay", "999999")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "danescan: no dead letter #999999 (see 'danescan deadletter list')")
    assert _cli("deadletter", "drop").returncode == 2
    assert deadletter.summary(r).count == 3 and r.llen(RESULTS) == 0
    drain.close_db()


def test_an_outage_or_a_missing_table_sets_nothing_aside(
        r: redis.Redis, clickhouse_url: str) -> None:
    messages = [_chunk_message("s", i, [f"o{i}.test"]) for i in range(5)]
    r.rpush(RESULTS, *messages)
    said: list[str] = []
    refused = f"clickhouse://127.0.0.1:{free_port()}/nothing"  # connection refused
    drain = Drain(r, lambda: connect(refused, timeout=5.0), max_age=0.0, say=said.append)
    assert drain.hold_lock()
    assert drain.step() == 0
    assert "is not reachable" in said[-1] and "5 result messages wait" in said[-1]
    drain.release_lock()
    # a server that answers, without the tables: UNKNOWN_TABLE is not the messages' fault
    bare = connect(clickhouse_url)
    bare.create_database()  # type: ignore[union-attr]
    drain = Drain(r, lambda: connect(clickhouse_url, timeout=30.0), max_age=0.0,
                  say=said.append)
    assert drain.hold_lock()
    for _ in range(3):
        drain.next_try = 0.0  # no back-off wait in the test
        assert drain.step() == 0
    assert "Code: 60" in said[-1] or "doesn't exist" in said[-1], said[-1]
    assert r.lrange(RESULTS, 0, -1) == messages  # nothing trimmed, nothing set aside
    assert deadletter.summary(r).count == 0
    Migrator(bare, discover(), profile("single")).apply()  # the operator creates the tables
    drain.next_try = 0.0
    _drain_until(drain, r, lambda: r.llen(RESULTS) == 0, "the messages after the migration")
    assert _count(bare, "SELECT count() FROM domains") == 5
    assert deadletter.summary(r).count == 0
    drain.close_db()


@pytest.mark.slow
def test_the_writer_process_survives_poison_and_a_kill_mid_batch(
        r: redis.Redis, clickhouse_url: str, tmp_path: Path) -> None:
    """One batch of 2,000 messages, 100 of them rejected by ClickHouse and one undecodable: the
    writer is killed with SIGKILL while it splits the batch; nothing is lost, nothing is set
    aside twice; restarted, it writes the good ones and sets the poison aside."""
    env = {**cluster_env(clickhouse_url), "DANESCAN_REDIS_URL": REDIS_URL,
           "DANESCAN_WRITER_MAX_AGE": "0"}
    scan = "killed"
    bad = set(range(7, 2000, 20))  # 100
    messages = [_chunk_message(scan, i, [f"k{i:04d}.test"],
                               **({"mx_preferences": [70_000]} if i in bad else {}))
                for i in range(1999)]
    messages.insert(1000, DEEP)
    r.rpush(RESULTS, *messages)
    total = len(messages)
    logs = [tmp_path / "writer-1.log", tmp_path / "writer-2.log"]
    db = connect(clickhouse_url)
    with processes() as start:
        writer = start(["writer"], env, logs[0])

        def splitting() -> bool:  # some good domain rows written, the batch not yet trimmed
            assert writer.popen.poll() is None, logs[0].read_text()
            if not db.table_exists("domains"):
                return False
            return _count(db, "SELECT count() FROM domains") > 0

        wait_for(splitting, 300, "the writer to split the rejected batch", logs)
        writer.kill(signal.SIGKILL)
        assert r.llen(RESULTS) == total, "the batch was trimmed before the kill: no test"
        assert deadletter.summary(r).count == 0  # set aside only together with the trim
        assert r.lrange(RESULTS, 0, -1) == messages
        written_before = _count(db, "SELECT count() FROM domains")
        assert 0 < written_before < total - len(bad) - 1

        writer = start(["writer"], env, logs[1])
        wait_for(lambda: r.llen(RESULTS) == 0, 600, "the batch to be written", logs)
        assert writer.popen.poll() is None  # still running
    good = {f"k{i:04d}.test" for i in range(1999) if i not in bad}
    got = {row[0] for row in db.query("SELECT domain FROM domains FINAL")}
    assert got == good
    dead = deadletter.entries(r, deadletter.ids(r))
    assert sorted(d.key for d in dead if d.key) == sorted(f"c{i}" for i in bad)  # each once
    assert [d.error for d in dead if d.key is None] == ["DecodeError: nested too deeply to decode"]
    assert all("mx_preferences" in d.error for d in dead if d.key)
    log = logs[1].read_text()
    assert "set aside as a dead letter" in log and "Traceback" not in log
    # k bad in n: a bounded number of inserts, not one per message
    splits = [line for line in log.splitlines() if "rejected for its data" in line]
    assert splits, log[-2000:]
    writes = int(splits[-1].split("; ")[1].split(" writes")[0])
    assert writes <= 1 + 2 * len(bad) * 11 + 1
    assert _cli("status", env=env).stdout.count("dead letters: 101 (") == 1


def test_the_dead_letter_list_is_bounded(r: redis.Redis) -> None:
    """Past its caps the oldest entries go and are counted; a long message keeps its first bytes
    and cannot be replayed; what an older writer kept in results:bad is adopted."""
    r.rpush(deadletter.OLD_BAD, b"kept by an older writer")
    r.rpush(RESULTS, *[b"not json %d" % i for i in range(4)], b"{" + b"x" * 4999)
    said: list[str] = []
    nowhere = f"clickhouse://127.0.0.1:{free_port()}/nothing"  # never reached: nothing decodes
    drain = Drain(r, lambda: connect(nowhere, timeout=5.0), max_age=0.0, say=said.append)
    drain.max_dead_letters, drain.max_message_bytes = 3, 1000
    rounds = iter(range(3))
    drain.run(stop=lambda: next(rounds, None) is None, idle=0.01)
    assert r.llen(RESULTS) == 0 and r.llen(deadletter.OLD_BAD) == 0
    assert any("1 undecodable messages of an older writer" in m for m in said)
    s = deadletter.summary(r, newest=5)
    assert (s.count, s.dropped) == (3, 3)  # 6 set aside, the 3 oldest dropped
    assert [d.id for d in s.newest] == [6, 5, 4]
    cut = s.newest[0]
    assert (cut.size, cut.kept, cut.cut) == (5000, 1000, True)
    assert s.bytes == 1000 + len(b"not json 3") + len(b"not json 2")
    assert deadletter.raw(r, cut.id) == b"{" + b"x" * 999
    assert any("dropped" in m for m in said)
    status = _cli("status")
    assert "dead letters: 3 (" in status.stdout and "3 dropped by the cap" in status.stdout
    assert "cut to 1,000 of 5,000 bytes" in status.stdout
    refused = _cli("deadletter", "replay", "--all")
    assert refused.returncode == 2
    assert "2 dead letter(s) moved back" in refused.stdout
    assert refused.stderr.strip() == ("danescan: 1 dead letter(s) kept only the first bytes of "
                                      "their message and cannot be replayed: #6 (drop them)")
    assert r.llen(RESULTS) == 2 and deadletter.summary(r).bytes == 1000
    # by bytes too: the two replayed come back (1,020 bytes held); a cap of 1,015 drops the oldest
    drain.max_dead_bytes = 1015
    assert drain.hold_lock()
    drain.step()
    s = deadletter.summary(r)
    assert (s.count, s.dropped, s.bytes) == (2, 4, 2 * len(b"not json 3"))
    assert [d.id for d in s.newest] == [8, 7]
    assert _cli("deadletter", "drop", "--all").returncode == 0
    assert deadletter.summary(r) == deadletter.Summary(0, 4, 0, ())


def test_a_long_close_keeps_the_writer_lock(r: redis.Redis) -> None:
    """Storing a closed scan's snapshot rows may outlast the lock's TTL: the writer renews the
    lock meanwhile, stops renewing after, and never takes over a lock another writer holds."""
    drain = Drain(r, lambda: connect("unused"))
    assert drain.hold_lock(ttl=1)
    with drain.lock_kept(ttl=1, every=0.2):
        time.sleep(1.6)  # longer than the TTL
        assert r.get(LOCK) == drain.token.encode()
    time.sleep(1.3)
    assert r.get(LOCK) is None  # no longer renewed: it lapsed
    r.set(LOCK, "other:writer", ex=5)
    with drain.lock_kept(ttl=1, every=0.2):
        time.sleep(0.5)
    assert r.get(LOCK) == b"other:writer"
