"""Tarpits against real ``lab.smtpd`` processes on 127.76.1.0/24: the probe's overall deadline, one
timeout per silent address however many MX names it carries, and the per-IP cap across workers
(Redis leases renewed while held) with sessions longer than the lease."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from lab.smtpd_certs import write_chain
from tests.integration.cluster_probe import probe_with_leases
from tests.integration.redis_dbs import claim
from tests.integration.smtpd_process import SmtpdProcess
from workers.cluster.downs import down_key
from workers.cluster.leases import IpLeases, lease_key
from workers.dns import EngineSettings, MxHostEvidence, RRsetEvidence
from workers.scan.batch import ScanContext
from workers.settings import Settings
from workers.smtp import (
    ProbeError,
    ProbeLimits,
    ProbeStep,
    ProbeTarget,
    ProbeTimeouts,
    StarttlsEvidence,
    probe_many,
    probe_starttls,
    run,
)
from workers.smtp.outcomes import AddressOutcomes
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus, SmtpStatus

NET = "127.76.1"
TARPIT_MS = 1000  # the tarpit waits this long before each reply; every step timeout is far above
STEPS = dict(connect=20.0, banner=20.0, ehlo=20.0, starttls=20.0, handshake=20.0, quit=20.0)
REDIS_URL = f"redis://127.0.0.1:6379/{claim(13)}"  # keys of this module only: scan ids and addresses below


def _listener(ip: str, behaviour: str, certs: dict[str, Any], delay_ms: int = 0) -> dict[str, Any]:
    return {"ip": ip, "port": 25, "behaviour": behaviour, "hostname": f"lab-{behaviour}",
            "certs": certs, "delay_ms": delay_ms}


@pytest.fixture(scope="module")
def smtpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpdProcess]:
    d = tmp_path_factory.mktemp("pki")
    chain, key, _ = write_chain(d, "tarpit.probe.test")
    certs = {"*": {"chain": str(chain), "key": str(key)}}
    slow = 500  # shorter than TARPIT_MS: sessions of about 2 s, twice the 1 s lease
    listeners = [
        _listener(f"{NET}.1", "tarpit", certs, TARPIT_MS),  # the deadline
        _listener(f"{NET}.2", "silent", {}),  # several names, one timeout
        _listener(f"{NET}.3", "handshake-fail", certs),  # a TLS outcome: never shared
        _listener(f"{NET}.4", "tarpit", certs, TARPIT_MS),  # deadline outcome shared
        _listener(f"{NET}.5", "tarpit", certs, slow),  # cap across workers, renewed leases
        _listener(f"{NET}.6", "tarpit", certs, slow),  # the same without renewal: the cap breaks
        _listener(f"{NET}.7", "silent", {}),  # outcome shared across workers through Redis
        _listener(f"{NET}.8", "tarpit", certs, 1500),  # the deadline during QUIT
    ]
    server = SmtpdProcess(tmp_path_factory.mktemp("smtpd"), {"listeners": listeners})
    server.start()
    yield server
    assert server.stop() == 0


def probe(host: str, ip: str, timeouts: ProbeTimeouts) -> StarttlsEvidence:
    return run(probe_starttls(host, ip, ehlo_name="probe.danescan.test", timeouts=timeouts))


def collect(targets: list[ProbeTarget], timeouts: ProbeTimeouts, limits: ProbeLimits,
            outcomes: AddressOutcomes | None = None) -> list[StarttlsEvidence]:
    async def go() -> list[StarttlsEvidence]:
        return [e async for e in probe_many(targets, ehlo_name="probe.danescan.test",
                                            timeouts=timeouts, limits=limits, outcomes=outcomes)]

    return run(go())


def connections(server: SmtpdProcess, ip: str) -> dict[str, int]:
    counts: dict[str, int] = server.stats()["addresses"].get(ip, {"total": 0, "peak": 0})
    return counts


def test_a_tarpit_answering_every_step_in_time_is_cut_by_the_deadline(smtpd: SmtpdProcess) -> None:
    # without a deadline (60 s) the tarpit is served to the end: every step came within its timeout
    whole = probe("mx.tarpit.test", f"{NET}.1", ProbeTimeouts(**STEPS, total=60))
    assert whole.status is SmtpStatus.OK, whole
    for step in (ProbeStep.BANNER, ProbeStep.EHLO, ProbeStep.STARTTLS, ProbeStep.QUIT):
        assert (whole.timing(step) or 0) >= TARPIT_MS * 0.9, (step, whole.timings_ms)
    # the same server with an overall deadline of 2.5 s: cut after the banner, status of its own
    cut = probe("mx.tarpit.test", f"{NET}.1", ProbeTimeouts(**STEPS, total=2.5))
    assert (cut.status, cut.error) == (SmtpStatus.PROBE_TIMEOUT, ProbeError.TIMEOUT), cut
    assert cut.step in (ProbeStep.EHLO, ProbeStep.STARTTLS) and cut.banner  # partial evidence kept
    assert "2.5 s deadline" in cut.detail and cut.chain == ()
    assert cut.timings_ms[-1][0] is cut.step  # the interrupted step is timed too


def test_an_outcome_decided_before_quit_survives_the_deadline(smtpd: SmtpdProcess) -> None:
    # replies after 1.5 s: the chain is in hand at about 4.5 s, the 221 would come at 6 s or later
    e = probe("mx.tarpit.test", f"{NET}.8", ProbeTimeouts(**STEPS, total=5.6))
    assert e.status is SmtpStatus.OK and e.step is ProbeStep.DONE and e.chain, e
    assert e.timings_ms[-1][0] is ProbeStep.QUIT and e.timings_ms[-1][1] < 1500


def test_several_names_on_a_silent_address_cost_one_timeout(smtpd: SmtpdProcess) -> None:
    timeouts = ProbeTimeouts(connect=5, banner=2, ehlo=5, starttls=5, handshake=5, quit=2)
    silent = [ProbeTarget(f"mx{i}.silent.test", f"{NET}.2") for i in range(4)]
    tls = [ProbeTarget(f"mx{i}.tls.test", f"{NET}.3") for i in range(3)]
    memo = AddressOutcomes()
    got = collect(silent + tls, timeouts, ProbeLimits(per_ip=1, global_=50), memo)
    assert sorted((e.ip, e.host) for e in got) == sorted((t.ip, t.host) for t in silent + tls)
    on_silent = [e for e in got if e.ip == f"{NET}.2"]
    assert all(e.status is SmtpStatus.BANNER_TIMEOUT for e in on_silent)
    probed = [e for e in on_silent if not e.inferred_from]
    assert len(probed) == 1 and probed[0].timings_ms
    assert {e.inferred_from for e in on_silent if e.inferred_from} == {probed[0].host}
    assert all(e.timings_ms == () for e in on_silent if e.inferred_from)
    assert connections(smtpd, f"{NET}.2")["total"] == 1  # one connection, one timeout
    # a failed handshake depends on the name (SNI): every name is probed
    on_tls = [e for e in got if e.ip == f"{NET}.3"]
    assert all(e.status is SmtpStatus.HANDSHAKE_FAILED and not e.inferred_from for e in on_tls)
    assert connections(smtpd, f"{NET}.3")["total"] == 3
    # later in the same scan (the scan's memo), another name on the silent address: no connection
    again = collect([ProbeTarget("late.silent.test", f"{NET}.2")], timeouts,
                    ProbeLimits(per_ip=1, global_=50), memo)
    assert [(e.status, e.inferred_from) for e in again] == [
        (SmtpStatus.BANNER_TIMEOUT, probed[0].host)]
    assert connections(smtpd, f"{NET}.2")["total"] == 1


def test_a_deadline_outcome_before_tls_is_shared(smtpd: SmtpdProcess) -> None:
    before = connections(smtpd, f"{NET}.4")["total"]
    names = [ProbeTarget(f"mx{i}.deadline.test", f"{NET}.4") for i in range(3)]
    got = collect(names, ProbeTimeouts(**STEPS, total=2.5), ProbeLimits(per_ip=1, global_=50))
    assert all(e.status is SmtpStatus.PROBE_TIMEOUT for e in got), got
    assert sum(1 for e in got if not e.inferred_from) == 1
    assert connections(smtpd, f"{NET}.4")["total"] == before + 1


# --- across workers: the per-IP cap with Redis leases, and shared outcomes ------------------------


def _rr(name: str, rtype: str, records: tuple[str, ...]) -> RRsetEvidence:
    return RRsetEvidence(name, rtype, QueryStatus.NOERROR, DnssecStatus.SECURE, DnssecReason.NONE,
                         300, records)


def _host(name: str, ip: str) -> MxHostEvidence:
    return MxHostEvidence(host=name, a=_rr(name, "A", (ip,)), aaaa=_rr(name, "AAAA", ()),
                          tlsa=_rr(f"_25._tcp.{name}", "TLSA", ("3 1 1 " + "ab" * 32,)),
                          tlsa_base=f"_25._tcp.{name}", addresses=(ip,))


def _worker(scan_id: str, timeouts: ProbeTimeouts) -> ScanContext:
    """One worker's view of the scan: its own process memo of address outcomes."""
    return ScanContext(scan_id=scan_id, now=dt.datetime.now(dt.UTC),
                       dns_settings=EngineSettings("127.0.0.1"), anchors=None,
                       ehlo_name="probe.danescan.test", timeouts=timeouts)


