"""One domain checked the way the scan checks it (``danescan check`` / ``watch``, issue 15).

I/O: :func:`check_domain` runs the scan's own pipeline (workers.scan.pipeline.run_outcome) on a list of
one domain, probing every address of every MX host. Pure: :func:`build_report` turns the outcome
into a :class:`DomainReport` with the verdict of every address in both views and one sentence
per failure (workers.dane.explain); :meth:`DomainReport.to_json` is the stable form for scripts
(documented in the README, "Checking your own domain").

Exit rule (as danecheck and internet.nl read it): a domain passes when every MX host that
publishes TLSA records validates (measurement view valid and an RFC 7672 client verifies);
DANE fails (1) when any MX host publishes TLSA records, or its TLSA lookup fails, and does not
validate, or when the MX RRset itself is bogus; a domain none of whose MX hosts publishes TLSA
passes with status ``no-dane`` ("DANE not deployed"). The check could not run (2): a name that
is not a domain, NXDOMAIN, a null MX, no mail service (no MX and no address), an MX lookup that
failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from workers.dane.certs import parse_chain
from workers.dane.evidence import TlsaEvidence
from workers.dane.expiry import RenewalRisk, renewal_risk
from workers.dane.explain import HostEvidence, explain
from workers.dane.names import presented_names
from workers.dane.verdict import Verdict
from workers.dns.records import DomainEvidence, DomainInput, RRsetEvidence
from workers.names import relative
from workers.scan.batch import BatchOutcome, HostOutcome, ScanContext
from workers.scan.certificates import read_certificate
from workers.scan.pipeline import run_outcome
from workers.scan.rows import published_ttl
from workers.smtp import StarttlsEvidence
from workers.vocab import DaneReason, DnssecStatus, QueryStatus, RfcOutcome

EXIT_OK = 0
EXIT_DANE_FAILS = 1
EXIT_CANNOT_CHECK = 2

JSON_VERSION = 1


class Status(StrEnum):
    VALID = "valid"  # every MX host with TLSA validates
    NO_DANE = "no-dane"  # no MX host publishes TLSA: DANE not deployed
    FAILED = "failed"  # DANE is published and fails for at least one MX host
    ERROR = "error"  # the check could not run


async def check_domain(name: str, ctx: ScanContext,
                       history: Callable[[Sequence[str]], Mapping[str, Sequence[bytes]]] | None
                       = None) -> BatchOutcome:
    """The scan pipeline on one domain (``ctx.probe_all`` should be set: every address)."""
    if history is None:
        return await run_outcome([DomainInput(name)], ctx)
    load = history

    async def earlier(hosts: Sequence[str]) -> Mapping[str, Sequence[bytes]]:
        return await asyncio.to_thread(load, hosts)  # a file or a database: off the loop

    return await run_outcome([DomainInput(name)], ctx, earlier)


@dataclass(frozen=True)
class AddressReport:
    ip: str
    probe: StarttlsEvidence | None
    verdict: Verdict
    problem: str | None  # one sentence, None when nothing is wrong
    risk: RenewalRisk | None = None

    def to_json(self) -> dict[str, Any]:
        p = self.probe
        leaf: dict[str, Any] | None = None
        if p is not None and p.chain:
            chain = parse_chain(p.chain)
            if chain.leaf is not None:
                # read part by part: a name or date the server sent may not parse ("" / null)
                facts = read_certificate(chain.leaf.der)
                leaf = {"subject": facts.subject, "issuer": facts.issuer,
                        "names": list(presented_names(chain.leaf.cert)),
                        "not_after": facts.not_after.isoformat() if facts.not_after else None,
                        "spki_sha256": chain.leaf.spki_sha256.hex(),
                        "cert_sha256": chain.leaf.cert_sha256.hex()}
        v = self.verdict
        return {
            "ip": self.ip,
            "smtp": {"status": p.status.value if p else None, "detail": p.detail if p else "",
                     "tls_version": p.tls_version if p else "", "chain_length": len(p.chain) if p
                     else 0},
            "leaf": leaf,
            "verdict": _verdict_json(v),
            "problem": self.problem,
            "warning": self.risk.sentence if self.risk else None,
        }


def _record(r: Any) -> dict[str, Any]:
    return {"usage": r.usage, "selector": r.selector, "mtype": r.mtype, "data": r.data.hex()}


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {"valid": v.valid, "reason": v.reason.value, "rfc": v.rfc.value,
            "paper_valid": v.paper_valid, "paper_reason": v.paper_reason.value,
            "matched": None if v.matched is None else {**_record(v.matched), "depth": v.depth},
            "diagnoses": [d.value for d in v.diagnoses]}


def _rrset_json(rr: RRsetEvidence | None) -> dict[str, Any] | None:
    if rr is None:
        return None
    return {"name": relative(rr.name), "status": rr.query_status.value,
            "dnssec": rr.dnssec_status.value, "dnssec_reason": rr.dnssec_reason.value,
            "ttl": rr.ttl, "published_ttl": published_ttl(rr) or None,
            "records": list(rr.records), "zone": relative(rr.zone)}


@dataclass(frozen=True)
class HostReport:
    host: str
    outcome: HostOutcome
    addresses: tuple[AddressReport, ...]
    problems: tuple[str, ...]  # distinct sentences, host-level first
    dane_published: bool | None  # a TLSA RRset exists; None: its lookup failed

    @property
    def failed(self) -> bool:
        return host_fails(self.dane_published, self.outcome.verdict,
                          [a.verdict for a in self.addresses])

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.risk.sentence for a in self.addresses if a.risk))

    @property
    def status(self) -> Status:
        if self.failed:
            return Status.FAILED
        return Status.VALID if self.dane_published else Status.NO_DANE

    def to_json(self) -> dict[str, Any]:
        ev = self.outcome.evidence
        tlsa = self.outcome.tlsa
        return {
            "host": self.host,
            "status": self.status.value,
            "cname_target": relative(ev.cname_target) if ev.cname_target else None,
            "a": _rrset_json(ev.a),
            "aaaa": _rrset_json(ev.aaaa),
            "tlsa": {**(_rrset_json(ev.tlsa) or {}),
                     "parsed": [_record(r) for r in tlsa.records]},
            "verdict": _verdict_json(self.outcome.verdict),
            "addresses": [a.to_json() for a in self.addresses],
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def dane_published(tlsa: TlsaEvidence) -> bool | None:
    """True: a TLSA RRset exists; False: the lookup answered that there is none (a secure or
    insecure denial); None: not known (the lookup failed, or its denial is bogus: a sender
    defers either way)."""
    if tlsa.records:
        return True
    if not tlsa.answered or tlsa.dnssec is DnssecStatus.BOGUS:
        return None
    return False


def host_fails(published: bool | None, host_verdict: Verdict, per_address: Sequence[Verdict]
               ) -> bool:
    """DANE fails at a host: it publishes TLSA (or whether it does is unknown: its TLSA lookup
    failed) and some address (or the host as a whole, when no address could be probed) is not
    valid, or valid only in the measurement view while an RFC 7672 client would not deliver. A
    host without TLSA never fails DANE, whatever else is wrong with it (no address, no
    STARTTLS): DANE is not deployed there."""
    if published is False:
        return False
    # on the exclusion list: not looked at, so not judged (neither valid nor failing)
    verdicts = [v for v in (list(per_address) or [host_verdict])
                if v.reason is not DaneReason.EXCLUDED]
    return any(not (v.valid and v.rfc is RfcOutcome.VERIFIED) for v in verdicts)


@dataclass(frozen=True)
class DomainReport:
    domain: str
    checked_at: dt.datetime
    resolver: str
    status: Status
    exit_code: int
    error: str = ""  # why the check could not run (status ERROR), one sentence
    evidence: DomainEvidence | None = None
    hosts: tuple[HostReport, ...] = ()
    notes: tuple[str, ...] = ()  # domain-level sentences (implicit MX, bogus MX, ...)
    port: int = 25

    @property
    def problems(self) -> tuple[str, ...]:
        """The domain's failing sentences, each host's prefixed with its name."""
        return tuple(dict.fromkeys([*self.notes_failing, *(f"{h.host}: {p}" for h in self.hosts
                                                           if h.failed for p in h.problems)]))

    @property
    def no_dane_notes(self) -> tuple[str, ...]:
        """"DANE not deployed" sentences of the hosts without TLSA."""
        return tuple(f"{h.host}: {p}" for h in self.hosts if h.dane_published is False
                     for p in h.problems)

    @property
    def notes_failing(self) -> tuple[str, ...]:
        mx = self.evidence.mx if self.evidence else None
        if mx is not None and mx.dnssec_status is DnssecStatus.BOGUS:
            return self.notes[:1]
        return ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w for h in self.hosts for w in h.warnings))

    def to_json(self) -> dict[str, Any]:
        d = self.evidence
        return {
            "version": JSON_VERSION,
            "domain": self.domain,
            "checked_at": self.checked_at.isoformat(),
            "resolver": self.resolver,
            "port": self.port,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "error": self.error or None,
            "mx": None if d is None or d.mx is None else {
                **(_rrset_json(d.mx) or {}),
                "hosts": [relative(h) for h in d.mx_hosts],
                "implicit": d.implicit_mx, "null": d.null_mx},
            "notes": list(self.notes),
            "hosts": [h.to_json() for h in self.hosts],
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def _evidence(h: HostOutcome, probe: StarttlsEvidence | None, port: int) -> HostEvidence:
    rr = h.evidence.tlsa
    sigs = [s for s in rr.rrsigs if s.type_covered == "TLSA"]
    expired = min((s.expiration for s in sigs), default=None)
    inception = max((s.inception for s in sigs), default=None)
    return HostEvidence(
        host=relative(h.evidence.host), tlsa=h.tlsa, tlsa_name=relative(rr.final_name),
        tlsa_ttl=published_ttl(rr) or None, zone=relative(rr.zone) if rr.zone else "", dnssec_detail=rr.detail,
        signature_expired=_when(expired), signature_inception=_when(inception),
        ip=probe.ip if probe else "", port=port, smtp=probe.status if probe else None,
        smtp_detail=probe.detail if probe else "",
        starttls_reply=" ".join(probe.starttls_reply) if probe else "",
        chain=probe.chain if probe else ())


def _when(posix: int | None) -> dt.datetime | None:
    return None if posix is None else dt.datetime.fromtimestamp(posix, dt.UTC)


def host_report(h: HostOutcome, now: dt.datetime, port: int = 25, warn_days: int | None = None,
                earlier: Sequence[bytes] = ()) -> HostReport:
    """Pure: the report of one host's outcome; ``warn_days`` adds the renewal risk per address."""
    probes = {p.ip: p for p in h.probes}
    addresses = []
    for ip, v in h.verdicts:
        probe = probes.get(ip)
        ev = _evidence(h, probe, port)
        risk = None
        if warn_days is not None and probe is not None and v.valid:
            risk = renewal_risk(ev.host, h.tlsa.records, probe.chain, now, warn_days, earlier,
                                ev.tlsa_ttl)
        problem = explain(ev, v) if v.reason is not DaneReason.NO_TLSA else None
        addresses.append(AddressReport(ip, probe, v, problem, risk))
    problems: list[str] = []
    if not addresses or h.verdict.reason is DaneReason.NO_TLSA:
        # the host as a whole; for "no TLSA" with the chain of an address that presented one
        shown = next((p for p in h.probes if p.chain), None)
        ev = _evidence(h, shown, port)
        sentence = explain(dataclasses.replace(ev, ip="") if shown else ev, h.verdict)
        if sentence:
            problems.append(sentence)
    problems.extend(a.problem for a in addresses if a.problem)
    return HostReport(relative(h.evidence.host), h, tuple(addresses),
                      tuple(dict.fromkeys(problems)), dane_published(h.tlsa))


