"""The rollover's DNS reads against a tiny name server of the test on 127.0.0.1: a failed
lookup is an error, never taken for a name without addresses (which would leave a name server
out of 'served by every authoritative server')."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from workers.dns import rollover_io as rio


def _answer(query: dns.message.Message) -> dns.message.Message:
    """example.test NS: ns1 and ns2; ns1 A 127.0.0.53; ns2's address lookups SERVFAIL."""
    reply = dns.message.make_response(query)
    q = query.question[0]
    name = q.name.to_text()
    if q.rdtype == dns.rdatatype.NS and name == "example.test.":
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "NS", "ns1.example.test.",
                                                "ns2.example.test."))
    elif name == "ns1.example.test." and q.rdtype == dns.rdatatype.A:
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "127.0.0.53"))
    elif name == "ns2.example.test.":
        reply.set_rcode(dns.rcode.SERVFAIL)
    elif name == "_25._tcp.nx.example.test.":  # denied by an NSEC whose TTL is the MINIMUM
        reply.set_rcode(dns.rcode.NXDOMAIN)
        reply.authority.append(dns.rrset.from_text(
            "example.test.", 60, "IN", "SOA", "ns1.example.test. h.example.test. 1 60 60 60 3600"))
        reply.authority.append(dns.rrset.from_text(
            "example.test.", 2400, "IN", "NSEC", "ns1.example.test. NS SOA RRSIG NSEC"))
        reply.authority.append(dns.rrset.from_text(
            "example.test.", 2400, "IN", "RRSIG",
            "NSEC 13 2 3600 20300101000000 20200101000000 1 example.test. " + "A" * 86 + "=="))
    reply.flags |= dns.flags.RA
    return reply


@pytest.fixture
def resolver() -> Iterator[rio.Server]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                continue
            sock.sendto(_answer(dns.message.from_wire(data)).to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield rio.Server("127.0.0.1", sock.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_a_failed_address_lookup_is_an_error(resolver: rio.Server) -> None:
    assert rio.addresses(resolver, "ns1.example.test") == ["127.0.0.53"]
    with pytest.raises(rio.RolloverDnsError, match="SERVFAIL"):
        rio.addresses(resolver, "ns2.example.test")
    with pytest.raises(rio.RolloverDnsError, match=r"ns2\.example\.test"):
        rio.authoritative(resolver, "example.test")


def test_a_denial_reports_its_nsec_ttl(resolver: rio.Server) -> None:
    """The NSEC's original TTL (3600, from its RRSIG; the cache counts it down to 2400), for the
    plan to wait out a resolver that denies the name from a cached NSEC (RFC 8198)."""
    answer = rio.tlsa(resolver, "_25._tcp.nx.example.test")
    assert not answer.exists and answer.denial_ttl == 3600
