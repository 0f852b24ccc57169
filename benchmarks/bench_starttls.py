"""STARTTLS probes per second in one client process, against lab.smtpd on N loopback listeners.

    python benchmarks/bench_starttls.py [--listeners 1000] [--sessions 5000] [--global-cap 200]

Starts ``lab.smtpd`` (one process) on N addresses in 127.77.100.0+ port 25, each with its own MX
name (SNI) and one of a few ECDSA P-256 chains, then runs ``probe_many`` over S (host, IP) targets
(per-IP cap 1) in this process and prints: sessions per second, client CPU ms per session
(``time.process_time``), server CPU ms per session (/proc), p50/p99 session latency (sum of step
timings). When ``workers.dane.verdict`` is importable the DANE verdict (a ``3 1 1`` record of the
listener's leaf) is computed for every evidence inside the timed loop; its CPU is printed apart too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.smtpd_certs import write_chain
from tests.integration.smtpd_process import SmtpdProcess
from workers.smtp import ProbeLimits, ProbeTarget, ProbeTimeouts, StarttlsEvidence, probe_many, run

try:
    from workers.dane.evidence import TlsaEvidence, TlsEvidence
    from workers.dane.tlsa import TlsaRecord
    from workers.dane.verdict import dane_verdict

    HAVE_VERDICT = True
except ImportError:
    HAVE_VERDICT = False


def address(i: int) -> str:
    return f"127.77.{100 + i // 250}.{i % 250 + 1}"


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def spki_sha256(der: bytes) -> bytes:
    key = x509.load_der_x509_certificate(der).public_key()
    return hashlib.sha256(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--global-cap", type=int, default=200)
    parser.add_argument("--chains", type=int, default=20, help="distinct certificate chains")
    parser.add_argument("--no-verdict", action="store_true")
    args = parser.parse_args()
    if args.listeners > 250 * 150:
        sys.exit("too many listeners for 127.77.100.0 - 127.77.249.255")

    with tempfile.TemporaryDirectory(prefix="bench-starttls-") as tmp:
        d = Path(tmp)
        chains = [write_chain(d, f"chain{j}.bench.test") for j in range(args.chains)]
        listeners: list[dict[str, Any]] = []
        expected: dict[str, bytes] = {}
        for i in range(args.listeners):
            chain, key, ders = chains[i % len(chains)]
            files = {"chain": str(chain), "key": str(key)}
            host = f"mx{i}.bench.test"
            listeners.append(
                {
                    "ip": address(i),
                    "port": 25,
                    "behaviour": "ok",
                    "certs": {host: files, "*": files},
                }
            )
            expected[host] = spki_sha256(ders[0])
        server = SmtpdProcess(d, {"listeners": listeners}, name="bench-smtpd")
        t0 = time.perf_counter()
        server.start()
        startup = time.perf_counter() - t0
        assert server.proc is not None
        try:
            targets = [
                ProbeTarget(f"mx{i % args.listeners}.bench.test", address(i % args.listeners))
                for i in range(args.sessions)
            ]
            limits = ProbeLimits(per_ip=1, global_=args.global_cap)
            timeouts = ProbeTimeouts(
                connect=10, banner=10, ehlo=10, starttls=10, handshake=10, quit=5
            )
            use_verdict = HAVE_VERDICT and not args.no_verdict
            now = datetime.now(UTC)

            async def go(
                batch: list[ProbeTarget],
            ) -> tuple[list[StarttlsEvidence], Counter[str], float]:
                out: list[StarttlsEvidence] = []
                verdicts: Counter[str] = Counter()
                verdict_cpu = 0.0
                async for e in probe_many(
                    batch, ehlo_name="bench.danescan.test", timeouts=timeouts, limits=limits
                ):
                    out.append(e)
                    if use_verdict:
                        v0 = time.process_time()
                        tlsa = TlsaEvidence.of([TlsaRecord(3, 1, 1, expected[e.host])])
                        v = dane_verdict(e.host, tlsa, TlsEvidence(e.status, e.chain), now)
                        verdict_cpu += time.process_time() - v0
                        verdicts["valid" if v.valid else f"invalid:{v.reason}"] += 1
                return out, verdicts, verdict_cpu

            run(go(targets[: min(200, len(targets))]))  # warm-up: server contexts, imports
            ticks0, cpu0, wall0 = (
                cpu_ticks(server.proc.pid),
                time.process_time(),
                time.perf_counter(),
            )
            evidence, verdicts, verdict_cpu = run(go(targets))
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            server_cpu = (cpu_ticks(server.proc.pid) - ticks0) / os.sysconf("SC_CLK_TCK")
        finally:
            server.stop()

    n = len(evidence)
    latencies = sorted(e.total_ms for e in evidence)
    p99 = latencies[min(n - 1, int(0.99 * n))]
    statuses = Counter(e.status.value for e in evidence)
    print(
        f"listeners={args.listeners} sessions={n} global_cap={args.global_cap} per_ip=1 cpus={os.cpu_count()}"
    )
    print(f"smtpd startup (bind {args.listeners} listeners, ready): {startup:.2f} s")
    print(f"statuses: {dict(statuses)}")
    print(
        f"throughput: {n / wall:.0f} STARTTLS sessions/s in one client process ({wall:.2f} s wall)"
    )
    print(f"client CPU: {1000 * cpu / n:.2f} ms/session ({cpu / wall:.0%} of one core)")
    print(
        f"server CPU: {1000 * server_cpu / n:.2f} ms/session ({server_cpu / wall:.0%} of one core)"
    )
    print(f"latency per session: p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms")
    if use_verdict:
        print(
            f"verdict in the loop: {dict(verdicts)}; {1000 * verdict_cpu / n:.3f} ms CPU/verdict (included above)"
        )
    else:
        print(
            "verdict: not included ("
            + ("--no-verdict" if HAVE_VERDICT else "workers.dane.verdict not importable")
            + ")"
        )


if __name__ == "__main__":
    main()
