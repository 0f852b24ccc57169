"""Pure parts of cluster mode: the JSON codecs and the schedule's decisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from producer.schedule import due_jobs, hourly_id, nightly_id, parse_clock
from workers.cluster import codec
from workers.dns import DomainInput, MxHostEvidence, RRsetEvidence
from workers.dns.records import RrsigSummary
from workers.store.rows import CertificateRow, DaneVerdictRow, DomainRow
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

UTC = dt.UTC


def _rr(name: str, rtype: str, records: tuple[str, ...], **kw: object) -> RRsetEvidence:
    return RRsetEvidence(name, rtype, QueryStatus.NOERROR, DnssecStatus.SECURE,
                         DnssecReason.NONE, 300, records, **kw)  # type: ignore[arg-type]


def test_host_evidence_round_trips() -> None:
    sig = RrsigSummary("TLSA", 13, 4, 300, 1_700_000_000, 1_800_000_000, 12345, "example.")
    host = MxHostEvidence(
        host="mx.example.", a=_rr("mx.example.", "A", ("127.1.2.3",)),
        aaaa=RRsetEvidence("mx.example.", "AAAA", QueryStatus.SERVFAIL, DnssecStatus.BOGUS,
                           DnssecReason.MISSING_DS, None, (), from_cd=True, detail="why"),
        tlsa=_rr("_25._tcp.mx.example.", "TLSA", ("3 1 1 AB12",), rrsigs=(sig,),
                 cname_chain=("a.", "b."), zone="example."),
        tlsa_base="_25._tcp.mx.example.", tlsa_original=None, cname_target="b.",
        addresses=("127.1.2.3",))
    wire = json.loads(json.dumps(codec.encode_host(host)))
    assert codec.decode_host(wire) == host


def test_chunks_round_trip_and_refuse_garbage() -> None:
    chunk = [DomainInput("a.test."), DomainInput("b.test.", ("ns1.b.test.",), True),
             DomainInput("c.test.", (), False)]
    assert codec.decode_chunk(json.loads(json.dumps(codec.encode_chunk(chunk)))) == chunk
    assert codec.encode_chunk(chunk)[0] == "a.test."  # a bare name stays a bare string
    with pytest.raises(ValueError, match="not a domain"):
        codec.decode_chunk([["bad", 1]])
    with pytest.raises(ValueError, match="is a list"):
        codec.decode_chunk({"a": 1})


def test_rows_round_trip_through_one_message() -> None:
    when = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    cert = CertificateRow(sha256="ab", der=b"\x30\x82\xff\x00", subject="CN=x", issuer="CN=y",
                          san=["x.test"], not_before=when, not_after=when, spki_sha256="1",
                          spki_sha512="2", key_type="ec", key_bits=256, is_ca_issued=0,
                          issuer_org="", issuer_cn="y", first_seen=when, scan_id="s")
    dom = DomainRow(scan_id="s", domain="a.test", tld="test", ns=["ns.a.test"], ds_in_parent=1,
                    has_dnskey=1, mx=["mx.a.test"], mx_preferences=[10], implicit_mx=0,
                    null_mx=0, mx_status="NOERROR", mx_dnssec_status="secure",
                    mx_dnssec_reason="", status="NOERROR", attempt=2, registered="a.test",
                    mx_registered=["a.test"], ns_registered=["a.test"])
    verdict = DaneVerdictRow(scan_id="s", mx_host="mx.a.test", ip="", valid=1, reason="valid",
                             rfc_outcome="dane", paper_valid=1, tlsa_dnssec_status="secure",
                             matched_usage=3, matched_selector=1, matched_mtype=1,
                             matched_depth=0, leaf_spki_sha256="", leaf_cert_sha256="",
                             verified_at=when)
    raw = codec.encode_message("s", "dns", "c7", 1, [cert, dom, verdict])
    msg, rows = codec.decode_message(raw)
    assert (msg["scan"], msg["kind"], msg["key"], msg["domains"]) == ("s", "dns", "c7", 1)
    secs = int(when.timestamp())  # DateTime travels as epoch seconds, which the writer takes
    assert rows[0] == dataclasses.replace(cert, not_before=secs, not_after=secs, first_seen=secs)
    assert isinstance(rows[0], CertificateRow) and rows[0].der == cert.der
    assert rows[1] == dom and rows[2].verified_at == int(when.timestamp())
    with pytest.raises(ValueError, match="no such table"):
        codec.decode_rows([["nope", 1]])


AT = parse_clock("02:00")


@pytest.mark.parametrize(("now", "last_n", "last_h", "zones", "want"), [
    # before 02:00: no nightly yet; hourly from minute 30 on
    (dt.datetime(2025, 5, 1, 1, 10, tzinfo=UTC), None, None, True, []),
    (dt.datetime(2025, 5, 1, 1, 40, tzinfo=UTC), None, None, True, [("hourly", "hourly-20250501T01")]),
    (dt.datetime(2025, 5, 1, 2, 5, tzinfo=UTC), None, "hourly-20250501T01", True,
     [("nightly", "nightly-20250501")]),
    # started already: nothing twice
    (dt.datetime(2025, 5, 1, 2, 45, tzinfo=UTC), "nightly-20250501", "hourly-20250501T02", True, []),
    # a scheduler that was down from 02:00 to 23:50 still runs the day's nightly, once
    (dt.datetime(2025, 5, 1, 23, 50, tzinfo=UTC), "nightly-20250430", "hourly-20250501T01", True,
     [("nightly", "nightly-20250501"), ("hourly", "hourly-20250501T23")]),
    # no zone files configured: no nightly scan
    (dt.datetime(2025, 5, 1, 3, 0, tzinfo=UTC), None, "hourly-20250501T03", False, []),
])
def test_due_jobs(now: dt.datetime, last_n: str | None, last_h: str | None, zones: bool,
                  want: list[tuple[str, str]]) -> None:
    got = due_jobs(now, last_n, last_h, AT, 30, zones)
    assert [(j.kind, j.scan_id) for j in got] == want


def test_ids_and_clock() -> None:
    assert nightly_id(dt.date(2025, 1, 2)) == "nightly-20250102"
    assert hourly_id(dt.datetime(2025, 1, 2, 7, 59)) == "hourly-20250102T07"
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("2am")
