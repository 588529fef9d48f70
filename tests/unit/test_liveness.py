"""Who may break a dead holder's processing lock, so that a crashed worker's request resumes, on fakeredis.

The real processes (a worker SIGKILLed mid-create, another taking over within seconds) are in
tests/faults/test_crash_resume.py; here are the rules: a holder is judged dead only by its own
worker node's lapsed heartbeat (or, on our own node, by its process being gone), never when the
lock names no node, and a worker judges nobody until its own heartbeats have been steady.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest

from oceane_ticket import keys, liveness, locking
from oceane_ticket.liveness import Heartbeat, holder_dead
from oceane_ticket.locking import Held, ProcessingLock
from tests.conftest import make_settings, wait_until


@pytest.fixture
def redis() -> Any:
    return fakeredis.FakeRedis()


@pytest.fixture
def node() -> Iterator[str]:
    """This process as a worker node (as the worker's main process sets it before forking)."""
    name = liveness.new_node()
    liveness.set_node(name)
    yield name
    liveness.set_node(None)


def test_a_lock_names_the_worker_node_of_its_holder(redis: Any, node: str) -> None:
    lock = ProcessingLock(redis, timeout=60)
    assert lock.try_acquire("a")
    info = lock.info()
    assert info is not None and info.node == node and info.pid is not None


def test_a_lock_without_a_node_is_never_judged(redis: Any) -> None:
    lock = ProcessingLock(redis, timeout=60)
    assert lock.try_acquire("a")  # a script or a test, not a Celery worker
    info = lock.info()
    assert info is not None and info.node is None
    assert not holder_dead(redis, info, own_node="someone-else")


def test_a_holder_is_dead_once_its_nodes_heartbeat_lapsed(redis: Any, node: str) -> None:
    lock = ProcessingLock(redis, timeout=60)
    assert lock.try_acquire("a")
    info = lock.info()
    assert info is not None
    Heartbeat(redis, node).beat()
    assert not holder_dead(redis, info, own_node="another-node")
    redis.delete(keys.worker_heartbeat(node))  # what the TTL does when the worker is gone
    assert holder_dead(redis, info, own_node="another-node")


def test_on_its_own_node_a_holder_is_dead_when_its_process_is(redis: Any, node: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    holder = locking.LockInfo(token="t", worker=f"host:{child.pid}", instance="a", since=0, ttl_seconds=60, node=node)
    try:
        assert not holder_dead(redis, holder, own_node=node)  # a pool process still running
    finally:
        child.communicate(b"")
    assert holder_dead(redis, holder, own_node=node)  # killed (OOM, SIGKILL): its lock can go


def test_no_one_is_judged_until_the_heartbeat_is_steady(redis: Any) -> None:
    beats = Heartbeat(redis, "n1", ttl=0.5, every=0.05)
    assert beats.beat()
    assert json.loads(redis.get(keys.worker_heartbeat("n1")))["pid"] > 0
    assert 0 < redis.pttl(keys.worker_heartbeat("n1")) <= 500
    wait_until(beats.steady, timeout=10, message="never steady")


def test_a_failed_beat_resets_steadiness(redis: Any) -> None:
    beats = Heartbeat(redis, "n1", ttl=0.2, every=0.05)
    assert beats.beat()
    wait_until(beats.steady, timeout=10)
    beats.redis = _Down()
    assert not beats.beat()
    assert not beats.steady()


class _Down:
    """A Redis client whose server is unreachable."""

    def set(self, *_: Any, **__: Any) -> None:
        import redis as redis_lib

        raise redis_lib.ConnectionError("down")


def test_recovery_breaks_a_dead_holders_lock_and_resends_its_request(redis: Any, monkeypatch: Any) -> None:
    from worker import sweep, transport

    settings = make_settings()
    monkeypatch.setattr(transport, "restore_orphans", lambda *a, **k: 0)  # kombu needs a real broker
    liveness.set_node("dead-node")
    try:
        dead = ProcessingLock(redis, settings.lock_timeout)
        assert dead.try_acquire("req1")
    finally:
        liveness.set_node(None)
    done = sweep.recover_dead_workers(settings, redis, own_node="live-node")
    assert done.resent == ["req1"]
    assert ProcessingLock(redis, settings.lock_timeout).info() is None
    message = json.loads(redis.lrange(settings.queue, 0, -1)[0])
    assert message["headers"]["argsrepr"] == "['req1']"
    # A live holder's lock is left alone.
    Heartbeat(redis, "live-node").beat()
    liveness.set_node("live-node")
    try:
        assert ProcessingLock(redis, settings.lock_timeout).try_acquire("req2")
    finally:
        liveness.set_node(None)
    assert sweep.recover_dead_workers(settings, redis, own_node="other").resent == []
    assert ProcessingLock(redis, settings.lock_timeout).info() is not None


@pytest.mark.parametrize("scope", ["global", "alarm"])
def test_recovery_breaks_a_dead_holders_alarm_lock_under_either_scope(redis: Any, monkeypatch: Any, scope: str) -> None:
    # A request runs under its alarm's lock under both scopes (under global, the global lock only
    # covers the Oceane call): a worker killed between Oceane's answer and the record holds only
    # its alarm's, which would otherwise keep the request until its TTL (tests/faults/test_crashes.py).
    from worker import sweep, transport

    settings = make_settings(lock_scope=scope)
    monkeypatch.setattr(transport, "restore_orphans", lambda *a, **k: 0)  # kombu needs a real broker
    base = ProcessingLock(redis, settings.lock_timeout)
    dead, live = base.for_key(keys.alarm_lock(12, 345, 1)), base.for_key(keys.alarm_lock(12, 345, 2))
    Heartbeat(redis, "live-node").beat()
    for lock, node, instance in ((dead, "dead-node", "req1"), (live, "live-node", "req2")):
        liveness.set_node(node)
        try:
            token = lock.try_acquire(instance)
            assert token and lock.release(token)  # leaves the lock's wake-up list, which is no lock
            assert lock.try_acquire(instance)
        finally:
            liveness.set_node(None)
    assert redis.exists(keys.lock_wakeup(dead.key))
    done = sweep.recover_dead_workers(settings, redis, own_node="other")
    assert done.resent == ["req1"]
    assert dead.info() is None
    live_holder = live.info()
    assert live_holder is not None and live_holder.instance == "req2"


def test_a_holder_killed_mid_call_has_both_locks_broken_and_its_request_sent_once(redis: Any, monkeypatch: Any) -> None:
    # Under lock scope global a worker in the Oceane call holds its alarm's lock and the global one.
    from worker import sweep, transport

    settings = make_settings()
    monkeypatch.setattr(transport, "restore_orphans", lambda *a, **k: 0)
    base = ProcessingLock(redis, settings.lock_timeout)
    alarm = base.for_key(keys.alarm_lock(12, 345, 1))
    liveness.set_node("dead-node")
    try:
        token = alarm.try_acquire("req1")
        assert token and base.try_acquire("req1", token, inside=Held(alarm, token))
    finally:
        liveness.set_node(None)
    done = sweep.recover_dead_workers(settings, redis, own_node="other")
    assert done.resent == ["req1"] and redis.llen(settings.queue) == 1
    assert base.info() is None and alarm.info() is None


@pytest.mark.parametrize(("scope", "holder"), [("global", "global"), ("global", "alarm"), ("alarm", "alarm")])
def test_the_sweep_leaves_a_request_its_lock_holder_works_on(
    redis: Any, monkeypatch: Any, sqlite_url: str, scope: str, holder: str
) -> None:
    # A request being worked on is not re-sent, whichever lock holds it: under global scope its
    # alarm's alone while it waits for the global lock or is recorded after Oceane's answer.
    from oceane_ticket.request import AllowedValues, build_alarm, build_details
    from producer import core
    from worker import sweep

    settings = make_settings(database_url=sqlite_url, lock_scope=scope, stale_after=0.05, queue="oceane.unit")
    monkeypatch.setattr(core, "_redis", lambda _settings: redis)
    allowed = AllowedValues(("1", "2", "3", "4"), *[("Critical", "Major", "Minor", "None")] * 3)
    details = build_details({"priority": "2", "urgency": "Major", "technical_impact": "Major"}, allowed)
    alarms = [build_alarm({"dma_id": 12, "element_id": 345, "alarm_id": n, "element_name": "E"}) for n in (1, 2)]
    held, idle = (core.submit(settings, alarm, details) for alarm in alarms)
    lock = ProcessingLock(redis, settings.lock_timeout)
    assert (lock.for_key(keys.alarm_lock(12, 345, 1)) if holder == "alarm" else lock).try_acquire(held.instance)
    redis.delete(keys.enqueued_marker(held.instance), keys.enqueued_marker(idle.instance))
    sent = wait_until(lambda: sweep.sweep(settings, redis), timeout=10, message="nothing was ever stale")
    assert sent == [idle.instance]
    assert not redis.exists(keys.enqueued_marker(held.instance))
