"""The Ticket Queue Processing Lock: one ticket in flight against Oceane, across all workers.

A Redis key with a TTL (a dead holder's lock expires) whose value names its holder. Release and
ownership checks compare the holder's random token inside Lua, so only the holder can free it.
The token is also stored on the claimed request row: the database fence (see storage.queries).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from oceane_ticket import keys

_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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


class ProcessingLock:
    """Acquire, release and inspect the processing lock."""

    def __init__(self, redis: Any, timeout: float, key: str = keys.PROCESSING_LOCK) -> None:
        self.redis = redis
        self.timeout = timeout
        self.key = key
        self._release = redis.register_script(_RELEASE)

    def try_acquire(self, instance: str) -> str | None:
        """Take the lock if it is free; returns the holder token or None."""
        token = uuid.uuid4().hex
        value = json.dumps(
            {
                "token": token,
                "worker": f"{socket.gethostname()}:{os.getpid()}",
                "instance": instance,
                "since": time.time(),
            }
        )
        if self.redis.set(self.key, value, nx=True, px=int(self.timeout * 1000)):
            return token
        return None

    def acquire(self, instance: str, wait: float, poll: float = 0.05) -> str:
        """Wait up to ``wait`` seconds for the lock.

        Raises:
            LockTimeout: still busy after ``wait`` seconds.
        """
        deadline = time.monotonic() + wait
        delay = poll
        while True:
            token = self.try_acquire(instance)
            if token:
                return token
            if time.monotonic() >= deadline:
                raise LockTimeout(f"processing lock busy for {wait:g} s")
            # Short, growing polls: the lock is usually held for one HTTP call.
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)

    def release(self, token: str) -> bool:
        """Free the lock if ``token`` still holds it."""
        return bool(self._release(keys=[self.key], args=[token]))

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
        )

    def holds(self, token: str) -> bool:
        """Whether ``token`` still holds the lock."""
        info = self.info()
        return info is not None and info.token == token

    @contextmanager
    def held(self, instance: str, wait: float) -> Iterator[str]:
        """Hold the lock for a block; released (if still ours) on the way out."""
        token = self.acquire(instance, wait)
        try:
            yield token
        finally:
            with contextlib.suppress(Exception):  # Redis gone: the TTL frees it
                self.release(token)
