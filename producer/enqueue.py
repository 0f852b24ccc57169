"""Zone files in, Celery tasks out: chunks of domains on queue ``dns``, idempotent per scan.

The inputs are streamed (``producer.inputs.iter_inputs``, constant memory) and cut into chunks
numbered from 0 in input order. A chunk not enqueued before goes into the scan's ledger
(``workers.cluster.ledger``: the store of record of the work, so that no chunk is lost whatever the
broker does) and into the scan's set of enqueued chunks in one MULTI; only then is its ticket (a
task message without the payload) published. A chunk already in the set is skipped, so enqueueing
the same scan again (after an interrupted run, or by mistake) publishes nothing twice. The chunk size and the inputs are part
of the scan's record in Redis and must not change between runs of one scan.

A damaged input (a gzip file cut short or corrupt, NUL bytes, ...) does not stop the enqueue: the
domains read before the damage are enqueued, the damage goes into the scan's record (``damage``)
and the writer closes the scan as ``incomplete`` with it as the reason. Such a scan cannot be
enqueued again: its chunks are numbered in input order, and a repaired file would move every
chunk after the damage; the repaired file is a new scan.

Performance model: a group of chunks is two Redis rounds (SISMEMBER, then the MULTI with the ledger
entries of about 30 bytes per domain) and one small ticket per chunk; the zone parser, not Redis,
bounds the rate.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from producer.inputs import Damage, InputStats, chunks, iter_inputs
from workers.cluster import codec, ledger
from workers.cluster.exclusions import share_exclusions
from workers.cluster.state import RESULTS, SCANS, ClusterError, key, meta_key, read_meta
from workers.dns import DomainInput
from workers.exclusion import NOTHING, Exclusions
from workers.store.rows import ScanRow
from workers.version import __version__

Publish = Callable[[str, str, Mapping[str, Any]], None]  # (scan id, ledger entry, its spec)
Entry = Callable[[str, int, list[DomainInput]], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class EnqueueOptions:
    scan_id: str
    resolver: str
    trust_anchor: str = ""
    public_roots: str = ""
    chunk: int = 500
    probe_all: bool = False
    ehlo_name: str = "danescan.invalid"
    kind: str = "adhoc"
    now: dt.datetime | None = None
    group: int = 64  # chunks per Redis round trip
    contact: str = ""  # who runs the scan (issue 14): recorded in the scan's settings
    exclusions: Exclusions = NOTHING  # shipped to the workers with the scan (issue 14)


@dataclass
class EnqueueResult:
    scan_id: str
    domains: int
    chunks: int
    published: int
    skipped: int
    seconds: float
    malformed: int
    malformed_examples: list[str]
    damage: list[Damage] = field(default_factory=list)  # damaged inputs, read up to the damage


@contextmanager
def celery_publisher(hosts: bool = False) -> Iterator[Publish]:
    """Publishes the ticket of a ledger entry (``workers.cluster.ledger.ticket``: the task by name,
    its queue, payload ``None``, task id ``<scan>:<entry>``) over one connection, without importing
    the tasks. ``hosts`` is kept for callers that said which kind they publish; the entry says it.

    The app is made from the settings read now, not the module-level app of workers.cluster.app
    (made at its first import, perhaps under other settings in a long-lived process)."""
    from workers.cluster.app import make_app
    from workers.settings import Settings

    app = make_app(Settings.from_env())

    with app.producer_or_acquire() as producer:

        def publish(scan_id: str, entry: str, spec: Mapping[str, Any]) -> None:
            name, args, kwargs, queue = ledger.ticket(spec)
            app.send_task(name, args=args, kwargs=kwargs, queue=queue, producer=producer,
                          task_id=ledger.task_id(scan_id, entry))

        yield publish


def register_scan(r: redis.Redis, inputs: Sequence[str], opts: EnqueueOptions) -> dict[str, str]:
    """The scan's record in Redis (created once); refuses a different chunk size or inputs."""
    meta = read_meta(r, opts.scan_id)
    if meta:
        if int(meta["chunk"]) != opts.chunk:
            raise ClusterError(f"scan {opts.scan_id} was enqueued with --chunk {meta['chunk']}, "
                               f"not {opts.chunk}")
        if json.loads(meta["inputs"]) != list(inputs):
            raise ClusterError(f"scan {opts.scan_id} was enqueued with other inputs: "
                               f"{', '.join(json.loads(meta['inputs']))}")
        return meta
    now = opts.now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    settings = json.dumps({"resolver": opts.resolver, "trust_anchor": opts.trust_anchor,
                           "chunk": opts.chunk, "probe_all": opts.probe_all, "mode": "cluster",
                           "ehlo_name": opts.ehlo_name, "contact": opts.contact,
                           **opts.exclusions.describe()})
    meta = {"kind": opts.kind, "now": str(int(now.timestamp())), "resolver": opts.resolver,
            "trust_anchor": opts.trust_anchor, "public_roots": opts.public_roots,
            "probe_all": "1" if opts.probe_all else "0", "ehlo_name": opts.ehlo_name,
            "inputs": json.dumps(list(inputs)), "settings": settings, "chunk": str(opts.chunk),
            "started": str(time.time()), "enqueued": "0", "total": "0"}
    if not r.hsetnx(meta_key(opts.scan_id), "kind", opts.kind):
        return read_meta(r, opts.scan_id)  # another producer registered it just now
    share_exclusions(r, opts.scan_id, opts.exclusions, meta)
    r.hset(meta_key(opts.scan_id), mapping=meta)  # type: ignore[arg-type]
    r.sadd(SCANS, opts.scan_id)
    row = ScanRow(scan_id=opts.scan_id, kind=opts.kind, started_at=now, inputs=list(inputs),
                  settings=settings, software_version=__version__, status="running")
    r.rpush(RESULTS, codec.encode_message(opts.scan_id, "scan", "start", 0, [row]))
    return meta


