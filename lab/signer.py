"""Sign a zone (NSEC, one ECDSA P-256 key), with the deliberate breakages of the lab's scenarios.

Pure: records and key in, zone-file text out. ``now`` is a parameter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

from lab import rrsig

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

    @cached_property
    def dnskey_text(self) -> str:
        return str(self.dnskey.to_text())

    @cached_property
    def tag(self) -> int:
        return rrsig.key_tag(self.dnskey.to_wire() or b"")


def _tlsa_generic_text(text: str) -> str:
    """TLSA as RFC 3597 generic data: dnspython refuses digests of the wrong length, the lab
    publishes them on purpose (the wrong-matching-type scenario)."""
    usage, selector, mtype, data = text.split()
    wire = bytes([int(usage), int(selector), int(mtype)]) + bytes.fromhex(data)
    return f"\\# {len(wire)} {wire.hex()}"


def _window(breakage: str, now: int) -> tuple[int, int]:
    if breakage == "expired":
        # ended 3 days ago: validators forgive an expiration up to a clock skew (unbound:
        # val-sig-skew-max, 1 day by default, of 10 % of the lifetime), so 1 day was a tie
        return now - 30 * DAY, now - 3 * DAY
    if breakage == "not-yet-valid":
        return now + 10 * DAY, now + 40 * DAY
    return now - DAY, now + 60 * DAY


def validity(now: int) -> tuple[int, int]:
    """(inception, expiration) of the lab's good signatures made at ``now``, whoever signs."""
    return _window("", now)


def canonical_key(name: str) -> tuple[bytes, ...]:
    """RFC 4034 6.1 canonical order of absolute names (labels from the right, lower case)."""
    stripped = name.rstrip(".")
    return tuple(x.lower().encode() for x in reversed(stripped.split("."))) if stripped else ()


def _type_num(type_text: str) -> int:
    return rrsig.TYPES.get(type_text) or int(dns.rdatatype.from_text(type_text))


def _type_text(num: int) -> str:
    return rrsig.TYPE_NAMES.get(num) or dns.rdatatype.to_text(dns.rdatatype.RdataType(num))


def render_zone(origin: str, records: list[Record], key: SigningKey | None, now: int,
                tlsa_breakage: str = "", nsec_ttl: int = 300) -> str:
    """The zone as master-file text: signed with ``key`` (NSEC), or as given when key is None.

    Signatures are made from canonical wire form by lab.rrsig (dnspython's objects cost about
    30 ms a zone, most of the time of a large lab); the breakages of TLSA scenarios as before."""
    origin = origin.lower()
    rrsets: dict[tuple[str, int], tuple[int, list[str]]] = {}
    for owner, ttl, type_text, rdata in records:
        k = (owner.lower(), _type_num(type_text))
        prev = rrsets.get(k)
        if prev is None:
            rrsets[k] = (ttl, [rdata])
        else:
            prev[1].append(rdata)
    if key is not None:
        rrsets[(origin, rrsig.TYPES["DNSKEY"])] = (3600, [key.dnskey_text])
    ns, ds = rrsig.TYPES["NS"], rrsig.TYPES["DS"]
    cuts = {n for (n, t) in rrsets if t == ns and n != origin}
    origin_labels = len(canonical_key(origin))

    def below_cut(name: str) -> bool:
        """Glue or occluded data: a strict ancestor of ``name`` (below the apex) is a cut."""
        while len(canonical_key(name)) > origin_labels + 1:
            name = name.split(".", 1)[1]
            if name in cuts:
                return True
        return False

    def order(item: tuple[tuple[str, int], tuple[int, list[str]]]) -> tuple[tuple[bytes, ...], int]:
        return canonical_key(item[0][0]), item[0][1]

    lines = [f"$ORIGIN {origin}"]
    if key is None:
        for (name, rtype), (ttl, rdatas) in sorted(rrsets.items(), key=order):
            for rd in rdatas:
                lines.append(f"{name} {ttl} IN {_type_text(rtype)} {rd}")
        return "\n".join(lines) + "\n"

    types_at: dict[str, set[int]] = defaultdict(set)
    for name, rtype in rrsets:
        if not below_cut(name):
            types_at[name].add(rtype)
    names = sorted(types_at, key=canonical_key)
    nsec, sig_type = rrsig.TYPES["NSEC"], rrsig.TYPES["RRSIG"]
    for idx, name in enumerate(names):
        nxt = names[(idx + 1) % len(names)]
        bitmap = set(types_at[name]) | {nsec, sig_type}
        if name in cuts and ds not in types_at[name]:
            bitmap.discard(sig_type)
        types = " ".join(_type_text(t) for t in sorted(bitmap))
        rrsets[(name, nsec)] = (nsec_ttl, [f"{nxt} {types}"])

    normal = _window("", now)
    tlsa = rrsig.TYPES["TLSA"]
    for (name, rtype), (ttl, rdatas) in sorted(rrsets.items(), key=order):
        type_text = _type_text(rtype)
        if rtype == tlsa:
            lines += [f"{name} {ttl} IN TLSA {_tlsa_generic_text(rd)}" for rd in rdatas]
        else:
            lines += [f"{name} {ttl} IN {type_text} {rd}" for rd in rdatas]
        if below_cut(name) or (name in cuts and rtype not in (ds, nsec)):
            continue  # glue and delegation NS are not signed
        breakage = tlsa_breakage if rtype == tlsa else ""
        if breakage == "missing-rrsig":
            continue
        inception, expiration = _window(breakage, now) if breakage else normal
        wires = [rrsig.rdata_wire(type_text, rd, origin) for rd in rdatas]
        sig = rrsig.sign(name, ttl, type_text, wires, key.key, origin, key.tag, inception,
                         expiration, corrupt=breakage == "bad-signature")
        lines.append(f"{name} {ttl} IN RRSIG {sig}")
    return "\n".join(lines) + "\n"
