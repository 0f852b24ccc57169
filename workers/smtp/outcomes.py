"""Outcomes of an address, not of a name: shared by every MX name probed at that address in a scan.

Before the TLS handshake nothing the server sees depends on which MX name is probed (SNI comes
with the ClientHello; the EHLO name is the scanner's own), so when an address refuses, or times
out before the handshake (no connection, no greeting, a step or the whole probe over its time),
the other names on that address take that outcome without connecting: their evidence says so
(``StarttlsEvidence.inferred_from``). Nothing else spreads: a TLS or certificate result depends on
SNI, and the other failures cost no waiting. Pure, no I/O (the cluster shares them through Redis:
``workers.cluster.downs``).
"""

from __future__ import annotations

from datetime import datetime

from workers.smtp.evidence import ProbeError, ProbeStep, ProbeTarget, StarttlsEvidence
from workers.vocab import SmtpStatus

SPREADING = frozenset({SmtpStatus.CONNECT_TIMEOUT, SmtpStatus.CONNECT_REFUSED})
BEFORE_TLS = frozenset({ProbeStep.CONNECT, ProbeStep.BANNER, ProbeStep.EHLO, ProbeStep.STARTTLS})


def spreads(ev: StarttlsEvidence) -> bool:
    """The outcome belongs to the address: a refusal, or a timeout (of a step or of the whole
    probe: banner-timeout, probe-timeout, ...) before TLS."""
    if ev.status in SPREADING:
        return True
    return (ev.error is ProbeError.TIMEOUT and ev.step in BEFORE_TLS
            and ev.status is not SmtpStatus.PROBE_ERROR)


def inferred(source: StarttlsEvidence, target: ProbeTarget, now: datetime) -> StarttlsEvidence:
    """``target``'s evidence taken from ``source`` (a probe of the same address): same status,
    step and error; nothing seen, no timings; ``inferred_from`` names the probed MX host."""
    if not spreads(source):
        raise ValueError(f"a {source.status} outcome is not shared between names")
    origin = source.inferred_from or source.host
    return StarttlsEvidence(
        status=source.status,
        host=target.host,
        ip=target.ip,
        port=target.port,
        sni=target.sni or target.host,
        started_at=now,
        step=source.step,
        error=source.error,
        detail=f"not probed: the probe of {origin} at {source.started_at:%Y-%m-%d %H:%M:%S} "
        f"ended so ({source.detail})",
        inferred_from=origin,
    )


class AddressOutcomes:
    """The outcomes that spread, by (ip, port), for one scan in one process. At most
    ``max_entries`` are kept (past that, further addresses are simply probed)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._by: dict[tuple[str, int], StarttlsEvidence] = {}
        self._max = max_entries

    def get(self, ip: str, port: int) -> StarttlsEvidence | None:
        return self._by.get((ip, port))

    def record(self, ev: StarttlsEvidence) -> bool:
        """Keep ``ev`` if its outcome spreads (the first one of an address stays); True if so."""
        if not spreads(ev):
            return False
        key = (ev.ip, ev.port)
        if key not in self._by and len(self._by) < self._max:
            self._by[key] = ev
        return True

    def __len__(self) -> int:
        return len(self._by)
