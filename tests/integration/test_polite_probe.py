"""The embedded scan's STARTTLS stage with the polite hooks, over real loopback sockets: excluded
addresses get no connection, and every connection took its token (counts, not timings)."""

from __future__ import annotations

import asyncio
import datetime as dt

from workers.dns import EngineSettings, MxHostEvidence, RRsetEvidence
from workers.exclusion import parse
from workers.ratelimit import Rate, RateLimits
from workers.scan.batch import ScanContext, smtp_stage
from workers.smtp import ProbeTimeouts
from workers.smtp.throttle import local_throttle
from workers.vocab import DaneReason, DnssecReason, DnssecStatus, QueryStatus, RfcOutcome


def _host(name: str, *ips: str) -> MxHostEvidence:
    def rr(rtype: str, records: tuple[str, ...] = ()) -> RRsetEvidence:
        return RRsetEvidence(name, rtype, QueryStatus.NOERROR, DnssecStatus.SECURE,
                             DnssecReason.NONE, 300, records)

    tlsa = rr("TLSA", ("3 1 1 " + "ab" * 32,))
    return MxHostEvidence(host=name, a=rr("A", ips), aaaa=rr("AAAA"), tlsa=tlsa,
                          tlsa_base=f"_25._tcp.{name}", addresses=ips)


def test_smtp_stage_excludes_and_throttles() -> None:
    # nothing listens on 127.254.78.x: a connection is refused at once, and the refusal spreads
    # to the address's other names without a connection (so without a token)
    throttle = local_throttle(RateLimits(per_ip=Rate(1, 0.0), overall=Rate(100, 0.0)))
    assert throttle is not None
    ctx = ScanContext(scan_id="s", now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                      dns_settings=EngineSettings("127.0.0.1"), anchors=None,
                      timeouts=ProbeTimeouts(connect=2.0, total=5.0), throttle=throttle,
                      exclusions=parse(b"127.254.78.9\nexcluded.example\n", "x"))
    hosts = [_host("a.example", "127.254.78.1", "127.254.78.2"),
             _host("b.example", "127.254.78.1"), _host("c.example", "127.254.78.9"),
             _host("mx.excluded.example", "127.254.78.3")]
    out = {h.evidence.host: h for h in asyncio.run(smtp_stage(hosts, ctx))}
    assert throttle.granted == 2  # .1 and .2 once each; nothing for .9, nor for the excluded name
    assert [str(p.status) for p in out["c.example"].probes] == ["excluded"]
    assert (out["c.example"].verdict.reason, out["c.example"].verdict.rfc) == (
        DaneReason.EXCLUDED, RfcOutcome.UNKNOWN)
    assert out["mx.excluded.example"].probes == ()
    assert out["mx.excluded.example"].verdict.reason is DaneReason.EXCLUDED
    assert {str(p.status) for p in out["a.example"].probes} == {"connect-refused"}
