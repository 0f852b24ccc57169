"""One batch of domains through every stage: DNS, STARTTLS, DANE verdict.

The same function serves the embedded scan and the cluster's DNS task (one code path). I/O is the
two probes; the verdict and the rows are pure (workers.dane, workers.scan.rows).
Performance model: one event loop; the DNS probe keeps up to ``max_in_flight`` queries in flight,
then the STARTTLS probes of the batch's new DANE hosts run under per-IP and global caps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import dns.rrset

from danescan.vocab import DaneReason, DnssecStatus, QueryStatus, RfcOutcome, SmtpStatus
from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, TrustStore, Verdict, dane_verdict
from workers.dns import BatchResult, DomainInput, EngineSettings, MxHostEvidence, probe_batch
from workers.smtp import ProbeLimits, ProbeTarget, ProbeTimeouts, StarttlsEvidence, probe_many


@dataclass(frozen=True)
class ScanContext:
    """Everything a batch needs besides its domains; ``now`` is the scan's time."""

    scan_id: str
    now: dt.datetime
    dns_settings: EngineSettings
    anchors: dns.rrset.RRset | None
    ehlo_name: str = "danescan.invalid"
    probe_all: bool = False  # STARTTLS-probe MX hosts without TLSA too
    trust_store: TrustStore | None = None
    timeouts: ProbeTimeouts = field(default_factory=ProbeTimeouts)
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    attempt: int = 0


@dataclass(frozen=True)
class HostOutcome:
    """An MX host's DNS evidence, its probes (one per address) and the verdicts."""

    evidence: MxHostEvidence
    tlsa: TlsaEvidence
    probes: tuple[StarttlsEvidence, ...]
    verdicts: tuple[tuple[str, Verdict], ...]  # (ip, verdict)
    verdict: Verdict  # the host as a whole: valid only when every address validates


@dataclass(frozen=True)
class BatchOutcome:
    dns: BatchResult
    hosts: tuple[HostOutcome, ...]


def tlsa_evidence(host: MxHostEvidence) -> TlsaEvidence:
    """The verdict's view of the TLSA lookup; a record that does not parse is skipped."""
    rr = host.tlsa
    records: list[TlsaRecord] = []
    # a bogus RRset comes as SERVFAIL; its records were fetched again with CD set
    answered = not rr.failed or (rr.from_cd and rr.dnssec_status is DnssecStatus.BOGUS)
    if answered:
        for text in rr.records:
            try:
                records.append(TlsaRecord.from_text(text))
            except ValueError:
                continue
    status = QueryStatus.NOERROR if answered else rr.query_status
    return TlsaEvidence(status, rr.dnssec_status, rr.dnssec_reason, tuple(records))


def _no_probe(reason: DaneReason, host: str, tlsa: TlsaEvidence, now: dt.datetime) -> Verdict:
    """A verdict when no probe can run: the TLSA-side reason wins when there is one."""
    base = dane_verdict(host, tlsa, TlsEvidence(SmtpStatus.CONNECT_ERROR), now)
    if base.reason in (DaneReason.NO_TLSA, DaneReason.TLSA_LOOKUP_FAILED, DaneReason.DNSSEC_BOGUS,
                       DaneReason.DNSSEC_INSECURE, DaneReason.MISSING_DS):
        return base
    return Verdict(valid=False, reason=reason, rfc=RfcOutcome.DEFER, paper_valid=False,
                   paper_reason=reason)


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """The host's verdict from its addresses': the first failing one, else the first."""
    for v in verdicts:
        if not v.valid:
            return v
    return verdicts[0]


def wants_probe(tlsa: TlsaEvidence, probe_all: bool) -> bool:
    if probe_all:
        return True
    return tlsa.answered and bool(tlsa.records) and tlsa.dnssec is not DnssecStatus.BOGUS


async def run_batch(inputs: Sequence[DomainInput], ctx: ScanContext,
                    known_hosts: Collection[str] = (),
                    history: Callable[[Sequence[str]], Mapping[str, Sequence[bytes]]] | None = None,
                    ) -> BatchOutcome:
    """Probe ``inputs``; hosts in ``known_hosts`` were done earlier in the scan and are skipped.
    ``history`` loads the earlier leaf certificates of the given hosts (matches-old-certificate)."""
    result = await probe_batch(inputs, ctx.dns_settings, ctx.now.timestamp(), ctx.anchors, known_hosts)
    tlsa_of = {h.host: tlsa_evidence(h) for h in result.hosts}
    targets = [ProbeTarget(h.host, ip) for h in result.hosts if wants_probe(tlsa_of[h.host], ctx.probe_all)
               for ip in h.addresses]
    earlier = history([h.host for h in result.hosts if tlsa_of[h.host].records]) if history else {}
    probes: dict[str, list[StarttlsEvidence]] = {}
    if targets:
        async for ev in probe_many(targets, ehlo_name=ctx.ehlo_name, timeouts=ctx.timeouts,
                                   limits=ctx.limits):
            probes.setdefault(ev.host, []).append(ev)
    outcomes = []
    for h in result.hosts:
        tlsa = tlsa_of[h.host]
        host_probes = sorted(probes.get(h.host, []), key=lambda e: e.ip)
        refs = (h.tlsa_base.removeprefix("_25._tcp.").rstrip("."),) if h.cname_target else ()
        per_ip: list[tuple[str, Verdict]] = []
        for ev in host_probes:
            v = dane_verdict(h.host.rstrip("."), tlsa, TlsEvidence(ev.status, ev.chain), ctx.now,
                             reference_names=refs, trust_store=ctx.trust_store,
                             history=earlier.get(h.host, ()))
            per_ip.append((ev.ip, v))
        if per_ip:
            verdict = combine([v for _, v in per_ip])
        elif not h.addresses and not (h.a.failed or h.aaaa.failed):
            verdict = _no_probe(DaneReason.NO_ADDRESS, h.host, tlsa, ctx.now)
        else:
            verdict = _no_probe(DaneReason.CONNECT_FAILED, h.host, tlsa, ctx.now)
        outcomes.append(HostOutcome(h, tlsa, tuple(host_probes), tuple(per_ip), verdict))
    return BatchOutcome(result, tuple(outcomes))
