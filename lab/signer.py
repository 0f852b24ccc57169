"""Sign a zone (NSEC, one ECDSA P-256 key), with the deliberate breakages of the lab's scenarios.

Pure: records and key in, zone-file text out. ``now`` is a parameter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

Record = tuple[str, int, str, str]  # (absolute owner, ttl, type, rdata text)

DAY = 86400
TLSA_BREAKAGES = ("expired", "not-yet-valid", "bad-signature", "missing-rrsig")


@dataclass(frozen=True)
class SigningKey:
    key: ec.EllipticCurvePrivateKey
    dnskey: dns.rdata.Rdata

    @classmethod
    def from_private(cls, key: ec.EllipticCurvePrivateKey) -> SigningKey:
        dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssectypes.Algorithm.ECDSAP256SHA256,
                                        flags=257)
        return cls(key, dnskey)

    def ds(self, origin: str) -> str:
        return str(dns.dnssec.make_ds(dns.name.from_text(origin), self.dnskey, "SHA256"))


def _tlsa_generic(text: str) -> dns.rdata.GenericRdata:
    """TLSA as RFC 3597 generic data: dnspython refuses digests of the wrong length, the lab
    publishes them on purpose (the wrong-matching-type scenario)."""
    usage, selector, mtype, data = text.split()
    wire = bytes([int(usage), int(selector), int(mtype)]) + bytes.fromhex(data)
    return dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, wire)


def _rrset(name: dns.name.Name, ttl: int, rtype: int, rdatas: list[str]) -> dns.rrset.RRset:
    if rtype == dns.rdatatype.TLSA:
        return dns.rrset.from_rdata_list(name, ttl, [_tlsa_generic(t) for t in rdatas])
    return dns.rrset.from_text_list(name, ttl, "IN", dns.rdatatype.to_text(dns.rdatatype.RdataType(rtype)), rdatas)


def _window(breakage: str, now: int) -> tuple[int, int]:
    if breakage == "expired":
        return now - 30 * DAY, now - DAY
    if breakage == "not-yet-valid":
        return now + 10 * DAY, now + 40 * DAY
    return now - DAY, now + 60 * DAY


def validity(now: int) -> tuple[int, int]:
    """(inception, expiration) of the lab's good signatures made at ``now``, whoever signs."""
    return _window("", now)


def render_zone(origin: str, records: list[Record], key: SigningKey | None, now: int,
                tlsa_breakage: str = "", nsec_ttl: int = 300) -> str:
    """The zone as master-file text: signed with ``key`` (NSEC), or as given when key is None."""
    origin_name = dns.name.from_text(origin)
    rrsets: dict[tuple[dns.name.Name, int], tuple[int, list[str]]] = {}
    for owner, ttl, type_text, rdata in records:
        k = (dns.name.from_text(owner), dns.rdatatype.from_text(type_text))
        prev = rrsets.get(k)
        if prev is None:
            rrsets[k] = (ttl, [rdata])
        else:
            prev[1].append(rdata)
    if key is not None:
        rrsets[(origin_name, dns.rdatatype.DNSKEY)] = (3600, [key.dnskey.to_text()])
    cuts = {n for (n, t) in rrsets if t == dns.rdatatype.NS and n != origin_name}

    def below_cut(name: dns.name.Name) -> bool:
        """Glue or occluded data: a strict ancestor of ``name`` (below the apex) is a cut."""
        while len(name) > len(origin_name) + 1:
            name = name.parent()
            if name in cuts:
                return True
        return False

    lines = [f"$ORIGIN {origin}"]
    if key is None:
        for (name, rtype), (ttl, rdatas) in sorted(rrsets.items()):
            for rd in rdatas:
                lines.append(f"{name} {ttl} IN {dns.rdatatype.to_text(dns.rdatatype.RdataType(rtype))} {rd}")
        return "\n".join(lines) + "\n"

    types_at: dict[dns.name.Name, set[int]] = defaultdict(set)
    for name, rtype in rrsets:
        if not below_cut(name):
            types_at[name].add(rtype)
    names = sorted(types_at)
    for idx, name in enumerate(names):
        nxt = names[(idx + 1) % len(names)]
        bitmap = set(types_at[name]) | {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}
        if name in cuts and dns.rdatatype.DS not in types_at[name]:
            bitmap.discard(dns.rdatatype.RRSIG)
        types = " ".join(dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in sorted(bitmap))
        rrsets[(name, dns.rdatatype.NSEC)] = (nsec_ttl, [f"{nxt} {types}"])

    normal = _window("", now)
    for (name, rtype), (ttl, rdatas) in sorted(rrsets.items()):
        if rtype == dns.rdatatype.TLSA:
            lines += [f"{name} {ttl} IN TLSA {_tlsa_generic(rd).to_text()}" for rd in rdatas]
        else:
            lines += [f"{name} {ttl} IN {dns.rdatatype.to_text(dns.rdatatype.RdataType(rtype))} {rd}" for rd in rdatas]
        if below_cut(name) or (name in cuts and rtype not in (dns.rdatatype.DS, dns.rdatatype.NSEC)):
            continue  # glue and delegation NS are not signed
        breakage = tlsa_breakage if rtype == dns.rdatatype.TLSA else ""
        if breakage == "missing-rrsig":
            continue
        inception, expiration = _window(breakage, now) if breakage else normal
        rrset = _rrset(name, ttl, rtype, rdatas)
        sig = dns.dnssec.sign(rrset, key.key, origin_name, key.dnskey,  # type: ignore[arg-type]
                              inception=inception, expiration=expiration)
        if breakage == "bad-signature":
            raw = bytearray(sig.signature)
            raw[5] ^= 0xFF
            sig = sig.replace(signature=bytes(raw))  # type: ignore[assignment]
        lines.append(f"{name} {ttl} IN RRSIG {sig.to_text()}")
    return "\n".join(lines) + "\n"
