"""The connection-rate limits across every worker: token buckets in Redis, granted in batches.

The same buckets and arithmetic as ``workers.ratelimit.Buckets`` (the embedded scan), run by one
Lua script on Redis's clock, so that workers on different hosts share them: KEYS[1] is the global
bucket, KEYS[2..] the buckets of the requested addresses (one key per request, in order; an address
asked twice in a batch appears twice). One script call answers a whole batch of requests, so a
worker pays one round-trip per batch of grants, not one per connection
(``workers.smtp.throttle.Throttle`` collects the batch).

A bucket is a hash {t: tokens, at: ms}; a missing bucket is full. Each key expires once it would be
full again, so idle addresses leave nothing behind. Limits are per destination, not per scan: two
scans running at once share them.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from workers.cluster.state import PREFIX
from workers.ratelimit import NEVER, Rate, RateLimits
from workers.smtp.throttle import Throttle

GLOBAL_KEY = f"{PREFIX}rate:global"

# ARGV: global burst, global tokens per ms (-1: no global limit), per-ip burst, per-ip tokens per
# ms (-1: no per-ip limit). Returns one integer per request: 0 granted, -1 never, else ms to wait.
GRANT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local gburst, grate = tonumber(ARGV[1]), tonumber(ARGV[2])
local iburst, irate = tonumber(ARGV[3]), tonumber(ARGV[4])

local function load(k, burst, rate)
  local v = redis.call('HMGET', k, 't', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or at == nil then return burst end
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
  return tokens
end

local function save(k, tokens, burst, rate)
  redis.call('HSET', k, 't', tostring(tokens), 'at', tostring(now))
  local ttl = 86400000
  if rate > 0 then ttl = math.ceil((burst - tokens) / rate) + 1000 end
  redis.call('PEXPIRE', k, ttl)
end

local function wait(tokens, rate)
  if tokens >= 1 then return 0 end
  if rate <= 0 then return -1 end
  return math.max(1, math.ceil((1 - tokens) / rate))
end

local g = nil
if grate >= 0 then g = load(KEYS[1], gburst, grate) end
local cache = {}
local out = {}
for i = 2, #KEYS do
  local k = KEYS[i]
  local b = nil
  if irate >= 0 then
    b = cache[k]
    if b == nil then b = load(k, iburst, irate) end
  end
  local wg, wi = 0, 0
  if g ~= nil then wg = wait(g, grate) end
  if b ~= nil then wi = wait(b, irate) end
  if wg == -1 or wi == -1 then
    out[#out + 1] = -1
  elseif wg > 0 or wi > 0 then
    out[#out + 1] = math.max(wg, wi)
  else
    if g ~= nil then g = g - 1 end
    if b ~= nil then b = b - 1 end
    out[#out + 1] = 0
  end
  if b ~= nil then cache[k] = b end
end
if g ~= nil then save(KEYS[1], g, gburst, grate) end
for k, b in pairs(cache) do save(k, b, iburst, irate) end
return out
"""


def ip_key(ip: str) -> str:
    return f"{PREFIX}rate:ip:{ip}"


def _args(rate: Rate | None) -> tuple[float, float]:
    return (rate.burst, rate.per_second / 1000.0) if rate is not None else (0.0, -1.0)


class RedisRateLimiter:
    """``await grant(ips)``: one script call for the batch; answers as ``Buckets.grant`` (0.0
    granted, seconds to wait, or ``NEVER``)."""

    def __init__(self, client: aioredis.Redis, limits: RateLimits) -> None:
        self.limits = limits
        self._script = client.register_script(GRANT)
        self._argv = [repr(x) for x in (*_args(limits.overall), *_args(limits.per_ip))]

    async def grant(self, ips: Sequence[str]) -> list[float]:
        if not ips:
            return []
        got = await self._script(keys=[GLOBAL_KEY, *(ip_key(ip) for ip in ips)], args=self._argv)
        return [NEVER if int(ms) < 0 else int(ms) / 1000.0 for ms in got]


def cluster_throttle(client: aioredis.Redis, limits: RateLimits) -> Throttle | None:
    """The throttle of a worker (None when no limit is set): buckets shared through Redis."""
    if not limits.active:
        return None
    return Throttle(RedisRateLimiter(client, limits).grant)
