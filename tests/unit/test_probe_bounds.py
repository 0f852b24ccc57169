"""Pure parts of the bounds against tarpits and huge RRsets: the cuts, which outcomes an address
shares between its MX names, and how all of it reaches the rows."""

from __future__ import annotations

import datetime as dt

import pytest

from workers.cluster import codec
from workers.cluster.downs import decode, encode
from workers.dane import dane_verdict
from workers.dns import DomainEvidence, DomainInput, EngineSettings, MxHostEvidence, RRsetEvidence
from workers.dns.bounds import Bounds, bound_addresses, cut
from workers.scan.batch import HostOutcome, ScanContext, judge, tlsa_evidence
from workers.scan.rows import domain_rows, host_rows, mx_preferences, probe_row
from workers.smtp import ProbeError, ProbeStep, ProbeTarget, ProbeTimeouts, StarttlsEvidence
from workers.smtp.outcomes import AddressOutcomes, inferred, spreads
from workers.store.rows import DaneVerdictRow, DomainRow, StarttlsProbeRow
from workers.vocab import DaneReason, DnssecReason, DnssecStatus, QueryStatus, SmtpStatus

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _ev(status: SmtpStatus, step: ProbeStep, host: str = "mx1.example", ip: str = "127.1.1.1",
        error: ProbeError = ProbeError.TIMEOUT) -> StarttlsEvidence:
    return StarttlsEvidence(status=status, host=host, ip=ip, port=25, sni=host, started_at=NOW,
                            step=step, error=error, detail="seen",
                            timings_ms=((step, 1000.0),))


def _rr(name: str, rtype: str, records: tuple[str, ...]) -> RRsetEvidence:
    return RRsetEvidence(name, rtype, QueryStatus.NOERROR, DnssecStatus.SECURE, DnssecReason.NONE,
                         300, records)


def test_cut_keeps_the_first_and_counts_the_rest() -> None:
    assert cut(["a", "b", "c"], 2) == (["a", "b"], 1)
    assert cut(["a"], 2) == (["a"], 0)
    assert cut([], 1) == ([], 0)


def test_addresses_are_bounded_per_family() -> None:
    a = [f"127.0.0.{i}" for i in range(1, 21)]
    aaaa = [f"::ffff:127.0.1.{i}" for i in range(1, 4)]
    kept, gone = bound_addresses(a, aaaa, 16)
    assert kept == tuple(a[:16] + aaaa) and gone == 4
    kept, gone = bound_addresses(a[:2], [f"::ffff:127.0.2.{i}" for i in range(30)], 16)
    assert len(kept) == 18 and kept[:2] == tuple(a[:2]) and gone == 14


def test_bounds_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Bounds(max_mx_hosts=0)
    with pytest.raises(ValueError, match="positive"):
        ProbeTimeouts(total=0)


T, E = ProbeError.TIMEOUT, ProbeError


@pytest.mark.parametrize(
    ("status", "step", "error", "shared"),
    [
        (SmtpStatus.CONNECT_TIMEOUT, ProbeStep.CONNECT, T, True),
        (SmtpStatus.CONNECT_REFUSED, ProbeStep.CONNECT, E.REFUSED, True),
        (SmtpStatus.BANNER_TIMEOUT, ProbeStep.BANNER, T, True),
        (SmtpStatus.EHLO_FAILED, ProbeStep.EHLO, T, True),  # a step's timeout before TLS
        (SmtpStatus.STARTTLS_REJECTED, ProbeStep.STARTTLS, T, True),
        (SmtpStatus.PROBE_TIMEOUT, ProbeStep.EHLO, T, True),
        (SmtpStatus.PROBE_TIMEOUT, ProbeStep.STARTTLS, T, True),
        (SmtpStatus.PROBE_TIMEOUT, ProbeStep.HANDSHAKE, T, False),  # SNI was sent: the name's
        (SmtpStatus.HANDSHAKE_TIMEOUT, ProbeStep.HANDSHAKE, T, False),
        (SmtpStatus.HANDSHAKE_FAILED, ProbeStep.HANDSHAKE, E.TLS_ERROR, False),
        (SmtpStatus.CERT_UNPARSABLE, ProbeStep.HANDSHAKE, E.CERT_PARSE, False),
        (SmtpStatus.NO_STARTTLS, ProbeStep.STARTTLS, E.NOT_ADVERTISED, False),
        (SmtpStatus.EHLO_FAILED, ProbeStep.EHLO, E.REPLY_CODE, False),  # quick to see anyway
        (SmtpStatus.BANNER_GARBAGE, ProbeStep.BANNER, E.NOT_SMTP, False),
        (SmtpStatus.CONNECT_ERROR, ProbeStep.CONNECT, E.OS_ERROR, False),
        (SmtpStatus.PROBE_ERROR, ProbeStep.CONNECT, E.INTERNAL, False),  # our bug: nobody's
        (SmtpStatus.PROBE_ERROR, ProbeStep.CONNECT, T, False),
    ],
)
def test_only_timeouts_and_refusals_before_tls_spread(
        status: SmtpStatus, step: ProbeStep, error: ProbeError, shared: bool) -> None:
    ev = _ev(status, step, error=error)
    assert spreads(ev) is shared
    memo = AddressOutcomes()
    assert memo.record(ev) is shared
    assert (memo.get(ev.ip, 25) is ev) is shared
    assert memo.get(ev.ip, 587) is None  # another port is another service