def _settings(lease_seconds: int) -> Settings:
    return Settings(redis_url=REDIS_URL, db="", resolver="", trust_anchor="",
                    ehlo_name="probe.danescan.test", psl="", per_ip_cap=1,
                    ip_lease_seconds=lease_seconds, address_memo_seconds=600)


def _clean(scan_id: str, *ips: str) -> None:
    r = redis.Redis.from_url(REDIS_URL)
    r.delete(*[lease_key(ip) for ip in ips], *[down_key(scan_id, ip, 25) for ip in ips])
    r.close()


@pytest.mark.redis
def test_per_ip_cap_holds_across_workers_when_sessions_outlast_the_lease(
        smtpd: SmtpdProcess) -> None:
    scan_id = f"tarpit-{uuid.uuid4().hex[:8]}"
    _clean(scan_id, f"{NET}.5", f"{NET}.6")
    timeouts = ProbeTimeouts(**STEPS, total=30)
    settings = _settings(lease_seconds=1)  # each session takes about 2 s (4 replies x 0.5 s)

    async def two_workers() -> list[dict[str, list[StarttlsEvidence]]]:
        a = [_host(f"mx{i}.a.test.", f"{NET}.5") for i in range(2)]
        b = [_host(f"mx{i}.b.test.", f"{NET}.5") for i in range(2)]
        return list(await asyncio.gather(
            probe_with_leases(a, _worker(scan_id, timeouts), settings),
            probe_with_leases(b, _worker(scan_id, timeouts), settings)))

    try:
        found = run(two_workers())
        evidence = [e for per_worker in found for evs in per_worker.values() for e in evs]
        assert len(evidence) == 4 and all(e.status is SmtpStatus.OK for e in evidence), evidence
        seen = connections(smtpd, f"{NET}.5")
        assert (seen["total"], seen["peak"]) == (4, 1)

        # the control: the same leases without renewal let a second worker in (the test can fail)
        async def unrenewed() -> None:
            clients = [aioredis.Redis.from_url(REDIS_URL) for _ in range(2)]

            async def one(client: aioredis.Redis, name: str) -> StarttlsEvidence:
                leases = IpLeases(client, cap=1, lease_seconds=1, renew=False)
                async with leases.hold(f"{NET}.6"):
                    return await probe_starttls(name, f"{NET}.6", ehlo_name="probe.danescan.test",
                                                timeouts=timeouts)

            try:
                got = await asyncio.gather(one(clients[0], "mx.c.test"),
                                           one(clients[1], "mx.d.test"))
                assert all(e.status is SmtpStatus.OK for e in got)
            finally:
                for c in clients:
                    await c.aclose()

        run(unrenewed())
        assert connections(smtpd, f"{NET}.6")["peak"] == 2
    finally:
        _clean(scan_id, f"{NET}.5", f"{NET}.6")


