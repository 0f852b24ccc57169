"""DNS probe benchmark: domains/s per process, CPU us per domain, p99 time per domain, and the
queries/s dnsperf gets from the same resolver with the same query mix (ratio printed).

    python benchmarks/bench_dns.py --lab DIR    # against a running lab (danescan lab up --dir DIR):
                                                # resolver 127.53.53.53, DIR/trust-anchor.txt,
                                                # the domains delegated in DIR/zones/*.zone
    python benchmarks/bench_dns.py --resolver 127.53.53.53:53 --anchor DIR/trust-anchor.txt \
        --domains-file names.txt
    python benchmarks/bench_dns.py --testbed 2000   # own NSD+unbound hierarchy on 127.88.x

Pass 1 runs on a cold resolver cache (the crawler's real situation, resolver-bound); pass 2
repeats the same names on a warm cache (crawler-bound: measures our CPU); dnsperf replays the
distinct queries of pass 1 on the warm cache, so "warm crawler qps / dnsperf qps" says how close the
crawler gets to the resolver's ceiling.
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import subprocess
import sys
import tempfile
import time

from workers import gc_tuning
from workers.dns import BatchResult, DomainInput, EngineSettings, load_trust_anchor, probe_batch
from workers.dns.engine import QueryEngine
from workers.dns.probe import run_async


def per_domain_latency(res: BatchResult) -> list[float]:
    hosts = {h.host: h for h in res.hosts}
    out = []
    for d in res.domains:
        qs = list(d.queries)
        for h in d.mx_hosts:
            if h in hosts:
                qs.extend(hosts[h].queries)
        if qs:
            out.append(max(q.sent_at + q.duration for q in qs) - min(q.sent_at for q in qs))
    return sorted(out)


def lab_domains(lab_dir: str) -> list[DomainInput]:
    """The delegations of the lab's TLD zone files, with the NS and DS the zone gave."""
    from pathlib import Path

    from producer.zonefile import read_zone

    out: list[DomainInput] = []
    for path in sorted(Path(lab_dir, "zones").glob("*.zone")):
        _, delegations = read_zone(str(path))
        out.extend(DomainInput(d.name, d.ns, d.has_ds) for d in delegations)
    return out


async def run_pass(names: list[DomainInput], settings: EngineSettings, anchors: object,
                   chunk: int) -> tuple[float, float, int, list[BatchResult]]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = []
    async with QueryEngine(settings) as engine:
        import asyncio
        batches = [names[i : i + chunk] for i in range(0, len(names), chunk)]
        sem = asyncio.Semaphore(4)

        async def one(batch: list[DomainInput]) -> BatchResult:
            async with sem:
                return await probe_batch(batch, settings, time.time(), anchors,  # type: ignore[arg-type]
                                         engine=engine)

        results = list(await asyncio.gather(*(one(b) for b in batches)))
        sent = engine.sent
    return time.perf_counter() - t0, time.process_time() - cpu0, sent, results


def dnsperf(resolver: str, results: list[BatchResult], seconds: int) -> float | None:
    if shutil.which("dnsperf") is None:
        return None
    lines: set[str] = set()
    for r in results:
        for d in r.domains:
            lines.update(f"{q.qname} {q.qtype}" for q in d.queries)
        for h in r.hosts:
            lines.update(f"{q.qname} {q.qtype}" for q in h.queries)
    addr, _, port = resolver.rpartition(":")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(sorted(lines)) + "\n")
    out = subprocess.run(["dnsperf", "-s", addr, "-p", port, "-d", fh.name, "-D", "-l",
                          str(seconds), "-q", "2000", "-c", "4"],
                         capture_output=True, text=True, check=False).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    return float(m.group(1)) if m else None


def report(label: str, n: int, wall: float, cpu: float, sent: int,
           results: list[BatchResult]) -> float:
    lat = [x for r in results for x in per_domain_latency(r)]
    lat.sort()
    p99 = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
    hosts = sum(len(r.hosts) for r in results)
    print(f"{label}: {n} domains, {hosts} MX hosts, {sent} queries in {wall:.2f} s: "
          f"{n / wall:,.0f} domains/s, {sent / wall:,.0f} queries/s, "
          f"CPU {cpu * 1e6 / n:,.0f} us/domain ({cpu * 1e6 / max(sent, 1):,.0f} us/query), "
          f"p99 {p99 * 1000:.0f} ms/domain")
    return sent / wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolver")
    ap.add_argument("--anchor")
    ap.add_argument("--domains-file")
    ap.add_argument("--lab", help="directory of a running lab")
    ap.add_argument("--testbed", type=int, default=0, help="build own hierarchy with N domains")
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--max-in-flight", type=int, default=400)
    ap.add_argument("--dnsperf-seconds", type=int, default=10)
    ap.add_argument("--gc", choices=("default", "worker"), default="default",
                    help="worker: the scan processes' collector thresholds (workers/gc_tuning.py), "
                         "as the embedded scan and every worker set them")
    args = ap.parse_args()
    bed = None
    if args.testbed:
        from workers.dns.testbed import build

        t = time.perf_counter()
        bed = build(tempfile.mkdtemp(prefix="benchdns-"), 250, int(time.time()), args.testbed)
        print(f"testbed: {args.testbed} signed domains built in {time.perf_counter() - t:.1f} s")
        resolver, anchor = bed.resolver, bed.anchor_file
        names = [DomainInput(n) for n in bed.bulk]
    elif args.lab:
        resolver, anchor = args.resolver or "127.53.53.53:53", f"{args.lab}/trust-anchor.txt"
        names = lab_domains(args.lab)
    else:
        if not (args.resolver and args.domains_file):
            ap.error("--resolver and --domains-file, or --testbed N")
        resolver, anchor = args.resolver, args.anchor
        with open(args.domains_file) as fh:
            names = [DomainInput(ln.strip()) for ln in fh if ln.strip()]
    try:
        import uvloop  # noqa: F401

        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    print(f"resolver {resolver}, event loop {loop_name}, python {sys.version.split()[0]}")
    anchors = load_trust_anchor(anchor) if anchor else None
    settings = EngineSettings(resolver, timeout=2.0, max_in_flight=args.max_in_flight)
    print(f"{len(names)} domains, max in flight {args.max_in_flight}, chunk {args.chunk}, "
          f"GC {args.gc}")

    def tune() -> None:
        if args.gc == "worker":
            gc.collect()
            gc_tuning.tune()

    try:
        tune()
        cold = run_async(run_pass(names, settings, anchors, args.chunk))
        report("pass 1 (cold cache)", len(names), *cold)
        tune()
        warm = run_async(run_pass(names, settings, anchors, args.chunk))
        warm_qps = report("pass 2 (warm cache)", len(names), *warm)
        perf = dnsperf(resolver, cold[3], args.dnsperf_seconds)
        if perf:
            print(f"dnsperf (same query mix, warm cache): {perf:,.0f} queries/s; "
                  f"crawler warm / dnsperf = {warm_qps / perf:.2f}")
    finally:
        if bed is not None:
            bed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
