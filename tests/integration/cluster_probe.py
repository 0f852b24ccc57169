"""The cluster's STARTTLS gate on its own (no pipeline around it): what two workers' probes of
the same addresses do through Redis (tests of the per-IP lease, the shared outcomes and the
connection-rate limits)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from workers.cluster.stream import cluster_prober
from workers.dns import MxHostEvidence
from workers.scan.batch import ScanContext
from workers.settings import Settings
from workers.smtp import ProbeTarget, StarttlsEvidence
from workers.smtp.excluded import split_excluded


async def probe_with_leases(hosts: Sequence[MxHostEvidence], ctx: ScanContext, settings: Settings
                            ) -> dict[str, list[StarttlsEvidence]]:
    """Every address of ``hosts`` once, each under a cluster-wide per-IP lease (renewed while
    held), as a worker's pipeline does. An address that timed out or refused for another
    name of the scan (in this worker or another, ``workers.cluster.downs``) is not connected to:
    its outcome is taken, marked inferred. An excluded address is never connected to; each
    connection waits for the cluster-wide connection-rate limits (``workers.cluster.ratelimit``).
    """
    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=3)
    prober = cluster_prober(client, ctx, settings)  # the one a worker's pipeline uses
    targets = [ProbeTarget(h.host, ip) for h in hosts for ip in h.addresses]
    targets, skipped = split_excluded(targets, ctx.exclusions)  # no connection to these
    try:
        found = [*skipped, *await prober.probe(targets, ctx)]
    finally:
        await client.aclose()
    out: dict[str, list[StarttlsEvidence]] = {}
    for ev in found:
        out.setdefault(ev.host, []).append(ev)
    return out