def test_inferred_evidence_says_where_it_comes_from() -> None:
    source = _ev(SmtpStatus.BANNER_TIMEOUT, ProbeStep.BANNER)
    later = NOW + dt.timedelta(seconds=30)
    ev = inferred(source, ProbeTarget("mx2.example", source.ip), later)
    assert (ev.status, ev.step, ev.error, ev.host, ev.ip) == (
        SmtpStatus.BANNER_TIMEOUT, ProbeStep.BANNER, ProbeError.TIMEOUT, "mx2.example", source.ip)
    assert ev.inferred_from == "mx1.example" and ev.timings_ms == () and ev.started_at == later
    assert "mx1.example" in ev.detail and ev.to_json()["inferred_from"] == "mx1.example"
    # a chain of inference names the name really probed
    assert inferred(ev, ProbeTarget("mx3.example", source.ip), later).inferred_from == "mx1.example"
    with pytest.raises(ValueError, match="not shared"):
        inferred(_ev(SmtpStatus.HANDSHAKE_FAILED, ProbeStep.HANDSHAKE, error=E.TLS_ERROR),
                 ProbeTarget("mx2.example", source.ip), later)
    memo = AddressOutcomes()
    memo.record(source)
    memo.record(_ev(SmtpStatus.CONNECT_REFUSED, ProbeStep.CONNECT, host="other.example",
                    error=E.REFUSED))
    assert memo.get(source.ip, 25) is source  # the first outcome of an address stays


def test_inferred_outcome_gives_the_same_verdict() -> None:
    from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence

    tlsa = TlsaEvidence(QueryStatus.NOERROR, DnssecStatus.SECURE, DnssecReason.NONE,
                        (TlsaRecord.from_text("3 1 1 " + "ab" * 32),))
    for status in (SmtpStatus.PROBE_TIMEOUT, SmtpStatus.BANNER_TIMEOUT):
        v = dane_verdict("mx.example", tlsa, TlsEvidence(status), NOW)
        assert (v.valid, v.reason) == (False, DaneReason.CONNECT_FAILED)


def test_shared_outcome_travels_through_redis_text() -> None:
    source = _ev(SmtpStatus.PROBE_TIMEOUT, ProbeStep.STARTTLS)
    back = decode(encode(source))
    assert back is not None
    assert (back.status, back.step, back.error, back.host, back.ip, back.port, back.started_at) == (
        source.status, source.step, source.error, source.host, source.ip, 25, NOW)
    again = decode(encode(inferred(source, ProbeTarget("mx9.example", source.ip), NOW)))
    assert again is not None and again.host == "mx1.example"  # the origin, not the inferred name
    for junk in (b"", b"[", b'{"status": "ok"}', b"{}", encode(source).replace("\"starttls\"", "\"nowhere\""),
                 encode(_ev(SmtpStatus.HANDSHAKE_FAILED, ProbeStep.HANDSHAKE, error=E.TLS_ERROR))):
        assert decode(junk) is None


