"""The resolution plans: pure generators that yield the queries they need and receive answers.

A plan is ``Generator[tuple[Query, ...], tuple[Answer, ...], T]``: it yields a batch of queries to
ask at once, is sent the answers in the same order, and returns its evidence. No I/O here: the
front end (probe.py) sends the queries, shares identical queries between plans, and drives many
plans at once; tests drive plans with canned answers.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.RRSIG import RRSIG

from danescan.vocab import DnssecReason, DnssecStatus, QueryStatus
from workers.dns import dnssec_reason as dr
from workers.dns.names import BadName, normalize_name, tlsa_name
from workers.dns.records import (
    Answer,
    DomainEvidence,
    DomainInput,
    MxHostEvidence,
    Query,
    RRsetEvidence,
    RrsigSummary,
)

T = TypeVar("T")
Plan = Generator[tuple[Query, ...], tuple[Answer, ...], T]

MAX_CHAIN = 16  # CNAME links followed in one answer
MAX_DEPTH = 12  # zones walked up towards the trust anchor
_ANSWERED = (QueryStatus.NOERROR, QueryStatus.NXDOMAIN)


@dataclass(frozen=True)
class Context:
    """What every plan of one scan shares: the scan time and the trust anchor (DS RRset)."""

    now: float
    anchors: dns.rrset.RRset | None = None


@dataclass(frozen=True)
class Found:
    """What a message says about one (name, type): the final RRset after CNAMEs, its RRSIGs,
    the chain of owners followed, and the RRset that speaks for a denial (SOA in authority)."""

    rrset: dns.rrset.RRset | None
    rrsigs: dns.rrset.RRset | None
    chain: tuple[str, ...]
    denial_soa: dns.rrset.RRset | None
    denial_rrsigs: dns.rrset.RRset | None


def parallel(plans: Sequence[Plan[T]]) -> Plan[list[T]]:
    """Run plans side by side: each round asks every unfinished plan's queries at once."""
    results: dict[int, T] = {}
    pending: dict[int, tuple[Query, ...]] = {}
    for i, plan in enumerate(plans):
        try:
            pending[i] = next(plan)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        order = list(pending.items())
        answers = yield tuple(q for _, qs in order for q in qs)
        pending = {}
        pos = 0
        for i, qs in order:
            part = answers[pos : pos + len(qs)]
            pos += len(qs)
            try:
                pending[i] = plans[i].send(part)
            except StopIteration as stop:
                results[i] = stop.value
    return [results[i] for i in range(len(plans))]


