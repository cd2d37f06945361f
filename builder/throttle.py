"""The celery mode's throttle: the limits of engine/throttle.py held across every worker, on Redis.

``services()`` gives the runner ``services["throttle"]`` in the celery mode (nothing in the
embedded mode, where the engine's process-wide throttle is global already). The contract,
each clause pinned by a test (tests/builder/test_throttle.py, tests/cluster/test_throttle.py):

- ``slot(key, limit)``: at most ``limit`` holders of ``key`` at once across every process.
  A held slot is a lease of ``WORKFLOW_THROTTLE_LEASE`` seconds (default 30), renewed every
  third of it while held: a worker killed while it holds a slot gives it back when the lease
  lapses, never later.
- Waiters are served in order of arrival (a ticket each, kept in a line). A waiter polls; one
  that stops polling (its process died) leaves the line after ``WAITER_TTL`` seconds.
- A waiter cancelled holds nothing: its ticket is withdrawn, and a slot the script granted in
  the same moment (a reply lost to the cancel) is given back by the waiter's own token, so
  nothing it did not take is ever released.
- ``pace(key, rate)``: GCRA on Redis's clock (one clock for every worker): the starts it hands
  out are ``1 / rate`` seconds apart beyond a bucket of ``max(1, rate)``. A waiter cancelled
  before its start gives its place back when it was the last one in.
- Redis unreachable: the step fails with a retryable error; it never runs unthrottled.

Keys: ``WORKFLOW_REDIS_PREFIX`` + ``wf:throttle:<kind>:<digest of the key>`` (``:held``,
``:line``, ``:line-ttl``, ``:tickets``; ``:pace``), each expiring once unused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import uuid
import weakref
from contextlib import asynccontextmanager

from engine import ActionError
from engine.throttle import check_limit, check_rate, spacing

log = logging.getLogger(__name__)
WAITER_TTL = 5.0  # seconds a waiter stays in line without polling
POLL = (0.005, 0.05)  # seconds between a waiter's polls: the first, and at most (doubling, jittered)

# KEYS: held (token -> lease end), line (token -> ticket), line-ttl (token -> waiter's end), tickets
# ARGV: token, limit, lease ms, waiter ttl ms. Returns 1 when the token now holds a slot.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, limit = ARGV[1], tonumber(ARGV[2])
local lease, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, dead in ipairs(gone) do
  redis.call('ZREM', KEYS[2], dead)
  redis.call('ZREM', KEYS[3], dead)
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
local ahead = redis.call('ZRANK', KEYS[2], token)
if redis.call('ZCARD', KEYS[1]) + ahead < limit then
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  redis.call('ZADD', KEYS[1], now + lease, token)
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
  return 1
end
redis.call('ZADD', KEYS[3], now + ttl, token)
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ttl + 1000) end
return 0
"""

# KEYS: held. ARGV: token, lease ms. Returns 1 when the token still held its slot.
RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
return 1
"""

# KEYS: held, line, line-ttl. ARGV: token. Whatever this token has (a slot, a place in line) goes.
WITHDRAW = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

# KEYS: pace. ARGV: interval ms, early ms. Returns {ms to wait, the next start as stored}.
PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, early = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due < now then due = now end
local start = math.max(due - early, now)
local mine = string.format('%.3f', due + interval)
local ttl = math.min(math.ceil(due + interval - now + early) + 1000, 31536000000)
redis.call('SET', KEYS[1], mine, 'PX', ttl)
return {string.format('%.3f', start - now), mine}
"""

# KEYS: pace. ARGV: the start this waiter stored, interval ms. Gives the place back if nobody came after.
UNPACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], string.format('%.3f', tonumber(ARGV[1]) - tonumber(ARGV[2])), 'KEEPTTL')
  return 1
end
return 0
"""


def services() -> dict:
    """What the runner's services get from here: ``{"throttle": ...}`` in the celery mode, else {}."""
    from django.conf import settings

    if settings.WORKFLOW_EXECUTION != "celery":
        return {}
    return {"throttle": shared()}


_SHARED: list = []


def shared() -> RedisThrottle:
    """This process's RedisThrottle (made at first use from the settings)."""
    if not _SHARED:
        from django.conf import settings

        _SHARED.append(RedisThrottle(settings.REDIS_URL, settings.WORKFLOW_REDIS_PREFIX,
                                     lease=settings.WORKFLOW_THROTTLE_LEASE))
    return _SHARED[0]


