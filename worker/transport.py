"""kombu's Redis transport: undecodable messages are dropped, unacked ones name their taker.

kombu parses each queued envelope (JSON, then its base64 body) inside the worker's event loop, so a
single malformed entry on the queue (a bad hand-written message, a stray LPUSH) raises there and
Celery stops the whole worker with "Unrecoverable error". The entry is already popped by then;
there is nothing to retry and nothing to ack. This transport logs it and reads on.

kombu keeps a delivered, unacked message in its ``unacked`` hash until the ack, and puts it back
on the queue only after the visibility timeout (which must outlast a retry's countdown, so tens
of minutes). Its entries do not say who took them. :class:`QoS` also records the taker's node in
``keys.UNACKED_OWNERS``, so that :func:`restore_orphans` can put back at once the messages of a
worker whose heartbeat has lapsed (see ``keys.WORKER_HEARTBEAT``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu import transport as kombu_transports
from kombu.connection import Connection
from kombu.transport import redis as kombu_redis
from redis import exceptions as redis_errors

from oceane_ticket import connections, keys, liveness
from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

# What decoding garbage raises: JSONDecodeError and binascii.Error are ValueErrors; a JSON value
# that is not an envelope object raises TypeError or KeyError when kombu reads its fields.
UNDECODABLE = (ValueError, TypeError, KeyError)


class QoS(kombu_redis.QoS):
    """kombu's ack emulation, recording which worker node holds each unacked message."""

    def append(self, message: Any, delivery_tag: Any) -> None:
        """Record the owner, then let kombu record the message.

        An owner entry whose message never got recorded is harmless: :func:`restore_orphans`
        drops it once the owner is gone.
        """
        node = liveness.current_node()
        if node is not None:
            with self.channel.conn_or_acquire() as client:
                client.hset(keys.UNACKED_OWNERS, delivery_tag, node)
        super().append(message, delivery_tag)

    def _remove_from_indices(self, delivery_tag: Any, pipe: Any = None) -> Any:
        # Every path that forgets an unacked message (ack, reject, restore) comes through here,
        # in the same pipeline or transaction: forget its owner with it.
        with self.pipe_or_acquire(pipe) as p:
            return super()._remove_from_indices(delivery_tag, p).hdel(keys.UNACKED_OWNERS, delivery_tag)


class _Robust:
    """What our channels add to kombu's (plain and Sentinel): one reused client, undecodable entries dropped."""

    QoS = QoS
    _reused_client: Any = None
    pool: Any
    _pool: Any
    connection: Any
    _create_client: Callable[..., Any]  # kombu's Channel provides both

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu's, but one client object for the channel instead of a new one per call.

        kombu builds a ``redis.Redis`` for every ack, every unacked-message record and every event
        it publishes; building one (its response-callback tables) was a fifth of the worker main
        process's CPU per ticket (bench row 4). A client holds no connection of its own, only the
        channel's pool, so reusing it is safe; a new pool (after a reconnection) gets a new client.
        Under Sentinel the pool is a ``SentinelConnectionPool``: it asks the Sentinels for the
        master on each new connection, so the reused client follows a failover too.
        """
        if client is not None:
            yield client
            return
        if self._pool is None and getattr(self.connection, "client", None) is None:
            # The channel is closing after its connection was lost (a Redis master gone): kombu
            # restores the unacked messages on close, and building a pool now would fail with an
            # AttributeError that stops the worker. A connection error is what kombu ignores there;
            # the messages stay in the unacked hash (the visibility timeout, restore_orphans and the
            # sweep re-send from the database).
            raise redis_errors.ConnectionError("the channel's connection is closed")
        reused = self._reused_client
        if reused is None or reused.connection_pool is not self.pool:
            reused = self._reused_client = self._create_client()
        yield reused

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))  # type: ignore[misc]
        except UNDECODABLE as exc:
            # Type and message only: the entry itself may be anything, including someone's secret.
            log.error("dropped a malformed message from the queue: %s: %s", type(exc).__name__, str(exc)[:200])
            return True


class Channel(_Robust, kombu_redis.Channel):
    """A Redis channel that survives undecodable messages and names the owner of unacked ones."""


class SentinelChannel(_Robust, kombu_redis.SentinelChannel):
    """The same on kombu's Sentinel channel (the master found through Sentinel, ``master_name`` option)."""


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Sentinel transport with :class:`SentinelChannel`."""

    Channel = SentinelChannel


def install() -> None:
    """Make ``redis://`` (and ``rediss://``) URLs use :class:`Transport`, ``sentinel://`` :class:`SentinelTransport`.

    Registered under kombu's own aliases rather than as a new scheme, so broker URLs, logs and
    Flower's broker page still read ``redis://`` (or ``sentinel://``).
    """
    for scheme, name in (("redis", "Transport"), ("rediss", "Transport"), ("sentinel", "SentinelTransport")):
        kombu_transports.TRANSPORT_ALIASES[scheme] = f"{__name__}:{name}"
        getattr(kombu_transports, "_transport_cache", {}).pop(scheme, None)


def restore_orphans(settings: Settings, redis: Any, alive: Callable[[str], bool]) -> int:
    """Put back on their queue the unacked messages whose owner node is not ``alive``.

    kombu's own ``restore_by_tag`` does the move, in one transaction that also drops the message
    from the unacked indices, so a message is restored at most once however many workers race.
    Returns how many owner entries of dead nodes were handled.
    """
    owners = redis.hgetall(keys.UNACKED_OWNERS)
    verdict: dict[bytes, bool] = {}
    orphans = []
    for tag, node in owners.items():
        if node not in verdict:
            verdict[node] = alive(node.decode())
        if not verdict[node]:
            orphans.append(tag.decode())
    if not orphans:
        return 0
    url = connections.broker_url(settings)
    options = connections.broker_transport_options(settings, "worker")
    kind = SentinelTransport if settings.redis_sentinels else Transport
    with Connection(url, transport=kind, transport_options=options) as conn:
        qos = conn.default_channel.qos
        for tag in orphans:
            qos.restore_by_tag(tag)
            redis.hdel(keys.UNACKED_OWNERS, tag)  # also when kombu no longer had the message
    log.warning("put back %d message(s) held by dead worker(s)", len(orphans))
    return len(orphans)
