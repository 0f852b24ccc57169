"""Enqueue rate: domains per second from a zone file into Redis as Celery tasks (goal >= 50,000/s).

Writes a synthetic zone file of --domains delegations (NS + some DS), then for each chunk size:
* ``read``: the inputs streamed alone (``producer.inputs.iter_inputs``), the ceiling;
* ``enqueue``: the same through ``producer.enqueue`` (chunk SADD + one Celery message per chunk);
* ``publish``: the parsed domains (held in memory) through ``publish_chunks`` alone: the Redis and
  Celery side without the zone parser;
prints domains/s of each, enqueue/read, and the bytes per domain in Redis. Uses Redis db 7 and
flushes it (only it) before and after.

    python benchmarks/bench_enqueue.py --domains 500000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
URL = "redis://127.0.0.1:6379/7"
os.environ["DANESCAN_REDIS_URL"] = URL  # before the Celery app reads the settings

import redis  # noqa: E402

from producer.enqueue import (  # noqa: E402
    EnqueueOptions,
    celery_publisher,
    enqueue,
    publish_chunks,
)
from producer.inputs import (  # noqa: E402
    InputStats,
    chunks,
    iter_inputs,
)


def zone(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("$ORIGIN bench.\n$TTL 86400\n@ IN SOA ns.bench. h.bench. 1 7200 900 1209600 86400\n"
                 "@ IN NS ns.bench.\n")
        for i in range(n):
            fh.write(f"d{i} IN NS ns{i % 97}.hoster{i % 13}.net.\n"
                     f"d{i} IN NS ns{(i + 1) % 97}.hoster{i % 13}.net.\n")
            if i % 10 == 0:
                fh.write(f"d{i} IN DS 12345 13 2 {'ab' * 32}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, default=300_000)
    ap.add_argument("--chunks", default="100,500,2000")
    args = ap.parse_args()
    r = redis.Redis.from_url(URL)
    r.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.zone"
        zone(path, args.domains)
        t = time.perf_counter()
        parsed = list(iter_inputs([str(path)], InputStats()))
        n = len(parsed)
        read_rate = n / (time.perf_counter() - t)
        print(f"{n:,} domains; read alone: {read_rate:,.0f} domains/s")
        print(f"{'chunk':>6} {'enqueue/s':>11} {'vs read':>8} {'tasks/s':>8} {'bytes/domain':>13}"
              f" {'publish/s':>11}")
        for size in (int(c) for c in args.chunks.split(",")):
            r.flushdb()
            opts = EnqueueOptions(scan_id=f"bench-{size}", resolver="127.0.0.1", chunk=size)
            before = int(r.info("memory")["used_memory"])
            with celery_publisher() as publish:
                res = enqueue(r, [str(path)], opts, publish)
            used = int(r.info("memory")["used_memory"]) - before
            rate = res.domains / res.seconds
            r.flushdb()
            with celery_publisher() as publish:
                t = time.perf_counter()
                publish_chunks(r, f"pub-{size}", chunks(parsed, size), publish)
                pub_rate = n / (time.perf_counter() - t)
            print(f"{size:>6} {rate:>11,.0f} {rate / read_rate:>8.2f} "
                  f"{res.chunks / res.seconds:>8,.0f} {used / res.domains:>13.1f} {pub_rate:>11,.0f}")
    r.flushdb()


if __name__ == "__main__":
    main()
