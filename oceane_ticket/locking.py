"""The Ticket Queue Processing Lock: one ticket in flight against Oceane, across all workers.

A Redis key with a TTL (a dead holder's lock expires) whose value names its holder. Release and
ownership checks compare the holder's random token inside Lua, so only the holder can free it.
The token is also stored on the claimed request row: the database fence (see storage.queries).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from oceane_ticket import keys

log = logging.getLogger(__name__)

# Release also leaves one wake-up in the lock's wake-up list (see keys.lock_wakeup): a waiter
# blocked on it takes the lock within a round trip instead of sleeping out a poll interval.
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['token'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# Longest a waiter blocks on the wake-up list before trying again: bounds how late a waiter notices
# a lock freed without a wake-up (its holder died and the TTL ran out).
MAX_BLOCK = 0.5


class LockTimeout(Exception):
    """The lock stayed busy for as long as we were willing to wait."""


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


# How long a lock release that failed on a connection error is tried again (see ProcessingLock.release).
RELEASE_PATIENCE = 15.0


class ProcessingLock:
    """Acquire, release and inspect the processing lock."""

    def __init__(self, redis: Any, timeout: float, key: str = keys.PROCESSING_LOCK) -> None:
        self.redis = redis
        self.timeout = timeout
        self.key = key
        self._release = redis.register_script(_RELEASE)

    def try_acquire(self, instance: str, token: str | None = None) -> str | None:
        """Take the lock if it is free; returns the holder token (``token`` if given) or None."""
        token = token or new_token()
        holder: dict[str, Any] = {
            "token": token,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "instance": instance,
            "since": time.time(),
        }
        if _node is not None:
            holder["node"] = _node
        value = json.dumps(holder)
        if self.redis.set(self.key, value, nx=True, px=int(self.timeout * 1000)):
            return token
        return None

    def for_key(self, key: str) -> ProcessingLock:
        """This lock (same class, Redis, TTL) on another key: OCEANE_LOCK_SCOPE=alarm's per-alarm lock."""
        other = copy.copy(self)
        other.key = key
        return other

    def acquire(self, instance: str, wait: float, poll: float = 0.05, token: str | None = None) -> str:
        """Wait up to ``wait`` seconds for the lock; returns the holder token (``token`` if given).

        A caller passes its own ``token`` when it stored it on a request row before taking the lock
        (the database fence, see worker.processing).

        A waiter blocks on the lock's wake-up list (BLPOP), which the holder's release fills, so the
        lock passes to the next worker within a round trip. Polling instead (the former 50 ms, growing
        to 500 ms) left the lock idle between holders and capped serial throughput well below
        1 / (Oceane's answer time). ``poll`` is the first block; blocks grow to :data:`MAX_BLOCK`.

        Raises:
            LockTimeout: still busy after ``wait`` seconds.
        """
        deadline = time.monotonic() + wait
        block = poll
        wakeup = keys.lock_wakeup(self.key)
        token = token or new_token()
        while True:
            if self.try_acquire(instance, token):
                return token
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(f"processing lock busy for {wait:g} s")
            # A wake-up left when nobody waited only costs one more SET NX.
            self.redis.blpop([wakeup], timeout=max(0.01, min(block, left)))
            block = min(block * 2, MAX_BLOCK)

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


