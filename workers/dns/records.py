"""The DNS probe's evidence: frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import dns.exception
import dns.message

from workers.dns import wire
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus


@dataclass(frozen=True, slots=True)
class Query:
    """One question to the resolver. ``cd``: checking disabled (fetch bogus material)."""

    qname: str  # absolute, lower case, A-labels, trailing dot
    qtype: str  # "MX", "TLSA", ...
    cd: bool = False


@dataclass(frozen=True, slots=True)
class RrsigSummary:
    type_covered: str
    algorithm: int
    labels: int
    original_ttl: int
    inception: int  # POSIX seconds
    expiration: int
    key_tag: int
    signer: str


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """Provenance of one query, whatever happened (ZDNS style: status first)."""

    status: QueryStatus
    qname: str
    qtype: str
    cd: bool
    ad: bool
    resolver: str
    sent_at: float  # POSIX seconds (wall clock) of the first send
    duration: float  # seconds from first send to the final outcome
    attempts: int  # datagrams / connections sent, including the TCP retry
    transport: str  # "udp" or "tcp": the one that gave the final outcome
    error: str = ""  # what went wrong, for TIMEOUT/ERROR/TRUNCATED
    response: bytes = b""  # the response as received (empty when there was none)

    @property
    def answer(self) -> tuple[str, ...]:
        """The answer section in zone-file text, one record a line, with TTLs, CNAMEs and RRSIGs
        (written on demand from :attr:`response`: the hot path never formats it)."""
        if not self.response:
            return ()
        try:
            resp = wire.parse_response(self.response)
        except wire.WireError:
            return ()
        return tuple(wire.rr_text(resp, rr) for rr in resp.answer)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the query engine returns: the provenance record and the parsed response (if any)."""

    record: QueryRecord
    response: wire.Response | None  # the hand parse (workers.dns.wire) of the response

    @property
    def message(self) -> dns.message.Message | None:
        """dnspython's parse of the response, made on demand; None when there is no response or
        dnspython refuses it (it refuses, e.g., a TLSA whose data length does not fit its matching
        type: use :attr:`response`, which never does)."""
        if self.response is None:
            return None
        try:
            return dns.message.from_wire(self.response.wire)
        except (dns.exception.DNSException, ValueError):
            return None


class TlsaRdata(NamedTuple):
    """One TLSA record's fields, whatever their values (a data length that does not fit the
    matching type is kept as published)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @classmethod
    def from_text(cls, text: str) -> TlsaRdata:
        parts = text.split()
        return cls(int(parts[0]), int(parts[1]), int(parts[2]), bytes.fromhex("".join(parts[3:])))


@dataclass(frozen=True, slots=True)
class RRsetEvidence:
    """One RRset (or its absence) as a DANE mail client sees it, with why."""

    name: str  # the owner that was asked for
    rtype: str
    query_status: QueryStatus
    dnssec_status: DnssecStatus
    dnssec_reason: DnssecReason
    ttl: int | None  # of the final RRset; None when there is none
    records: tuple[str, ...]  # rdata text of the final RRset (sorted); empty for NODATA/NXDOMAIN
    rrsigs: tuple[RrsigSummary, ...] = ()
    cname_chain: tuple[str, ...] = ()  # owner names followed, ending with the final owner
    from_cd: bool = False  # records come from the CD re-query (the RRset is bogus)
    zone: str = ""  # the zone the reason was checked in, when one was
    detail: str = ""  # evidence for the reason, in words

    @property
    def failed(self) -> bool:
        """The lookup failed: nothing is known about the RRset (never 'no records')."""
        return self.query_status not in (QueryStatus.NOERROR, QueryStatus.NXDOMAIN)

    @property
    def final_name(self) -> str:
        return self.cname_chain[-1] if self.cname_chain else self.name

    @property
    def tlsa(self) -> tuple[TlsaRdata, ...]:
        """The records of a TLSA RRset as (usage, selector, mtype, data); a record too short to
        have the three fields (kept in ``records`` in RFC 3597 form) is left out."""
        if self.rtype != "TLSA":
            return ()
        out = []
        for text in self.records:
            try:
                out.append(TlsaRdata.from_text(text))
            except (ValueError, IndexError):
                continue
        return tuple(out)


@dataclass(frozen=True, slots=True)
class DomainInput:
    """A domain to probe, with what the zone file said about it (None: not known)."""

    name: str
    ns: tuple[str, ...] | None = None
    ds_in_parent: bool | None = None


@dataclass(frozen=True, slots=True)
class DomainEvidence:
    input: DomainInput
    domain: str  # A-label form, trailing dot; "" when the name was refused
    error: str = ""  # why the name was refused
    mx: RRsetEvidence | None = None
    ns: RRsetEvidence | None = None
    ds: RRsetEvidence | None = None
    dnskey: RRsetEvidence | None = None
    mx_hosts: tuple[str, ...] = ()  # in preference order; the domain itself when implicit
    implicit_mx: bool = False
    null_mx: bool = False
    nxdomain: bool = False
    bad_mx_hosts: tuple[str, ...] = ()  # MX targets refused as names
    queries: tuple[QueryRecord, ...] = ()
    mx_hosts_cut: int = 0  # MX targets past Bounds.max_mx_hosts: never looked up nor probed
    no_mail: bool = False  # no MX and no address (RFC 5321 5.1): no mail service, no MX host


@dataclass(frozen=True, slots=True)
class MxHostEvidence:
    host: str
    a: RRsetEvidence
    aaaa: RRsetEvidence
    tlsa: RRsetEvidence  # at the TLSA base name the RFC says to use (see tlsa_base)
    tlsa_base: str  # owner of the TLSA RRset used: expanded when the CNAME chain is secure
    tlsa_original: RRsetEvidence | None = None  # at _25._tcp.<host> when tlsa is elsewhere
    cname_target: str | None = None  # final name of the host's address CNAME chain
    addresses: tuple[str, ...] = ()  # to probe: at most Bounds.max_addresses per family
    queries: tuple[QueryRecord, ...] = ()
    addresses_cut: int = 0  # A/AAAA records past that bound (kept in a/aaaa, not probed)


@dataclass(frozen=True, slots=True)
class BatchResult:
    domains: tuple[DomainEvidence, ...]
    hosts: tuple[MxHostEvidence, ...]
    started_at: float
    finished_at: float
    queries_sent: int
    stats: dict[str, int] = field(default_factory=dict)
