"""Exclusion-list matching cost against the work it guards, as ratios (CPU time, best of --runs).

Builds a list shaped like a real one (--names domain suffixes, --ranges IPv4/IPv6 CIDR ranges),
then times ``excludes_name`` on MX-host-like names (4-5 labels, about 1 % excluded) and
``excludes_address`` on addresses (about 1 % excluded), and prints microseconds per lookup and the
ratio to one dict lookup of the same key, plus the share of the DNS stage's CPU per domain that
the checks cost (one domain: its 4 queries and 3 host queries checked, ~0.6 ms of CPU per domain
measured by bench_dns on the lab: pass --domain-cpu-ms to use your own figure).

    python benchmarks/bench_exclusion.py --names 100000 --ranges 20000
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time
from collections.abc import Callable

from workers.exclusion import parse


def best(fn: Callable[[], None], runs: int) -> float:
    out = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=100_000)
    ap.add_argument("--ranges", type=int, default=20_000)
    ap.add_argument("--lookups", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--domain-cpu-ms", type=float, default=0.6)
    a = ap.parse_args()
    rnd = random.Random(1)
    suffixes = [f"d{i}.example{i % 7}.com" for i in range(a.names)]
    nets = []
    for _ in range(a.ranges):
        if rnd.random() < 0.8:
            nets.append(str(ipaddress.ip_network((rnd.getrandbits(32), rnd.randint(16, 32)),
                                                 strict=False)))
        else:
            nets.append(str(ipaddress.ip_network((rnd.getrandbits(128), rnd.randint(32, 64)),
                                                 strict=False)))
    data = ("\n".join(suffixes + nets) + "\n").encode()
    t = time.process_time()
    lst = parse(data, "bench")
    load_s = time.process_time() - t
    names = [f"mx{i % 3}.{'d' + str(rnd.randrange(a.names * 100))}.example{i % 7}.com."
             for i in range(a.lookups)]
    for i in range(0, a.lookups, 100):
        names[i] = f"mx.{suffixes[rnd.randrange(a.names)]}."
    addrs = [str(ipaddress.IPv4Address(rnd.getrandbits(32))) for _ in range(a.lookups)]
    plain = dict.fromkeys(names)

    def by_name() -> None:
        f = lst.excludes_name
        for n in names:
            f(n)

    def by_address() -> None:
        f = lst.excludes_address
        for x in addrs:
            f(x)

    def dict_lookup() -> None:
        g = plain.get
        for n in names:
            g(n)

    t_name = best(by_name, a.runs) / a.lookups
    t_addr = best(by_address, a.runs) / a.lookups
    t_dict = best(dict_lookup, a.runs) / a.lookups
    hits = sum(lst.excludes_name(n) for n in names) / a.lookups
    per_domain = 7 * t_name + 2 * t_addr
    print(f"list: {lst.entries:,} entries ({len(lst.suffixes):,} names, {lst.networks:,} ranges) "
          f"parsed in {load_s:.2f} s CPU")
    print(f"excludes_name:    {t_name * 1e6:.2f} us/lookup ({hits:.1%} excluded), "
          f"{t_name / t_dict:.1f} x a dict lookup")
    print(f"excludes_address: {t_addr * 1e6:.2f} us/lookup, {t_addr / t_dict:.1f} x a dict lookup")
    print(f"per domain (7 names, 2 addresses): {per_domain * 1e6:.1f} us = "
          f"{100 * per_domain * 1e3 / a.domain_cpu_ms:.2f} % of {a.domain_cpu_ms} ms CPU per domain")


if __name__ == "__main__":
    main()
