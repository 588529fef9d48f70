"""The processing locks: one ticket in flight against Oceane, and one worker at a time per alarm.

A lock is a Redis key with a TTL (a dead holder's lock expires) whose value names its holder.
Release and ownership checks compare the holder's random token inside Lua, so only the holder can
free it. Two keys are used (worker.processing): the alarm's lock (``keys.alarm_lock``), held from
the claim to the record and carrying the token stored on the claimed request row (the database
fence, see storage.claims); and, under OCEANE_LOCK_SCOPE=global, the global lock
(``keys.PROCESSING_LOCK``), the connector's "Ticket Queue Processing Lock", taken inside the
alarm's and held only while Oceane is being talked to. Always in that order, never the reverse, so
two workers can never wait for each other.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from oceane_ticket import keys, liveness

log = logging.getLogger(__name__)

# Release also leaves one wake-up in the lock's wake-up list (see keys.lock_wakeup): a waiter
# blocked on it takes the lock within a round trip instead of sleeping out a poll interval.
_RELEASE = resources.files(__package__).joinpath("lock_release.lua").read_text(encoding="utf-8")
# A lock taken inside another one (the global lock inside the alarm's): taken only while the outer
# one is still the caller's, whose TTL every try renews, so it cannot lapse while its holder waits.
_NESTED = resources.files(__package__).joinpath("lock_nested.lua").read_text(encoding="utf-8")

# Longest a waiter blocks on the wake-up list before trying again: bounds how late a waiter notices
# a lock freed without a wake-up (its holder died and the TTL ran out).
MAX_BLOCK = 0.5


class LockTimeout(Exception):
    """The lock stayed busy for as long as we were willing to wait."""


class LockLost(LockTimeout):
    """While waiting for a lock inside another one, the outer lock stopped being ours.

    Its TTL ran out (Redis lost it, a failover) or it was broken: whoever holds it now may own the
    request, so the inner lock is not taken. A LockTimeout, since nothing was sent either.
    """


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock (what ``oceane-ticket status`` shows)."""

    token: str
    worker: str
    instance: str
    since: float
    ttl_seconds: float
    # The worker node (see keys.WORKER_HEARTBEAT) vouching for the holder; None when the holder is
    # not a Celery worker with a heartbeat (a script, a test), whose lock only its TTL frees.
    node: str | None = None

    @property
    def pid(self) -> int | None:
        """The holder's process id, from ``worker`` (host:pid)."""
        tail = self.worker.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class Held:
    """A lock its caller holds, with the token it holds it with (the outer lock of a nested wait)."""

    lock: ProcessingLock
    token: str


# How long a lock release that failed on a connection error is tried again (see ProcessingLock.release).
RELEASE_PATIENCE = 15.0


