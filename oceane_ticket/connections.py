"""One factory for Redis clients: the timeouts are chosen here, once, by what the client is for.

Every timeout bounds how long a caller can hang on a Redis that stopped answering; none of them
bounds a legitimate operation (every command we send is O(1) or a bounded scan). ``redis`` is
imported inside the function so that importing this module costs the producer nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import redis

Purpose = Literal["producer", "worker", "command", "probe"]

# (connect timeout, read timeout, health-check interval) in seconds, per purpose.
TIMEOUTS: dict[str, tuple[float, float, int]] = {
    # One operator click: it must fail fast enough for the hook script to report exit 4, yet ride
    # out a Redis busy with an AOF rewrite (a few seconds).
    "producer": (3.0, 5.0, 0),
    # A worker's long-lived pool: patient, since a task waiting on Redis costs no operator time,
    # and a health check before reusing a connection idle for longer than Redis' or a NAT's
    # timeout, so a silently dropped connection is replaced instead of failing a task.
    "worker": (5.0, 10.0, 25),
    # Operator commands (status, health, retry, sweep) and the metrics scrape: a probe that hangs
    # is worse than one that says "unavailable"; Prometheus' default scrape timeout is 10 s.
    "command": (2.0, 3.0, 0),
    # "Does something answer here?" before starting a private Redis (make run): a local port.
    "probe": (1.0, 1.0, 0),
}


def redis_client(url: str, *, purpose: Purpose) -> redis.Redis:
    """A Redis client for ``url`` with the timeouts of ``purpose`` (see :data:`TIMEOUTS`)."""
    import redis

    connect, read, health = TIMEOUTS[purpose]
    options: dict[str, Any] = {"socket_connect_timeout": connect, "socket_timeout": read}
    if health:
        options["health_check_interval"] = health
    return redis.Redis.from_url(url, **options)
