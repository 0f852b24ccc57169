"""The stages of a scan: DNS, STARTTLS, DANE verdict, for one group of domains.

``workers.scan.pipeline`` runs them for the embedded scan and for every cluster worker process
(one code path), streaming small groups with no barrier between them. I/O is the two probes; the
verdict and the rows are pure (workers.dane, workers.scan.rows). ``smtp_stage`` probes through the
pipeline's gate (per-IP slots shared by all groups; Redis leases in the cluster), or by default
through ``probe_many`` under the context's caps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import dns.rrset

from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, TrustStore, Verdict, dane_verdict
from workers.dns import BatchResult, EngineSettings, MxHostEvidence
from workers.dns.bounds import Bounds
from workers.dns.mail_service import has_no_address
from workers.exclusion import NOTHING, Exclusions
from workers.names import relative
from workers.smtp import ProbeLimits, ProbeTarget, ProbeTimeouts, StarttlsEvidence, probe_many
from workers.smtp.excluded import split_excluded
from workers.smtp.outcomes import AddressOutcomes
from workers.smtp.throttle import Throttle
from workers.vocab import DaneReason, DnssecStatus, QueryStatus, RfcOutcome, SmtpStatus

History = Callable[[Sequence[str]], Awaitable[Mapping[str, Sequence[bytes]]]]
Probe = Callable[[Sequence[ProbeTarget], "ScanContext"], Awaitable[Sequence[StarttlsEvidence]]]


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
    smtp_port: int = 25  # the port probed (25 for mail; another only for `danescan check --port`)
    dns_bounds: Bounds = field(default_factory=Bounds)  # MX hosts per domain, addresses per host
    # the scan's address outcomes that spread to other names (this process's share; mutable)
    outcomes: AddressOutcomes = field(default_factory=AddressOutcomes, compare=False)
    # polite scanning (issue 14): names and addresses never queried nor connected to, and the
    # connection-rate limits (None: none; in the cluster the limits live in Redis)
    exclusions: Exclusions = NOTHING
    throttle: Throttle | None = field(default=None, compare=False)


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
    """A verdict when no probe can run: the TLSA-side reason wins when there is one, except over
    ``no-address``: a client looks up the address first (Postfix does), so a host without one
    receives no mail whatever its TLSA. Its RFC outcome is ``defer`` when DANE would have been in
    effect and ``no-dane`` otherwise, so that "DANE hosts" (rfc != no-dane, or a TLSA RRset) do
    not count address-less hosts that publish no TLSA."""
    base = dane_verdict(host, tlsa, TlsEvidence(SmtpStatus.CONNECT_ERROR), now)
    if reason is DaneReason.NO_ADDRESS:
        rfc = RfcOutcome.NO_DANE if base.rfc is RfcOutcome.NO_DANE else RfcOutcome.DEFER
        return Verdict(valid=False, reason=reason, rfc=rfc, paper_valid=False, paper_reason=reason)
    if base.reason in (DaneReason.NO_TLSA, DaneReason.TLSA_LOOKUP_FAILED, DaneReason.DNSSEC_BOGUS,
                       DaneReason.DNSSEC_INSECURE, DaneReason.MISSING_DS):
        return base
    return Verdict(valid=False, reason=reason, rfc=RfcOutcome.DEFER, paper_valid=False,
                   paper_reason=reason)


def excluded_verdict() -> Verdict:
    """An MX host whose name is on the exclusion list: nothing looked up, nothing judged."""
    return Verdict(valid=False, reason=DaneReason.EXCLUDED, rfc=RfcOutcome.UNKNOWN,
                   paper_valid=False, paper_reason=DaneReason.EXCLUDED)


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


async def smtp_stage(hosts: Sequence[MxHostEvidence], ctx: ScanContext,
                     history: History | None = None, probe: Probe | None = None,
                     ) -> tuple[HostOutcome, ...]:
    """Stage 2: probe every address of ``hosts`` (those that want a probe) and judge each host.

    ``history`` loads the earlier leaf certificates of the given hosts (matches-old-certificate).
    ``probe`` runs the probes (the streaming pipeline's gate: per-address slots shared by every
    group of the process, or of the cluster); by default ``probe_many`` under ``ctx.limits``.
    Hosts that get no probe (no TLSA, no address) are judged too, from their DNS evidence alone.
    """
    tlsa_of = {h.host: tlsa_evidence(h) for h in hosts}
    targets = [ProbeTarget(h.host, ip, ctx.smtp_port) for h in hosts
               if wants_probe(tlsa_of[h.host], ctx.probe_all) for ip in h.addresses]
    with_records = [h.host for h in hosts if tlsa_of[h.host].records]
    earlier = await history(with_records) if history and with_records else {}
    probes: dict[str, list[StarttlsEvidence]] = {}
    targets, skipped = split_excluded(targets, ctx.exclusions)  # no connection to these
    for ev in skipped:
        probes.setdefault(ev.host, []).append(ev)
    if targets and probe is not None:
        for ev in await probe(targets, ctx):
            probes.setdefault(ev.host, []).append(ev)
    elif targets:
        async for ev in probe_many(targets, ehlo_name=ctx.ehlo_name, timeouts=ctx.timeouts,
                                   limits=ctx.limits, outcomes=ctx.outcomes,
                                   throttle=ctx.throttle):
            probes.setdefault(ev.host, []).append(ev)
    return tuple(judge(h, tlsa_of[h.host], sorted(probes.get(h.host, []), key=lambda e: e.ip),
                       ctx, earlier.get(h.host, ())) for h in hosts)


def judge(h: MxHostEvidence, tlsa: TlsaEvidence, host_probes: Sequence[StarttlsEvidence],
          ctx: ScanContext, history: Sequence[bytes]) -> HostOutcome:
    """Pure: the verdicts of one host from its evidence."""
    if ctx.exclusions.suffixes and ctx.exclusions.excludes_name(h.host):
        return HostOutcome(h, tlsa, (), (), excluded_verdict())
    refs = (relative(h.tlsa_base.removeprefix("_25._tcp.")),) if h.cname_target else ()
    per_ip: list[tuple[str, Verdict]] = []
    for ev in host_probes:
        v = dane_verdict(relative(h.host), tlsa, TlsEvidence(ev.status, ev.chain), ctx.now,
                         reference_names=refs, trust_store=ctx.trust_store, history=history)
        per_ip.append((ev.ip, v))
    if per_ip:
        verdict = combine([v for _, v in per_ip])
    elif has_no_address(h):
        verdict = _no_probe(DaneReason.NO_ADDRESS, h.host, tlsa, ctx.now)
    else:
        verdict = _no_probe(DaneReason.CONNECT_FAILED, h.host, tlsa, ctx.now)
    return HostOutcome(h, tlsa, tuple(host_probes), tuple(per_ip), verdict)
