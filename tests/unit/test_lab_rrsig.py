"""lab.rrsig signs from canonical wire form; dnspython's validator must accept every signature,
for every record type the lab publishes, and refuse a corrupted one."""

from __future__ import annotations

import time

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from lab.build import zone_key
from lab.signer import canonical_key, render_zone

NOW = int(time.time())
RECORDS = [
    ("Example.com.", 3600, "SOA", "ns1.example.com. hostmaster.example.com. 1001 3600 900 604800 300"),
    ("example.com.", 3600, "NS", "ns1.example.com."),
    ("example.com.", 3600, "NS", "ns2.other.net."),
    ("ns1.example.com.", 3600, "A", "127.53.1.1"),
    ("example.com.", 3600, "MX", "10 mail.example.com."),
    ("example.com.", 3600, "MX", "20 Backup.Other.net."),
    ("mail.example.com.", 3600, "A", "127.25.0.10"),
    ("mail.example.com.", 3600, "A", "127.25.0.9"),
    ("mail.example.com.", 3600, "AAAA", "::1"),
    ("_25._tcp.mail.example.com.", 300, "TLSA", "3 1 1 " + "ab" * 32),
    ("_25._tcp.mail.example.com.", 300, "TLSA", "3 1 2 " + "cd" * 64),
    ("alias.example.com.", 3600, "CNAME", "mail.example.com."),
    ("txt.example.com.", 3600, "TXT", '"v=spf1 -all" "two"'),
    ("child.example.com.", 86400, "NS", "ns.child.example.com."),
    ("ns.child.example.com.", 86400, "A", "127.53.2.1"),  # glue: not signed
    ("child.example.com.", 86400, "DS", "12345 13 2 " + "ef" * 32),
]


def _signed(breakage: str = "") -> tuple[dns.zone.Zone, object]:
    key = zone_key(3, "example.com.")
    text = render_zone("example.com.", RECORDS, key, NOW, breakage)
    return dns.zone.from_text(text, "example.com.", relativize=False, check_origin=False), key


def _validate_all(zone: dns.zone.Zone) -> int:
    origin = dns.name.from_text("example.com.")
    keys = {origin: zone.find_rrset(origin, "DNSKEY")}
    checked = 0
    for name, node in zone.nodes.items():
        for rds in node.rdatasets:
            if rds.rdtype == dns.rdatatype.RRSIG:
                continue
            sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rds.rdtype)
            if sigs is None:
                continue
            rrset = dns.rrset.from_rdata_list(name, rds.ttl, list(rds))
            sigset = dns.rrset.from_rdata_list(name, sigs.ttl, list(sigs))
            dns.dnssec.validate(rrset, sigset, keys)  # type: ignore[arg-type]
            checked += 1
    return checked


def test_every_signature_validates() -> None:
    zone, _ = _signed()
    # SOA, NS, MX, DNSKEY, A (ns1), A (mail), AAAA, TLSA, CNAME, TXT, DS, and every NSEC
    assert _validate_all(zone) == 18  # 11 RRsets and 7 NSEC records
    child = zone.get_node("child.example.com.")
    assert child.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.NS) is None
    glue = zone.get_node("ns.child.example.com.")
    assert glue.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.A) is None


def test_nsec_chain_is_in_canonical_order_and_closes() -> None:
    zone, _ = _signed()
    chain = {}
    for name, node in zone.nodes.items():
        rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC)
        if rds is not None:
            chain[name.to_text()] = list(rds)[0].next.to_text()
    start = "example.com."
    seen, cur = [], start
    while True:
        seen.append(cur)
        cur = chain[cur]
        if cur == start:
            break
    assert len(seen) == len(chain)
    assert seen == sorted(seen, key=canonical_key)
    assert "ns.child.example.com." not in chain  # glue is not in the chain


@pytest.mark.parametrize("breakage", ["bad-signature", "expired"])
def test_tlsa_breakages_fail_validation(breakage: str) -> None:
    zone, _ = _signed(breakage)
    origin = dns.name.from_text("example.com.")
    name = dns.name.from_text("_25._tcp.mail.example.com.")
    node = zone.get_node(name)
    rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TLSA)
    sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.TLSA)
    with pytest.raises(dns.dnssec.ValidationFailure):
        dns.dnssec.validate(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)),
                            dns.rrset.from_rdata_list(name, sigs.ttl, list(sigs)),
                            {origin: zone.find_rrset(origin, "DNSKEY")})  # type: ignore[arg-type]


def test_missing_rrsig_breakage_leaves_tlsa_unsigned() -> None:
    zone, _ = _signed("missing-rrsig")
    node = zone.get_node("_25._tcp.mail.example.com.")
    assert node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.TLSA) is None
