"""Cluster throughput against the lab: domains/s with 1 and with 2 worker processes, the scaling
ratio, and the CPU per domain that the worker processes spend in Celery itself (their total CPU
minus the CPU inside the task bodies, which the tasks count in Redis).

Starts a lab (--domains), a clickhouse-server on free loopback ports, the writer, and for each run
N workers (``danescan worker -c 1``: one process each). Uses Redis db 7 (flushed, only it).

    python benchmarks/bench_cluster.py --domains 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import control
from tests.integration.clickhouse_fixtures import ClickHouseServer, free_port
from tests.integration.cluster_procs import (
    cluster_env,
    fresh_redis,
    processes,
    wait_for,
)
from workers.cluster.state import key, progress

TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """utime + stime (seconds) of the live processes of a process group."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ...
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def run(n_workers: int, lab: control.UpResult, url: str, tmp: Path, chunk: int) -> dict[str, float]:
    r = fresh_redis()
    env = cluster_env(url, visibility_timeout="600", writer_max_age="0.5", resolver=lab.resolver)
    scan_id = f"bench-{n_workers}"
    with processes() as start:
        start(["writer"], env, tmp / f"writer-{n_workers}.log")
        workers = [start(["worker", "-c", "1"], env, tmp / f"worker-{n_workers}-{i}.log")
                   for i in range(n_workers)]
        time.sleep(4)  # workers up (their start-up is not the scan's)
        cpu0 = sum(group_cpu(w.popen.pid) for w in workers)
        t0 = time.perf_counter()
        from producer.enqueue import EnqueueOptions, celery_publisher, enqueue

        opts = EnqueueOptions(scan_id=scan_id, resolver=lab.resolver,
                              trust_anchor=str(lab.trust_anchor), chunk=chunk,
                              public_roots=str(tmp / "lab" / "pki" / "public-roots.pem"))
        with celery_publisher() as publish:
            res = enqueue(r, [str(p) for p in lab.zone_files], opts, publish)
        wait_for(lambda: (p := progress(r, scan_id)) is not None and p.complete, 900,
                 "the scan", [])
        seconds = time.perf_counter() - t0
        cpu = sum(group_cpu(w.popen.pid) for w in workers) - cpu0
        task_cpu = float(r.get(key("task_cpu", scan_id)) or 0)
    return {"domains": res.domains, "seconds": seconds, "rate": res.domains / seconds,
            "cpu_ms": 1000 * cpu / res.domains, "celery_ms": 1000 * (cpu - task_cpu) / res.domains}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=100)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    server = ClickHouseServer(tmp / "ch", tcp_port=free_port(), http_port=free_port())
    server.start()
    lab = control.up(tmp / "lab", args.domains, seed=3, slot=None)
    os.environ.update(cluster_env(server.url("x")))  # the publisher's Celery app: Redis db 7
    try:
        rows = {n: run(n, lab, server.url(f"bench{n}"), tmp, args.chunk) for n in (1, 2)}
    finally:
        control.down(tmp / "lab")
        server.stop()
    print(f"lab of {args.domains} domains, chunk {args.chunk}; worker = one Celery prefork process")
    print(f"{'workers':>7} {'domains/s':>10} {'seconds':>8} {'CPU ms/domain':>14} "
          f"{'in Celery ms/domain':>20}")
    for n, x in rows.items():
        print(f"{n:>7} {x['rate']:>10,.0f} {x['seconds']:>8.1f} {x['cpu_ms']:>14.2f} "
              f"{x['celery_ms']:>20.3f}")
    print(f"scaling 1 -> 2 workers: {rows[2]['rate'] / rows[1]['rate']:.2f}x")


if __name__ == "__main__":
    main()