class RedisThrottle:
    """``slot`` and ``pace`` (engine/throttle.py) held across every process that shares ``url``."""

    def __init__(self, url: str, prefix: str = "", lease: float = 30.0):
        if not lease > 0.1:
            raise ValueError(f"a throttle lease is more than 0.1 s, not {lease!r}")
        self.url = url
        self.prefix = prefix + "wf:throttle:"
        self.lease = lease
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> (client, scripts)

    def name(self, key: tuple) -> str:
        """The Redis key of ``key``: bounded, whatever a workflow put in it."""
        text = json.dumps([str(part) for part in key])  # unambiguous: ("a", "b") is not ("a\0b",)
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        kind = "".join(c for c in str(key[0]) if c.isalnum() or c == "-")[:20] if key else ""
        return f"{self.prefix}{kind}:{digest}"

    def _scripts(self):
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=10)
            found = self._clients[loop] = (client, {name: client.register_script(text) for name, text in (
                ("acquire", ACQUIRE), ("renew", RENEW), ("withdraw", WITHDRAW), ("pace", PACE),
                ("unpace", UNPACE))})
        return found[1]

    async def aclose(self) -> None:
        """Close this loop's connections."""
        found = self._clients.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[0].aclose()

    # -- slots ----------------------------------------------------------------------------------
    @asynccontextmanager
    async def slot(self, key: tuple, limit: int):
        """Hold one of ``limit`` slots of ``key`` across every process, for the body."""
        limit = check_limit(limit)
        base = self.name(key)
        keys = [f"{base}:held", f"{base}:line", f"{base}:line-ttl", f"{base}:tickets"]
        token = uuid.uuid4().hex
        scripts = self._scripts()
        await self._acquire(scripts, keys, token, limit)
        renewing = asyncio.get_running_loop().create_task(self._renew(scripts, keys[0], token))
        try:
            yield
        finally:
            renewing.cancel()
            try:
                await asyncio.shield(self._withdraw(scripts, keys, token))
            except Exception as exc:  # noqa: BLE001 - the lease gives it back: the step's outcome stands
                log.warning("could not give back a throttle slot (its lease will): %s", exc)

    async def _acquire(self, scripts, keys, token: str, limit: int) -> None:
        pause = POLL[0]
        try:
            while not await _call(scripts["acquire"], keys, [token, str(limit), _ms(self.lease), _ms(WAITER_TTL)]):
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, POLL[1])
        except BaseException:  # cancelled or failed: leave the line, and give back a slot granted unseen
            try:
                await asyncio.shield(self._withdraw(scripts, keys, token))
            except Exception as exc:  # noqa: BLE001 - its lease and the line's expiry clear it
                log.warning("could not leave a throttle's line: %s", exc)
            raise

    async def _withdraw(self, scripts, keys, token: str) -> None:
        await _call(scripts["withdraw"], keys[:3], [token])

    async def _renew(self, scripts, held: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                if not await _call(scripts["renew"], [held], [token, _ms(self.lease)]):
                    log.warning("a throttle slot's lease lapsed while held (%s)", held)
                    return
            except Exception as exc:  # noqa: BLE001 - the next renewal may pass; the lease is long enough
                log.warning("could not renew a throttle slot's lease: %s", exc)

    # -- rates ----------------------------------------------------------------------------------
    async def pace(self, key: tuple, rate: float) -> None:
        """Return when one more start of ``key`` fits ``rate`` a second, across every process."""
        interval, early = spacing(check_rate(rate))
        scripts = self._scripts()
        pace = [self.name(key) + ":pace"]
        interval_ms = repr(interval * 1000)

        def unpace(result):  # a cancel swallowed as the place was taken: the place goes back
            return _call(scripts["unpace"], pace, [result[1], interval_ms])

        wait, mine = await _call(scripts["pace"], pace, [interval_ms, repr(early * 1000)], undo=unpace)
        delay = float(wait) / 1000
        if delay <= 0:
            return
        try:
            await asyncio.sleep(delay)
        except BaseException:
            try:
                await asyncio.shield(_call(scripts["unpace"], pace, [mine, interval_ms]))
            except Exception:  # noqa: BLE001 - the place is lost, and the rate still holds
                pass
            raise


async def _call(script, keys: list, args: list, undo=None):
    """Run a script; Redis failing is the step's retryable failure.

    A cancel that arrives as the call ends can be swallowed on Python 3.11: redis-py sends with
    ``asyncio.wait_for``, which then returns the result instead of raising (fixed in 3.12). The
    task still counts the request (``cancelling()``), so it is raised here: a waiter cancelled in
    line would otherwise poll on for ever, or take a slot for a step nobody waits for. ``undo(result)``
    gives back what the call took before the cancel is raised."""
    import redis

    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    try:
        result = await script(keys=keys, args=args)
    except redis.RedisError as exc:
        raise ActionError(f"the shared limits (Redis) are unavailable: {type(exc).__name__}: {exc}",
                          retryable=True) from None
    if task is not None and task.cancelling() > asked:
        if undo is not None:
            try:
                await asyncio.shield(undo(result))
            except Exception:  # noqa: BLE001 - what it took lapses on its own (a lease, a rate's ttl)
                pass
        raise asyncio.CancelledError
    return result


def _ms(seconds: float) -> str:
    return str(max(int(seconds * 1000), 1))
