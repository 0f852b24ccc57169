"""The resolution plans: pure generators that yield the queries they need and receive answers.

A plan is ``Generator[tuple[Query, ...], tuple[Answer, ...], T]``: it yields a batch of queries to
ask at once, is sent the answers in the same order, and returns its evidence. No I/O here: the
front end (probe.py) sends the queries, shares identical queries between plans, and drives many
plans at once; tests drive plans with canned answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import dns.name
import dns.rdatatype
import dns.rrset

from workers.dns import dnssec_reason as dr
from workers.dns import wire
from workers.dns.bounds import Bounds, bound_addresses, cut
from workers.dns.records import (
    Answer,
    DomainEvidence,
    DomainInput,
    MxHostEvidence,
    Query,
    RRsetEvidence,
    RrsigSummary,
)
from workers.names import BadName, normalize_text, tlsa_text
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

T = TypeVar("T")
Plan = Generator[tuple[Query, ...], tuple[Answer, ...], T]

MAX_CHAIN = 16  # CNAME links followed in one answer
MAX_DEPTH = 12  # zones walked up towards the trust anchor
_ANSWERED = (QueryStatus.NOERROR, QueryStatus.NXDOMAIN)
_TYPES = {"A": wire.T_A, "AAAA": wire.T_AAAA, "MX": wire.T_MX, "NS": wire.T_NS, "DS": wire.T_DS,
          "DNSKEY": wire.T_DNSKEY, "TLSA": wire.T_TLSA, "SOA": wire.T_SOA, "CNAME": wire.T_CNAME}


@dataclass(frozen=True)
class Context:
    """What every plan of one batch shares: the scan time, the trust anchor (DS RRset), and the
    batch's memo of chain checks (zone names top-down -> finding), so that the DNSSEC chain of a
    zone is verified once per batch however many of its RRsets are bogus."""

    now: float
    anchors: dns.rrset.RRset | None = None
    chains: dict[tuple[str, ...], dr.Finding] = field(default_factory=dict)
    bounds: Bounds = field(default_factory=Bounds)


@dataclass(frozen=True, slots=True)
class Found:
    """What a response says about one (name, type): the final RRset after CNAMEs (its RRs), its
    RRSIGs, the chain of owners followed, and the SOA (and its RRSIGs) that speak for a denial."""

    resp: wire.Response | None
    rrs: list[wire.RR]
    rrsigs: list[wire.RR]
    chain: tuple[str, ...]
    denial_soa: list[wire.RR]
    denial_rrsigs: list[wire.RR]

    @property
    def owner(self) -> str:
        return self.rrs[0].name if self.rrs else (self.chain[-1] if self.chain else "")

    def rrset(self) -> dns.rrset.RRset | None:
        """The final RRset as a dnspython object (for the DNSSEC checks only)."""
        if not self.rrs or self.resp is None:
            return None
        return wire.to_rrset(self.resp, self.rrs)

    def sigs(self) -> dns.rrset.RRset | None:
        if not self.rrsigs or self.resp is None:
            return None
        return wire.to_rrset(self.resp, self.rrsigs)


NOTHING = Found(None, [], [], (), [], [])


def ds_forms(f: Found) -> list[tuple[int, int, int]] | None:
    """The DS records found, as (algorithm, digest type, digest length) read from their wire
    form (None: no DS RRset); a record too short to hold them is left out."""
    if f.resp is None or not f.rrs:
        return None
    out = []
    for rr in f.rrs:
        data = f.resp.rdata(rr)
        if len(data) >= 4:
            out.append((data[2], data[3], len(data) - 4))
    return out


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


def find(resp: wire.Response, qname: str, rdtype: int) -> Found:
    """Follow the CNAME chain from ``qname`` (lower-case text) in the answer section (pure)."""
    name = qname
    chain = [name]
    rrs: list[wire.RR] = []
    sigs: list[wire.RR] = []
    answer = resp.answer
    for _ in range(MAX_CHAIN):
        rrs = [rr for rr in answer if rr.name == name and rr.rtype == rdtype and rr.rclass == 1]
        if rrs:
            sigs = [rr for rr in answer if rr.rtype == wire.T_RRSIG and rr.name == name
                    and rr.covers == rdtype]
            break
        if rdtype == wire.T_CNAME:
            break
        cname = next((rr for rr in answer if rr.name == name and rr.rtype == wire.T_CNAME), None)
        if cname is None or cname.target in chain:
            break
        name = cname.target
        chain.append(name)
    soa: list[wire.RR] = []
    soa_sigs: list[wire.RR] = []
    if not rrs:
        for rr in resp.authority:
            if rr.rtype == wire.T_SOA:
                soa.append(rr)
            elif rr.rtype == wire.T_RRSIG and rr.covers == wire.T_SOA:
                soa_sigs.append(rr)
    return Found(resp, rrs, sigs, tuple(chain) if len(chain) > 1 else (), soa, soa_sigs)


def summaries(f: Found) -> tuple[RrsigSummary, ...]:
    if f.resp is None:
        return ()
    out = []
    for rr in f.rrsigs:
        covered, alg, labels, ttl, expiration, inception, tag = wire.rrsig_fields(f.resp, rr)
        out.append(RrsigSummary(wire.type_text(covered), alg, labels, ttl, inception,
                                expiration, tag, rr.target))
    return tuple(out)


def _signer(rrsigs: list[wire.RR]) -> str | None:
    return rrsigs[0].target if rrsigs else None


def _evidence(q: Query, a: Answer, f: Found | None, status: DnssecStatus,
              finding: dr.Finding, from_cd: bool = False,
              query_status: QueryStatus | None = None) -> RRsetEvidence:
    rrs = f.rrs if f is not None else []
    resp = f.resp if f is not None else None
    return RRsetEvidence(
        name=q.qname, rtype=q.qtype,
        query_status=query_status or a.record.status,
        dnssec_status=status, dnssec_reason=finding.reason,
        ttl=min(rr.ttl for rr in rrs) if rrs else None,
        records=tuple(sorted({wire.rdata_text(resp, rr) for rr in rrs})) if resp else (),
        rrsigs=summaries(f) if f is not None else (),
        cname_chain=f.chain if f is not None else (),
        from_cd=from_cd, zone=finding.zone, detail=finding.detail or a.record.error,
    )


@dataclass(frozen=True, slots=True)
class Classified:
    evidence: RRsetEvidence
    found: Found  # the final RRset (from the CD answer when bogus)


def zone_of(name: str, f: Found, cd: bool) -> Plan[str | None]:
    """The zone that holds ``name``: the RRSIG signer, the SOA owner in a denial, else asked
    (NS at ``name``, which the domain plan asks anyway, then SOA)."""
    signer = _signer(f.rrsigs) or _signer(f.denial_rrsigs)
    if signer is not None:
        return signer
    if f.denial_soa:
        return f.denial_soa[0].name
    (a,) = yield (Query(name, "NS", cd=cd),)
    resp = a.response
    if resp is not None and a.record.status in _ANSWERED:
        if any(rr.name == name and rr.rtype == wire.T_NS for rr in resp.answer):
            return name
        if not any(rr.name == name and rr.rtype == wire.T_CNAME for rr in resp.answer):
            got = find(resp, name, wire.T_NS)
            if got.denial_soa:
                return got.denial_soa[0].name
    (a,) = yield (Query(name, "SOA", cd=True),)
    resp = a.response
    if resp is None or a.record.status not in _ANSWERED:
        return None
    got = find(resp, name, wire.T_SOA)
    if got.rrs:
        return got.rrs[0].name
    if got.denial_soa:
        return got.denial_soa[0].name
    return None


def insecure_plan(zone: str) -> Plan[dr.Finding]:
    """Why the resolver did not validate an RRset of ``zone``: DNSKEY and DS (without CD: an
    insecure zone answers them, and the domain plan has asked them already), then whether the
    parent zone is itself secure.

    The parent is judged from the parent zone's own DNSKEY RRset (AD on it), never from the AD bit
    of the DS denial: under NSEC3 opt-out (.com, .net, .org) a secure parent proves the absence of
    an unsigned delegation's DS with a covering opt-out NSEC3, and a validator answers that DS query
    without AD (RFC 5155 section 6). Reading "no AD on the DS denial" as "insecure parent" would turn
    every missing DS under those TLDs into an insecure delegation.
    """
    key_a, ds_a = yield (Query(zone, "DNSKEY"), Query(zone, "DS"))
    if key_a.record.status is QueryStatus.SERVFAIL:
        (key_a,) = yield (Query(zone, "DNSKEY", cd=True),)
    if zone == ".":
        return dr.Finding(DnssecReason.INSECURE_OTHER, ".", "the root itself is not secure")
    if key_a.response is None or key_a.record.status not in _ANSWERED:
        return dr.Finding(DnssecReason.INSECURE_OTHER, zone,
                          f"DNSKEY lookup of {zone} failed ({key_a.record.status.value}): "
                          "whether the zone is signed cannot be told")
    has_key = bool(find(key_a.response, zone, wire.T_DNSKEY).rrs)
    if not has_key:
        return dr.insecure_finding(zone, False, None, parent_secure=False)
    if ds_a.response is None or ds_a.record.status not in _ANSWERED:
        return dr.Finding(DnssecReason.INSECURE_OTHER, zone,
                          f"DS lookup of {zone} failed ({ds_a.record.status.value}): "
                          "whether the parent has a DS cannot be told")
    df = find(ds_a.response, zone, wire.T_DS)
    parent_secure: bool | None = True if ds_a.record.ad else None
    if parent_secure is None:
        parent = _signer(df.rrsigs) or _signer(df.denial_rrsigs)
        if parent is None and df.denial_soa:
            parent = df.denial_soa[0].name
        if parent is None:
            up = zone.split(".", 1)[1] or "."
            parent = yield from zone_of(up, NOTHING, cd=False)
        if parent is not None and parent != zone and _is_subdomain(zone, parent):
            (pk,) = yield (Query(parent, "DNSKEY"),)
            if pk.response is not None and pk.record.status is QueryStatus.NOERROR:
                parent_secure = pk.record.ad
    if parent_secure is None:
        return dr.Finding(DnssecReason.INSECURE_OTHER, zone,
                          f"{zone} has DNSKEY; whether its parent is secure cannot be told "
                          "(the parent's DNSKEY lookup failed)")
    return dr.insecure_finding(zone, True, ds_forms(df), parent_secure)


def chain_plan(zone: str) -> Plan[list[dr.ZoneMaterial]]:
    """Fetch (with CD) DNSKEY and DS of ``zone`` and of every zone above it, up to the root or
    to the first zone without DS. Returned top-down. A lookup that was not answered, or a parent
    that could not be found, is marked on the zone's material (``failed``): it is not evidence."""
    chain: list[dr.ZoneMaterial] = []
    current: str | None = zone
    while current is not None and len(chain) < MAX_DEPTH:
        if current == ".":
            (key_a,) = yield (Query(current, "DNSKEY", cd=True),)
            ds_a = None
        else:
            key_a, ds_a = yield (Query(current, "DNSKEY", cd=True), Query(current, "DS", cd=True))
        failed = [f"{what} lookup of {current} failed ({a.record.status.value})"
                  for what, a in (("DNSKEY", key_a), ("DS", ds_a))
                  if a is not None and (a.response is None or a.record.status not in _ANSWERED)]
        kf = find(key_a.response, current, wire.T_DNSKEY) if key_a.response else NOTHING
        df = find(ds_a.response, current, wire.T_DS) if ds_a and ds_a.response else NOTHING
        material = dr.ZoneMaterial(dns.name.from_text(current), kf.rrset(), kf.sigs(),
                                   df.rrset(), df.sigs(), "; ".join(failed))
        chain.append(material)
        if current == "." or not df.rrs or failed:
            break
        parent = _signer(df.rrsigs)
        if parent is None:
            up = current.split(".", 1)[1] or "."
            parent = yield from zone_of(up, NOTHING, cd=True)
        if parent is None or parent == current or not _is_subdomain(current, parent):
            chain[-1] = dataclasses.replace(material, failed=f"the parent zone of {current} "
                                            "could not be found")
            break
        current = parent
    chain.reverse()
    return chain