@pytest.mark.redis
def test_a_silent_address_times_out_once_across_workers(smtpd: SmtpdProcess) -> None:
    scan_id = f"tarpit-{uuid.uuid4().hex[:8]}"
    ip = f"{NET}.7"
    _clean(scan_id, ip)
    timeouts = ProbeTimeouts(connect=5, banner=1.5, ehlo=5, starttls=5, handshake=5, quit=2)
    settings = _settings(lease_seconds=30)

    async def two_workers() -> list[dict[str, list[StarttlsEvidence]]]:
        return list(await asyncio.gather(
            probe_with_leases([_host("mx1.x.test.", ip)], _worker(scan_id, timeouts), settings),
            probe_with_leases([_host("mx2.y.test.", ip), _host("mx3.y.test.", ip)],
                              _worker(scan_id, timeouts), settings)))

    try:
        found = run(two_workers())
        evidence = [e for per_worker in found for evs in per_worker.values() for e in evs]
        assert len(evidence) == 3
        assert all(e.status is SmtpStatus.BANNER_TIMEOUT for e in evidence), evidence
        probed = [e for e in evidence if not e.inferred_from]
        assert len(probed) == 1
        assert {e.inferred_from for e in evidence if e.inferred_from} == {probed[0].host}
        assert connections(smtpd, ip)["total"] == 1
        r = redis.Redis.from_url(REDIS_URL)
        ttl = r.ttl(down_key(scan_id, ip, 25))
        r.close()
        assert 0 < int(ttl) <= 600
    finally:
        _clean(scan_id, ip)


def test_lab_tarpit_listener_config_is_checked(tmp_path: Path) -> None:
    from lab.smtpd_config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="needs certs"):
        parse_config({"listeners": [_listener(f"{NET}.9", "tarpit", {}, 100)]}, tmp_path)
