"""lab.pdns's record conversion to PowerDNS's content format; lab.dnsfault's SERVFAIL reply."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode

from lab.dnsfault import servfail_reply
from lab.pdns import content


def test_content_in_powerdns_format() -> None:
    assert content("MX", "10 mx1.host.net.") == ("mx1.host.net", 10)
    assert content("MX", "0 .") == (".", 0)
    assert content("SRV", "5 10 25 mail.host.net.") == ("10 25 mail.host.net", 5)
    assert content("NS", "ns1.host.net.") == ("ns1.host.net", None)
    assert content("CNAME", "www.host.net.") == ("www.host.net", None)
    assert content("SOA", "ns. host. 1 7200 3600 1209600 300") == (
        "ns host 1 7200 3600 1209600 300", None)
    assert content("TXT", '"v=spf1 -all"') == ('"v=spf1 -all"', None)
    assert content("A", "192.0.2.1") == ("192.0.2.1", None)


def test_servfail_reply_echoes_the_question() -> None:
    q = dns.message.make_query("x.example.", "MX")
    r = dns.message.from_wire(servfail_reply(q.to_wire()) or b"")
    assert r.id == q.id and r.rcode() == dns.rcode.SERVFAIL
    assert r.flags & dns.flags.QR and r.flags & dns.flags.RD
    assert r.question == q.question
    assert servfail_reply(b"\x00" * 5) is None
    assert servfail_reply(dns.message.make_response(q).to_wire()) is None
