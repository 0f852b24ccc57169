"""Connection-rate token buckets (pure) and the batched waiting gate, in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from workers.ratelimit import NEVER, Buckets, Rate, RateLimits
from workers.settings import Settings, SettingsError
from workers.smtp.throttle import Throttle, local_throttle


def test_per_ip_burst_then_refill() -> None:
    b = Buckets(RateLimits(per_ip=Rate(2, 1.0)))
    assert b.grant(["a", "a", "a", "b"], now=100.0) == [0.0, 0.0, 1.0, 0.0]
    assert b.grant(["a"], now=100.5) == [0.5]
    assert b.grant(["a", "a"], now=101.0) == [0.0, 1.0]
    # never more than the burst, however long the pause
    assert b.grant(["a", "a", "a"], now=1000.0) == [0.0, 0.0, 1.0]


def test_global_bucket_is_shared_by_every_address() -> None:
    b = Buckets(RateLimits(overall=Rate(3, 10.0)))
    assert b.grant(["a", "b", "c", "d"], now=0.0) == [0.0, 0.0, 0.0, pytest.approx(0.1)]


def test_both_tokens_or_none() -> None:
    b = Buckets(RateLimits(per_ip=Rate(1, 0.0), overall=Rate(2, 0.0)))
    # "a" is refused its second connection by its own bucket: the global token stays for "b"
    assert b.grant(["a", "a", "b", "c"], now=0.0) == [0.0, NEVER, 0.0, NEVER]


def test_no_refill_grants_exactly_the_burst() -> None:
    b = Buckets(RateLimits(per_ip=Rate(5, 0.0)))
    got = sum(1 for _ in range(10) for w in b.grant(["x"] * 3, now=float(_)) if w == 0.0)
    assert got == 5


def test_full_buckets_are_swept() -> None:
    b = Buckets(RateLimits(per_ip=Rate(1, 1.0)), max_idle=10)
    for i in range(10):
        b.grant([f"ip{i}"], now=0.0)
    b.grant(["new"], now=5.0)  # the others are full again by now: dropped
    assert set(b.by_ip) == {"new"}


def test_rate_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Rate(0, 1.0)
    with pytest.raises(ValueError):
        Rate(1, -1.0)


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings.from_env().rate_limits().active
    monkeypatch.setenv("DANESCAN_RATE_PER_IP", "30")
    monkeypatch.setenv("DANESCAN_RATE_GLOBAL", "200")
    limits = Settings.from_env().rate_limits()
    assert limits.per_ip == Rate(1, 0.5) and limits.overall == Rate(200, 200.0)
    monkeypatch.setenv("DANESCAN_RATE_GLOBAL", "-1")
    with pytest.raises(SettingsError, match="DANESCAN_RATE_GLOBAL"):
        Settings.from_env()


def test_throttle_batches_requests_and_admits_each_once() -> None:
    calls: list[int] = []
    buckets = Buckets(RateLimits(per_ip=Rate(1, 0.0)))
    clock = [0.0]

    async def grant(ips: Sequence[str]) -> list[float]:
        calls.append(len(ips))
        return buckets.grant(ips, clock[0])

    async def main() -> int:
        throttle = Throttle(grant)
        await asyncio.gather(*(throttle.admit(f"10.0.0.{i}") for i in range(50)))
        assert throttle.granted == 50
        return throttle.calls

    assert asyncio.run(main()) == 1  # fifty requests made at once: one grant call
    assert calls == [50]


def test_throttle_waits_until_granted() -> None:
    answers = iter([[2.0e-3, 0.0], [0.0]])

    async def grant(ips: Sequence[str]) -> list[float]:
        return next(answers)

    async def main() -> tuple[int, int, int]:
        throttle = Throttle(grant)
        await asyncio.gather(throttle.admit("a"), throttle.admit("b"))
        return throttle.granted, throttle.waits, throttle.calls

    assert asyncio.run(main()) == (2, 1, 2)


def test_throttle_hands_errors_to_the_waiting_probes() -> None:
    async def grant(ips: Sequence[str]) -> list[float]:
        raise ConnectionError("redis away")

    async def main() -> None:
        await Throttle(grant).admit("a")

    with pytest.raises(ConnectionError):
        asyncio.run(main())


def test_no_limits_no_throttle() -> None:
    assert local_throttle(RateLimits()) is None
    assert local_throttle(RateLimits(per_ip=Rate(1, 1.0))) is not None
