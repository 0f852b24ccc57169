"""Issue 14: judging a resolver's answer for a signed name (pure part of the start check)."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from workers.dns import wire
from workers.dns.resolver_check import judge

SOA = dns.rdatatype.SOA


def response(ad: bool = True, rcode: int = 0, answer: bool = True, qname: str = ".",
             qr: bool = True) -> wire.Response:
    query = dns.message.make_query(qname, "SOA", want_dnssec=True)
    msg = dns.message.make_response(query)
    if answer:
        msg.answer.append(dns.rrset.from_text(qname, 3600, "IN", "SOA",
                                              "a.root. nstld. 1 1800 900 604800 86400"))
    if ad:
        msg.flags |= dns.flags.AD
    msg.set_rcode(rcode)
    data = bytearray(msg.to_wire())
    if not qr:
        struct.pack_into("!H", data, 2, struct.unpack_from("!H", data, 2)[0] & 0x7FFF)
    return wire.parse_response(bytes(data))


def test_a_validated_answer_passes() -> None:
    assert judge(response(), ".", SOA) is None


def test_no_ad_bit_is_named_as_not_validating() -> None:
    problem = judge(response(ad=False), ".", SOA)
    assert problem and "AD bit" in problem and "\n" not in problem


def test_rcodes_answers_and_questions() -> None:
    servfail = judge(response(rcode=dns.rcode.SERVFAIL, answer=False), ".", SOA)
    assert servfail and servfail.startswith("answered SERVFAIL")
    refused = judge(response(rcode=dns.rcode.REFUSED, answer=False), ".", SOA)
    assert refused == "answered REFUSED"
    assert judge(response(answer=False), ".", SOA) == "gave no answer records"
    assert judge(response(qname="org."), ".", SOA) == "answered another question"
    assert judge(response(qname="org."), "ORG", SOA) is None
    assert judge(response(qr=False), ".", SOA) == "sent a query, not a response"
