"""Cluster commands: ``enqueue``, ``worker``, ``writer``, ``status``, ``schedule``, ``deadletter``.

Settings come from workers.settings (environment ``DANESCAN_*``); options override some of them.
Every command first reaches Redis, retrying with back-off, and fails with one line when it cannot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import sys
import time
import uuid
from typing import Any

import click

from workers.settings import Settings


def _fail(message: str) -> None:
    click.echo(f"danescan: {message}", err=True)
    sys.exit(2)


def _say(message: str) -> None:
    click.echo(f"danescan: {message}", err=True)


def _redis(settings: Settings) -> Any:
    from workers.cluster.state import ClusterError, connect

    try:
        return connect(settings.redis_url, retries=settings.redis_retries, say=_say)
    except ClusterError as exc:
        _fail(str(exc))


def _server_target(settings: Settings, target: str | None) -> str:
    db = target or settings.db
    if not db.startswith("clickhouse://"):
        _fail(f"cluster mode writes to clickhouse-server: set DANESCAN_DB=clickhouse://host:port/db "
              f"(not {db!r}; chdb serves the embedded scan only)")
    return db


def run_enqueue(settings: Settings, inputs: tuple[str, ...], scan_id: str, chunk: int,
                resolver: str, trust_anchor: str, public_roots: str, probe_all: bool, kind: str,
                now: dt.datetime | None, exclude: str | None = None) -> Any:
    from danescan.startchecks import exclusions, identity
    from producer.enqueue import EnqueueOptions, celery_publisher, enqueue
    from producer.inputs import InputError
    from workers.cluster.state import ClusterError

    listed = exclusions(settings.exclude if exclude is None else exclude)
    if isinstance(listed, str):
        _fail(listed)
        return None
    problem = identity(settings.ehlo_name, settings.contact, resolver, trust_anchor)
    if problem:
        _fail(problem)
    r = _redis(settings)
    opts = EnqueueOptions(scan_id=scan_id, resolver=resolver, trust_anchor=trust_anchor,
                          public_roots=public_roots, chunk=chunk, probe_all=probe_all,
                          ehlo_name=settings.ehlo_name, kind=kind, now=now,
                          contact=settings.contact, exclusions=listed)
    try:
        with celery_publisher() as publish:
            return enqueue(r, list(inputs), opts, publish)
    except (InputError, ClusterError) as exc:
        _fail(f"{exc} (chunks published so far stay queued; enqueue again to resume)")
    except OSError as exc:
        _fail(f"reading the inputs failed: {exc} (enqueue again to resume)")
    return None


def run_enqueue_hosts(settings: Settings, hosts: list[str], source: str, scan_id: str,
                      resolver: str, trust_anchor: str, public_roots: str) -> Any:
    """The hourly re-scan's host tasks (``producer.enqueue.enqueue_hosts``)."""
    from producer.enqueue import EnqueueOptions, celery_publisher, enqueue_hosts

    r = _redis(settings)
    opts = EnqueueOptions(scan_id=scan_id, resolver=resolver, trust_anchor=trust_anchor,
                          public_roots=public_roots, chunk=settings.smtp_hosts_per_task,
                          ehlo_name=settings.ehlo_name, kind="hourly")
    with celery_publisher(hosts=True) as publish:
        return enqueue_hosts(r, hosts, source, opts, publish)


@click.command("enqueue")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--scan-id", required=True, help="Enqueueing the same id again publishes nothing twice.")
@click.option("--chunk", default=None, type=click.IntRange(1, 100_000),
              help="Domains per DNS task [DANESCAN_CHUNK, 500].")
@click.option("--resolver", default=None, help="Validating resolver the workers use [DANESCAN_RESOLVER].")
@click.option("--trust-anchor", default=None, help="Root DS file, readable by the workers.")
@click.option("--public-roots", default=None, help="PEM roots of the paper's PKIX view.")
@click.option("--probe-all", is_flag=True, help="STARTTLS-probe MX hosts without TLSA too.")
@click.option("--kind", default="adhoc", type=click.Choice(["adhoc", "nightly", "hourly"]))
@click.option("--scan-time", default=None, type=click.DateTime(["%Y-%m-%dT%H:%M:%S"]),
              help="The scan's nominal time, UTC (default: now).")
