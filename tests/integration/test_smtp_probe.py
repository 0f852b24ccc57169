"""The STARTTLS probe against real ``lab.smtpd`` processes on 127.77.1.0/24 and 127.77.2.0/24."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.smtpd_certs import write_chain
from tests.integration.smtpd_process import SmtpdProcess
from workers.smtp import (
    ProbeError,
    ProbeLimits,
    ProbeStep,
    ProbeTarget,
    ProbeTimeouts,
    ReadLimits,
    StarttlsEvidence,
    client_context,
    probe_many,
    probe_starttls,
    run,
)
from workers.vocab import SmtpStatus

NET = "127.77.1"
TIMEOUTS = ProbeTimeouts(connect=5, banner=5, ehlo=5, starttls=5, handshake=5, quit=2)


@dataclass(frozen=True)
class Pki:
    files: dict[str, dict[str, str]]  # name -> {"chain": path, "key": path}
    ders: dict[str, list[bytes]]  # name -> presented chain, leaf first


def _break_validity(der: bytes) -> bytes:
    """Corrupt notBefore (OpenSSL still loads and sends the certificate, ``cryptography`` refuses it)."""
    assert der.count(b"240101000000Z") == 1
    return der.replace(b"240101000000Z", b"2401010000xxZ")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    files: dict[str, dict[str, str]] = {}
    ders: dict[str, list[bytes]] = {}
    specs: dict[str, dict[str, Any]] = {
        "mx1.probe.test": {},
        "mx2.probe.test": {},
        "default.probe.test": {},
        "long.probe.test": {"intermediates": 49},
        "broken.probe.test": {"mangle_leaf": _break_validity},
    }
    for name, options in specs.items():
        chain, key, presented = write_chain(d, name, **options)
        files[name] = {"chain": str(chain), "key": str(key)}
        ders[name] = presented
    return Pki(files, ders)


def _listener(
    ip: str, behaviour: str, certs: dict[str, dict[str, str]], **extra: Any
) -> dict[str, Any]:
    return {
        "ip": ip,
        "port": 25,
        "behaviour": behaviour,
        "hostname": f"lab-{behaviour}",
        "certs": certs,
        **extra,
    }


@pytest.fixture(scope="module")
def smtpd(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpdProcess]:
    f = pki.files
    sni_map = {
        "mx1.probe.test": f["mx1.probe.test"],
        "mx2.probe.test": f["mx2.probe.test"],
        "*": f["default.probe.test"],
    }
    listeners = [
        _listener(f"{NET}.1", "ok", sni_map),
        _listener(f"{NET}.2", "no-starttls", {}),
        _listener(f"{NET}.3", "starttls-454", sni_map),
        _listener(f"{NET}.4", "handshake-fail", sni_map),
        _listener(f"{NET}.5", "banner-5xx", {}),
        _listener(f"{NET}.6", "garbage-banner", {}),
        _listener(f"{NET}.7", "silent", {}),
        _listener(f"{NET}.8", "huge-ehlo", sni_map),
        _listener(f"{NET}.9", "long-chain", {"*": f["long.probe.test"]}),
        _listener(f"{NET}.10", "ok", {"*": f["broken.probe.test"]}),
        _listener(f"{NET}.11", "ok", sni_map, delay_ms=200),
        _listener(f"{NET}.12", "ok", {"mx1.probe.test": f["mx1.probe.test"]}),  # no default
        _listener(f"{NET}.13", "ok", sni_map, delay_ms=200),
    ]
    server = SmtpdProcess(tmp_path_factory.mktemp("smtpd"), {"listeners": listeners})
    server.start()
    yield server
    assert server.stop() == 0


def probe(host: str, ip: str, **kwargs: Any) -> StarttlsEvidence:
    kwargs.setdefault("timeouts", TIMEOUTS)
    return run(probe_starttls(host, ip, ehlo_name="probe.danescan.test", **kwargs))


def collect(targets: list[ProbeTarget], limits: ProbeLimits) -> list[StarttlsEvidence]:
    async def go() -> list[StarttlsEvidence]:
        return [
            e
            async for e in probe_many(
                targets, ehlo_name="probe.danescan.test", timeouts=TIMEOUTS, limits=limits
            )
        ]

    return run(go())


def test_ok_presents_the_configured_chain_and_all_evidence(smtpd: SmtpdProcess, pki: Pki) -> None:
    e = probe("mx1.probe.test", f"{NET}.1")
    assert e.status is SmtpStatus.OK and e.step is ProbeStep.DONE and e.error is ProbeError.NONE
    assert list(e.chain) == pki.ders["mx1.probe.test"]
    assert (e.host, e.ip, e.port, e.sni) == ("mx1.probe.test", f"{NET}.1", 25, "mx1.probe.test")
    assert e.banner == ("220-lab-ok ESMTP danescan lab", "220 probe target, not a mail server")
    assert e.ehlo[0] == "250-lab-ok" and "250-STARTTLS" in e.ehlo and e.ehlo[-1] == "250 8BITMIME"
    assert e.starttls_reply[0].startswith("220 ")
    assert e.tls_version in ("TLSv1.2", "TLSv1.3") and e.cipher
    assert [step for step, _ in e.timings_ms] == [
        ProbeStep.CONNECT,
        ProbeStep.BANNER,
        ProbeStep.EHLO,
        ProbeStep.STARTTLS,
        ProbeStep.HANDSHAKE,
        ProbeStep.QUIT,
    ]
    assert e.started_at.tzinfo is not None and not e.chain_truncated
    assert e.to_json()["status"] == "ok"


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        ("mx2.probe.test", "mx2.probe.test"),
        ("MX1.Probe.Test", "mx1.probe.test"),
        ("other.test", "default.probe.test"),
    ],
)
def test_sni_selects_the_certificate(
    smtpd: SmtpdProcess, pki: Pki, sni: str, expected: str
) -> None:
    e = probe("mx9.probe.test", f"{NET}.1", sni=sni)
    assert e.status is SmtpStatus.OK
    assert e.sni == sni
    assert list(e.chain) == pki.ders[expected]


def test_unknown_name_without_default_fails_the_handshake(smtpd: SmtpdProcess) -> None:
    e = probe("unknown.probe.test", f"{NET}.12")
    assert e.status is SmtpStatus.HANDSHAKE_FAILED and e.step is ProbeStep.HANDSHAKE
    # the server's unrecognized_name alert may or may not reach us before it drops the connection
    assert e.error in (ProbeError.TLS_ERROR, ProbeError.CLOSED) and e.chain == (), e.detail
    assert probe("mx1.probe.test", f"{NET}.12").status is SmtpStatus.OK


@pytest.mark.parametrize(
    ("last_octet", "status", "step", "error"),
    [
        (2, SmtpStatus.NO_STARTTLS, ProbeStep.STARTTLS, ProbeError.NOT_ADVERTISED),
        (3, SmtpStatus.STARTTLS_REJECTED, ProbeStep.STARTTLS, ProbeError.REPLY_CODE),
        (4, SmtpStatus.HANDSHAKE_FAILED, ProbeStep.HANDSHAKE, ProbeError.TLS_ERROR),
        (5, SmtpStatus.BANNER_REJECTED, ProbeStep.BANNER, ProbeError.REPLY_CODE),
        (6, SmtpStatus.BANNER_GARBAGE, ProbeStep.BANNER, ProbeError.NOT_SMTP),
        (8, SmtpStatus.EHLO_FAILED, ProbeStep.EHLO, ProbeError.REPLY_TOO_LARGE),
    ],
)
def test_misbehaving_servers(
    smtpd: SmtpdProcess, last_octet: int, status: SmtpStatus, step: ProbeStep, error: ProbeError
) -> None:
    e = probe("mx1.probe.test", f"{NET}.{last_octet}")
    assert (e.status, e.step, e.error) == (status, step, error)
    assert e.chain == () and e.tls_version == ""
    assert e.detail


def test_partial_evidence_is_kept(smtpd: SmtpdProcess) -> None:
    rejected = probe("mx1.probe.test", f"{NET}.3")
    assert rejected.banner[0].startswith("220-") and "250-STARTTLS" in rejected.ehlo
    assert rejected.starttls_reply == ("454 4.7.0 TLS not available due to temporary reason",)
    refused = probe("mx1.probe.test", f"{NET}.5")
    assert refused.banner == ("554 5.3.2 lab-banner-5xx no service here",) and refused.ehlo == ()
    nostarttls = probe("mx1.probe.test", f"{NET}.2")
    assert nostarttls.ehlo[0] == "250-lab-no-starttls" and "250-STARTTLS" not in nostarttls.ehlo


def test_huge_ehlo_is_cut_at_the_bounds(smtpd: SmtpdProcess) -> None:
    limits = ReadLimits()
    e = probe("mx1.probe.test", f"{NET}.8", limits=limits)
    assert sum(len(line) for line in e.ehlo) <= limits.max_reply_bytes
    few_lines = probe("mx1.probe.test", f"{NET}.8", limits=ReadLimits(max_lines=10))
    assert (few_lines.status, few_lines.error) == (
        SmtpStatus.EHLO_FAILED,
        ProbeError.TOO_MANY_LINES,
    )
    assert len(few_lines.ehlo) == 10
    short_lines = probe("mx1.probe.test", f"{NET}.8", limits=ReadLimits(max_line=200))
    assert (short_lines.status, short_lines.error) == (
        SmtpStatus.EHLO_FAILED,
        ProbeError.LINE_TOO_LONG,
    )


def test_silent_server_times_out_at_the_banner(smtpd: SmtpdProcess) -> None:
    e = probe("mx1.probe.test", f"{NET}.7", timeouts=ProbeTimeouts(banner=0.5))
    assert (e.status, e.step, e.error) == (
        SmtpStatus.BANNER_TIMEOUT,
        ProbeStep.BANNER,
        ProbeError.TIMEOUT,
    )
    assert e.banner == ()


def test_long_chain_is_kept_whole_or_bounded(smtpd: SmtpdProcess, pki: Pki) -> None:
    e = probe("long.probe.test", f"{NET}.9")
    assert e.status is SmtpStatus.OK
    assert len(e.chain) == 50 and list(e.chain) == pki.ders["long.probe.test"]
    cut = probe("long.probe.test", f"{NET}.9", limits=ReadLimits(max_chain_certs=10))
    assert cut.status is SmtpStatus.OK and cut.chain_truncated
    assert list(cut.chain) == pki.ders["long.probe.test"][:10]


def test_unparsable_certificate_keeps_raw_bytes(smtpd: SmtpdProcess, pki: Pki) -> None:
    e = probe("broken.probe.test", f"{NET}.10")
    assert (e.status, e.step, e.error) == (
        SmtpStatus.CERT_UNPARSABLE,
        ProbeStep.HANDSHAKE,
        ProbeError.CERT_PARSE,
    )
    assert list(e.chain) == pki.ders["broken.probe.test"]
    assert e.tls_version and "depth 0" in e.detail


def test_closed_port_is_connect_refused() -> None:
    e = probe("nobody.probe.test", f"{NET}.200")
    assert (e.status, e.step, e.error) == (
        SmtpStatus.CONNECT_REFUSED,
        ProbeStep.CONNECT,
        ProbeError.REFUSED,
    )


def test_probe_many_respects_the_per_ip_cap(smtpd: SmtpdProcess) -> None:
    capped = [ProbeTarget(f"mx{i}.probe.test", f"{NET}.11") for i in range(6)]
    wider = [ProbeTarget(f"mx{i}.probe.test", f"{NET}.13") for i in range(6)]
    got = collect(capped, ProbeLimits(per_ip=1, global_=50))
    got += collect(wider, ProbeLimits(per_ip=3, global_=50))
    assert sorted((e.ip, e.host) for e in got) == sorted((t.ip, t.host) for t in capped + wider)
    assert all(e.status is SmtpStatus.OK for e in got)
    seen = smtpd.stats()["addresses"]
    assert seen[f"{NET}.11"]["total"] == 6 and seen[f"{NET}.11"]["peak"] == 1
    assert seen[f"{NET}.13"]["total"] == 6 and seen[f"{NET}.13"]["peak"] == 3


def test_probe_many_respects_the_global_cap(pki: Pki, tmp_path: Path) -> None:
    certs = {"*": pki.files["default.probe.test"]}
    listeners = [_listener(f"127.77.2.{i}", "ok", certs, delay_ms=200) for i in range(1, 9)]
    server = SmtpdProcess(tmp_path, {"listeners": listeners})
    server.start()
    try:
        targets = [ProbeTarget("mx.probe.test", f"127.77.2.{i}") for i in range(1, 9)] * 2
        got = collect(targets, ProbeLimits(per_ip=4, global_=3))
        assert len(got) == 16 and all(e.status is SmtpStatus.OK for e in got)
        stats = server.stats()
        assert stats["all"]["total"] == 16 and stats["all"]["peak"] == 3
    finally:
        assert server.stop() == 0


def test_sighup_reloads_certificates_and_listeners(pki: Pki, tmp_path: Path) -> None:
    f = pki.files
    first = {
        "listeners": [
            _listener("127.77.2.20", "ok", {"*": f["mx1.probe.test"]}),
            _listener("127.77.2.21", "ok", {"*": f["mx1.probe.test"]}),
        ]
    }
    second = {
        "listeners": [
            _listener("127.77.2.20", "ok", {"*": f["mx2.probe.test"]}),
            _listener("127.77.2.22", "no-starttls", {}),
        ]
    }
    server = SmtpdProcess(tmp_path, first)
    server.start()
    try:
        assert server.proc is not None
        assert list(probe("mx.probe.test", "127.77.2.20").chain) == pki.ders["mx1.probe.test"]
        assert probe("mx.probe.test", "127.77.2.21").status is SmtpStatus.OK
        assert probe("mx.probe.test", "127.77.2.22").status is SmtpStatus.CONNECT_REFUSED
        assert server.reload(second) == "reloaded 2"
        assert server.proc.poll() is None and int(server.pidfile.read_text()) == server.proc.pid
        assert list(probe("mx.probe.test", "127.77.2.20").chain) == pki.ders["mx2.probe.test"]
        assert probe("mx.probe.test", "127.77.2.21").status is SmtpStatus.CONNECT_REFUSED
        assert probe("mx.probe.test", "127.77.2.22").status is SmtpStatus.NO_STARTTLS
    finally:
        assert server.stop() == 0
    assert not server.pidfile.exists()


def test_address_in_use_is_one_clear_error(smtpd: SmtpdProcess, tmp_path: Path) -> None:
    config = tmp_path / "clash.json"
    config.write_text(
        '{"listeners": [{"ip": "127.77.1.2", "port": 25, "behaviour": "no-starttls"}]}'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.smtpd",
            "--config",
            str(config),
            "--pidfile",
            str(tmp_path / "pid"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "smtpd: cannot listen on 127.77.1.2:25: address already in use"
    ]
    assert "ready" not in done.stdout and not (tmp_path / "pid").exists()


def test_one_client_context_serves_many_probes(smtpd: SmtpdProcess, pki: Pki) -> None:
    ctx = client_context()
    chains = {
        probe(name, f"{NET}.1", ssl_context=ctx).chain[0]
        for name in ("mx1.probe.test", "mx2.probe.test")
    }
    assert chains == {pki.ders["mx1.probe.test"][0], pki.ders["mx2.probe.test"][0]}
