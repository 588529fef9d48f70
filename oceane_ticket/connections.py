"""One factory for Redis clients and the broker's address: the timeouts chosen once, by purpose.

Every timeout bounds how long a caller can hang on a Redis that stopped answering; none of them
bounds a legitimate operation (every command we send is O(1) or a bounded scan). ``redis`` is
imported inside the functions so that importing this module costs the producer nothing.

Under Sentinel (``OCEANE_REDIS_SENTINELS`` and ``OCEANE_REDIS_SENTINEL_MASTER``) a client asks the
Sentinels for the master's address when it connects, and again whenever a connection fails or the
server it reached has become a replica (redis-py's ``SentinelManagedConnection``), so it follows a
failover without a restart. ``OCEANE_REDIS_URL`` then gives only the database number and the
password: its host is not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from oceane_ticket import settings as settings_module

if TYPE_CHECKING:
    import redis

    from oceane_ticket.settings import Settings

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


def redis_client(target: Settings | str, *, purpose: Purpose) -> redis.Redis:
    """A Redis client with the timeouts of ``purpose`` (see :data:`TIMEOUTS`).

    ``target``: the settings (a Sentinel-managed master when Sentinels are configured, else
    ``OCEANE_REDIS_URL``) or a plain URL (a probe of one server).
    """
    import redis

    options = _options(purpose)
    if isinstance(target, str):
        return redis.Redis.from_url(target, **options)
    if not target.redis_sentinels:
        return redis.Redis.from_url(target.redis_url, **options)
    master: redis.Redis = _sentinel(target, purpose).master_for(
        target.redis_sentinel_master, redis_class=redis.Redis, **_master_options(target), **options
    )
    return master


def _options(purpose: Purpose) -> dict[str, Any]:
    connect, read, health = TIMEOUTS[purpose]
    options: dict[str, Any] = {"socket_connect_timeout": connect, "socket_timeout": read}
    if health:
        options["health_check_interval"] = health
    return options


def _master_options(settings: Settings) -> dict[str, Any]:
    """The database number, user and password of ``OCEANE_REDIS_URL`` (its host is the Sentinels' to say)."""
    from redis.connection import parse_url

    parsed = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    return {k: parsed[k] for k in ("db", "username", "password") if parsed.get(k) is not None}


def _sentinel_options(settings: Settings, purpose: Purpose) -> dict[str, Any]:
    connect, read, _health = TIMEOUTS[purpose]
    options: dict[str, Any] = {"socket_connect_timeout": connect, "socket_timeout": read}
    password = settings.redis_sentinel_password.get_secret_value()
    if password:
        options["password"] = password
    return options


def _sentinel(settings: Settings, purpose: Purpose) -> Any:
    from redis.sentinel import Sentinel

    addresses = settings_module.sentinel_addresses(settings.redis_sentinels)
    # redis-py annotates Sentinel's constructor from 8.2 on (constraints.txt pins 8.1, where it is untyped):
    # unused-ignore keeps mypy strict quiet under either.
    return Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
        addresses, sentinel_kwargs=_sentinel_options(settings, purpose)
    )


def redis_location(settings: Settings, client: Any) -> str:
    """Where ``client`` (from :func:`redis_client`) goes, safe to print: the master it reached under Sentinel."""
    if not settings.redis_sentinels:
        return str(settings_module.mask_url(settings.redis_url))
    host, port = client.connection_pool.get_master_address()
    db = _master_options(settings).get("db", 0)
    return f"master {host}:{port}/{db} ({settings.redis_sentinel_master!r} via Sentinels {settings.redis_sentinels})"


def broker_url(settings: Settings) -> str:
    """The Celery/kombu broker URL: ``OCEANE_REDIS_URL``, or kombu's ``sentinel://...;sentinel://...`` form."""
    if not settings.redis_sentinels:
        return settings.redis_url
    master = _master_options(settings)
    auth = ""
    if "password" in master:
        from urllib.parse import quote

        auth = f"{quote(master.get('username', ''), safe='')}:{quote(master['password'], safe='')}@"
    db = master.get("db", 0)
    sentinels = settings_module.sentinel_addresses(settings.redis_sentinels)
    return ";".join(f"sentinel://{auth}{host}:{port}/{db}" for host, port in sentinels)


def broker_transport_options(settings: Settings, purpose: Purpose) -> dict[str, Any]:
    """Transport options for kombu: the timeouts of ``purpose``, and the master's name under Sentinel."""
    connect, read, health = TIMEOUTS[purpose]
    options: dict[str, Any] = {"socket_timeout": read, "socket_connect_timeout": connect}
    if health:
        options["health_check_interval"] = health
    if settings.redis_sentinels:
        options["master_name"] = settings.redis_sentinel_master
        options["sentinel_kwargs"] = _sentinel_options(settings, purpose)
    return options
