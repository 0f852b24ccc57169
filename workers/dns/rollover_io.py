"""The DNS I/O of a TLSA rollover, kept thin: read the TTLs resolvers honour, see what every
authoritative server serves, and change the TLSA RRset by RFC 2136 dynamic update with TSIG.

Everything here asks dnspython (``dns.query`` over UDP, TCP on truncation) and returns plain
values or raises :class:`RolloverDnsError`, whose message is one line for the user. The decisions
are in workers/dane/rollover_plan.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update

from workers.dane.tlsa import TlsaRecord
from workers.dns.tsigfile import TsigKey


class RolloverDnsError(RuntimeError):
    """A lookup or an update failed; the message is one line."""


class UpdateRefused(RolloverDnsError):
    """The primary refused the update (TSIG key unknown or wrong, or not allowed)."""


@dataclass(frozen=True)
class Server:
    ip: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.ip}" if self.port == 53 else f"{self.ip} port {self.port}"


def ask(server: Server, qname: str, rdtype: str, *, recursion: bool = True,
        timeout: float = 3.0) -> dns.message.Message:
    """One query with the DO bit (RD as asked); TCP when the UDP answer is truncated."""
    q = dns.message.make_query(qname, rdtype, want_dnssec=True)
    if not recursion:
        q.flags &= ~dns.flags.RD
    try:
        r = dns.query.udp(q, server.ip, timeout=timeout, port=server.port)
        if r.flags & dns.flags.TC:
            r = dns.query.tcp(q, server.ip, timeout=timeout, port=server.port)
    except (dns.exception.DNSException, OSError) as exc:
        raise RolloverDnsError(f"{qname} {rdtype} at {server}: {type(exc).__name__} "
                               f"{exc}".strip()) from None
    return r


def _rrset(section: list[dns.rrset.RRset], rdtype: int,
           covers: int = 0) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


@dataclass(frozen=True)
class TlsaAnswer:
    """The TLSA RRset as the resolver gave it. ``original_ttl``: from its RRSIG (None when
    unsigned or absent); ``exists``: the RRset exists (NOERROR with data)."""

    records: tuple[TlsaRecord, ...]
    ttl: int | None
    original_ttl: int | None
    secure: bool
    exists: bool
    denial_ttl: int | None = None  # the longest TTL of the NSEC/NSEC3 records of a denial


def tlsa(resolver: Server, owner: str) -> TlsaAnswer:
    r = ask(resolver, owner, "TLSA")
    rcode = r.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise RolloverDnsError(f"{owner} TLSA at {resolver}: {dns.rcode.to_text(rcode)}")
    rrset = _rrset(r.answer, dns.rdatatype.TLSA)
    if rrset is None:
        return TlsaAnswer((), None, None, bool(r.flags & dns.flags.AD), False, _denial_ttl(r))
    records = tuple(TlsaRecord(rd.usage, rd.selector, rd.mtype, rd.cert) for rd in rrset)
    sig = _rrset(r.answer, dns.rdatatype.RRSIG, dns.rdatatype.TLSA)
    original = max((rd.original_ttl for rd in sig), default=None) if sig is not None else None
    return TlsaAnswer(records, rrset.ttl, original, bool(r.flags & dns.flags.AD), True)


def _denial_ttl(r: dns.message.Message) -> int | None:
    """The longest TTL of the NSEC/NSEC3 records in a negative answer: their RRSIGs' original
    TTL when signed (what a validating resolver honours), else the TTL given; None without."""
    ttls = []
    for rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3):
        for rrset in r.authority:
            if rrset.rdtype == rdtype:
                ttls.append(rrset.ttl)
            elif rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == rdtype:
                ttls += [rd.original_ttl for rd in rrset]
    return max(ttls, default=None)


@dataclass(frozen=True)
class ZoneFacts:
    zone: str
    soa_ttl: int  # the SOA RRSIG's original TTL when signed, else the TTL given
    minimum: int
    mname: str
    secure: bool


def zone_of(resolver: Server, owner: str) -> ZoneFacts:
    """The zone holding ``owner`` and its SOA, from the SOA a resolver returns for ``owner``."""
    r = ask(resolver, owner, "SOA")
    soa = _rrset(r.answer, dns.rdatatype.SOA) or _rrset(r.authority, dns.rdatatype.SOA)
    if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or soa is None:
        raise RolloverDnsError(f"{owner}: no zone found at {resolver} "
                               f"({dns.rcode.to_text(r.rcode())}, no SOA)")
    zone = soa.name.to_text()
    r = ask(resolver, zone, "SOA")
    soa = _rrset(r.answer, dns.rdatatype.SOA)
    if soa is None:
        raise RolloverDnsError(f"{zone} SOA at {resolver}: no answer")
    sig = _rrset(r.answer, dns.rdatatype.RRSIG, dns.rdatatype.SOA)
    ttl = max((rd.original_ttl for rd in sig), default=soa.ttl) if sig is not None else soa.ttl
    return ZoneFacts(zone, ttl, soa[0].minimum, soa[0].mname.to_text(),
                     bool(r.flags & dns.flags.AD))


def addresses(resolver: Server, name: str) -> list[str]:
    """The A and AAAA addresses of ``name``; a lookup that fails (SERVFAIL, REFUSED, ...) raises
    RolloverDnsError instead of counting as a name without addresses."""
    out: list[str] = []
    for rdtype in ("A", "AAAA"):
        r = ask(resolver, name, rdtype)
        if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise RolloverDnsError(f"{name} {rdtype} at {resolver}: "
                                   f"{dns.rcode.to_text(r.rcode())}")
        rrset = _rrset(r.answer, dns.rdatatype.from_text(rdtype))
        if rrset is not None:
            out += [rd.address for rd in rrset]
    return out


def authoritative(resolver: Server, zone: str) -> list[str]:
    """Every address of every name server of ``zone``."""
    r = ask(resolver, zone, "NS")
    rrset = _rrset(r.answer, dns.rdatatype.NS)
    if rrset is None:
        raise RolloverDnsError(f"{zone} NS at {resolver}: no answer")
    out: list[str] = []
    for rd in rrset:
        out += addresses(resolver, rd.target.to_text())
    if not out:
        raise RolloverDnsError(f"{zone}: no address for any of its name servers")
    return list(dict.fromkeys(out))


def served(server: Server, owner: str) -> tuple[TlsaRecord, ...] | None:
    """The TLSA RRset ``server`` serves with authority (no recursion); None if it does not
    answer or is not authoritative."""
    try:
        r = ask(server, owner, "TLSA", recursion=False)
    except RolloverDnsError:
        return None
    if not r.flags & dns.flags.AA or r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    rrset = _rrset(r.answer, dns.rdatatype.TLSA)
    if rrset is None:
        return ()
    return tuple(TlsaRecord(rd.usage, rd.selector, rd.mtype, rd.cert) for rd in rrset)


def missing_at(servers: list[Server], owner: str,
               records: tuple[TlsaRecord, ...]) -> list[str]:
    """The servers that do not serve every one of ``records`` (empty: visible everywhere)."""
    out = []
    for server in servers:
        have = served(server, owner)
        if have is None or any(r not in have for r in records):
            out.append(str(server))
    return out


def _tlsa_rdata(record: TlsaRecord) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, str(record))


def update(primary: Server, zone: str, owner: str, key: TsigKey, ttl: int,
           add: tuple[TlsaRecord, ...] = (), delete: tuple[TlsaRecord, ...] = (),
           timeout: float = 10.0) -> None:
    """One RFC 2136 update, signed with ``key``: add and delete TLSA records at ``owner``.
    Raises :class:`UpdateRefused` when the primary refuses it, RolloverDnsError otherwise."""
    try:
        keyring = dns.tsigkeyring.from_text({key.name: (key.algorithm, key.secret)})
    except (ValueError, dns.exception.DNSException) as exc:
        raise RolloverDnsError(f"TSIG key {key.name}: unusable ({exc})") from None
    msg = dns.update.UpdateMessage(zone, keyring=keyring, keyname=dns.name.from_text(key.name),
                                   keyalgorithm=key.algorithm)
    for record in delete:
        msg.delete(owner, _tlsa_rdata(record))
    for record in add:
        msg.add(owner, ttl, _tlsa_rdata(record))
    try:
        r = dns.query.tcp(msg, primary.ip, timeout=timeout, port=primary.port)
    except (dns.tsig.PeerError, dns.message.UnknownTSIGKey) as exc:
        raise UpdateRefused(f"{primary} refused the TSIG key {key.name} "
                            f"({type(exc).__name__})") from None
    except (dns.exception.DNSException, OSError) as exc:
        raise RolloverDnsError(f"update of {zone} at {primary}: {type(exc).__name__} "
                               f"{exc}".strip()) from None
    rcode = r.rcode()
    if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
        raise UpdateRefused(f"{primary} refused the update of {zone} signed with TSIG key "
                            f"{key.name} ({dns.rcode.to_text(rcode)})")
    if rcode != dns.rcode.NOERROR:
        raise RolloverDnsError(f"update of {zone} at {primary}: {dns.rcode.to_text(rcode)}")
