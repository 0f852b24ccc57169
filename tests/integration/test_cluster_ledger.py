"""The chunk ledger against real Redis, real kombu messages and a real worker: a ticket taken off
the queue by a consumer that died before recording it (kombu's window between BRPOP and the
unacknowledged hash) is published again by the ledger's sweep, and the scan still ends with every
domain; a ticket in the queue, in the unacknowledged hash or held by a live worker is left alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from producer.enqueue import celery_publisher, publish_chunks
from tests.integration.cluster_procs import (
    cluster_env,
    enqueue_lab,
    fresh_redis,
    processes,
    wait_for,
)
from tests.integration.lab_fixtures import LabHandle
from workers.cluster import ledger
from workers.cluster.state import SCANS, key, progress
from workers.dns import DomainInput
from workers.store.backend import connect

pytestmark = pytest.mark.redis


def test_sweep_publishes_again_only_what_no_message_carries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    r = fresh_redis()
    for name, value in cluster_env("clickhouse://127.0.0.1:1/unused").items():
        monkeypatch.setenv(name, value)
    r.sadd(SCANS, "s")
    batches = [[DomainInput(f"d{i}-{j}.example.") for j in range(3)] for i in range(6)]
    with celery_publisher() as publish:
        assert publish_chunks(r, "s", batches, publish) == (6, 6, 18)

        def again(spec: object, tid: str) -> None:
            entry = tid.split(":", 1)[1]
            publish("s", entry, spec)  # type: ignore[arg-type]

        base = time.time() - 1000.0  # sweeps at base + 1000 .. 1010: "now" (kombu's clock)

        def swept(now: float) -> ledger.SweepReport:
            return ledger.sweep(r, again, now=base + now, grace=3.0, stale=60.0)

        assert int(r.llen("dns")) == 6 and ledger.pending(r, "s") == 6
        first = swept(1000.0)
        assert (first.entries, first.messages, first.looked) == (6, 6, False)
        # a real consumer takes one ticket and does not ack it: kombu's unacknowledged hash
        from workers.cluster.app import make_app
        from workers.settings import Settings

        app = make_app(Settings.from_env())
        with app.connection_for_read() as conn:
            q = conn.SimpleQueue("dns")
            taken = q.get(timeout=5)
            assert r.hlen("unacked") == 1
            assert not swept(1001.0).looked  # 5 queued + 1 unacknowledged
            # a consumer killed between BRPOP and its record: a ticket no message carries
            lost = ledger.message_id(r.rpop("dns"))  # type: ignore[arg-type]
            # and one held by a live worker, its message gone too (kombu's shared-tag ack)
            held = ledger.message_id(r.rpop("dns"))  # type: ignore[arg-type]
            assert lost and held and taken.headers["id"] not in (lost, held)
            r.set(ledger.worker_key("w-live"), "1", ex=30)
            assert ledger.take(r, "s", held.split(":")[1], "w-live") is not None
            look = swept(1002.0)
            assert look.looked and look.missing == 1 and look.republished == []  # not yet
            assert swept(1004.0).republished == []  # 2 s: within the grace
            due = swept(1005.0)
            assert due.republished == [lost]
            assert ledger.message_id(r.lindex("dns", 0)) == lost  # its ticket is back
            assert int(r.get(key("republished", "s")) or 0) == 1
            # the live worker dies: after the grace its entry is published again too
            r.delete(ledger.worker_key("w-live"))
            assert swept(1006.0).republished == []
            assert swept(1009.0).republished == [held]
            # an unacknowledged record kombu never restored: once older than the visibility
            # timeout and the grace (60 s here) it no longer counts, and its entry comes back
            late = r.zscore("unacked_index", taken.delivery_tag)
            assert late is not None and swept(1011.0).republished == []
            assert swept(late - base + 61.0).missing == 1
            assert swept(late - base + 64.0).republished == [taken.headers["id"]]
            # a finished entry is no longer work: the counts agree again
            pipe = r.pipeline()
            ledger.finish(pipe, "s", taken.headers["id"].split(":")[1])
            pipe.execute()
            taken.ack()
            end = swept(1010.0)  # looks (a holder is dead), finds every ticket queued
            assert (end.entries, end.looked, end.missing, end.republished) == (5, True, 0, [])
            assert int(r.llen("dns")) == 6  # 3 never taken, 3 published again
            q.close()


def test_tickets_lost_before_any_worker_recorded_them_are_scanned_anyway(
        lab: LabHandle, clickhouse_url: str, tmp_path: Path) -> None:
    """Three tickets vanish from the queue before a worker starts (what SIGKILL inside kombu's
    window leaves behind): the workers' sweep publishes them again and every domain is stored."""
    r = fresh_redis()
    env = cluster_env(clickhouse_url, resolver=lab.resolver)
    enqueue_lab(lab, env, "lost", 25)
    gone = [ledger.message_id(r.rpop("dns")) for _ in range(3)]  # type: ignore[arg-type]
    assert all(gone)
    logs = [tmp_path / "writer.log", tmp_path / "worker.log"]
    with processes() as start:
        start(["writer"], env, logs[0])
        start(["worker", "-c", "1"], env, logs[1])
        wait_for(lambda: (p := progress(r, "lost")) is not None and p.complete, 240,
                 "the scan with lost tickets to finish", logs)
    p = progress(r, "lost")
    assert p is not None and (p.done, p.failed_domains, p.in_ledger) == (lab.domains, 0, 0)
    assert int(r.get(key("republished", "lost")) or 0) == 3
    assert "published again: " in logs[1].read_text()
    db = connect(clickhouse_url)
    assert db.query("SELECT uniqExact(domain) FROM domains WHERE scan_id = 'lost'")[0][0] == \
        lab.domains