def scope_locks(redis: Any, timeout: float, scope: str) -> Iterator[ProcessingLock]:
    """Every processing lock that may be held under OCEANE_LOCK_SCOPE ``scope``.

    The global lock always (one GET, and a dead holder from before a switch of scope is still
    found); under ``alarm`` also each alarm's lock present in Redis, found with SCAN: there are at
    most as many as worker processes busy, but their keys are not known in advance.
    """
    lock = ProcessingLock(redis, timeout)
    yield lock
    if scope != "alarm":
        return
    for key in redis.scan_iter(match=keys.ALARM_LOCK + "*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if not name.endswith(keys.WAKEUP_SUFFIX):
            yield lock.for_key(name)


# --- worker liveness: who may break a dead holder's lock ---

# This process's worker node, set by the Celery worker's main process before it forks its pool, so
# that its children inherit it and name it in the locks they take.
_node: str | None = None


def new_token() -> str:
    """A holder token: random, stored in the lock's value and on the claimed request row."""
    return uuid.uuid4().hex


def new_node() -> str:
    """A node id for a worker starting now: host:pid plus a random part (see keys.WORKER_HEARTBEAT)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def set_node(node: str | None) -> None:
    """Name the worker node this process (and its future children) belongs to."""
    global _node
    _node = node


def current_node() -> str | None:
    """The worker node of this process, or None outside a Celery worker."""
    return _node


def node_alive(redis: Any, node: str) -> bool:
    """Whether ``node``'s heartbeat is current."""
    return bool(redis.exists(keys.worker_heartbeat(node)))


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True


def holder_dead(redis: Any, info: LockInfo, own_node: str | None) -> bool:
    """Whether the lock's holder is known to be gone, so that breaking its lock is safe.

    Known gone: its worker node's heartbeat has lapsed (the main process died, and Celery's
    prefork children die with it), or it is a process of our own node that no longer runs (a pool
    child killed by SIGKILL or the OOM killer). A holder without a node is never judged: only its
    TTL frees its lock. The caller must only ask while its own heartbeat has been current for a
    whole TTL (:meth:`Heartbeat.steady`): after a Redis outage, live peers need that long to renew
    theirs.
    """
    if info.node is None:
        return False
    if info.node == own_node:
        pid = info.pid
        return pid is not None and pid != os.getpid() and not _pid_running(pid)
    return not node_alive(redis, info.node)


class Heartbeat:
    """Keeps a worker node's heartbeat key fresh from a daemon thread of the worker's main process.

    After each successful beat, ``on_beat`` runs (the dead-worker recovery); its errors are logged
    and the beats go on.
    """

    def __init__(
        self,
        redis: Any,
        node: str,
        ttl: float = keys.WORKER_HEARTBEAT_TTL,
        every: float = keys.WORKER_HEARTBEAT_EVERY,
        on_beat: Callable[[Heartbeat], None] | None = None,
    ) -> None:
        self.redis = redis
        self.node = node
        self.ttl = ttl
        self.every = every
        self.on_beat = on_beat
        self._healthy_since: float | None = None
        self._first = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> bool:
        """Refresh the key once; False (and continuity lost) when Redis did not take it."""
        value = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})
        try:
            self.redis.set(keys.worker_heartbeat(self.node), value, px=int(self.ttl * 1000))
        except Exception as exc:  # Redis down: we cannot vouch for others' deaths either
            log.debug("heartbeat not written: %s", type(exc).__name__)
            self._healthy_since = None
            self._first = False
            return False
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()
            if self._first:
                # A worker that just started has no history, but if Redis itself has been up for a
                # whole TTL, live peers have had that long to renew: it need not wait a TTL more.
                # (Reading the uptime is best effort: INFO may be disabled on a managed Redis.)
                self._first = False
                with contextlib.suppress(Exception):
                    if float(self.redis.info("server")["uptime_in_seconds"]) >= self.ttl:
                        self._healthy_since -= self.ttl
        return True

    def steady(self) -> bool:
        """Whether every beat of the last TTL reached Redis: then a live peer has renewed its own.

        After an outage of Redis (or of our link to it) longer than a TTL, every heartbeat may
        have lapsed; peers that are alive renew theirs within a beat of Redis coming back, so
        until a whole TTL has passed without a failed beat, nobody is judged dead.
        """
        since = self._healthy_since
        return since is not None and time.monotonic() - since >= self.ttl

    def start(self) -> Heartbeat:
        """Beat once now, then every ``every`` seconds in a daemon thread."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name="oceane-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if self.beat() and self.on_beat is not None:
                try:
                    self.on_beat(self)
                except Exception as exc:
                    log.warning(
                        "dead-worker recovery failed (%s: %s); retrying at the next heartbeat",
                        type(exc).__name__,
                        str(exc)[:200],
                    )

    def stop(self) -> None:
        """Stop beating; the key lapses after its TTL."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every + 5)
