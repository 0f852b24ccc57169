"""The hand wire parser (workers.dns.wire) against dnspython on messages dnspython writes, and
on what dnspython refuses: TLSA/DS data that does not fit its type, compression loops."""

from __future__ import annotations

import struct

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from workers.dns import dnssec_reason as dr
from workers.dns import wire
from workers.dns.plan import find
from workers.vocab import DnssecReason

NOW = 1_700_000_000

RECORDS = [
    ("A", "192.0.2.7"),
    ("AAAA", "2001:db8::1"),
    ("AAAA", "::ffff:192.0.2.1"),
    ("MX", "10 mx1.Example.NET."),
    ("MX", "0 ."),
    ("NS", "ns1.example.com."),
    ("CNAME", "target.example.org."),
    ("TLSA", "3 1 1 " + "ab" * 32),
    ("TLSA", "3 0 0 " + "cd" * 300),
    ("DS", "12345 13 2 " + "ef" * 32),
    ("DNSKEY", "257 3 13 " + "AQID" * 22),
    ("TXT", '"hello world" "x"'),
    ("SOA", "ns1.example.com. host.example.com. 1 7200 3600 1209600 300"),
]


def _message(answers: list[dns.rrset.RRset], ad: bool = True) -> bytes:
    q = dns.message.make_query("www.example.com.", "A", want_dnssec=True)
    r = dns.message.make_response(q)
    if ad:
        r.flags |= dns.flags.AD
    r.answer.extend(answers)
    out = r.to_wire()
    return out


@pytest.mark.parametrize(("rtype", "text"), RECORDS)
def test_rdata_text_is_dnspython_text(rtype: str, text: str) -> None:
    rrset = dns.rrset.from_text("www.example.com.", 300, "IN", rtype, text)
    resp = wire.parse_response(_message([rrset]))
    (rr,) = resp.answer
    assert rr.name == "www.example.com."
    want = rrset[0].to_text()
    if rtype in ("MX", "NS", "CNAME", "SOA"):
        want = want.lower()  # names are read in lower case
    assert wire.rdata_text(resp, rr) == want
    assert wire.to_rdata(resp, rr) == rrset[0]


def test_header_question_sections_and_compressed_names() -> None:
    mx = dns.rrset.from_text("Example.COM.", 60, "IN", "MX", "10 mx.example.com.",
                             "20 mx2.example.com.")
    ns = dns.rrset.from_text("example.com.", 60, "IN", "NS", "ns.example.com.")
    data = _message([mx, ns])
    assert len(data) < 120  # names were compressed by dnspython
    resp = wire.parse_response(data)
    msg = dns.message.from_wire(data)
    assert resp.id == msg.id and resp.ad and resp.rcode == 0
    assert resp.question == ("www.example.com.", 1)
    assert sorted((rr.name, rr.rtype, rr.ttl, rr.target) for rr in resp.answer) == [
        ("example.com.", 2, 60, "ns.example.com."),
        ("example.com.", 15, 60, "mx.example.com."), ("example.com.", 15, 60, "mx2.example.com.")]


def test_escaped_labels_read_like_dnspython() -> None:
    odd = dns.name.Name([b"a.b", b"\x00sp ace", b"Q\"(", b"example", b""])
    rrset = dns.rrset.from_rdata(odd, 60, dns.rdata.from_text("IN", "A", "192.0.2.1"))
    resp = wire.parse_response(_message([rrset]))
    assert resp.answer[0].name == odd.to_text().lower()
    assert wire.question_wire(resp.answer[0].name, "A")[:-4] == odd.canonicalize().to_wire()


@pytest.mark.parametrize("bad", [
    b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # self pointer
    b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x03www",  # name runs off the end
    b"\x00\x01\x81\x80\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x09"
    b"\x01\x02",  # rdata longer than the message
    b"\x00\x01\x81",  # shorter than a header
])
def test_malformed_responses_raise_wire_error(bad: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_response(bad)


def test_a_malformed_authority_section_reads_as_empty_and_says_why() -> None:
    a = dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.1")
    data = bytearray(_message([a]))
    data[9] = 2  # two authority records; only the OPT record follows the answer
    resp = wire.parse_response(bytes(data))
    assert [wire.rdata_text(resp, rr) for rr in resp.answer] == ["192.0.2.1"]
    assert resp.authority == [] and "authority" in resp.error
    with pytest.raises(wire.WireError):
        wire.parse_response(bytes(data), full=True)


def _key() -> tuple[ec.EllipticCurvePrivateKey, dns.rrset.RRset]:
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                    flags=257)
    return key, dns.rrset.from_rdata("example.com.", 3600, dnskey)