@click.option("--exclude", default=None,
              help="Exclusion list (address ranges, domain suffixes), shipped to the workers "
                   "with the scan [DANESCAN_EXCLUDE].")
def enqueue_cmd(inputs: tuple[str, ...], scan_id: str, chunk: int | None, resolver: str | None,
                trust_anchor: str | None, public_roots: str | None, probe_all: bool, kind: str,
                scan_time: dt.datetime | None, exclude: str | None) -> None:
    """Stream zone files or domain lists into DNS tasks on Redis (queue 'dns').

    \b
    Exit status: 0 every input was enqueued; 2 one line on stderr says why not
    (chunks published so far stay queued); 3 an input is damaged: the domains
    read before the damage were enqueued, one line per damaged input names it,
    how far it was read and what was wrong, and the scan will end incomplete
    (enqueue the repaired input under a new --scan-id).
    """
    from danescan.scan_cli import system_resolver
    from danescan.startchecks import ROOT_ANCHORS

    s = Settings.from_env()
    res = run_enqueue(s, inputs, scan_id, chunk or s.chunk, resolver or s.resolver or system_resolver(),
                      trust_anchor or s.trust_anchor or str(ROOT_ANCHORS),
                      public_roots if public_roots is not None else s.public_roots, probe_all, kind,
                      scan_time.replace(tzinfo=dt.UTC) if scan_time else None, exclude)
    click.echo(f"scan {res.scan_id}: {res.domains:,} domains in {res.chunks:,} chunks; "
               f"{res.published:,} published, {res.skipped:,} were enqueued before; "
               f"{res.domains / max(res.seconds, 1e-6):,.0f} domains/s")
    if res.malformed:
        click.echo(f"{res.malformed} malformed input line(s) skipped, e.g.:", err=True)
        for ex in res.malformed_examples[:5]:
            click.echo(f"  {ex}", err=True)
    if res.damage:
        from danescan.scan_cli import EXIT_DAMAGED

        for damage in res.damage:
            click.echo(f"danescan: {damage.text}; the {damage.domains:,} domain(s) read from it "
                       f"were enqueued; scan {res.scan_id} will end incomplete", err=True)
        sys.exit(EXIT_DAMAGED)


@click.command("worker")
@click.option("--concurrency", "-c", default=1, type=click.IntRange(1, 1024), show_default=True,
              help="Worker processes (one per core): each runs one streaming pipeline.")
@click.option("--queues", "-Q", default="dns,smtp", show_default=True)
@click.option("--loglevel", default="warning", show_default=True)
@click.option("--chunks", default=None, type=click.IntRange(1, 4096),
              help="Tasks each process holds at once [DANESCAN_CHUNKS_IN_FLIGHT].")
def worker(concurrency: int, queues: str, loglevel: str, chunks: int | None) -> None:
    """Run worker processes for the DNS and/or host queues.

    Each process is a Celery worker with a pool of threads that hand their tasks' chunks to the
    process's one event loop; a task is acknowledged when all of its chunk is done.

    It refuses to start when its resolver (DANESCAN_RESOLVER, else /etc/resolv.conf) does not set
    the AD bit on a signed name, and, unless that resolver is on loopback (the lab), without a
    real DANESCAN_EHLO_NAME and a DANESCAN_CONTACT."""
    from danescan import startchecks
    from danescan.scan_cli import system_resolver

    s = Settings.from_env()
    own = s.resolver or system_resolver()
    problem = startchecks.identity(s.ehlo_name, s.contact, own, None) or startchecks.resolver(s, own)
    if problem:
        _fail(problem)
    _redis(s)
    _server_target(s, None)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    if not wanted or any(q not in ("dns", "smtp") for q in wanted):
        _fail(f"--queues takes dns, smtp or both, not {queues!r}")
    in_flight = chunks or s.chunks_in_flight
    if concurrency > 1:
        _worker_processes(concurrency, wanted, loglevel, in_flight)
        return
    from workers.cluster.app import app

    argv = ["worker", "-Q", ",".join(wanted), "--loglevel", loglevel, "--pool", "threads",
            "--concurrency", str(in_flight),
            "-n", f"danescan-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"]
    app.worker_main(argv)


