"""What used to be lost between the evidence and the rows: the tries and timings of DNS queries
(failed ones included), why a name was refused, and that a chain was cut."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from workers.cluster import codec
from workers.dns import DomainEvidence, DomainInput, MxHostEvidence, QueryRecord, RRsetEvidence
from workers.scan.rows import domain_rows, probe_row, query_index, rrset_row
from workers.smtp import ProbeStep, StarttlsEvidence
from workers.store.rows import DnsRrsetRow, DomainRow
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus, SmtpStatus

SENT = 1_750_000_000.25


def rrset(name: str, rtype: str, status: QueryStatus, records: tuple[str, ...] = ()) -> RRsetEvidence:
    failed = status not in (QueryStatus.NOERROR, QueryStatus.NXDOMAIN)
    return RRsetEvidence(name=name, rtype=rtype, query_status=status,
                         dnssec_status=DnssecStatus.INDETERMINATE if failed else DnssecStatus.SECURE,
                         dnssec_reason=DnssecReason.LOOKUP_FAILED if failed else DnssecReason.NONE,
                         ttl=None if failed else 300, records=records)


def query(name: str, rtype: str, status: QueryStatus, attempts: int, duration: float,
          cd: bool = False) -> QueryRecord:
    return QueryRecord(status=status, qname=name, qtype=rtype, cd=cd, ad=False,
                       resolver="127.0.0.1", sent_at=SENT, duration=duration, attempts=attempts,
                       transport="udp")


def test_failed_and_answered_queries_keep_their_tries_and_timing() -> None:
    mx = rrset("a.test.", "MX", QueryStatus.TIMEOUT)
    ns = rrset("a.test.", "NS", QueryStatus.NOERROR, ("ns.a.test.",))
    d = DomainEvidence(input=DomainInput("a.test"), domain="a.test.", mx=mx, ns=ns,
                       queries=(query("a.test.", "MX", QueryStatus.TIMEOUT, 4, 6.5),
                                query("a.test.", "NS", QueryStatus.SERVFAIL, 1, 0.2, cd=True),
                                query("a.test.", "NS", QueryStatus.NOERROR, 1, 0.0125)))
    rows = [r for r in domain_rows("s", d, "127.0.0.1", 0) if isinstance(r, DnsRrsetRow)]
    got = {(r.qtype, r.status): (r.attempts, r.queried_at, r.duration_ms) for r in rows}
    assert got == {("MX", "TIMEOUT"): (4, int(SENT), 6500.0),
                   ("NS", "NOERROR"): (1, int(SENT), 12.5)}  # the query without CD, not the CD one


def test_unknown_provenance_stays_zero() -> None:
    row = rrset_row("s", rrset("a.test.", "MX", QueryStatus.SERVFAIL), "r", 0)
    assert (row.attempts, row.queried_at, row.duration_ms) == (0, 0, 0.0)


def test_a_host_crossing_the_cluster_keeps_its_query_provenance() -> None:
    a = rrset("mx.a.test.", "A", QueryStatus.NOERROR, ("127.0.0.9",))
    aaaa = rrset("mx.a.test.", "AAAA", QueryStatus.TIMEOUT)
    tlsa = rrset("_25._tcp.mx.a.test.", "TLSA", QueryStatus.NOERROR, ("3 1 1 " + "ab" * 32,))
    queries = (query("mx.a.test.", "A", QueryStatus.NOERROR, 1, 0.003),
               query("mx.a.test.", "AAAA", QueryStatus.TIMEOUT, 3, 7.0),
               query("_25._tcp.mx.a.test.", "TLSA", QueryStatus.NOERROR, 2, 0.5),
               query("a.test.", "SOA", QueryStatus.NOERROR, 1, 0.001))  # not the host's: dropped
    host = MxHostEvidence(host="mx.a.test.", a=a, aaaa=aaaa, tlsa=tlsa,
                          tlsa_base="_25._tcp.mx.a.test.", addresses=("127.0.0.9",),
                          queries=queries)
    back = codec.decode_host(json.loads(json.dumps(codec.encode_host(host))))
    assert len(back.queries) == 3
    asked = query_index(back.queries)
    for rr, tries in ((a, 1), (aaaa, 3), (tlsa, 2)):
        row = rrset_row("s", rr, "r", 0, asked.get((rr.name, rr.rtype)))
        assert (row.attempts, row.queried_at) == (tries, int(SENT))
    assert asked[("mx.a.test.", "AAAA")].status is QueryStatus.TIMEOUT


def test_refused_mx_targets_are_stored_with_why() -> None:
    mx = rrset("a.test.", "MX", QueryStatus.NOERROR, ("10 a\\032b.a.test.", "20 mx.a.test."))
    d = DomainEvidence(input=DomainInput("a.test"), domain="a.test.", mx=mx,
                       mx_hosts=("mx.a.test.",), bad_mx_hosts=("a\\032b.a.test.",))
    (row,) = [r for r in domain_rows("s", d, "r", 0) if isinstance(r, DomainRow)]
    assert (row.mx, row.mx_preferences) == (["mx.a.test"], [20])
    assert row.bad_mx == ["a\\032b.a.test"]
    assert row.bad_mx_reasons == ["characters other than letters, digits, '-' and '_'"]
    assert row.error == ""


def test_a_refused_domain_name_says_why() -> None:
    d = DomainEvidence(input=DomainInput("exa mple.test"), domain="", error="empty label")
    (row,) = [r for r in domain_rows("s", d, "r", 0) if isinstance(r, DomainRow)]
    assert (row.domain, row.status, row.error) == ("exa mple.test", "ERROR", "empty label")


def test_a_cut_chain_is_stored_as_cut() -> None:
    ev = StarttlsEvidence(status=SmtpStatus.OK, host="mx.a.test.", ip="127.0.0.9", port=25,
                          sni="mx.a.test", started_at=datetime(2025, 1, 1, tzinfo=UTC),
                          step=ProbeStep.DONE, chain=(b"\x30\x00",) * 3, chain_truncated=True)
    row = probe_row("s", ev, 0)
    assert (row.chain_truncated, len(row.chain)) == (1, 3)
    whole = probe_row("s", dataclasses.replace(ev, chain_truncated=False), 0)
    assert whole.chain_truncated == 0