def find(message: dns.message.Message, qname: dns.name.Name,
         rdtype: dns.rdatatype.RdataType) -> Found:
    """Follow the CNAME chain from ``qname`` in the answer section (pure)."""
    name = qname
    chain = [name.to_text()]
    rrset = sigs = None
    for _ in range(MAX_CHAIN):
        rrset = message.get_rrset(message.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is not None:
            sigs = message.get_rrset(message.answer, name, dns.rdataclass.IN,
                                     dns.rdatatype.RRSIG, rdtype)
            break
        cname = message.get_rrset(message.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is None or rdtype == dns.rdatatype.CNAME:
            break
        name = cname[0].target
        chain.append(name.to_text())
    soa = soa_sigs = None
    if rrset is None:
        for rr in message.authority:
            if rr.rdtype == dns.rdatatype.SOA:
                soa = rr
            elif rr.rdtype == dns.rdatatype.RRSIG and rr.covers == dns.rdatatype.SOA:
                soa_sigs = rr
    return Found(rrset, sigs, tuple(chain) if len(chain) > 1 else (), soa, soa_sigs)


def summaries(rrsigs: dns.rrset.RRset | None) -> tuple[RrsigSummary, ...]:
    if rrsigs is None:
        return ()
    return tuple(
        RrsigSummary(dns.rdatatype.to_text(r.type_covered), int(r.algorithm), r.labels,
                     r.original_ttl, r.inception, r.expiration, r.key_tag, r.signer.to_text())
        for r in rrsigs if isinstance(r, RRSIG)
    )


def _signer(rrsigs: dns.rrset.RRset | None) -> dns.name.Name | None:
    for r in rrsigs or ():
        if isinstance(r, RRSIG):
            return r.signer
    return None


def _evidence(q: Query, a: Answer, f: Found | None, status: DnssecStatus,
              finding: dr.Finding, from_cd: bool = False,
              query_status: QueryStatus | None = None) -> RRsetEvidence:
    rrset = f.rrset if f else None
    return RRsetEvidence(
        name=q.qname, rtype=q.qtype,
        query_status=query_status or a.record.status,
        dnssec_status=status, dnssec_reason=finding.reason,
        ttl=rrset.ttl if rrset is not None else None,
        records=tuple(sorted(r.to_text() for r in rrset)) if rrset is not None else (),
        rrsigs=summaries(f.rrsigs) if f else (),
        cname_chain=f.chain if f else (),
        from_cd=from_cd, zone=finding.zone, detail=finding.detail or a.record.error,
    )


@dataclass(frozen=True)
class Classified:
    evidence: RRsetEvidence
    rrset: dns.rrset.RRset | None  # the final RRset (from the CD answer when bogus)


def zone_of(name: dns.name.Name, f: Found) -> Plan[dns.name.Name | None]:
    """The zone that holds ``name``: the RRSIG signer, the SOA owner in a denial, or asked."""
    signer = _signer(f.rrsigs) or _signer(f.denial_rrsigs)
    if signer is not None:
        return signer
    if f.denial_soa is not None:
        return f.denial_soa.name
    (a,) = yield (Query(name.to_text(), "SOA", cd=True),)
    if a.message is None or a.record.status not in _ANSWERED:
        return None
    got = find(a.message, name, dns.rdatatype.SOA)
    if got.rrset is not None:
        return got.rrset.name
    if got.denial_soa is not None:
        return got.denial_soa.name
    return None


def insecure_plan(zone: dns.name.Name) -> Plan[dr.Finding]:
    key_a, ds_a = yield (Query(zone.to_text(), "DNSKEY", cd=True), Query(zone.to_text(), "DS"))
    has_key = False
    if key_a.message is not None and key_a.record.status is QueryStatus.NOERROR:
        has_key = find(key_a.message, zone, dns.rdatatype.DNSKEY).rrset is not None
    ds_rrset = None
    ds_secure = False
    if ds_a.message is not None and ds_a.record.status in _ANSWERED:
        ds_rrset = find(ds_a.message, zone, dns.rdatatype.DS).rrset
        ds_secure = ds_a.record.ad
    if zone == dns.name.root:
        return dr.Finding(DnssecReason.INSECURE_OTHER, ".", "the root itself is not secure")
    return dr.insecure_finding(zone, has_key, ds_rrset, ds_secure)


def chain_plan(zone: dns.name.Name) -> Plan[list[dr.ZoneMaterial]]:
    """Fetch (with CD) DNSKEY and DS of ``zone`` and of every zone above it, up to the root or
    to the first zone without DS. Returned top-down."""
    chain: list[dr.ZoneMaterial] = []
    current: dns.name.Name | None = zone
    while current is not None and len(chain) < MAX_DEPTH:
        text = current.to_text()
        if current == dns.name.root:
            (key_a,) = yield (Query(text, "DNSKEY", cd=True),)
            ds_a = None
        else:
            key_a, ds_a = yield (Query(text, "DNSKEY", cd=True), Query(text, "DS", cd=True))
        kf = find(key_a.message, current, dns.rdatatype.DNSKEY) if key_a.message else None
        df = find(ds_a.message, current, dns.rdatatype.DS) if ds_a and ds_a.message else None
        chain.append(dr.ZoneMaterial(current, kf.rrset if kf else None, kf.rrsigs if kf else None,
                                     df.rrset if df else None, df.rrsigs if df else None))
        if current == dns.name.root or df is None or df.rrset is None:
            break
        parent = _signer(df.rrsigs)
        if parent is None:
            parent = yield from zone_of(current.parent(), Found(None, None, (), None, None))
        if parent is None or parent == current or not current.is_subdomain(parent):
            break
        current = parent
    chain.reverse()
    return chain


def classify(q: Query, a: Answer, ctx: Context) -> Plan[Classified]:
    """Status and reason of one RRset from the non-CD answer, asking what the reason needs."""
    qname = dns.name.from_text(q.qname)
    rdtype = dns.rdatatype.from_text(q.qtype)
    rec = a.record
    if rec.status in _ANSWERED and a.message is not None:
        f = find(a.message, qname, rdtype)
        if rec.ad:
            return Classified(_evidence(q, a, f, DnssecStatus.SECURE, dr.OK), f.rrset)
        owner = dns.name.from_text(f.chain[-1]) if f.chain else qname
        zone = yield from zone_of(owner, f)
        if zone is None:
            finding = dr.Finding(DnssecReason.INSECURE_OTHER, "", "zone cut not found")
        else:
            finding = yield from insecure_plan(zone)
        return Classified(_evidence(q, a, f, DnssecStatus.INSECURE, finding), f.rrset)
    if rec.status is QueryStatus.SERVFAIL:
        (cd,) = yield (Query(q.qname, q.qtype, cd=True),)
        if cd.record.status in _ANSWERED and cd.message is not None:
            f = find(cd.message, qname, rdtype)
            owner = dns.name.from_text(f.chain[-1]) if f.chain else qname
            zone = yield from zone_of(owner, f)
            if zone is None:
                finding = dr.Finding(DnssecReason.BOGUS_OTHER, "", "zone cut not found")
            else:
                chain = yield from chain_plan(zone)
                target = f.rrset if f.rrset is not None else f.denial_soa
                sigs = f.rrsigs if f.rrset is not None else f.denial_rrsigs
                if target is None:
                    finding = dr.Finding(DnssecReason.BOGUS_OTHER, zone.to_text(),
                                         "nothing in the CD answer to check")
                else:
                    finding = dr.chain_finding(chain, target, sigs, ctx.now, ctx.anchors)
                    if finding.ok:
                        finding = dr.Finding(DnssecReason.BOGUS_OTHER, zone.to_text(),
                                             "every signature and DS checked out")
            ev = _evidence(q, cd, f, DnssecStatus.BOGUS, finding, from_cd=True,
                           query_status=QueryStatus.SERVFAIL)
            return Classified(ev, f.rrset)
    failed = dr.Finding(DnssecReason.LOOKUP_FAILED, "", rec.error or rec.status.value)
    return Classified(_evidence(q, a, None, DnssecStatus.INDETERMINATE, failed), None)


def _classify_all(qs: tuple[Query, ...], ctx: Context) -> Plan[list[Classified]]:
    answers = yield qs
    result = yield from parallel([classify(q, a, ctx) for q, a in zip(qs, answers, strict=True)])
    return result


def mx_targets(rrset: dns.rrset.RRset | None) -> tuple[list[str], bool]:
    """MX targets in preference order (deduplicated) and whether this is a null MX (RFC 7505)."""
    if rrset is None:
        return [], False
    mxs = sorted((r.preference, r.exchange.to_text()) for r in rrset if isinstance(r, MX))
    if len(mxs) == 1 and mxs[0][1] == ".":
        return [], True
    seen: list[str] = []
    for _, host in mxs:
        if host != "." and host not in seen:
            seen.append(host)
    return seen, False


def domain_plan(inp: DomainInput, ctx: Context) -> Plan[DomainEvidence]:
    try:
        name = normalize_name(inp.name)
    except BadName as exc:
        return DomainEvidence(input=inp, domain="", error=exc.reason)
    text = name.to_text()
    mx, ns, ds, key = yield from _classify_all(
        tuple(Query(text, t) for t in ("MX", "NS", "DS", "DNSKEY")), ctx)
    hosts: list[str] = []
    bad: list[str] = []
    null_mx = implicit = nxdomain = False
    ev = mx.evidence
    if ev.query_status is QueryStatus.NXDOMAIN:
        nxdomain = True
    elif not ev.failed or ev.from_cd:
        targets, null_mx = mx_targets(mx.rrset)
        if not targets and not null_mx and mx.rrset is None:
            implicit = True
            targets = [text]
        for t in targets:
            try:
                hosts.append(normalize_name(t).to_text())
            except BadName:
                bad.append(t)
    return DomainEvidence(
        input=inp, domain=text, mx=ev, ns=ns.evidence, ds=ds.evidence, dnskey=key.evidence,
        mx_hosts=tuple(hosts), implicit_mx=implicit, null_mx=null_mx, nxdomain=nxdomain,
        bad_mx_hosts=tuple(bad),
    )


def _no_records(ev: RRsetEvidence) -> bool:
    return ev.query_status in _ANSWERED and not ev.records and not ev.failed


def host_plan(host: str, ctx: Context) -> Plan[MxHostEvidence]:
    """A, AAAA and TLSA of one MX host; TLSA base per RFC 7672 2.2.2 / RFC 7671 7."""
    name = normalize_name(host)
    original = tlsa_name(name).to_text()
    a, aaaa, tlsa = yield from _classify_all(
        (Query(name.to_text(), "A"), Query(name.to_text(), "AAAA"), Query(original, "TLSA")), ctx)
    chain = a.evidence.cname_chain or aaaa.evidence.cname_chain
    cname_target = chain[-1] if chain else None
    used, base, other = tlsa.evidence, original, None
    secure_chain = (a.evidence.dnssec_status is DnssecStatus.SECURE
                    if a.evidence.cname_chain else
                    aaaa.evidence.dnssec_status is DnssecStatus.SECURE)
    if cname_target is not None and secure_chain:
        try:
            expanded = tlsa_name(dns.name.from_text(cname_target)).to_text()
        except BadName:
            expanded = ""
        if expanded and expanded != original:
            (t2,) = yield from _classify_all((Query(expanded, "TLSA"),), ctx)
            if not _no_records(t2.evidence):
                used, base, other = t2.evidence, expanded, tlsa.evidence
    addresses = tuple(a.evidence.records) + tuple(aaaa.evidence.records)
    return MxHostEvidence(host=name.to_text(), a=a.evidence, aaaa=aaaa.evidence, tlsa=used,
                          tlsa_base=base, tlsa_original=other, cname_target=cname_target,
                          addresses=addresses)
