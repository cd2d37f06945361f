"""The celery mode's throttle on a real Redis (builder/throttle.py), one test per clause of its
contract; two ``RedisThrottle`` objects stand for two processes (each has its own connections).
The clauses that need real processes (a killed worker) are in tests/cluster/test_throttle.py.

Redis at 127.0.0.1:6379: a failure with ``REQUIRE_SERVICES=1`` when it is missing, else a skip.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from builder.throttle import _SHARED, ACQUIRE, RedisThrottle, services
from engine import ActionError
from tests.conftest import need_service
from tests.engine.actions.counting_server import fits_rate

REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('TEST_REDIS_DB', '13'))}"
# each takes seconds: one that waits for ever fails with its stack (seen once under load)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def prefix():
    """A Redis key prefix of the test's own, its keys deleted at the end."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        need_service("Redis", exc)
    name = f"wf_test_throttle_{uuid.uuid4().hex[:12]}:"
    yield name
    for key in client.scan_iter(match=name + "*", count=1000):
        client.delete(key)
    client.close()


async def pair(prefix: str, lease: float = 30.0):
    return RedisThrottle(REDIS_URL, prefix, lease), RedisThrottle(REDIS_URL, prefix, lease)


async def close(*throttles):
    for throttle in throttles:
        await throttle.aclose()


async def held(throttle: RedisThrottle, key: tuple) -> int:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return await client.zcard(throttle.name(key) + ":held")
    finally:
        await client.aclose()


async def test_a_slot_limit_holds_across_processes(prefix):
    one, two = await pair(prefix)
    state = {"now": 0, "most": 0}

    async def use(throttle):
        async with throttle.slot(("skill", "s"), 2):
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            await asyncio.sleep(0.05)
            state["now"] -= 1

    await asyncio.gather(*(use(one if n % 2 else two) for n in range(10)))
    assert state["most"] == 2 and await held(one, ("skill", "s")) == 0
    await close(one, two)


async def test_waiters_are_served_in_order_of_arrival(prefix):
    one, two = await pair(prefix)
    order = []
    gate = asyncio.Event()

    async def first():
        async with one.slot(("k",), 1):
            await gate.wait()

    async def waiter(n):
        async with (one if n % 2 else two).slot(("k",), 1):
            order.append(n)

    holder = asyncio.create_task(first())
    await asyncio.sleep(0.05)
    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0.03)  # each in line before the next
    gate.set()
    await asyncio.gather(holder, *waiters)
    assert order == [0, 1, 2, 3, 4]
    await close(one, two)


async def test_a_dead_holders_slot_comes_back_when_its_lease_lapses(prefix):
    throttle = RedisThrottle(REDIS_URL, prefix, lease=1.0)
    key = ("skill", "dead")
    base = throttle.name(key)
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    # a holder that took its slot and died: nobody renews it, nobody gives it back
    assert await client.eval(ACQUIRE, 4, f"{base}:held", f"{base}:line", f"{base}:line-ttl", f"{base}:tickets",
                             "dead-token", "1", "1000", "5000") == 1
    start = time.monotonic()
    async with throttle.slot(key, 1):
        waited = time.monotonic() - start
    assert 0.8 < waited < 1.6, waited
    await client.aclose()
    await throttle.aclose()


async def test_a_live_holder_keeps_its_slot_past_the_lease(prefix):
    one, two = await pair(prefix, lease=0.6)
    key = ("skill", "long")
    taken = asyncio.Event()

    async def hold():
        async with one.slot(key, 1):
            taken.set()
            await asyncio.sleep(2.0)  # more than three leases: renewed meanwhile
        return time.monotonic()

    holder = asyncio.create_task(hold())
    await taken.wait()
    async with two.slot(key, 1):
        got = time.monotonic()
    assert got >= await holder - 0.05, "the second got the slot only once the first gave it back"
    await close(one, two)


async def test_a_waiter_cancelled_gives_back_nothing_it_did_not_hold(prefix):
    one, two = await pair(prefix)
    key = ("skill", "cancel")
    gate, taken = asyncio.Event(), asyncio.Event()

    async def hold():
        async with one.slot(key, 1):
            taken.set()
            await gate.wait()

    holder = asyncio.create_task(hold())
    await taken.wait()

    async def wait_in_line():
        async with two.slot(key, 1):
            raise AssertionError("never gets it")

    waiting = asyncio.create_task(wait_in_line())
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await held(one, key) == 1, "the holder still holds its slot"
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    assert await client.zcard(one.name(key) + ":line") == 0, "the cancelled waiter left the line"
    await client.aclose()
    gate.set()
    await holder
    assert await held(one, key) == 0
    async with two.slot(key, 1):  # and the next one gets it at once
        pass
    await close(one, two)


async def test_a_rate_holds_across_processes(prefix):
    one, two = await pair(prefix)
    arrivals = []

    async def go(throttle):
        await throttle.pace(("http-rate", "example.test", "4.0"), 4.0)
        arrivals.append(time.time())

    start = time.monotonic()
    await asyncio.gather(*(go(one if n % 2 else two) for n in range(12)))
    assert time.monotonic() - start >= (12 - 4) / 4 * 0.9
    assert fits_rate(arrivals, 4.0, slack=0.02)
    await close(one, two)


