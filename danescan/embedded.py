"""The one-machine scan: inputs streamed, batches probed in-process, rows written to ClickHouse.

Re-running with the same scan id resumes: domains whose row is already stored are skipped, MX
hosts already judged in this scan are not probed again, and every table is a ReplacingMergeTree,
so a batch written twice collapses under FINAL.

A damaged input (:class:`producer.inputfile.InputDamaged`: a gzip file cut short or corrupt, NUL
bytes, ...) does not stop the scan: the domains read before the damage are scanned, the other
inputs too, and the scan is recorded as ``incomplete`` with the damage as its ``status_reason``.
A resume with the same damaged file skips what is stored and ends the same way; with the file
repaired it scans the rest and ends ``finished``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producer.inputs import InputStats, chunks, iter_inputs
from workers import gc_tuning, psl
from workers.dns import EngineSettings, load_trust_anchor
from workers.dns.bounds import Bounds
from workers.dns.probe import run_async
from workers.exclusion import NOTHING, Exclusions
from workers.scan.batch import ScanContext
from workers.scan.pipeline import (
    BufferedSink,
    GatedProber,
    HostRegistry,
    LocalGate,
    Pipeline,
    Scan,
    Work,
)
from workers.settings import Settings
from workers.smtp import ProbeTimeouts
from workers.smtp.throttle import local_throttle
from workers.store.backend import Database
from workers.store.history import done_domains, done_hosts, history_loader
from workers.store.rows import Row, ScanRow
from workers.store.snapshots import derive_closed
from workers.store.writer import Writer
from workers.version import __version__


class Progress:
    """One line on stderr: domains done, rate, ETA when the total is known. Not on a terminal
    (``tty`` False): a plain log line per batch, at most one a second."""

    def __init__(self, total: int | None, enabled: bool, tty: bool = True) -> None:
        self.total = total
        self.enabled = enabled
        self.tty = tty
        self.start = time.monotonic()
        self.done = 0
        self._last = 0.0

    def update(self, n: int, force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < (0.5 if self.tty else 1.0)):
            return
        self._last = now
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        if not self.tty:
            sys.stderr.write(f"{self.done} domains done, {rate:.0f}/s\n")
            sys.stderr.flush()
            return
        text = f"\r{self.done:,} domains  {rate:,.0f}/s"
        if self.total:
            pct = 100 * self.done / self.total
            eta = (self.total - self.done) / rate if rate else 0
            text = (f"\r[{'#' * int(pct / 5):<20}] {self.done:,}/{self.total:,} domains  "
                    f"{rate:,.0f}/s  ETA {int(eta // 60)}m{int(eta % 60):02d}s")
        sys.stderr.write(text + "   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(0, force=True)
            if self.tty:
                sys.stderr.write("\n")


@dataclass(frozen=True)
class ScanOptions:
    scan_id: str
    resolver: str
    trust_anchor: str | None
    batch_size: int = 1000
    probe_all: bool = False
    ehlo_name: str = "danescan.invalid"
    kind: str = "adhoc"
    now: dt.datetime | None = None  # the scan's time (default: wall clock at start)
    public_roots: str | None = None  # PEM file of the paper view's trust store (default certifi)
    progress: bool = True
    progress_tty: bool = True  # a bar that redraws itself; False: log lines
    contact: str = ""  # who runs the scan (issue 14): recorded in the scan's settings
    window: int = 4000  # domains in flight (workers.scan.pipeline)
    group: int = 16  # domains per group: a slow domain holds only its group
    flush_rows: int = 20_000  # rows gathered before a write
    exclusions: Exclusions = NOTHING  # never queried nor connected to (issue 14)


def run_scan(db: Database, inputs: Sequence[str], opts: ScanOptions,
             total: int | None = None) -> dict[str, Any]:
    """Scan ``inputs`` into ``db`` (already migrated). Returns counts for the summary."""
    from workers.dane import TrustStore
    from workers.dane.roots import mozilla_trust_store

    now = opts.now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    anchors = load_trust_anchor(opts.trust_anchor) if opts.trust_anchor else None
    if opts.public_roots:
        trust = TrustStore.from_pem(Path(opts.public_roots).read_bytes())
    else:
        trust = mozilla_trust_store()
    public_subjects = frozenset(r.cert.subject.rfc4514_string() for r in trust.roots)
    env = Settings.from_env()
    suffixes = psl.load(env.psl or None)
    ctx = ScanContext(scan_id=opts.scan_id, now=now, dns_settings=EngineSettings(opts.resolver),
                      anchors=anchors, ehlo_name=opts.ehlo_name, probe_all=opts.probe_all,
                      trust_store=trust, timeouts=ProbeTimeouts(total=env.probe_deadline),
                      dns_bounds=Bounds(env.max_mx_hosts, env.max_addresses),
                      exclusions=opts.exclusions, throttle=local_throttle(env.rate_limits()))
    writer = Writer(db, max_rows=1_000_000, max_age=3600.0)  # the sink decides when to write
    settings = json.dumps({"resolver": opts.resolver, "trust_anchor": opts.trust_anchor,
                           "batch_size": opts.batch_size, "probe_all": opts.probe_all,
                           "probe_deadline": env.probe_deadline,
                           "max_mx_hosts": env.max_mx_hosts, "max_addresses": env.max_addresses,
                           "ehlo_name": opts.ehlo_name, "contact": opts.contact,
                           **opts.exclusions.describe(), **env.rate_limits().describe()})
    writer.add(ScanRow(scan_id=opts.scan_id, kind=opts.kind, started_at=now, inputs=list(inputs),
                       settings=settings, software_version=__version__, status="running"))
    writer.flush()
    skip = done_domains(db, opts.scan_id)
    known = done_hosts(db, opts.scan_id)
    stats = InputStats()
    progress = Progress(total, opts.progress, opts.progress_tty)
    resumed = 0

    def write(host_rows: list[Row], domain_rows: list[Row], count: int) -> None:
        writer.add_many(host_rows)
        writer.flush()
        writer.add_many(domain_rows)
        writer.flush()

    sink = BufferedSink(write, rows=opts.flush_rows)
    load = history_loader(db, opts.scan_id, now)

    async def history(hosts: Sequence[str]) -> dict[str, list[bytes]]:
        result: dict[str, list[bytes]] = await sink.call(lambda: load(hosts))
        return result

    class Counted:
        def hosts(self, work: Work, rows: list[Row]) -> None:
            sink.hosts(work, rows)

        def domains(self, work: Work, rows: list[Row], count: int) -> None:
            sink.domains(work, rows, count)
            progress.update(count)

    async def main() -> None:
        nonlocal resumed
        gc_tuning.tune()  # thousands of domains in flight (workers/gc_tuning.py)
        prober = GatedProber(LocalGate(ctx), ctx.limits.global_, ctx.limits.per_ip, ctx.throttle)
        scan = Scan(ctx=ctx, resolver=opts.resolver, prober=prober,
                    public_ca=public_subjects, psl=suffixes, history=history,
                    registry=HostRegistry(known))
        pipeline = Pipeline(window=opts.window, group=opts.group)
        counted = Counted()
        failed: list[BaseException] = []

        def done(_work: Work, error: BaseException | None) -> None:
            if error is not None:
                failed.append(error)

        try:
            for batch in chunks(iter_inputs(inputs, stats), opts.batch_size):
                todo = [d for d in batch if d.name.rstrip(".").lower() not in skip]
                resumed += len(batch) - len(todo)
                progress.update(len(batch) - len(todo))
                if failed:
                    break
                await pipeline.submit(Work(scan, counted, domains=todo, done=done))
            await pipeline.drain()
        finally:
            pipeline.close()
        if failed:
            raise failed[0]
        await sink.flush()

    try:
        run_async(main())
    finally:
        sink.close()
        progress.close()
    damaged = bool(stats.damage)
    writer.add(ScanRow(scan_id=opts.scan_id, kind=opts.kind, started_at=now,
                       finished_at=dt.datetime.now(dt.UTC), inputs=list(inputs), settings=settings,
                       software_version=__version__,
                       status="incomplete" if damaged else "finished",
                       status_reason=stats.damage_reason() if damaged else ""))
    writer.close()
    derive_closed(db)  # the analyses' rows of this snapshot, stored once (snapshots.py)
    return {"domains_read": stats.domains, "resumed": resumed, "malformed": stats.malformed,
            "malformed_examples": stats.malformed_examples, "scan_time": now,
            "damage": list(stats.damage), "ns_cut": stats.ns_cut}

