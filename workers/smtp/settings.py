"""Knobs of the STARTTLS probe: timeouts per step, read bounds, concurrency caps.

Plain frozen values with defaults; ``workers.settings`` (the only reader of the environment) decides
what to pass in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeTimeouts:
    """Seconds allowed for each step of one probe, and for the whole probe (``total``: a server
    answering every step just in time would otherwise hold a probe for the sum of the steps,
    135 s). A step or a probe that overruns ends the probe. Keep ``total`` below the cluster's
    per-IP lease (``ip_lease_seconds``)."""

    connect: float = 10.0
    banner: float = 30.0  # RFC 5321 4.5.3.2.1 allows 5 minutes; scanners use far less
    ehlo: float = 30.0
    starttls: float = 30.0
    handshake: float = 30.0
    quit: float = 5.0
    total: float = 60.0  # the whole session, QUIT included

    def __post_init__(self) -> None:
        for name in ("connect", "banner", "ehlo", "starttls", "handshake", "quit", "total"):
            if getattr(self, name) <= 0:
                raise ValueError(f"timeout {name} must be positive")


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a server may make the probe hold in memory for one reply."""

    max_line: int = 2048  # RFC 5321 4.5.3.1.5: a reply line is at most 512 octets
    max_lines: int = 200
    max_reply_bytes: int = 64 * 1024
    max_chain_certs: int = 64  # certificates kept from the presented chain (leaf first)

    def __post_init__(self) -> None:
        if min(self.max_line, self.max_lines, self.max_reply_bytes, self.max_chain_certs) < 1:
            raise ValueError("read limits must be positive")
        if self.max_line < 4:
            raise ValueError("max_line must hold at least a reply code")


@dataclass(frozen=True)
class ProbeLimits:
    """Concurrency caps of ``probe_many``: per server address and over the whole process."""

    per_ip: int = 1
    global_: int = 500
    max_pending: int = 100_000  # targets held back because their address is busy

    def __post_init__(self) -> None:
        if min(self.per_ip, self.global_, self.max_pending) < 1:
            raise ValueError("probe limits must be positive")
