"""Internet-shaped lab benchmark: time and memory to build and start N domains, per million.

    python benchmarks/bench_lab.py --domains 1000000 --dir /var/tmp/lab-1m   # as root

Builds ``lab up --shape internet`` (a lab in the first free slot), prints the build's phases, the
resident memory of every lab process (NSD, PowerDNS, fault injectors, unbound, mail servers) right
after start and after dnsperf has asked the resolver one MX query per domain of a sample (so
unbound's cache holds something), the disk used, the resolver's answer rate for that sample (cold
cache: the lab's own ceiling for a scan), then ``lab down`` and checks that nothing the lab used
still listens. Figures are per run and per million domains, to plan a bigger lab on a bigger host.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import control
from lab import plan as pl
from lab.paths import LabPaths
from lab.servers import LabError, check_free


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (NSD forks), in MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def lab_rss(root: Path) -> dict[str, float]:
    st = control.status(root)
    return {name: rss_mb(pid) for name, (pid, up) in st["processes"].items() if pid and up}


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=False)
    return int(out.stdout.split()[0]) / 1024 if out.stdout else 0.0


def dnsperf(resolver: str, names: list[str], seconds: int) -> float:
    """MX queries/s dnsperf gets from the resolver for ``names`` (each asked once)."""
    if shutil.which("dnsperf") is None:
        return float("nan")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("".join(f"{n} MX\n" for n in names))
        qfile = fh.name
    try:
        out = subprocess.run(["dnsperf", "-s", resolver, "-d", qfile, "-n", "1", "-l",
                              str(seconds), "-q", "2000", "-t", "10"],
                             capture_output=True, text=True, check=False).stdout
    finally:
        os.unlink(qfile)
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def still_listening(addresses: list[tuple[str, int, int]]) -> str:
    """'' when every address is free again, else the first one taken (lab.servers.check_free)."""
    try:
        check_free(addresses)
    except LabError as exc:
        return str(exc)
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp/danescan-bench-lab"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=20_000, help="domains dnsperf asks for")
    ap.add_argument("--keep", action="store_true", help="leave the lab running")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_lab: the lab needs root", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    r = control.up(args.dir, args.domains, args.seed, slot=None, shape="internet")
    up_s = time.monotonic() - t0
    per_m = 1_000_000 / args.domains
    st = control.status(args.dir)
    print(f"lab up: {args.domains:,} domains in {up_s:.0f} s (slot {st['slot']}); "
          f"{r.facts['nsd_zones']:,} zones on NSD, {r.facts['pdns_zones']:,} on PowerDNS, "
          f"{r.facts['listeners']:,} mail listeners")
    print("phases (s): " + ", ".join(f"{k} {v}" for k, v in r.facts.get("timings", {}).items()))
    rss = lab_rss(args.dir)
    print("memory after start (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
          + f"; total {sum(rss.values()):.0f}")
    names = [f"{d}." for d in _truth_domains(LabPaths(args.dir.resolve()).truth)]
    random.Random(1).shuffle(names)
    qps = dnsperf(r.resolver, names[: args.sample], 60)
    rss2 = lab_rss(args.dir)
    print(f"resolver, cold cache, MX of {min(args.sample, len(names)):,} domains (with the lab's "
          f"lame and slow servers): {qps:,.0f} queries/s")
    print("memory after dnsperf (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss2.items())
          + f"; total {sum(rss2.values()):.0f}")
    disk = du_mb(args.dir)
    print(f"disk: {disk:,.0f} MB")
    print(f"per million domains: build and start {up_s * per_m / 60:.1f} min, "
          f"memory {sum(rss2.values()) * per_m / 1024:.2f} GB, disk {disk * per_m / 1024:.2f} GB")
    if args.keep:
        print(f"lab left running in {args.dir}")
        return 0
    net = pl.Net(int(st["slot"]))
    plan_ips = _server_ips(args.dir)
    control.down(args.dir)
    busy = still_listening(control.needed_addresses(
        net, control.listener_ips(LabPaths(args.dir.resolve())), plan_ips))
    print(f"lab down: {'nothing left listening' if not busy else 'STILL LISTENING: ' + busy}")
    return 1 if busy else 0


def _truth_domains(path: Path) -> list[str]:
    out = []
    with path.open() as fh:
        for line in fh:
            if '"kind": "domain"' in line:
                m = re.search(r'"domain": "([^"]+)"', line)
                if m:
                    out.append(m.group(1))
    return out


def _server_ips(root: Path) -> tuple[str, ...]:
    return tuple(control.status(root)["authoritative"])


if __name__ == "__main__":
    sys.exit(main())