def _misfit_tlsa() -> dns.rrset.RRset:
    """``3 1 2`` with 32 bytes of data: dnspython refuses to build it as a TLSA."""
    with pytest.raises(dns.exception.SyntaxError):
        dns.rdata.from_text("IN", "TLSA", "3 1 2 " + "ab" * 32)
    rdata = dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA,
                                   bytes([3, 1, 2]) + b"\xab" * 32)
    return dns.rrset.from_rdata("_25._tcp.mx.example.com.", 3600, rdata)


def test_misfit_tlsa_is_parsed_and_its_signature_validates() -> None:
    key, dnskey = _key()
    tlsa = _misfit_tlsa()
    sig = dns.dnssec.sign(tlsa, key, dns.name.from_text("example.com."), dnskey[0],
                          inception=NOW - 3600, expiration=NOW + 86400)
    data = _message([tlsa, dns.rrset.from_rdata(tlsa.name, 3600, sig)])
    with pytest.raises(dns.exception.FormError):  # dnspython refuses the whole answer
        dns.message.from_wire(data)
    resp = wire.parse_response(data)
    f = find(resp, "_25._tcp.mx.example.com.", wire.T_TLSA)
    assert [wire.rdata_text(resp, rr) for rr in f.rrs] == ["3 1 2 " + "ab" * 32]
    rrset, sigs = f.rrset(), f.sigs()
    assert rrset is not None
    zone = dns.name.from_text("example.com.")
    assert dr.signature_finding(rrset, sigs, zone, dnskey, NOW).ok
    # the same bytes with one bit flipped do not validate: the check is real
    flipped = bytearray(data)
    flipped[f.rrs[0].offset + 5] ^= 1
    resp2 = wire.parse_response(bytes(flipped))
    f2 = find(resp2, "_25._tcp.mx.example.com.", wire.T_TLSA)
    rrset2 = f2.rrset()
    assert rrset2 is not None
    assert dr.signature_finding(rrset2, f2.sigs(), zone, dnskey, NOW).reason is \
        DnssecReason.SIGNATURE_INVALID


def test_cname_chain_and_denial_soa() -> None:
    cname = dns.rrset.from_text("mx.example.com.", 60, "IN", "CNAME", "host.example.net.")
    a = dns.rrset.from_text("host.example.net.", 60, "IN", "A", "192.0.2.9")
    resp = wire.parse_response(_message([cname, a]))
    f = find(resp, "mx.example.com.", wire.T_A)
    assert f.chain == ("mx.example.com.", "host.example.net.")
    assert [wire.rdata_text(resp, rr) for rr in f.rrs] == ["192.0.2.9"]
    loop = dns.rrset.from_text("x.example.com.", 60, "IN", "CNAME", "x.example.com.")
    resp = wire.parse_response(_message([loop]))
    assert find(resp, "x.example.com.", wire.T_A).rrs == []


def test_query_wire_matches_dnspython() -> None:
    q = wire.query_wire(0x1234, wire.question_wire("_25._tcp.mx.example.com.", "TLSA"), cd=True)
    msg = dns.message.from_wire(q)
    assert msg.id == 0x1234 and msg.flags & dns.flags.CD and msg.flags & dns.flags.RD
    assert msg.question[0].name == dns.name.from_text("_25._tcp.mx.example.com.")
    assert msg.question[0].rdtype == dns.rdatatype.TLSA
    assert msg.ednsflags & dns.flags.DO and msg.payload == wire.EDNS_PAYLOAD
    assert struct.unpack("!H", q[2:4])[0] & 0x0010
    with pytest.raises(ValueError):
        wire.question_wire("a..b.", "A")
