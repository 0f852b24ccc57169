"""Connection-rate limits: token buckets per destination address and over the whole scan. Pure.

A bucket holds at most ``burst`` tokens and gains ``per_second`` tokens a second; a new SMTP
connection takes one token from its address's bucket and one from the global bucket, both or
neither. So in any window of w seconds an address gets at most ``burst + per_second * w`` new
connections (with the per-address default burst of 1 and N a minute: at most N + 1 in any minute).

:class:`Buckets` is the in-process state (the embedded scan); the cluster keeps the same state in
Redis and runs the same arithmetic in a Lua script (``workers.cluster.ratelimit``), so both modes
grant alike. ``grant`` answers a batch of requests at once: 0.0 for granted, else the seconds
until the request could be granted if nobody else asked (a hint to wait), or ``NEVER`` when its
buckets do not refill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NEVER = -1.0


@dataclass(frozen=True)
class Rate:
    """At most ``burst`` at once, ``per_second`` more each second (0: the bucket never refills)."""

    burst: float
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second < 0 or not math.isfinite(self.per_second):
            raise ValueError(f"a rate needs a burst of at least 1 and a refill >= 0, got {self}")


@dataclass(frozen=True)
class RateLimits:
    """``per_ip``: new connections per destination address; ``overall``: over the whole scan
    (every worker together in the cluster). None: no limit of that kind."""

    per_ip: Rate | None = None
    overall: Rate | None = None

    @property
    def active(self) -> bool:
        return self.per_ip is not None or self.overall is not None

    def describe(self) -> dict[str, float]:
        """What the scan records among its settings (0 = no limit)."""
        out: dict[str, float] = {}
        for name, rate in (("rate_per_ip", self.per_ip), ("rate_global", self.overall)):
            out[f"{name}_per_second"] = rate.per_second if rate else 0.0
            out[f"{name}_burst"] = rate.burst if rate else 0.0
        return out


class Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at

    def refill(self, rate: Rate, now: float) -> None:
        if now > self.at:
            self.tokens = min(rate.burst, self.tokens + (now - self.at) * rate.per_second)
        self.at = max(self.at, now)


def wait_for(bucket: Bucket, rate: Rate) -> float:
    """Seconds until ``bucket`` holds a whole token (0 if it does); NEVER if it cannot."""
    if bucket.tokens >= 1:
        return 0.0
    if rate.per_second <= 0:
        return NEVER
    return (1 - bucket.tokens) / rate.per_second


class Buckets:
    """The in-process state of :class:`RateLimits`: one global bucket and one per address.
    Buckets that are full again are dropped (``max_idle`` addresses kept before a sweep)."""

    def __init__(self, limits: RateLimits, max_idle: int = 100_000) -> None:
        self.limits = limits
        self.overall: Bucket | None = None
        self.by_ip: dict[str, Bucket] = {}
        self._max_idle = max_idle

    def _bucket(self, ip: str, rate: Rate, now: float) -> Bucket:
        b = self.by_ip.get(ip)
        if b is None:
            if len(self.by_ip) >= self._max_idle:
                self._sweep(rate, now)
            b = self.by_ip[ip] = Bucket(rate.burst, now)
        b.refill(rate, now)
        return b

    def _sweep(self, rate: Rate, now: float) -> None:
        for ip, b in list(self.by_ip.items()):
            b.refill(rate, now)
            if b.tokens >= rate.burst:
                del self.by_ip[ip]

    def grant(self, ips: Sequence[str], now: float) -> list[float]:
        """One answer per request, in order (see the module text); granted requests take their
        tokens at once, so a later request of the same batch sees them gone."""
        per_ip, overall = self.limits.per_ip, self.limits.overall
        if overall is not None and self.overall is None:
            self.overall = Bucket(overall.burst, now)
        out: list[float] = []
        for ip in ips:
            waits: list[float] = []
            g = self.overall
            if overall is not None and g is not None:
                g.refill(overall, now)
                waits.append(wait_for(g, overall))
            b = self._bucket(ip, per_ip, now) if per_ip is not None else None
            if per_ip is not None and b is not None:
                waits.append(wait_for(b, per_ip))
            if NEVER in waits:
                out.append(NEVER)
            elif any(w > 0 for w in waits):
                out.append(max(waits))
            else:
                if g is not None:
                    g.tokens -= 1
                if b is not None:
                    b.tokens -= 1
                out.append(0.0)
        return out