def _is_subdomain(name: str, zone: str) -> bool:
    return zone == "." or name == zone or name.endswith("." + zone)


def _chain_finding(chain: list[dr.ZoneMaterial], f: Found, ctx: Context) -> dr.Finding:
    key = tuple(m.zone.to_text() for m in chain)
    prefix = ctx.chains.get(key)
    if prefix is None:
        prefix = ctx.chains[key] = dr.chain_prefix_finding(chain, ctx.now, ctx.anchors)
    if not prefix.ok:
        return prefix
    if f.rrs:
        rrset, sigs = f.rrset(), f.sigs()
    else:
        rrset = wire.to_rrset(f.resp, f.denial_soa) if f.resp and f.denial_soa else None
        sigs = wire.to_rrset(f.resp, f.denial_rrsigs) if f.resp and f.denial_rrsigs else None
    if rrset is None:
        return dr.Finding(DnssecReason.BOGUS_OTHER, chain[-1].zone.to_text() if chain else "",
                          "nothing in the CD answer to check")
    return dr.rrset_finding(chain, rrset, sigs, ctx.now)


def classify(q: Query, a: Answer, ctx: Context) -> Plan[Classified]:
    """Status and reason of one RRset from the non-CD answer, asking what the reason needs.
    A secure answer (AD) needs nothing more: reason work is for the others only."""
    qname = q.qname
    rdtype = _TYPES.get(q.qtype) or dns.rdatatype.from_text(q.qtype)
    rec = a.record
    resp = a.response
    if rec.status in _ANSWERED and resp is not None:
        f = find(resp, qname, rdtype)
        if rec.ad:
            return Classified(_evidence(q, a, f, DnssecStatus.SECURE, dr.OK), f)
        owner = f.chain[-1] if f.chain else qname
        zone = yield from zone_of(owner, f, cd=False)
        if zone is None:
            finding = dr.Finding(DnssecReason.INSECURE_OTHER, "", "zone cut not found")
        else:
            finding = yield from insecure_plan(zone)
        return Classified(_evidence(q, a, f, DnssecStatus.INSECURE, finding), f)
    if rec.status is QueryStatus.SERVFAIL:
        (cd,) = yield (Query(q.qname, q.qtype, cd=True),)
        if cd.record.status in _ANSWERED and cd.response is not None:
            f = find(cd.response, qname, rdtype)
            owner = f.chain[-1] if f.chain else qname
            zone = yield from zone_of(owner, f, cd=True)
            if zone is None:
                finding = dr.Finding(DnssecReason.LOOKUP_FAILED, "",
                                     "resolver SERVFAIL; the zone cut could not be found")
            else:
                chain = yield from chain_plan(zone)
                finding = _chain_finding(chain, f, ctx)
                if finding.ok:
                    finding = dr.Finding(DnssecReason.LOOKUP_FAILED, zone,
                                         "resolver SERVFAIL, yet every signature and DS of the "
                                         "chain checks out: no evidence of a validation failure")
            if finding.reason is DnssecReason.LOOKUP_FAILED:
                # no evidence of a validation failure: a failed lookup, not a bogus RRset
                return Classified(_evidence(q, a, None, DnssecStatus.INDETERMINATE, finding), NOTHING)
            ev = _evidence(q, cd, f, DnssecStatus.BOGUS, finding, from_cd=True,
                           query_status=QueryStatus.SERVFAIL)
            return Classified(ev, f)
    if rec.status is QueryStatus.EXCLUDED:  # never sent: nothing failed
        failed = dr.Finding(DnssecReason.EXCLUDED, "", rec.error)
    else:
        failed = dr.Finding(DnssecReason.LOOKUP_FAILED, "", rec.error or rec.status.value)
    return Classified(_evidence(q, a, None, DnssecStatus.INDETERMINATE, failed), NOTHING)