def cannot_check(domain: str, now: dt.datetime, resolver: str, error: str,
                 evidence: DomainEvidence | None = None) -> DomainReport:
    return DomainReport(domain, now, resolver, Status.ERROR, EXIT_CANNOT_CHECK, error, evidence)


def _domain_error(d: DomainEvidence) -> str | None:
    name = relative(d.domain) or d.input.name
    if d.error:
        return f"{name!r} is not a domain name: {d.error}"
    if d.nxdomain:
        return f"{name} does not exist (NXDOMAIN)"
    mx = d.mx
    if mx is not None and mx.query_status is QueryStatus.EXCLUDED:
        return f"{name} is on the exclusion list (DANESCAN_EXCLUDE): it was not checked"
    if mx is not None and mx.failed and mx.dnssec_status is not DnssecStatus.BOGUS:
        return (f"the MX lookup for {name} failed ({mx.query_status}); DANE cannot be judged "
                f"until its name servers answer")
    if d.null_mx:
        return f"{name} publishes a null MX (RFC 7505): it accepts no mail, so there is no DANE to check"
    if d.no_mail:
        return (f"{name} has no MX records and no address: it receives no mail (RFC 5321 5.1), "
                f"so there is no DANE to check")
    if not d.mx_hosts:
        return f"{name} has no usable MX host"
    return None


