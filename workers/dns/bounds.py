"""Bounds on what one domain can make the scan do: MX hosts looked up per domain, addresses probed
per MX host and family. One MX RRset of 2,500 names otherwise costs 7,500 queries and thousands of
STARTTLS probes. The cut is applied before any query for the cut names is sent, and counted in the
evidence (``DomainEvidence.mx_hosts_cut``, ``MxHostEvidence.addresses_cut``). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Bounds:
    max_mx_hosts: int = 32  # per domain, in preference order
    max_addresses: int = 16  # per MX host and address family (A, AAAA)

    def __post_init__(self) -> None:
        if self.max_mx_hosts < 1 or self.max_addresses < 1:
            raise ValueError("max_mx_hosts and max_addresses must be at least 1")


def cut(items: Sequence[T], limit: int) -> tuple[list[T], int]:
    """The first ``limit`` items, and how many were left out."""
    return list(items[:limit]), max(0, len(items) - limit)


def bound_addresses(a: Sequence[str], aaaa: Sequence[str], limit: int
                    ) -> tuple[tuple[str, ...], int]:
    """At most ``limit`` IPv4 and ``limit`` IPv6 addresses (IPv4 first), and how many were cut."""
    four, cut4 = cut(a, limit)
    six, cut6 = cut(aaaa, limit)
    return tuple(four + six), cut4 + cut6