def test_mx_preferences_follow_the_hosts_kept() -> None:
    records = ("10 b.example.", "5 a.example.", "20 c.example.", "7 A.example.", "junk")
    assert mx_preferences(records, ["a.example", "b.example"]) == [5, 10]
    assert mx_preferences(records, ["c.example", "zz.example"]) == [20, 0]


def test_cut_counts_reach_the_rows() -> None:
    mx = _rr("big.example.", "MX", tuple(f"{10 + i} m{i}.big.example." for i in range(40)))
    d = DomainEvidence(input=DomainInput("big.example"), domain="big.example.", mx=mx,
                       mx_hosts=tuple(f"m{i}.big.example." for i in range(32)), mx_hosts_cut=8)
    (row, *_rest) = domain_rows("s1", d, "127.0.0.1", 0)
    assert isinstance(row, DomainRow)
    assert row.mx_hosts_cut == 8 and len(row.mx) == 32
    assert list(row.mx_preferences) == [10 + i for i in range(32)]

    a = tuple(f"127.0.3.{i}" for i in range(1, 21))
    host = MxHostEvidence(host="m0.big.example.", a=_rr("m0.big.example.", "A", a),
                          aaaa=_rr("m0.big.example.", "AAAA", ()),
                          tlsa=_rr("_25._tcp.m0.big.example.", "TLSA", ("3 1 1 " + "ab" * 32,)),
                          tlsa_base="_25._tcp.m0.big.example.", addresses=a[:16],
                          addresses_cut=4)
    assert codec.decode_host(codec.encode_host(host)).addresses_cut == 4
    ctx = ScanContext(scan_id="s1", now=NOW, dns_settings=EngineSettings("127.0.0.1"),
                      anchors=None)
    probed = _ev(SmtpStatus.BANNER_TIMEOUT, ProbeStep.BANNER, host="m0.big.example.", ip=a[0])
    others = [inferred(probed, ProbeTarget("m0.big.example.", ip), NOW) for ip in a[1:16]]
    outcome: HostOutcome = judge(host, tlsa_evidence(host), [probed, *others], ctx, ())
    rows = list(host_rows("s1", outcome, "127.0.0.1", NOW, frozenset(), 0))
    verdicts = [r for r in rows if isinstance(r, DaneVerdictRow)]
    assert {r.ip: r.addresses_cut for r in verdicts}[""] == 4
    assert all(r.addresses_cut == 0 for r in verdicts if r.ip)
    probes = [r for r in rows if isinstance(r, StarttlsProbeRow)]
    assert len(probes) == 16
    assert [r.inferred_from for r in probes].count("") == 1
    assert {r.inferred_from for r in probes if r.inferred_from} == {"m0.big.example"}
    assert probe_row("s1", probed, 0).status == "banner-timeout"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROBE_DEADLINE", "abc", "DANESCAN_PROBE_DEADLINE='abc' is not a number"),
        ("PROBE_DEADLINE", "0", "DANESCAN_PROBE_DEADLINE=0 must be more than 0"),
        ("MAX_MX_HOSTS", "0", "DANESCAN_MAX_MX_HOSTS=0 must be at least 1"),
        ("MAX_ADDRESSES", "1.5", "DANESCAN_MAX_ADDRESSES='1.5' is not a whole number"),
        ("CHUNK", "lots", "DANESCAN_CHUNK='lots' is not a whole number"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    from click.testing import CliRunner

    from danescan.cli import main
    from workers.settings import Settings, SettingsError

    monkeypatch.setenv(f"DANESCAN_{name}", value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert str(err.value) == message
    done = CliRunner().invoke(main, ["scan", "no-such-input.txt"])
    assert done.exit_code == 2 and done.output.strip().splitlines() == [f"danescan: {message}"]


def test_settings_defaults_keep_the_probe_inside_its_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.settings import Settings

    for name in ("PROBE_DEADLINE", "IP_LEASE_SECONDS", "MAX_MX_HOSTS", "MAX_ADDRESSES"):
        monkeypatch.delenv(f"DANESCAN_{name}", raising=False)
    s = Settings.from_env()
    assert s.probe_deadline < s.ip_lease_seconds and ProbeTimeouts().total == s.probe_deadline
    assert Bounds() == Bounds(s.max_mx_hosts, s.max_addresses) == Bounds(32, 16)
