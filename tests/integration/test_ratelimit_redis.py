"""The cluster's connection-rate limits against real Redis: counts across processes, no timings.

Buckets that never refill make the counts exact whatever the scheduling: with K tokens, all
processes together get exactly K grants. The Lua script answers as the in-process buckets do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import multiprocessing as mp
from collections.abc import Iterator, Sequence

import pytest
import redis
import redis.asyncio as aioredis

from tests.integration.cluster_probe import probe_with_leases
from tests.integration.redis_dbs import claim
from workers.cluster.exclusions import scan_exclusions, share_exclusions
from workers.cluster.ratelimit import GLOBAL_KEY, RedisRateLimiter, cluster_throttle, ip_key
from workers.cluster.state import key
from workers.dns import EngineSettings, MxHostEvidence, RRsetEvidence
from workers.exclusion import parse
from workers.ratelimit import NEVER, Buckets, Rate, RateLimits
from workers.scan.batch import ScanContext
from workers.settings import Settings
from workers.smtp import ProbeTimeouts
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

pytestmark = pytest.mark.redis

REDIS_URL = f"redis://127.0.0.1:6379/{claim(9)}"


@pytest.fixture
def clean() -> Iterator[None]:
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    yield
    r.flushdb()
    r.close()


async def _grant_all(limits: RateLimits, ips: Sequence[str], batch: int,
                     url: str = REDIS_URL) -> list[float]:
    client = aioredis.Redis.from_url(url)
    try:
        limiter = RedisRateLimiter(client, limits)
        out: list[float] = []
        for i in range(0, len(ips), batch):
            out += await limiter.grant(ips[i:i + batch])
        return out
    finally:
        await client.aclose()


def _worker(url: str, limits: RateLimits, ips: list[str], batch: int,
            start: mp.synchronize.Barrier, results: mp.Queue[int]) -> None:
    import redis.asyncio  # noqa: F401  imported before the barrier, so both start together

    start.wait()
    answers = asyncio.run(_grant_all(limits, ips, batch, url))  # the parent's database
    results.put(sum(1 for a in answers if a == 0.0))


def _two_processes(limits: RateLimits, ips: list[str], batch: int) -> list[int]:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    results: mp.Queue[int] = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(REDIS_URL, limits, ips, batch, start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    counts = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return counts


def test_two_processes_share_a_per_address_bucket(clean: None) -> None:
    k = 150
    counts = _two_processes(RateLimits(per_ip=Rate(k, 0.0)), ["127.0.0.25"] * 400, batch=3)
    assert sum(counts) == k  # who gets how many is scheduling; the sum is not


def test_two_processes_share_the_global_bucket(clean: None) -> None:
    k = 160
    ips = [f"127.0.{i // 250}.{i % 250}" for i in range(400)]
    counts = _two_processes(RateLimits(per_ip=Rate(1, 0.0), overall=Rate(k, 0.0)), ips, batch=9)
    assert sum(counts) == k


def test_lua_answers_as_the_python_buckets(clean: None) -> None:
    limits = RateLimits(per_ip=Rate(2, 0.0), overall=Rate(5, 0.0))
    ips = ["a", "a", "a", "b", "c", "c", "d", "e", "a"]
    expected = Buckets(limits).grant(ips, now=0.0)
    assert expected == [0.0, 0.0, NEVER, 0.0, 0.0, 0.0, NEVER, NEVER, NEVER]
    assert asyncio.run(_grant_all(limits, ips, batch=4)) == expected


def test_waits_and_expiry_with_refill(clean: None) -> None:
    limits = RateLimits(per_ip=Rate(1, 0.5))  # 30 a minute
    answers = asyncio.run(_grant_all(limits, ["x", "x"], batch=2))
    assert answers[0] == 0.0
    assert 0 < answers[1] <= 2.0  # about two seconds until the next token
    r = redis.Redis.from_url(REDIS_URL)
    assert 0 < r.pttl(ip_key("x")) <= 3000  # gone once full again: idle addresses leave nothing
    assert not r.exists(GLOBAL_KEY)  # no global limit: no global key
    r.close()


def test_cluster_throttle_admits_through_redis(clean: None) -> None:
    async def main() -> int:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            throttle = cluster_throttle(client, RateLimits(overall=Rate(100, 1000.0)))
            assert throttle is not None
            await asyncio.gather(*(throttle.admit(f"127.0.0.{i}") for i in range(30)))
            return throttle.calls
        finally:
            await client.aclose()

    assert asyncio.run(main()) == 1  # thirty connections at once: one round-trip
    assert cluster_throttle(aioredis.Redis.from_url(REDIS_URL), RateLimits()) is None


# --- the cluster's hooks: the list travels with the scan; excluded addresses, tokens per connection


def _host(name: str, *ips: str) -> MxHostEvidence:
    def rr(rtype: str) -> RRsetEvidence:
        return RRsetEvidence(name, rtype, QueryStatus.NOERROR, DnssecStatus.SECURE,
                             DnssecReason.NONE, 300, ())

    return MxHostEvidence(host=name, a=rr("A"), aaaa=rr("AAAA"), tlsa=rr("TLSA"),
                          tlsa_base=f"_25._tcp.{name}", addresses=ips)


def test_the_list_travels_with_the_scan(clean: None) -> None:
    r = redis.Redis.from_url(REDIS_URL)
    listed = parse(b"example.com\n127.254.0.0/16\n", "/etc/danescan/exclude.txt")
    meta: dict[str, str] = {}
    share_exclusions(r, "s1", listed, meta)
    got = scan_exclusions(r, "s1", meta)
    assert got.excludes_name("mx.example.com") and got.excludes_address("127.254.1.1")
    assert got.sha256 == listed.sha256 and got.source == "/etc/danescan/exclude.txt"
    assert scan_exclusions(r, "s2", {}).empty  # a scan without a list
    r.set(key("exclude", "s1"), b"example.org\n")  # changed under the scan: refused, not used
    with pytest.raises(ValueError, match="does not match its digest"):
        scan_exclusions(r, "s1", meta)
    r.delete(key("exclude", "s1"))
    with pytest.raises(ValueError, match="missing"):
        scan_exclusions(r, "s1", meta)
    r.close()


def test_probe_with_leases_skips_excluded_addresses_and_takes_a_token_per_connection(
        clean: None) -> None:
    # nothing listens on 127.254.77.x: each connection is refused at once (a real socket), and a
    # refusal spreads to the other names of its address without a connection (and without a token)
    settings = dataclasses.replace(Settings.from_env(), redis_url=REDIS_URL, rate_per_ip=60.0,
                                   rate_per_ip_burst=1)
    ctx = ScanContext(scan_id="s1", now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                      dns_settings=EngineSettings("127.0.0.1"), anchors=None,
                      exclusions=parse(b"127.254.77.3\n", "x"),
                      timeouts=ProbeTimeouts(connect=2.0, total=5.0))
    hosts = [_host("a.example", "127.254.77.1", "127.254.77.2"), _host("b.example", "127.254.77.1"),
             _host("c.example", "127.254.77.3")]
    found = asyncio.run(probe_with_leases(hosts, ctx, settings))
    statuses = {(ev.host, ev.ip): str(ev.status) for evs in found.values() for ev in evs}
    assert statuses[("c.example", "127.254.77.3")] == "excluded"
    assert statuses[("a.example", "127.254.77.2")] == "connect-refused"
    r = redis.Redis.from_url(REDIS_URL)
    # one connection to each of .1 and .2 took the address's only token; .3 none at all
    for ip, taken in (("127.254.77.1", True), ("127.254.77.2", True), ("127.254.77.3", False)):
        state = r.hget(ip_key(ip), "t")
        assert (state is not None and float(state) < 1) == taken, ip
    r.close()