def _classify_all(qs: tuple[Query, ...], ctx: Context) -> Plan[list[Classified]]:
    answers = yield qs
    result = yield from parallel([classify(q, a, ctx) for q, a in zip(qs, answers, strict=True)])
    return result


def mx_targets(f: Found) -> tuple[list[str], bool]:
    """MX targets in preference order (deduplicated) and whether this is a null MX (RFC 7505)."""
    if f.resp is None or not f.rrs:
        return [], False
    w = f.resp.wire
    mxs = sorted(((w[rr.offset] << 8) | w[rr.offset + 1], rr.target) for rr in f.rrs)
    if len(mxs) == 1 and mxs[0][1] == ".":
        return [], True
    seen: list[str] = []
    for _, host in mxs:
        if host != "." and host not in seen:
            seen.append(host)
    return seen, False


def domain_plan(inp: DomainInput, ctx: Context) -> Plan[DomainEvidence]:
    try:
        text = normalize_text(inp.name)
    except BadName as exc:
        return DomainEvidence(input=inp, domain="", error=exc.reason)
    mx, ns, ds, key = yield from _classify_all(
        tuple(Query(text, t) for t in ("MX", "NS", "DS", "DNSKEY")), ctx)
    hosts: list[str] = []
    bad: list[str] = []
    null_mx = implicit = nxdomain = False
    mx_cut = 0
    ev = mx.evidence
    if ev.query_status is QueryStatus.NXDOMAIN:
        nxdomain = True
    elif not ev.failed or ev.from_cd:
        targets, null_mx = mx_targets(mx.found)
        targets, mx_cut = cut(targets, ctx.bounds.max_mx_hosts)  # before any query for them
        if not targets and not null_mx and not mx.found.rrs:
            implicit = True
            targets = [text]
        for t in targets:
            try:
                hosts.append(normalize_text(t))
            except BadName:
                bad.append(t)
    return DomainEvidence(
        input=inp, domain=text, mx=ev, ns=ns.evidence, ds=ds.evidence, dnskey=key.evidence,
        mx_hosts=tuple(hosts), implicit_mx=implicit, null_mx=null_mx, nxdomain=nxdomain,
        bad_mx_hosts=tuple(bad), mx_hosts_cut=mx_cut,
    )