class ProcessingLock:
    """Acquire, release and inspect the processing lock."""

    def __init__(self, redis: Any, timeout: float, key: str = keys.PROCESSING_LOCK) -> None:
        self.redis = redis
        self.timeout = timeout
        self.key = key
        self._release = redis.register_script(_RELEASE)
        self._nested = redis.register_script(_NESTED)

    def try_acquire(self, instance: str, token: str | None = None, inside: Held | None = None) -> str | None:
        """Take the lock if it is free; returns the holder token (``token`` if given) or None.

        ``inside``: the outer lock the caller holds. The lock is then taken only if the outer one is
        still the caller's, and every try renews the outer lock's TTL (one script, one round trip).

        Raises:
            LockLost: ``inside`` is no longer held with its token.
        """
        token = token or new_token()
        holder: dict[str, Any] = {
            "token": token,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "instance": instance,
            "since": time.time(),
        }
        node = liveness.current_node()
        if node is not None:
            holder["node"] = node
        value = json.dumps(holder)
        ttl_ms = int(self.timeout * 1000)
        if inside is None:
            return token if self.redis.set(self.key, value, nx=True, px=ttl_ms) else None
        outer_ttl_ms = int(inside.lock.timeout * 1000)
        taken = int(self._nested(keys=[self.key, inside.lock.key], args=[value, ttl_ms, inside.token, outer_ttl_ms]))
        if taken < 0:
            raise LockLost(f"{inside.lock.key} is no longer ours while waiting for {self.key}")
        return token if taken else None

    def for_key(self, key: str) -> ProcessingLock:
        """This lock (same class, Redis, TTL) on another key: OCEANE_LOCK_SCOPE=alarm's per-alarm lock."""
        other = copy.copy(self)
        other.key = key
        return other

    def acquire(
        self, instance: str, wait: float, poll: float = 0.05, token: str | None = None, inside: Held | None = None
    ) -> str:
        """Wait up to ``wait`` seconds for the lock; returns the holder token (``token`` if given).

        A caller passes its own ``token`` when it stored it on a request row before taking the lock
        (the database fence, see worker.processing). ``inside``: the outer lock the caller holds
        (see :meth:`try_acquire`); it is renewed at each try, so blocks are kept to a quarter of its
        TTL, and the wait ends with :class:`LockLost` if it stops being ours.

        A waiter blocks on the lock's wake-up list (BLPOP), which the holder's release fills, so the
        lock passes to the next worker within a round trip. Polling instead (the former 50 ms, growing
        to 500 ms) left the lock idle between holders and capped serial throughput well below
        1 / (Oceane's answer time). ``poll`` is the first block; blocks grow to :data:`MAX_BLOCK`.

        Raises:
            LockTimeout: still busy after ``wait`` seconds.
            LockLost: ``inside`` stopped being ours meanwhile.
        """
        deadline = time.monotonic() + wait
        longest = MAX_BLOCK if inside is None else min(MAX_BLOCK, inside.lock.timeout / 4)
        block = min(poll, longest)
        wakeup = keys.lock_wakeup(self.key)
        token = token or new_token()
        while True:
            if self.try_acquire(instance, token, inside=inside):
                return token
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(f"processing lock busy for {wait:g} s")
            # A wake-up left when nobody waited only costs one more SET NX.
            self.redis.blpop([wakeup], timeout=max(0.01, min(block, left)))
            block = min(block * 2, longest)

    def release(self, token: str) -> bool:
        """Free the lock if ``token`` still holds it, and wake one waiter.

        A release lost with a Redis master that just died would leave the lock (replicated to the
        new master) held until it expires: ``OCEANE_LOCK_TIMEOUT``, two minutes by default, during
        which its requests (under ``global`` scope, all of them) wait. So a failed release is tried
        again for :data:`RELEASE_PATIENCE` seconds, long enough for Sentinel to promote a replica
        (the client asks the Sentinels again on each new connection).
        """
        import redis

        ttl_ms = str(int(self.timeout * 1000))
        deadline = time.monotonic() + RELEASE_PATIENCE
        while True:
            try:
                return bool(self._release(keys=[self.key, keys.lock_wakeup(self.key)], args=[token, ttl_ms]))
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def info(self) -> LockInfo | None:
        """The current holder, or None when the lock is free."""
        pipe = self.redis.pipeline()
        pipe.get(self.key)
        pipe.pttl(self.key)
        raw, pttl = pipe.execute()
        if not raw:
            return None
        data = json.loads(raw)
        return LockInfo(
            token=data.get("token", ""),
            worker=data.get("worker", "?"),
            instance=data.get("instance", "?"),
            since=float(data.get("since", 0)),
            ttl_seconds=max(0.0, pttl / 1000) if pttl and pttl > 0 else 0.0,
            node=data.get("node"),
        )

    def holds(self, token: str) -> bool:
        """Whether ``token`` still holds the lock."""
        info = self.info()
        return info is not None and info.token == token

    @contextmanager
    def held(self, instance: str, wait: float, token: str | None = None) -> Iterator[str]:
        """Hold the lock for a block; released (if still ours) on the way out."""
        token = self.acquire(instance, wait, token=token)
        with self.owned(token):
            yield token

    @contextmanager
    def owned(self, token: str) -> Iterator[str]:
        """A block run while holding the lock already acquired with ``token``; released on the way out."""
        try:
            yield token
        finally:
            with contextlib.suppress(Exception):  # Redis gone: the TTL frees it
                self.release(token)


def all_locks(redis: Any, timeout: float) -> Iterator[ProcessingLock]:
    """Every processing lock that may be held: the global one first, then each alarm's present.

    Under either OCEANE_LOCK_SCOPE: a request is held by its alarm's lock from the claim to the
    record under both (``global`` adds the global lock around the Oceane call), and a dead holder
    from before a switch of scope is still found. Alarms' locks are found with SCAN: there are at
    most as many as worker processes busy, but their keys are not known in advance.
    """
    lock = ProcessingLock(redis, timeout)
    yield lock
    for key in redis.scan_iter(match=keys.ALARM_LOCK + "*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if not name.endswith(keys.WAKEUP_SUFFIX):
            yield lock.for_key(name)


def new_token() -> str:
    """A holder token: random, stored in the lock's value and on the claimed request row."""
    return uuid.uuid4().hex
