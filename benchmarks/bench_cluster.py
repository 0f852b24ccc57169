"""The streaming pipeline's throughput: the embedded scan, 1 worker process and 2 worker processes,
each from a fresh resolver cache (unbound reloaded before every run), against the same lab.

Prints, per run: domains/s, seconds, CPU ms per domain of the scanning process(es); then the
headline ratios as lines ``scaling: X`` (2 workers / 1 worker) and ``worker/embedded: Y`` (one
worker process / the embedded scan); the resolver's own ceiling for the same query mix (dnsperf on a
fresh cache) and each run's per-process rate against it; Redis memory per million queued domains;
the writer's rows/s into clickhouse-server; and the hours a .com scan (160M domains) would take on
4 two-core hosts at the measured per-core rate.

Workers run with no writer beside them (their rows wait in Redis, as during a ClickHouse outage),
so the two worker runs compete for the cores only with each other; the writer then drains the
results on its own, which is its rows/s. The embedded scan writes to chdb in-process (a thread).

    python benchmarks/bench_cluster.py --domains 10000                 # scenario lab
    python benchmarks/bench_cluster.py --domains 10000 --shape internet

Uses a Redis database of its own (claimed like the tests'), a clickhouse-server on free ports and a
lab in the first free slot, all removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import control
from tests.integration.clickhouse_fixtures import ClickHouseServer, free_port
from tests.integration.cluster_procs import cluster_env, fresh_redis, processes, wait_for
from workers.cluster import ledger
from workers.cluster.state import RESULTS, key, progress

TICK = os.sysconf("SC_CLK_TCK")
COM_DOMAINS = 160_000_000


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


def fresh_cache(lab_dir: Path, resolver: str) -> None:
    """Drop unbound's cache (SIGHUP reloads it empty), then wait until it answers again."""
    manifest = json.loads((lab_dir / "lab.json").read_text()) if (lab_dir / "lab.json").exists() \
        else None
    pid = (manifest or {}).get("pids", {}).get("unbound") or int(
        (lab_dir / "unbound" / "unbound.pid").read_text().strip())
    os.kill(int(pid), signal.SIGHUP)
    time.sleep(1.0)
    host, _, port = resolver.rpartition(":") if resolver.count(":") == 1 else (resolver, "", "53")
    for _ in range(50):
        out = subprocess.run(["dig", f"@{host}", "-p", port or "53", ".", "SOA", "+short",
                              "+time=1", "+tries=1"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return
        time.sleep(0.2)


EMBEDDED = r"""
import json, sys, time
from danescan.embedded import ScanOptions, run_scan
from workers.store.engines import profile
from workers.store.backend import connect
from workers.store.migrations import Migrator, discover
args = json.loads(sys.argv[1])
db = connect(args["db"])
Migrator(db, discover(), profile("single")).apply()
t0, c0 = time.perf_counter(), time.process_time()
out = run_scan(db, args["inputs"], ScanOptions(scan_id="bench", resolver=args["resolver"],
               trust_anchor=args["anchor"], public_roots=args["roots"], progress=False,
               batch_size=args["chunk"]))
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
mix = db.query("SELECT qname, qtype FROM dns_rrsets WHERE scan_id = 'bench'")
with open(args["mix"], "w") as fh:
    fh.write("".join(f"{q}. {t}\n" for q, t in mix))
# the steady rate: the middle 80 % of the domains over the seconds between their writes (the
# start and the tail, where lame servers and silent mail servers are waited out, left out)
t10, t90 = db.query("SELECT toUInt32(quantileExact(0.1)(written_at)), "
                    "toUInt32(quantileExact(0.9)(written_at)) FROM domains WHERE scan_id = 'bench'")[0]
print(json.dumps({"domains": out["domains_read"], "seconds": seconds, "cpu": cpu,
                  "queries": len(mix), "steady": 0.8 * out["domains_read"] / max(1, t90 - t10)}))
"""


def run_embedded(lab: Any, tmp: Path, chunk: int) -> dict[str, float]:
    fresh_cache(tmp / "lab", lab.resolver)
    args = {"db": str(tmp / "chdb"), "inputs": [str(p) for p in lab.zone_files],
            "resolver": lab.resolver, "anchor": str(lab.trust_anchor),
            "roots": str(tmp / "lab" / "pki" / "public-roots.pem"), "chunk": chunk,
            "mix": str(tmp / "mix.txt")}
    out = subprocess.run([sys.executable, "-c", EMBEDDED, json.dumps(args)], capture_output=True,
                         text=True, check=True, env=os.environ.copy())
    x = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(tmp / "chdb", ignore_errors=True)
    return {"domains": x["domains"], "seconds": x["seconds"], "rate": x["domains"] / x["seconds"],
            "cpu_ms": 1000 * x["cpu"] / x["domains"], "processes": 1, "queries": x["queries"],
            "steady": x["steady"]}


def run_workers(n_workers: int, lab: Any, url: str, tmp: Path, chunk: int) -> dict[str, float]:
    from producer.enqueue import EnqueueOptions, celery_publisher, enqueue
    from workers.store.backend import connect
    from workers.store.engines import profile
    from workers.store.migrations import Migrator, discover

    db = connect(url)  # the tables exist before the workers look up earlier certificates
    Migrator(db, discover(), profile("single")).apply()
    db.close()
    r = fresh_redis()
    env = cluster_env(url, visibility_timeout="3600", writer_max_age="0.5", resolver=lab.resolver)
    scan_id = f"bench-{n_workers}"
    pending = key("smtp_pending", scan_id)  # DANE hosts deferred (none while ClickHouse is up)
    before = int(r.info("memory")["used_memory"])
    opts = EnqueueOptions(scan_id=scan_id, resolver=lab.resolver,
                          trust_anchor=str(lab.trust_anchor), chunk=chunk,
                          public_roots=str(tmp / "lab" / "pki" / "public-roots.pem"))
    with celery_publisher() as publish:
        res = enqueue(r, [str(p) for p in lab.zone_files], opts, publish)
    queued = int(r.info("memory")["used_memory"]) - before
    n_chunks = res.chunks
    fresh_cache(tmp / "lab", lab.resolver)
    with processes() as start:
        workers = [start(["worker", "-c", "1"], env, tmp / f"worker-{n_workers}-{i}.log")
                   for i in range(n_workers)]
        # the clock starts when the first chunk is taken (the processes' start-up is not the
        # scan's: Python, Celery and the resolver check cost about a second of CPU each)
        deadline = time.monotonic() + 120
        while not r.hlen(ledger.holders_key(scan_id)) and ledger.pending(r, scan_id) == n_chunks:
            if time.monotonic() > deadline:
                raise AssertionError("no worker took a chunk in 120 s")
            time.sleep(0.01)
        cpu0 = sum(group_cpu(w.popen.pid) for w in workers)
        t0 = time.perf_counter()
        # done: every chunk's message waits in the results list (no writer yet)
        wait_for(lambda: int(r.llen(RESULTS)) >= n_chunks + 1 and not r.scard(pending)
                 and not ledger.pending(r, scan_id), 3600,
                 "the scan's results", [tmp / f"worker-{n_workers}-0.log"])
        seconds = time.perf_counter() - t0
        cpu = sum(group_cpu(w.popen.pid) for w in workers) - cpu0
        # the writer alone: all results into clickhouse-server
        t1 = time.perf_counter()
        start(["writer"], env, tmp / f"writer-{n_workers}.log")
        wait_for(lambda: (p := progress(r, scan_id)) is not None and p.complete, 3600,
                 "the writer", [tmp / f"writer-{n_workers}.log"])
        write_seconds = time.perf_counter() - t1
    db = connect(url)
    rows = sum(int(db.query(f"SELECT count() FROM {t} WHERE scan_id = '{scan_id}'")[0][0])
               for t in ("domains", "dns_rrsets", "dane_verdicts", "starttls_probes",
                         "certificates", "tlsa_records"))
    db.close()
    # the writer's time includes its start (~1 s); rows/s is a floor
    return {"domains": res.domains, "seconds": seconds, "rate": res.domains / seconds,
            "cpu_ms": 1000 * cpu / res.domains, "processes": n_workers,
            "redis_per_million": queued / res.domains * 1e6, "rows": rows,
            "writer_rows_s": rows / write_seconds}


def dnsperf(resolver: str, mix: Path, seconds: int = 30) -> float:
    """Queries/s dnsperf gets from a fresh-cache resolver for the embedded scan's query mix."""
    if shutil.which("dnsperf") is None:
        return float("nan")
    host, _, port = resolver.rpartition(":") if resolver.count(":") == 1 else (resolver, "", "53")
    out = subprocess.run(["dnsperf", "-s", host, "-p", port or "53", "-d", str(mix), "-D",
                          "-n", "1", "-l", str(seconds), "-q", "500", "-t", "15"],
                         capture_output=True, text=True, check=False).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, default=10000)
    ap.add_argument("--shape", default="scenario", choices=("scenario", "internet", "internet-clean"))
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    server = ClickHouseServer(tmp / "ch", tcp_port=free_port(), http_port=free_port())
    server.start()
    lab = control.up(tmp / "lab", args.domains, seed=args.seed, slot=None, shape=args.shape)
    os.environ.update(cluster_env(server.url("x")))  # the publisher's Celery app: our Redis db
    try:
        runs = {"embedded": run_embedded(lab, tmp, args.chunk)}
        mix = tmp / "mix.txt"
        fresh_cache(tmp / "lab", lab.resolver)
        ceiling_qps = dnsperf(lab.resolver, mix)
        for n in (1, 2):
            runs[f"{n} worker{'s' if n > 1 else ''}"] = run_workers(
                n, lab, server.url(f"bench{n}"), tmp, args.chunk)
    finally:
        control.down(tmp / "lab")
        server.stop()
    emb = runs["embedded"]
    q_per_domain = emb["queries"] / emb["domains"]
    ceiling = ceiling_qps / q_per_domain  # domains/s the resolver allows, fresh cache
    print(f"lab: {args.shape} shape, {args.domains:,} domains, seed {args.seed}; chunk "
          f"{args.chunk}; fresh resolver cache (unbound reloaded) before every run")
    print(f"{'run':>10} {'domains/s':>10} {'seconds':>8} {'CPU ms/domain':>14} "
          f"{'per process / resolver ceiling':>31}")
    for name, x in runs.items():
        per_process = x["rate"] / x["processes"]
        print(f"{name:>10} {x['rate']:>10,.0f} {x['seconds']:>8.1f} {x['cpu_ms']:>14.2f} "
              f"{per_process / ceiling:>31.2f}")
    one, two = runs["1 worker"], runs["2 workers"]
    print(f"resolver ceiling (dnsperf, same query mix of {q_per_domain:.1f} queries/domain, "
          f"fresh cache): {ceiling_qps:,.0f} queries/s = {ceiling:,.0f} domains/s")
    print(f"Redis memory per million queued domains: "
          f"{one['redis_per_million'] / 2**20:,.0f} MiB")
    print(f"writer into clickhouse-server: {one['writer_rows_s']:,.0f} rows/s (1-worker run, "
          f"{one['rows']:,} rows), {two['writer_rows_s']:,.0f} rows/s (2-worker run)")
    per_core = 1000.0 / one["cpu_ms"]  # domains/s one core sustains when CPU-bound
    hours = COM_DOMAINS / (per_core * 4 * 2) / 3600
    print(f"projection: .com ({COM_DOMAINS / 1e6:.0f}M domains) on 4 two-core hosts at "
          f"{per_core:,.0f} domains/s per core (1 worker's CPU/domain): {hours:.1f} h")
    print(f"scaling: {two['rate'] / one['rate']:.2f}")
    print(f"worker/embedded: {one['rate'] / emb['rate']:.2f}")


if __name__ == "__main__":
    main()