def _no_records(ev: RRsetEvidence) -> bool:
    return ev.query_status in _ANSWERED and not ev.records and not ev.failed


def host_plan(host: str, ctx: Context) -> Plan[MxHostEvidence]:
    """A, AAAA and TLSA of one MX host; TLSA base per RFC 7672 2.2.2 / RFC 7671 7."""
    name = normalize_text(host)
    original = tlsa_text(name)
    a, aaaa, tlsa = yield from _classify_all(
        (Query(name, "A"), Query(name, "AAAA"), Query(original, "TLSA")), ctx)
    chain = a.evidence.cname_chain or aaaa.evidence.cname_chain
    cname_target = chain[-1] if chain else None
    used, base, other = tlsa.evidence, original, None
    secure_chain = (a.evidence.dnssec_status is DnssecStatus.SECURE
                    if a.evidence.cname_chain else
                    aaaa.evidence.dnssec_status is DnssecStatus.SECURE)
    if cname_target is not None and secure_chain:
        try:
            expanded = tlsa_text(cname_target)
        except BadName:
            expanded = ""
        if expanded and expanded != original:
            (t2,) = yield from _classify_all((Query(expanded, "TLSA"),), ctx)
            if not _no_records(t2.evidence):
                used, base, other = t2.evidence, expanded, tlsa.evidence
    addresses, addresses_cut = bound_addresses(a.evidence.records, aaaa.evidence.records,
                                               ctx.bounds.max_addresses)
    return MxHostEvidence(host=name, a=a.evidence, aaaa=aaaa.evidence, tlsa=used,
                          tlsa_base=base, tlsa_original=other, cname_target=cname_target,
                          addresses=addresses, addresses_cut=addresses_cut)
