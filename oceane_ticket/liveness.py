"""Worker liveness: each worker node's identity and heartbeat, and whether a lock's holder is gone.

A lock's holder that is known dead (:func:`holder_dead`) may have its lock broken before its TTL
runs out; everything else waits for the TTL (see :mod:`oceane_ticket.locking`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from oceane_ticket import keys
from oceane_ticket.processes import pid_alive

log = logging.getLogger(__name__)


class Holder(Protocol):
    """What liveness needs of a lock's holder (``locking.LockInfo`` is one)."""

    @property
    def node(self) -> str | None:
        """The holder's worker node, if it named one."""

    @property
    def pid(self) -> int | None:
        """The holder's process id."""


# This process's worker node, set by the Celery worker's main process before it forks its pool, so
# that its children inherit it and name it in the locks they take.
_node: str | None = None


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


def holder_dead(redis: Any, info: Holder, own_node: str | None) -> bool:
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
        return pid is not None and pid != os.getpid() and not pid_alive(pid)
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