async def test_a_pace_cancelled_before_its_start_gives_its_place_back(prefix):
    throttle = RedisThrottle(REDIS_URL, prefix)
    key = ("http-rate", "example.test", "1.0")
    await throttle.pace(key, 1.0)
    waiter = asyncio.create_task(throttle.pace(key, 1.0))
    await asyncio.sleep(0.1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    start = time.monotonic()
    await throttle.pace(key, 1.0)
    assert time.monotonic() - start < 1.1
    await throttle.aclose()


async def test_an_unreachable_redis_fails_the_step_retryably_and_never_runs_it_unthrottled():
    throttle = RedisThrottle("redis://127.0.0.1:1/0", "x:")
    ran = False
    with pytest.raises(ActionError) as info:
        async with throttle.slot(("skill", "s"), 1):
            ran = True
    assert info.value.retryable and "Redis" in str(info.value) and not ran
    with pytest.raises(ActionError):
        await throttle.pace(("k",), 1.0)
    await throttle.aclose()


def test_keys_are_bounded_whatever_a_workflow_puts_in_them():
    throttle = RedisThrottle(REDIS_URL, "p:")
    name = throttle.name(("http-host\n\0*", "h" * 100_000 + "\ud800", "3"))
    assert name.startswith("p:wf:throttle:http-host:") and len(name) < 80 and name.isprintable()
    assert throttle.name(("skill", "a", "b")) != throttle.name(("skill", "a\0b"))


async def test_huge_limits_work_and_nonsense_is_refused(prefix):
    throttle = RedisThrottle(REDIS_URL, prefix)
    async with throttle.slot(("skill", "huge"), 10 ** 30), throttle.slot(("skill", "huge"), 10 ** 30):
        pass
    start = time.monotonic()
    for _ in range(5):
        await throttle.pace(("http-rate", "fast"), 1e300)
    assert time.monotonic() - start < 1
    for bad in (0, -1, 2.5, None):
        with pytest.raises(ValueError):
            async with throttle.slot(("skill", "bad"), bad):
                pass
    for bad in (0, -1, float("inf"), float("nan"), 1e-320):
        with pytest.raises(ValueError):
            await throttle.pace(("k",), bad)
    with pytest.raises(ValueError):
        RedisThrottle(REDIS_URL, prefix, lease=0)
    await throttle.aclose()


def test_the_celery_mode_gives_the_runner_a_throttle_and_the_embedded_mode_none(settings):
    settings.WORKFLOW_EXECUTION = "embedded"
    assert services() == {}
    settings.WORKFLOW_EXECUTION = "celery"
    settings.REDIS_URL = REDIS_URL
    try:
        given = services()["throttle"]
        assert isinstance(given, RedisThrottle) and services()["throttle"] is given, "one per process"
    finally:
        _SHARED.clear()  # made from this test's settings: not for the tests after it


@pytest.mark.django_db
def test_a_skills_concurrency_of_zero_is_refused():
    from django.core.exceptions import ValidationError

    from builder.models import Skill

    skill = Skill(name="zero", action="wait", config={"seconds": 0}, concurrency=0)
    with pytest.raises(ValidationError) as info:
        skill.full_clean()
    assert "concurrency" in info.value.message_dict
    Skill(name="one", action="wait", config={"seconds": 0}, concurrency=1).full_clean()


async def test_a_cancel_the_redis_client_swallows_still_cancels_the_waiter(prefix, monkeypatch):
    """Python 3.11's ``asyncio.wait_for`` (redis-py sends with it) returns the call's result when
    a cancel lands as the call ends, instead of raising: the waiter polled on for ever (seen under
    load). Here every script call lets its reply win over a cancel, as that race does."""
    one, two = await pair(prefix)
    key = ("skill", "swallowed")
    real = two._scripts()

    class Swallowing:
        def __init__(self, script):
            self.script = script

        async def __call__(self, keys, args):
            async def slow():  # a slow reply: the cancel lands during the call, not between polls
                await asyncio.sleep(0.05)
                return await self.script(keys=keys, args=args)

            call = asyncio.ensure_future(slow())
            try:
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                return await call  # the reply wins; the cancel is left counted on the task

    monkeypatch.setattr(two, "_scripts", lambda: {name: Swallowing(script) for name, script in real.items()})
    gate, taken = asyncio.Event(), asyncio.Event()

    async def hold():
        async with one.slot(key, 1):
            taken.set()
            await gate.wait()

    holder = asyncio.create_task(hold())
    await taken.wait()
    async def wait_in_line():
        async with two.slot(key, 1):
            raise AssertionError("never gets it")

    waiting = asyncio.create_task(wait_in_line())
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)  # before: polled on, and this timed out
    assert await held(one, key) == 1, "the holder still holds its slot"
    gate.set()
    await holder
    async with two.slot(key, 1):  # the line is empty: the next one gets it at once
        pass
    assert await held(one, key) == 0
    await close(one, two)
