"""What every scanning process checks before it starts (issue 14): it identifies itself (EHLO name
and contact, unless the scan stays on loopback) and its resolver validates DNSSEC (AD bit).

Each check returns the one-line problem or None; the commands print it and exit 2.
"""

from __future__ import annotations

from pathlib import Path

from workers.dns.resolver_check import ResolverCheckError, check_resolver
from workers.exclusion import ExclusionError, Exclusions, load
from workers.identity import identity_problem
from workers.settings import Settings

# IANA's root trust anchor as shipped (the default of every real scan)
ROOT_ANCHORS = Path(__file__).parent / "data" / "root-anchors.txt"


def private_root(trust_anchor: str) -> bool:
    """The trust anchor file holds none of IANA's root DS records: a private root (the lab's)."""
    from workers.dns import load_trust_anchor

    try:
        given = set(load_trust_anchor(trust_anchor))
    except (OSError, ValueError):
        return False  # unreadable: judged as the Internet's (the strict side)
    return not given & set(load_trust_anchor(str(ROOT_ANCHORS)))


def identity(ehlo_name: str, contact: str, resolver: str, trust_anchor: str | None) -> str | None:
    """The scan's identity problem; ``trust_anchor`` None for a worker (anchors come per scan)."""
    return identity_problem(ehlo_name, contact, resolver,
                            None if trust_anchor is None else private_root(trust_anchor))


def resolver(settings: Settings, address: str) -> str | None:
    """The resolver's problem (no answer, no AD bit on a signed name), unless the check is
    skipped (DANESCAN_SKIP_RESOLVER_CHECK=1, for tests)."""
    if settings.skip_resolver_check:
        return None
    try:
        check_resolver(address, settings.resolver_check_name)
    except ResolverCheckError as exc:
        return str(exc)
    return None


def exclusions(path: str) -> Exclusions | str:
    """The exclusion list of ``path`` ("" = none), or its one-line problem (``FILE:LINE: ...``):
    a list that cannot be read must stop the scan, not let it scan what it meant to exclude."""
    try:
        return load(path)
    except ExclusionError as exc:
        return str(exc)
