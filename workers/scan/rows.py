"""Evidence in, table rows out: the pure processor between the probes and the writer."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence

from workers.dane.loading import CERT_ERRORS, load_der
from workers.dns import DomainEvidence, QueryRecord, RRsetEvidence
from workers.names import BadName, normalize_text, relative
from workers.psl import SuffixList
from workers.scan.batch import BatchOutcome, HostOutcome
from workers.scan.certificates import read_certificate
from workers.smtp import ProbeStep, StarttlsEvidence
from workers.store.ranges import clamp_datetime, flag
from workers.store.rows import (
    CertificateRow,
    DaneVerdictRow,
    DnsRrsetRow,
    DomainRow,
    Row,
    StarttlsProbeRow,
    TlsaRecordRow,
)
from workers.vocab import QueryStatus

RCODES = {QueryStatus.NOERROR: 0, QueryStatus.FORMERR: 1, QueryStatus.SERVFAIL: 2,
          QueryStatus.NXDOMAIN: 3, QueryStatus.REFUSED: 5}


def bare(name: str) -> str:
    """Names are stored lower case without the trailing dot."""
    return relative(name).lower()


def tld_of(domain: str) -> str:
    return bare(domain).rsplit(".", 1)[-1]


def query_index(records: Sequence[QueryRecord]) -> dict[tuple[str, str], QueryRecord]:
    """The query that asked for each (name, type): the first without CD, else the first."""
    out: dict[tuple[str, str], QueryRecord] = {}
    for q in records:
        key = (q.qname, q.qtype)
        if key not in out or (out[key].cd and not q.cd):
            out[key] = q
    return out


def rrset_row(scan_id: str, rr: RRsetEvidence, resolver: str, attempt: int,
              query: QueryRecord | None = None) -> DnsRrsetRow:
    """``query``: the provenance of the lookup (when it was sent, how long it took, how many
    datagrams or connections), failed lookups included; zeros when it is not known."""
    return DnsRrsetRow(
        scan_id=scan_id, qname=bare(rr.name), qtype=rr.rtype, status=str(rr.query_status),
        rcode=RCODES.get(rr.query_status, -1), ttl=rr.ttl or 0, records=list(rr.records),
        rrsig_count=len(rr.rrsigs),
        rrsigs=[f"{s.type_covered} {s.algorithm} {s.key_tag} {s.signer} {s.inception} "
                f"{s.expiration}" for s in rr.rrsigs],
        dnssec_status=str(rr.dnssec_status), dnssec_reason=str(rr.dnssec_reason),
        resolver=resolver, queried_at=int(query.sent_at) if query else 0,
        duration_ms=round(query.duration * 1000.0, 3) if query else 0.0,
        attempts=query.attempts if query else 0, attempt=attempt)


def refusal(name: str) -> str:
    """Why ``name`` is refused as a DNS name ('' if it is not)."""
    try:
        normalize_text(name)
    except BadName as exc:
        return exc.reason
    return ""


def mx_preferences(records: Sequence[str], hosts: Sequence[str]) -> list[int]:
    """The preference of each host (bare names) from the MX records' text, parallel to ``hosts``
    (the lowest when a host is listed twice; 0 when a record does not parse)."""
    best: dict[str, int] = {}
    for text in records:
        parts = text.split()
        try:
            pref, target = int(parts[0]), bare(parts[1])
        except (ValueError, IndexError):
            continue
        best[target] = min(pref, best.get(target, pref))
    return [best.get(h, 0) for h in hosts]


def domain_rows(scan_id: str, d: DomainEvidence, resolver: str, attempt: int,
                psl: SuffixList | None = None) -> Iterator[Row]:
    name = bare(d.domain or d.input.name)
    mx = d.mx
    hosts = [bare(h) for h in d.mx_hosts]
    prefs: list[int] = []
    if mx is not None and not d.implicit_mx and not d.null_mx:
        prefs = mx_preferences(mx.records, hosts)
    ns_from_zone = list(d.input.ns or ())
    ns_lookup = [bare(r) for r in d.ns.records] if d.ns is not None else []
    failed = [rr for rr in (d.mx, d.ns, d.ds, d.dnskey)
              if rr is not None and rr.failed and not rr.from_cd]
    status = (QueryStatus.NXDOMAIN if d.nxdomain else
              failed[0].query_status if failed else QueryStatus.ERROR if d.error else QueryStatus.NOERROR)
    ns = sorted(bare(n) for n in (ns_from_zone or ns_lookup))
    reg = psl.registered if psl is not None else (lambda _name: "")
    yield DomainRow(
        scan_id=scan_id, domain=name, tld=tld_of(name), ns=ns,
        registered=reg(name), mx_registered=[reg(h) for h in hosts],
        ns_registered=[reg(n) for n in ns],
        ds_in_parent=int(bool(d.input.ds_in_parent if d.input.ds_in_parent is not None
                              else d.ds is not None and d.ds.records)),
        has_dnskey=int(d.dnskey is not None and bool(d.dnskey.records)),
        mx=hosts, mx_preferences=prefs if len(prefs) == len(hosts) else [0] * len(hosts),
        implicit_mx=int(d.implicit_mx), null_mx=int(d.null_mx), no_mail=int(d.no_mail),
        mx_status=str(mx.query_status) if mx else str(QueryStatus.ERROR),
        mx_dnssec_status=str(mx.dnssec_status) if mx else "indeterminate",
        mx_dnssec_reason=str(mx.dnssec_reason) if mx else "lookup-failed",
        status=str(status), attempt=attempt, mx_hosts_cut=d.mx_hosts_cut, error=d.error,
        bad_mx=[bare(t) for t in d.bad_mx_hosts],
        bad_mx_reasons=[refusal(t) for t in d.bad_mx_hosts])
    asked = query_index(d.queries)
    for rr in (d.mx, d.ns, d.ds, d.dnskey):
        if rr is not None:
            yield rrset_row(scan_id, rr, resolver, attempt, asked.get((rr.name, rr.rtype)))


def certificate_row(scan_id: str, der: bytes, seen: dt.datetime, public_ca: bool,
                    attempt: int) -> CertificateRow:
    """One certificate, stored once by SHA-256, whatever it holds: what could not be read is in
    ``problems`` (workers.scan.certificates), dates outside DateTime are clamped and flagged."""
    facts = read_certificate(der)
    clamped: list[str] = []
    dates: list[int] = []
    for column, when in (("not_before", facts.not_before), ("not_after", facts.not_after)):
        value, moved = clamp_datetime(when) if when is not None else (0, False)
        dates.append(value)
        if moved:
            clamped.append(flag(column, when))
    return CertificateRow(
        sha256=facts.sha256, der=der, subject=facts.subject, issuer=facts.issuer,
        san=list(facts.san), not_before=dates[0], not_after=dates[1],
        spki_sha256=facts.spki_sha256, spki_sha512=facts.spki_sha512,
        key_type=facts.key_type, key_bits=facts.key_bits,
        is_ca_issued=int(public_ca and not facts.self_issued),
        issuer_org=facts.issuer_org, issuer_cn=facts.issuer_cn, first_seen=seen, scan_id=scan_id,
        attempt=attempt, problems=list(facts.problems), clamped=clamped)


def ca_issued(chain: tuple[bytes, ...], public_roots: frozenset[str]) -> bool:
    """The presented chain ends at (or just below) a root of the public trust store, compared by
    subject name: the paper's "CA-issued" (Mozilla's CA list) versus private or self-signed."""
    if not chain or not public_roots:
        return False
    top = load_der(chain[-1]).cert
    if top is None:
        return False
    try:
        if len(chain) == 1 and top.issuer == top.subject:
            return False
        return (top.issuer.rfc4514_string() in public_roots
                or top.subject.rfc4514_string() in public_roots)
    except CERT_ERRORS:
        return False


def probe_row(scan_id: str, ev: StarttlsEvidence, attempt: int) -> StarttlsProbeRow:
    def ms(step: ProbeStep) -> float:
        return ev.timing(step) or 0.0

    return StarttlsProbeRow(
        scan_id=scan_id, mx_host=bare(ev.host), ip=ev.ip, status=str(ev.status), step=str(ev.step),
        banner="\n".join(ev.banner), ehlo="\n".join(ev.ehlo),
        starttls_reply="\n".join(ev.starttls_reply), tls_version=ev.tls_version, cipher=ev.cipher,
        chain=[hashlib.sha256(c).hexdigest() for c in ev.chain], probed_at=ev.started_at,
        connect_ms=ms(ProbeStep.CONNECT), banner_ms=ms(ProbeStep.BANNER),
        handshake_ms=ms(ProbeStep.HANDSHAKE),
        total_ms=sum(t for _, t in ev.timings_ms), error=str(ev.error) + (
            f": {ev.detail}" if ev.detail else ""), attempt=attempt,
        inferred_from=bare(ev.inferred_from), chain_truncated=int(ev.chain_truncated))


def published_ttl(rr: RRsetEvidence) -> int:
    """The TTL the zone publishes: the RRSIG's Original TTL (RFC 4034 3.1.4) when the RRset is
    signed, since a caching resolver hands out a TTL that counts down; else the TTL seen."""
    original = [s.original_ttl for s in rr.rrsigs if s.type_covered == rr.rtype]
    return max(original) if original else rr.ttl or 0


def host_rows(scan_id: str, h: HostOutcome, resolver: str, now: dt.datetime,
              public_ca: frozenset[str], attempt: int) -> Iterator[Row]:
    ev = h.evidence
    host = bare(ev.host)
    asked = query_index(ev.queries)
    for rr in (ev.a, ev.aaaa, ev.tlsa, ev.tlsa_original):
        if rr is not None:
            yield rrset_row(scan_id, rr, resolver, attempt, asked.get((rr.name, rr.rtype)))
    ttl = published_ttl(ev.tlsa)
    for rec in h.tlsa.records:
        yield TlsaRecordRow(scan_id=scan_id, mx_host=host, base_name=bare(ev.tlsa_base),
                            usage=rec.usage, selector=rec.selector, mtype=rec.mtype,
                            data=rec.data.hex(), ttl=ttl,
                            dnssec_status=str(h.tlsa.dnssec), dnssec_reason=str(h.tlsa.dnssec_reason),
                            attempt=attempt)
    for probe in h.probes:
        yield probe_row(scan_id, probe, attempt)
        anchored = ca_issued(probe.chain, public_ca)
        for i, der in enumerate(probe.chain):
            yield certificate_row(scan_id, der, now, anchored and i == 0, attempt)
    verdicts = [*h.verdicts, ("", h.verdict)]
    for ip, v in verdicts:
        m = v.matched
        yield DaneVerdictRow(
            scan_id=scan_id, mx_host=host, ip=ip, valid=int(v.valid), reason=str(v.reason),
            rfc_outcome=str(v.rfc), paper_valid=int(v.paper_valid),
            tlsa_dnssec_status=str(h.tlsa.dnssec),
            matched_usage=m.usage if m else -1, matched_selector=m.selector if m else -1,
            matched_mtype=m.mtype if m else -1, matched_depth=v.depth,
            leaf_spki_sha256=_hex(v.leaf_spki_sha256), leaf_cert_sha256=_hex(v.leaf_cert_sha256),
            verified_at=now, attempt=attempt, addresses_cut=0 if ip else ev.addresses_cut)


def _hex(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.hex() if isinstance(value, bytes) else value


def batch_rows(scan_id: str, outcome: BatchOutcome, resolver: str, now: dt.datetime,
               attempt: int = 0, public_ca: frozenset[str] = frozenset(),
               psl: SuffixList | None = None) -> tuple[list[Row], list[Row]]:
    """(host rows, domain rows): write the first before the second, so that a domain row in the
    database means its MX hosts are there too (the resume check reads domain rows)."""
    hosts = [r for h in outcome.hosts for r in host_rows(scan_id, h, resolver, now, public_ca, attempt)]
    domains = [r for d in outcome.dns.domains
               for r in domain_rows(scan_id, d, resolver, attempt, psl)]
    return hosts, domains
