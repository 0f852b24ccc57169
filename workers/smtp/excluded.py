"""Addresses on the exclusion list get no connection: their evidence says so. Pure.

The one filter both modes apply to STARTTLS targets before any connection (the embedded scan in
``workers.scan.batch.smtp_stage``, the cluster in ``workers.scan.pipeline``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from workers.exclusion import Exclusions
from workers.smtp.evidence import ProbeError, ProbeStep, ProbeTarget, StarttlsEvidence
from workers.vocab import SmtpStatus


def excluded_probe(target: ProbeTarget, now: datetime | None = None) -> StarttlsEvidence:
    """``target``'s evidence without a connection: its address is excluded."""
    return StarttlsEvidence(
        status=SmtpStatus.EXCLUDED, host=target.host, ip=target.ip, port=target.port,
        sni=target.sni or target.host, started_at=now or datetime.now(UTC),
        step=ProbeStep.CONNECT, error=ProbeError.EXCLUDED,
        detail="not connected: the address is on the exclusion list")


def split_excluded(targets: Iterable[ProbeTarget], exclusions: Exclusions
                   ) -> tuple[list[ProbeTarget], list[StarttlsEvidence]]:
    """(targets to probe, evidence of the excluded ones), in the order given. A target is
    excluded by its address, or by its MX host's name (whose addresses are normally never looked
    up: this holds when they come from elsewhere, e.g. a task made before the list changed)."""
    keep: list[ProbeTarget] = []
    skipped: list[StarttlsEvidence] = []
    if exclusions.empty:
        return list(targets), skipped
    now = datetime.now(UTC)
    for t in targets:
        if exclusions.excludes_address(t.ip) or exclusions.excludes_name(t.host):
            skipped.append(excluded_probe(t, now))
        else:
            keep.append(t)
    return keep, skipped
