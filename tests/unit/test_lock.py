"""The processing lock (fakeredis with its Lua extra runs the real scripts).

Released only by its holder (token-checked), a dead holder's lock expires, waiting is bounded,
and its timeout must exceed the worst-case call. That waiting spends no retry and that a holder
which outlived its lock cannot commit are processing-level, in test_processing.py; the same with
real processes is tests/faults/test_lock_fencing.py. Each case runs on the global lock and on an
alarm's lock (OCEANE_LOCK_SCOPE=alarm), which must behave alike.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import fakeredis
import pytest
import redis

from oceane_ticket import keys, locking
from oceane_ticket.locking import Held, LockLost, LockTimeout, ProcessingLock
from oceane_ticket.settings import SettingsError
from tests.conftest import make_settings, wait_until


@pytest.fixture
def r() -> Any:
    return fakeredis.FakeRedis()


@pytest.fixture(params=["global", "alarm"])
def key(request: pytest.FixtureRequest) -> str:
    """The lock's key under each OCEANE_LOCK_SCOPE: the global lock, or one alarm's (same semantics)."""
    return keys.PROCESSING_LOCK if request.param == "global" else keys.alarm_lock(12, 345, 7)


def test_one_holder_at_a_time(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    first = lock.try_acquire("a")
    assert first
    assert lock.try_acquire("b") is None
    assert ProcessingLock(r, timeout=5, key=key).try_acquire("c") is None  # another worker's lock object


def test_release_is_token_checked(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    token = lock.try_acquire("a")
    assert token
    assert lock.release("not-the-holder") is False
    assert lock.holds(token)
    assert lock.release(token) is True
    assert lock.info() is None
    assert lock.release(token) is False  # twice is harmless


def test_the_lock_lives_for_the_lock_timeout(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=7.5, key=key)
    lock.try_acquire("a")
    assert 7000 < r.pttl(key) <= 7500
    info = lock.info()
    assert info is not None and 7.0 < info.ttl_seconds <= 7.5


def test_a_dead_holders_lock_expires(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=0.3, key=key)
    dead = lock.try_acquire("a")  # the holder dies: it never releases
    assert dead
    started = time.monotonic()
    successor = wait_until(lambda: lock.try_acquire("b"), timeout=5, interval=0.02)
    assert time.monotonic() - started >= 0.2
    assert lock.holds(successor) and not lock.holds(dead)


def test_a_holder_that_outlived_its_lock_cannot_release_the_successors(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=0.2, key=key)
    stale = lock.try_acquire("a")
    assert stale
    successor = wait_until(lambda: lock.try_acquire("a"), timeout=5, interval=0.02)
    assert lock.release(stale) is False
    assert lock.holds(successor)


def test_info_names_the_holder(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    token = lock.try_acquire("0123abcd")
    info = lock.info()
    assert info is not None
    assert (info.token, info.instance) == (token, "0123abcd")
    assert info.worker.endswith(f":{os.getpid()}")
    assert abs(info.since - time.time()) < 5
    assert json.loads(r.get(key))["token"] == token


def test_acquire_waits_for_the_holder_to_release(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    holder = lock.try_acquire("a")
    assert holder
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire("b", wait=10)))
    waiter.start()
    wait_until(lambda: waiter.is_alive(), timeout=2)
    assert not got
    lock.release(holder)
    waiter.join(5)
    assert got and lock.holds(got[0])


def test_acquire_gives_up_after_its_wait(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    assert lock.try_acquire("a")
    started = time.monotonic()
    with pytest.raises(LockTimeout):
        lock.acquire("b", wait=0.3)
    assert 0.25 <= time.monotonic() - started < 2


def test_held_releases_its_own_lock_only(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    with lock.held("a", wait=1) as token:
        assert lock.holds(token)
    assert lock.info() is None

    with lock.held("a", wait=1) as token:
        r.delete(key)  # the TTL ran out mid-block...
        successor = lock.try_acquire("b")  # ...and another worker took it
    assert lock.holds(successor), "leaving the block must not free the successor's lock"


def test_held_survives_redis_going_away_on_release(r: Any, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The release's retries (for a Sentinel promotion) are cut short: what is checked is the outcome.
    monkeypatch.setattr(locking, "RELEASE_PATIENCE", 0.5)
    lock = ProcessingLock(r, timeout=5, key=key)

    def broken(*_: Any, **__: Any) -> Any:
        raise redis.ConnectionError("gone")

    with lock.held("a", wait=1):
        lock._release = broken  # Redis died while we worked: the TTL will free the lock
    # no exception: the block's own outcome is what matters


def test_the_lock_must_outlive_the_worst_case_call() -> None:
    with pytest.raises(SettingsError, match="OCEANE_LOCK_TIMEOUT"):
        make_settings(http_timeout=5, lock_timeout=50)
    assert make_settings(http_timeout=5, lock_timeout=50.5).lock_timeout == 50.5


def test_release_leaves_one_wakeup_that_expires_with_the_lock(r: Any, key: str) -> None:
    lock = ProcessingLock(r, timeout=5, key=key)
    for name in ("a", "b"):
        token = lock.try_acquire(name)
        assert token and lock.release(token)
    wakeup = keys.lock_wakeup(lock.key)
    assert r.llen(wakeup) == 1  # at most one, however many releases nobody waited for
    assert 0 < r.pttl(wakeup) <= 5000
    assert not lock.release("not-the-holder") and r.llen(wakeup) == 1


def test_release_wakes_a_waiter_instead_of_its_next_poll(r: Any, key: str) -> None:
    # The waiter's first block is 60 s: only the release's wake-up can hand it the lock sooner.
    lock = ProcessingLock(r, timeout=5, key=key)
    holder = lock.try_acquire("a")
    assert holder
    r.delete(keys.lock_wakeup(lock.key))
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire("b", wait=120, poll=60)), daemon=True)
    waiter.start()
    wait_until(lambda: waiter.is_alive(), timeout=2)
    lock.release(holder)
    waiter.join(30)
    assert got and lock.holds(got[0])


def test_a_lock_for_another_key_is_independent(r: Any) -> None:
    lock = ProcessingLock(r, timeout=5)
    alarm = lock.for_key(keys.alarm_lock(12, 345, 7))
    assert lock.try_acquire("a") and alarm.try_acquire("b")
    assert alarm.try_acquire("c") is None
    assert type(alarm) is type(lock) and alarm.timeout == lock.timeout and lock.key == keys.PROCESSING_LOCK


# --- a lock taken inside another (lock scope global: the alarm's lock, then the global one) ---


def test_waiting_inside_another_lock_keeps_the_outer_one_alive(r: Any) -> None:
    # The alarm's lock must not lapse while its holder queues for the global one, however long:
    # another copy of the job could then claim the request, and both would call Oceane.
    outer = ProcessingLock(r, timeout=4, key=keys.alarm_lock(12, 345, 7))
    inner = ProcessingLock(r, timeout=5)
    token = outer.try_acquire("a")
    other = inner.try_acquire("someone else")
    assert token and other
    got: list[str] = []
    waiter = threading.Thread(
        target=lambda: got.append(inner.acquire("a", wait=60, token=token, inside=Held(outer, token))), daemon=True
    )
    waiter.start()
    # The waiter's renewals are observed, not assumed from time passing: the outer lock's TTL is set
    # far above its own, and only a renewal (to 4 s) brings it back down. Twice, so it is every try.
    for _ in range(2):
        r.pexpire(outer.key, 600_000)
        wait_until(lambda: 0 < r.pttl(outer.key) <= 4000, timeout=30, interval=0.02)
        assert waiter.is_alive() and outer.holds(token) and not got
    inner.release(other)
    waiter.join(30)
    assert got == [token] and inner.holds(token) and outer.holds(token)
    assert 0 < r.pttl(outer.key) <= 4000  # renewed by the try that took the inner lock


def test_an_outer_lock_lost_while_waiting_ends_the_wait_without_the_inner_one(r: Any) -> None:
    outer = ProcessingLock(r, timeout=5, key=keys.alarm_lock(12, 345, 7))
    inner = ProcessingLock(r, timeout=5)
    token = outer.try_acquire("a")
    other = inner.try_acquire("someone else")
    assert token and other
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            inner.acquire("a", wait=30, token=token, inside=Held(outer, token))
        except LockTimeout as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: waiter.is_alive(), timeout=2)
    # The outer lock lapses (or is broken) and the inner one is freed at once: the next try must
    # see the loss first and leave the inner lock alone.
    r.delete(outer.key)
    inner.release(other)
    waiter.join(10)
    assert len(errors) == 1 and isinstance(errors[0], LockLost)
    assert inner.info() is None


def test_an_inner_lock_is_not_taken_for_an_outer_one_held_by_another(r: Any) -> None:
    outer = ProcessingLock(r, timeout=5, key=keys.alarm_lock(12, 345, 7))
    inner = ProcessingLock(r, timeout=5)
    assert outer.try_acquire("b")
    with pytest.raises(LockLost):
        inner.try_acquire("a", "not-the-outer-holder", inside=Held(outer, "not-the-outer-holder"))
    assert inner.info() is None