def _worker_processes(n: int, queues: list[str], loglevel: str, in_flight: int) -> None:
    """``n`` one-process workers as children (same process group); SIGTERM/SIGINT go on to
    them, and this command ends when they all have."""
    import subprocess

    argv = [sys.executable, "-c", "from danescan.cli import main; main()", "worker", "-c", "1",
            "-Q", ",".join(queues), "--loglevel", loglevel, "--chunks", str(in_flight)]
    children = [subprocess.Popen(argv) for _ in range(n)]

    def forward(sig: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    if any(codes):
        sys.exit(max(codes))


@click.command("writer")
@click.option("--db", "target", default=None, help="clickhouse://host:port/db [DANESCAN_DB].")
def writer(target: str | None) -> None:
    """Drain results from Redis into clickhouse-server in batches; loses nothing when it is down.

    A message that does not decode or that ClickHouse rejects for its data goes to the dead-letter
    list (see 'danescan deadletter'); the others are written."""
    from workers.cluster.drain import Drain
    from workers.store.backend import Database, StoreError, connect
    from workers.store.engines import profile
    from workers.store.migrations import MigrationError, Migrator, discover

    s = Settings.from_env()
    r = _redis(s)
    db_url = _server_target(s, target)

    def connect_db() -> Database:
        # batches of thousands of rows take well under a second: a server that does not answer
        # in 30 s is restarting or stuck, and the rows wait in Redis for the next try
        db = connect(db_url, timeout=30.0)
        try:
            Migrator(db, discover(), profile("single")).apply()
        except MigrationError as exc:
            db.close()
            raise StoreError(str(exc)) from exc
        return db

    stopping: list[bool] = []

    def stop(_sig: int, _frame: Any) -> None:
        stopping.append(True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _say(f"writer: Redis {s.redis_url} -> {db_url}")
    Drain(r, connect_db, batch_rows=s.writer_batch_rows, max_age=s.writer_max_age,
          say=_say).run(stop=lambda: bool(stopping))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


@click.command("status")
@click.option("--scan-id", default=None, help="One scan [default: every scan in Redis].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(scan_id: str | None, as_json: bool) -> None:
    """Progress: domains done of total, rate, ETA, failures by kind, queue depths, dead letters."""
    from workers.cluster import deadletter
    from workers.cluster.state import progress, queue_depths, scan_ids

    s = Settings.from_env()
    r = _redis(s)
    ids = [scan_id] if scan_id else scan_ids(r)
    now = time.time()
    depths = queue_depths(r)
    dead = deadletter.summary(r, newest=5)
    out: list[dict[str, Any]] = []
    for sid in ids:
        p = progress(r, sid)
        if p is None:
            _fail(f"no scan {sid} in Redis")
            return
        out.append({"scan_id": sid, "kind": p.kind, "done": p.done, "total": p.total,
                    "failed_domains": p.failed_domains, "rate": round(p.rate(now), 1),
                    "eta_seconds": p.eta(now), "complete": p.complete,
                    "probes_pending": p.probes_pending, "failures": p.failures,
                    "failure_examples": p.failure_examples, "redelivered": p.redelivered,
                    "damage": p.damage})
    if as_json:
        click.echo(json.dumps({"scans": out, "queues": depths, "dead_letters": {
            "count": dead.count, "dropped": dead.dropped, "bytes": dead.bytes,
            "newest": [dataclasses.asdict(d) for d in dead.newest]}}))
        return
    for o in out:
        total = "?" if o["total"] is None else f"{o['total']:,}"
        state = "finished" if o["complete"] else ("enqueueing" if o["total"] is None else "running")
        if o["damage"] and o["complete"]:
            state = "incomplete"
        click.echo(f"{o['scan_id']} ({o['kind']}, {state}): {o['done']:,} of {total} domains done, "
                   f"{o['failed_domains']:,} failed; {o['rate']:,.0f} domains/s; "
                   f"ETA {_duration(o['eta_seconds']) if not o['complete'] else '-'}; "
                   f"{o['probes_pending']} STARTTLS hosts pending; {o['redelivered']} redelivered")
        if o["damage"]:
            click.echo(f"  damaged input, read up to the damage: {o['damage']}")
        for kind, n in sorted(o["failures"].items()):
            click.echo(f"  failed tasks: {kind}: {n}")
        for ex in o["failure_examples"]:
            click.echo(f"    e.g. {ex}")
    click.echo("queues: " + ", ".join(f"{q} {n:,}" for q, n in depths.items()))
    _echo_dead_letters(dead)


def _echo_dead_letters(dead: Any) -> None:
    dropped = f"; {dead.dropped:,} dropped by the cap" if dead.dropped else ""
    if not dead.count:
        click.echo(f"dead letters: 0{dropped}")
        return
    click.echo(f"dead letters: {dead.count:,} ({dead.bytes:,} bytes{dropped}; "
               f"'danescan deadletter list' shows them, 'replay' puts them back); newest:")
    for d in dead.newest:
        click.echo(f"  {d.line()}")


def schedule_tick(s: Settings, r: Any, now: dt.datetime) -> list[str]:
    """Start what is due at ``now``; returns the scan ids started."""
    from danescan.scan_cli import system_resolver
    from danescan.startchecks import ROOT_ANCHORS
    from producer.schedule import LATEST_SNAPSHOT, dane_hosts_sql, due_jobs, parse_clock
    from workers.cluster.state import PREFIX
    from workers.store.backend import StoreError, connect

    memo = PREFIX + "schedule"
    last = {k.decode(): v.decode() for k, v in r.hgetall(memo).items()}
    zones = tuple(z.strip() for z in s.zone_files.split(",") if z.strip())
    started: list[str] = []
    for job in due_jobs(now, last.get("nightly"), last.get("hourly"), parse_clock(s.nightly_at),
                        s.hourly_minute, bool(zones)):
        inputs = zones
        if job.kind == "hourly":  # host tasks: TLSA, addresses and STARTTLS per DANE MX host
            try:
                db = connect(_server_target(s, None))
                latest = db.query(LATEST_SNAPSHOT)
                if not latest:
                    _say("hourly re-scan: no finished scan in ClickHouse yet; skipped")
                    r.hset(memo, job.kind, job.scan_id)
                    continue
                hosts = [row[0] for row in db.query(dane_hosts_sql(latest[0][0]))]
                db.close()
            except StoreError as exc:
                _say(f"hourly re-scan: ClickHouse: {exc}; will try again")
                continue
            if hosts:
                run_enqueue_hosts(s, hosts, latest[0][0], job.scan_id,
                                  s.resolver or system_resolver(),
                                  s.trust_anchor or str(ROOT_ANCHORS), s.public_roots)
                started.append(job.scan_id)
                _say(f"{len(hosts):,} DANE MX hosts to re-scan: started {job.kind} scan "
                     f"{job.scan_id}")
            r.hset(memo, job.kind, job.scan_id)
            continue
        run_enqueue(s, inputs, job.scan_id, s.chunk, s.resolver or system_resolver(),
                    s.trust_anchor or str(ROOT_ANCHORS), s.public_roots, False, job.kind, None)
        r.hset(memo, job.kind, job.scan_id)
        started.append(job.scan_id)
        _say(f"started {job.kind} scan {job.scan_id}")
    return started


@click.command("schedule")
@click.option("--once", is_flag=True, help="Start what is due now, then exit.")
def schedule(once: bool) -> None:
    """Nightly full scan of DANESCAN_ZONE_FILES at DANESCAN_NIGHTLY_AT; hourly DANE host re-scan."""
    from danescan.scan_cli import system_resolver
    from danescan.startchecks import ROOT_ANCHORS, exclusions, identity
    from producer.schedule import parse_clock, run_scheduler

    s = Settings.from_env()
    try:
        parse_clock(s.nightly_at)
    except ValueError as exc:
        _fail(f"DANESCAN_NIGHTLY_AT: {exc}")
    listed = exclusions(s.exclude)  # read again for every scan; a broken list stops us now
    if isinstance(listed, str):
        _fail(listed)
    problem = identity(s.ehlo_name, s.contact, s.resolver or system_resolver(),
                       s.trust_anchor or str(ROOT_ANCHORS))
    if problem:
        _fail(problem)
    r = _redis(s)
    if once:
        schedule_tick(s, r, dt.datetime.now(dt.UTC))
        return
    run_scheduler(lambda now: schedule_tick(s, r, now), lambda: False)


@click.group("deadletter")
def deadletter_cmd() -> None:
    """Result messages the writer set aside: undecodable, or rejected by ClickHouse for their data.

    'list' shows them, 'show' prints one message's bytes, 'replay' moves them back to the results
    list (after the schema or the code was fixed), 'drop' forgets them.
    """


def _select(r: Any, entry_ids: tuple[int, ...], all_: bool, scan_id: str | None) -> list[Any]:
    """The dead letters named by ids, --scan-id or --all; one error line when a named one is
    missing or nothing is named."""
    from workers.cluster import deadletter

    if not entry_ids and not all_ and scan_id is None:
        _fail("name dead letters by id, or give --scan-id or --all")
    if entry_ids:
        found = deadletter.entries(r, list(entry_ids))
        missing = sorted(set(entry_ids) - {d.id for d in found})
        if missing:
            _fail(f"no dead letter #{', #'.join(map(str, missing))} (see 'danescan deadletter list')")
    else:
        found = deadletter.entries(r, deadletter.ids(r))
    return [d for d in found if scan_id is None or d.scan == scan_id]


@deadletter_cmd.command("list")
@click.option("--scan-id", default=None, help="Only the dead letters of one scan.")
@click.option("--limit", default=None, type=click.IntRange(1, None), help="The newest N only.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def deadletter_list(scan_id: str | None, limit: int | None, as_json: bool) -> None:
    """One line per dead letter, oldest first: id, time, stage, scan/kind/key, size, error."""
    from workers.cluster import deadletter

    r = _redis(Settings.from_env())
    found = [d for d in deadletter.entries(r, deadletter.ids(r, limit))
             if scan_id is None or d.scan == scan_id]
    dead = deadletter.summary(r, newest=0)
    if as_json:
        click.echo(json.dumps({"count": dead.count, "dropped": dead.dropped, "bytes": dead.bytes,
                               "entries": [dataclasses.asdict(d) for d in found]}))
        return
    for d in found:
        click.echo(d.line())
    _echo_dead_letters(dataclasses.replace(dead, newest=()))


@deadletter_cmd.command("show")
@click.argument("entry_id", type=int)
def deadletter_show(entry_id: int) -> None:
    """Write one dead letter's message bytes to stdout (its header goes to stderr)."""
    from workers.cluster import deadletter

    r = _redis(Settings.from_env())
    found = deadletter.entries(r, [entry_id])
    body = deadletter.raw(r, entry_id)
    if not found or body is None:
        _fail(f"no dead letter #{entry_id} (see 'danescan deadletter list')")
        return
    click.echo(found[0].line(), err=True)
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


@deadletter_cmd.command("replay")
@click.argument("entry_ids", nargs=-1, type=int)
@click.option("--scan-id", default=None, help="Every dead letter of one scan.")
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
def deadletter_replay(entry_ids: tuple[int, ...], scan_id: str | None, all_: bool) -> None:
    """Move dead letters back to the results list; the writer tries them again (one that still
    fails becomes a dead letter again). Their scans count them as failures no more."""
    from workers.cluster import deadletter

    r = _redis(Settings.from_env())
    chosen = _select(r, entry_ids, all_, scan_id)
    cut = [d for d in chosen if d.cut]
    moved = sum(deadletter.replay(r, d) for d in chosen if not d.cut)
    click.echo(f"{moved} dead letter(s) moved back to the results list")
    if cut:
        _fail(f"{len(cut)} dead letter(s) kept only the first bytes of their message and "
              f"cannot be replayed: #{', #'.join(str(d.id) for d in cut)} (drop them)")


@deadletter_cmd.command("drop")
@click.argument("entry_ids", nargs=-1, type=int)
@click.option("--scan-id", default=None, help="Every dead letter of one scan.")
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
def deadletter_drop(entry_ids: tuple[int, ...], scan_id: str | None, all_: bool) -> None:
    """Forget dead letters (their scans keep counting them as failures)."""
    from workers.cluster import deadletter

    r = _redis(Settings.from_env())
    chosen = _select(r, entry_ids, all_, scan_id)
    dropped = sum(deadletter.drop(r, d.id) for d in chosen)
    click.echo(f"{dropped} dead letter(s) dropped")


COMMANDS = (enqueue_cmd, worker, writer, status, schedule, deadletter_cmd)