def domains_entry(scan_id: str, no: int, batch: list[DomainInput]) -> tuple[str, dict[str, Any]]:
    return ledger.chunk_entry(scan_id, no, codec.encode_chunk(batch))


def hosts_entry(scan_id: str, no: int, batch: list[DomainInput]) -> tuple[str, dict[str, Any]]:
    return ledger.host_entry(scan_id, no, codec.encode_hosts([d.name for d in batch]))


def publish_chunks(r: redis.Redis, scan_id: str, batches: Iterable[list[DomainInput]],
                   publish: Publish, group: int = 64,
                   entry: Entry | None = None) -> tuple[int, int, int]:
    """(chunks, published, domains): each chunk not enqueued before goes into the scan's ledger
    and the set of enqueued chunks in one MULTI, then its ticket is published (a producer that
    dies in between leaves entries without tickets: the ledger's sweep publishes them)."""
    seen = key("chunks", scan_id)
    entry = entry or domains_entry
    n_chunks = published = domains = 0
    pending: list[tuple[int, list[DomainInput]]] = []

    def flush() -> int:
        pipe = r.pipeline(transaction=False)
        for no, _ in pending:
            pipe.sismember(seen, str(no))
        known = pipe.execute()
        fresh = [entry(scan_id, no, batch)
                 for (no, batch), old in zip(pending, known, strict=True) if not old]
        pending.clear()
        if not fresh:
            return 0
        tx = r.pipeline()
        ledger.write_entries(tx, scan_id, fresh)
        tx.sadd(seen, *[spec["args"][1] for _, spec in fresh])
        tx.execute()
        for name, spec in fresh:
            publish(scan_id, name, spec)
        return len(fresh)

    for batch in batches:
        pending.append((n_chunks, batch))
        n_chunks += 1
        domains += len(batch)
        if len(pending) >= group:
            published += flush()
    if pending:
        published += flush()
    return n_chunks, published, domains


def enqueue(r: redis.Redis, inputs: Sequence[str], opts: EnqueueOptions,
            publish: Publish) -> EnqueueResult:
    """Register the scan, publish its chunks, then record the total (the scan can finish)."""
    started = time.monotonic()
    meta = register_scan(r, inputs, opts)
    if meta.get("damage"):
        raise ClusterError(f"scan {opts.scan_id} was enqueued from a damaged input and is "
                           f"incomplete ({meta['damage']}); enqueue the repaired input under a "
                           "new --scan-id")
    stats = InputStats()
    n_chunks, published, domains = publish_chunks(
        r, opts.scan_id, chunks(iter_inputs(inputs, stats), opts.chunk), publish, opts.group)
    done = {"total": str(domains), "enqueued": "1", "chunks": str(n_chunks)}
    if stats.damage:  # with the total: the writer closes the scan as incomplete
        done["damage"] = stats.damage_reason()
    r.hset(meta_key(opts.scan_id), mapping=done)  # type: ignore[arg-type]
    return EnqueueResult(opts.scan_id, domains, n_chunks, published, n_chunks - published,
                         time.monotonic() - started, stats.malformed, stats.malformed_examples,
                         list(stats.damage))


def enqueue_hosts(r: redis.Redis, hosts: Sequence[str], source: str, opts: EnqueueOptions,
                  publish: Publish) -> EnqueueResult:
    """The hourly re-scan: MX host names (the DANE hosts of scan ``source``) in chunks of
    ``opts.chunk`` hosts, each host one item of the scan's total; idempotent like ``enqueue``."""
    started = time.monotonic()
    register_scan(r, [f"dane-hosts-of:{source}"], opts)
    names = sorted({h.rstrip(".").lower() for h in hosts if h.strip(".")})
    batches = ([DomainInput(n) for n in names[i:i + opts.chunk]]
               for i in range(0, len(names), opts.chunk))

    n_chunks, published, count = publish_chunks(r, opts.scan_id, batches, publish, opts.group,
                                                 hosts_entry)
    r.hset(meta_key(opts.scan_id), mapping={"total": str(count), "enqueued": "1",
                                            "chunks": str(n_chunks)})
    return EnqueueResult(opts.scan_id, count, n_chunks, published, n_chunks - published,
                         time.monotonic() - started, 0, [])

