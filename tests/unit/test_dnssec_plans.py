"""DNSSEC reasons decided by the resolution plans (insecure_plan, classify) from canned answers.

The answers are what a validating resolver gives for the three ways a zone ends up insecure, and
for the NSEC3 opt-out case that must not be mistaken for one of them: a signed SLD under .com with
no DS is proven DS-less by a covering opt-out NSEC3, and the resolver answers that DS query without
AD although .com is secure (RFC 5155 section 6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from workers.dns import wire
from workers.dns.plan import Context, Plan, classify, insecure_plan
from workers.dns.records import Answer, Query, QueryRecord
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

DNSKEY = "257 3 13 " + "A" * 86 + "=="
SOA_COM = "com. 900 IN SOA a.gtld-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400"
SIG_SOA_COM = ("com. 900 IN RRSIG SOA 13 1 900 20300101000000 20200101000000 1 com. "
               + "A" * 86 + "==")


def _answer(q: Query, answer: list[str] = (), authority: list[str] = (), ad: bool = False,
            rcode: int = dns.rcode.NOERROR) -> Answer:
    msg = dns.message.make_query(q.qname, q.qtype, want_dnssec=True)
    resp = dns.message.make_response(msg)
    resp.set_rcode(rcode)
    if ad:
        resp.flags |= dns.flags.AD
    for text in answer:
        resp.answer.append(dns.rrset.from_text(*_split(text)))
    for text in authority:
        resp.authority.append(dns.rrset.from_text(*_split(text)))
    raw = resp.to_wire()
    status = {dns.rcode.NOERROR: QueryStatus.NOERROR, dns.rcode.NXDOMAIN: QueryStatus.NXDOMAIN,
              dns.rcode.SERVFAIL: QueryStatus.SERVFAIL}[rcode]
    rec = QueryRecord(status, q.qname, q.qtype, q.cd, ad, "test", 0.0, 0.0, 1, "udp", "", raw)
    return Answer(rec, wire.parse_response(raw))


def _timeout(q: Query) -> Answer:
    rec = QueryRecord(QueryStatus.TIMEOUT, q.qname, q.qtype, q.cd, False, "test", 0.0, 0.0, 3,
                      "udp", "no answer")
    return Answer(rec, None)


def _split(text: str) -> tuple[str, int, str, str, str]:
    name, ttl, cls, rtype, rdata = text.split(None, 4)
    return name, int(ttl), cls, rtype, rdata


World = Callable[[Query], Answer]


def drive(plan: Plan[object], world: World) -> tuple[object, list[Query]]:
    asked: list[Query] = []
    try:
        qs = next(plan)
        while True:
            asked.extend(qs)
            qs = plan.send(tuple(world(q) for q in qs))
    except StopIteration as stop:
        return stop.value, asked


def world(*, child_key: bool, ds_ad: bool, parent_ad: bool | None,
          ds_denial_soa: bool = True) -> World:
    """example.com. (child) under com. (parent). ``parent_ad``: AD on com.'s DNSKEY (None: the
    lookup times out)."""

    def answer(q: Query) -> Answer:
        if q.qname == "example.com." and q.qtype == "DNSKEY":
            return _answer(q, [f"example.com. 3600 IN DNSKEY {DNSKEY}"] if child_key else [],
                           [] if child_key else ["example.com. 300 IN SOA ns. h. 1 1 1 1 300"])
        if q.qname == "example.com." and q.qtype == "DS":
            auth = [SOA_COM, SIG_SOA_COM] if ds_denial_soa else []
            return _answer(q, [], auth, ad=ds_ad)
        if q.qname == "com." and q.qtype == "DNSKEY":
            if parent_ad is None:
                return _timeout(q)
            return _answer(q, [f"com. 3600 IN DNSKEY {DNSKEY}"], ad=parent_ad)
        if q.qtype == "NS" and q.qname == "com.":
            return _answer(q, ["com. 3600 IN NS a.gtld-servers.net."])
        raise AssertionError(f"unexpected query {q}")

    return answer


def reason(w: World) -> tuple[DnssecReason, list[Query]]:
    found, asked = drive(insecure_plan("example.com."), w)
    return found.reason, asked  # type: ignore[attr-defined]


def test_signed_child_under_nsec3_opt_out_is_missing_ds() -> None:
    """The DS denial has no AD (opt-out), com. itself validates: missing DS, not insecure parent."""
    got, asked = reason(world(child_key=True, ds_ad=False, parent_ad=True))
    assert got is DnssecReason.MISSING_DS
    assert Query("com.", "DNSKEY") in asked  # judged from the parent zone itself


def test_signed_child_under_nsec_parent_is_missing_ds_without_asking_the_parent() -> None:
    got, asked = reason(world(child_key=True, ds_ad=True, parent_ad=True))
    assert got is DnssecReason.MISSING_DS
    assert Query("com.", "DNSKEY") not in asked


def test_signed_child_under_really_insecure_parent_is_insecure_delegation() -> None:
    got, _ = reason(world(child_key=True, ds_ad=False, parent_ad=False))
    assert got is DnssecReason.INSECURE_DELEGATION


def test_unsigned_child_is_unsigned_whatever_the_parent() -> None:
    for ds_ad, parent_ad in ((False, True), (True, True), (False, False)):
        got, _ = reason(world(child_key=False, ds_ad=ds_ad, parent_ad=parent_ad))
        assert got is DnssecReason.UNSIGNED


def test_parent_found_without_a_soa_in_the_denial() -> None:
    got, asked = reason(world(child_key=True, ds_ad=False, parent_ad=True, ds_denial_soa=False))
    assert got is DnssecReason.MISSING_DS
    assert Query("com.", "NS") in asked


def test_parent_lookup_failure_is_not_a_reason_of_its_own() -> None:
    """A parent DNSKEY lookup that times out says nothing about the parent: unexplained, not an
    insecure delegation."""
    got, _ = reason(world(child_key=True, ds_ad=False, parent_ad=None))
    assert got is DnssecReason.INSECURE_OTHER


def _with_ds(base: World, digest_type: int) -> World:
    """``base``, with example.com.'s DS answered (AD, as under a secure parent): one record with
    a 32-byte digest under ``digest_type``, written into the wire after dnspython built it (it
    refuses a digest that does not fit its type)."""

    def answer(q: Query) -> Answer:
        if (q.qname, q.qtype) != ("example.com.", "DS"):
            return base(q)
        a = _answer(q, ["example.com. 3600 IN DS 1 13 2 " + "ab" * 32], ad=True)
        assert a.response is not None
        raw = bytearray(a.record.response)
        raw[a.response.answer[0].offset + 3] = digest_type
        rec = dataclasses.replace(a.record, response=bytes(raw))
        return Answer(rec, wire.parse_response(bytes(raw)))

    return answer


@pytest.mark.parametrize(("digest_type", "want"), [
    (2, DnssecReason.INSECURE_OTHER),  # a usable DS, yet no AD on the answer
    (1, DnssecReason.UNSUPPORTED_ALGORITHM),  # SHA-1 with a 32-byte digest matches no key
    (99, DnssecReason.UNSUPPORTED_ALGORITHM),
])
def test_the_ds_records_are_read_from_their_wire_form(digest_type: int, want: DnssecReason) -> None:
    got, _ = reason(_with_ds(world(child_key=True, ds_ad=True, parent_ad=True), digest_type))
    assert got is want


# ---- a SERVFAIL is bogus only with evidence of a validation failure ---------------------------

TLSA_NAME = "_25._tcp.mx.example.com."
TLSA = "3 1 1 " + "ab" * 32


def servfail_world(*, dnskey_cd: str) -> World:
    """The resolver answers SERVFAIL for the TLSA query (its upstream rate-limited it); with CD
    the records come. ``dnskey_cd``: how example.com.'s DNSKEY answers with CD: "none"
    (unsigned zone, NODATA) or "timeout"."""

    def answer(q: Query) -> Answer:
        if q.qname == TLSA_NAME and q.qtype == "TLSA":
            if not q.cd:
                return _answer(q, rcode=dns.rcode.SERVFAIL)
            return _answer(q, [f"{TLSA_NAME} 3600 IN TLSA {TLSA}"])
        if q.qname == TLSA_NAME and q.qtype == "NS":
            return _answer(q, [], ["example.com. 300 IN SOA ns. h. 1 1 1 1 300"])
        if q.qname == "example.com." and q.qtype == "DNSKEY":
            if dnskey_cd == "timeout":
                return _timeout(q)
            return _answer(q, [], ["example.com. 300 IN SOA ns. h. 1 1 1 1 300"])
        if q.qname == "example.com." and q.qtype == "DS":
            return _answer(q, [], [SOA_COM, SIG_SOA_COM])
        raise AssertionError(f"unexpected query {q}")

    return answer


def classified(w: World) -> object:
    q = Query(TLSA_NAME, "TLSA")
    plan = classify(q, w(q), Context(now=1_700_000_000, anchors=_root_anchor()))
    found, _ = drive(plan, w)
    return found.evidence  # type: ignore[attr-defined]


def _root_anchor() -> dns.rrset.RRset:
    return dns.rrset.from_text(".", 0, "IN", "DS", "20326 8 2 " + "00" * 32)


def test_servfail_in_a_provably_unsigned_zone_is_a_lookup_failure() -> None:
    ev = classified(servfail_world(dnskey_cd="none"))
    assert ev.dnssec_status is DnssecStatus.INDETERMINATE  # type: ignore[attr-defined]
    assert ev.dnssec_reason is DnssecReason.LOOKUP_FAILED  # type: ignore[attr-defined]
    assert ev.failed and not ev.records  # type: ignore[attr-defined]


def test_servfail_with_chain_material_unfetchable_is_a_lookup_failure() -> None:
    ev = classified(servfail_world(dnskey_cd="timeout"))
    assert ev.dnssec_status is DnssecStatus.INDETERMINATE  # type: ignore[attr-defined]
    assert ev.dnssec_reason is DnssecReason.LOOKUP_FAILED  # type: ignore[attr-defined]
    assert "DNSKEY lookup of example.com. failed" in ev.detail  # type: ignore[attr-defined]


def test_a_query_on_the_exclusion_list_is_excluded_not_a_failed_lookup() -> None:
    """Nothing was asked, so nothing failed: the reason says the name is excluded (the status
    stays indeterminate: nothing can be said about its DNSSEC)."""
    from workers.dns.probe import excluded_answer

    q = Query(TLSA_NAME, "TLSA")
    plan = classify(q, excluded_answer(q), Context(now=1_700_000_000, anchors=_root_anchor()))
    found, _ = drive(plan, excluded_answer)
    ev = found.evidence  # type: ignore[attr-defined]
    assert ev.query_status is QueryStatus.EXCLUDED
    assert ev.dnssec_status is DnssecStatus.INDETERMINATE
    assert ev.dnssec_reason is DnssecReason.EXCLUDED