def build_report(outcome: BatchOutcome, now: dt.datetime, resolver: str, port: int = 25,
                 warn_days: int | None = None,
                 earlier: Mapping[str, Sequence[bytes]] | None = None) -> DomainReport:
    """Pure: the report of a one-domain outcome (see the module docstring for the rule)."""
    d = outcome.dns.domains[0]
    name = relative(d.domain) or d.input.name
    problem = _domain_error(d)
    if problem:
        return cannot_check(name, now, resolver, problem, d)
    by_host = {h.evidence.host: h for h in outcome.hosts}
    hosts = tuple(host_report(by_host[m], now, port, warn_days,
                              (earlier or {}).get(relative(m), ()))
                  for m in d.mx_hosts if m in by_host)
    notes: list[str] = []
    mx = d.mx
    if mx is not None and mx.dnssec_status is DnssecStatus.BOGUS:
        notes.append(f"the MX RRset of {name} is DNSSEC-bogus ({mx.dnssec_reason or 'bogus'}"
                     f"{', zone ' + relative(mx.zone) if mx.zone else ''}): validating senders "
                     f"cannot look up where to deliver and defer all mail; fix the zone's "
                     f"signatures and its DS")
    if d.implicit_mx:
        notes.append(f"{name} has no MX records: the domain itself is the mail host "
                     f"(RFC 5321 5.1)")
    if mx is not None and mx.dnssec_status is DnssecStatus.INSECURE:
        notes.append(f"the MX RRset is not DNSSEC-signed ({mx.dnssec_reason or 'insecure'}): "
                     f"senders still apply the TLSA records of an MX host whose own zone is "
                     f"signed (RFC 7672 2.2.1), but cannot be sure the MX set is the domain's")
    if d.mx_hosts_cut:
        notes.append(f"{name} has {d.mx_hosts_cut} more MX hosts than the {len(d.mx_hosts)} "
                     f"checked (the lowest preferences were left out: DANESCAN_MAX_MX_HOSTS): "
                     f"the result covers only the hosts shown")
    for h in hosts:
        if h.outcome.evidence.addresses_cut:
            notes.append(f"{h.host}: {h.outcome.evidence.addresses_cut} more addresses than "
                         f"the {len(h.outcome.evidence.addresses)} probed were left out "
                         f"(DANESCAN_MAX_ADDRESSES): the result covers only those probed")
    if hosts and all(h.outcome.verdict.reason is DaneReason.EXCLUDED for h in hosts):
        return cannot_check(name, now, resolver, f"nothing of {name} was checked: its MX hosts "
                            f"(or all their addresses) are on the exclusion list "
                            f"(DANESCAN_EXCLUDE)", d)
    missing = [relative(m) for m in d.mx_hosts if m not in by_host]
    if missing and not hosts:
        return cannot_check(name, now, resolver, f"no MX host of {name} could be looked up", d)
    bogus_mx = mx is not None and mx.dnssec_status is DnssecStatus.BOGUS
    if bogus_mx or any(h.failed for h in hosts):
        status, code = Status.FAILED, EXIT_DANE_FAILS
    elif any(h.dane_published for h in hosts):
        status, code = Status.VALID, EXIT_OK
    else:
        status, code = Status.NO_DANE, EXIT_OK
    return DomainReport(name, now, resolver, status, code, "", d, hosts, tuple(notes), port)


@dataclass
class Memory:
    """What ``watch`` remembers between rounds: the leaf certificates each host presented (so a
    record of an earlier key reads as ``matches-old-certificate`` and is not taken for a next
    key)."""

    certificates: dict[str, list[bytes]] = field(default_factory=dict)

    def history(self, hosts: Sequence[str]) -> dict[str, list[bytes]]:
        return {h: list(self.certificates.get(relative(h), ())) for h in hosts}

    def remember(self, report: DomainReport) -> None:
        for h in report.hosts:
            seen = self.certificates.setdefault(h.host, [])
            for a in h.addresses:
                if a.probe is not None and a.probe.chain and a.probe.chain[0] not in seen:
                    seen.append(a.probe.chain[0])
