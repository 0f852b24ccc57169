"""Address outcomes shared across workers (``workers.smtp.outcomes``): when an address times out
or refuses for one MX name, the other names on it, probed by any worker in the same scan, take that
outcome instead of queueing behind the per-IP lease for another timeout.

One Redis string per (scan, address, port), set once (NX) with a TTL, holding the probe's outcome
in JSON; the process's own ``AddressOutcomes`` is asked first. A value that does not decode is
ignored (the address is probed).
"""

from __future__ import annotations

import json
from datetime import datetime

import redis.asyncio as aioredis

from workers.cluster.state import PREFIX
from workers.smtp.evidence import ProbeError, ProbeStep, StarttlsEvidence
from workers.smtp.outcomes import AddressOutcomes, spreads
from workers.vocab import SmtpStatus


def down_key(scan_id: str, ip: str, port: int) -> str:
    return f"{PREFIX}down:{scan_id}:{ip}:{port}"


def encode(ev: StarttlsEvidence) -> str:
    return json.dumps({"status": ev.status.value, "step": ev.step.value, "error": ev.error.value,
                       "detail": ev.detail[:500], "host": ev.inferred_from or ev.host,
                       "ip": ev.ip, "port": ev.port, "sni": ev.sni,
                       "started_at": ev.started_at.isoformat()})


def decode(raw: bytes | str) -> StarttlsEvidence | None:
    """The shared outcome, or None if the value is not one (it is then ignored)."""
    try:
        d = json.loads(raw)
        ev = StarttlsEvidence(
            status=SmtpStatus(d["status"]), host=str(d["host"]), ip=str(d["ip"]),
            port=int(d["port"]), sni=d["sni"] if isinstance(d["sni"], str) else None,
            started_at=datetime.fromisoformat(d["started_at"]), step=ProbeStep(d["step"]),
            error=ProbeError(d["error"]), detail=str(d["detail"]))
    except (ValueError, TypeError, KeyError):
        return None
    return ev if spreads(ev) else None


class SharedOutcomes:
    """The scan's address outcomes: this process's ``local`` ones, then Redis's."""

    def __init__(self, client: aioredis.Redis, scan_id: str, ttl_seconds: int,
                 local: AddressOutcomes) -> None:
        self.client = client
        self.scan_id = scan_id
        self.ttl = max(1, int(ttl_seconds))
        self.local = local

    async def get(self, ip: str, port: int) -> StarttlsEvidence | None:
        ev = self.local.get(ip, port)
        if ev is not None:
            return ev
        raw = await self.client.get(down_key(self.scan_id, ip, port))
        if raw is None:
            return None
        ev = decode(raw)
        if ev is not None:
            self.local.record(ev)
        return ev

    async def record(self, ev: StarttlsEvidence) -> bool:
        """Share ``ev`` if its outcome spreads; True if so."""
        if not self.local.record(ev):
            return False
        await self.client.set(down_key(self.scan_id, ev.ip, ev.port), encode(ev), ex=self.ttl,
                              nx=True)
        return True
