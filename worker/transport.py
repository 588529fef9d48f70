"""kombu's Redis transport, except that a message it cannot decode is dropped instead of fatal.

kombu parses each queued envelope (JSON, then its base64 body) inside the worker's event loop, so a
single malformed entry on the queue (a bad hand-written message, a stray LPUSH) raises there and
Celery stops the whole worker with "Unrecoverable error". The entry is already popped by then;
there is nothing to retry and nothing to ack. This transport logs it and reads on.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

# What decoding garbage raises: JSONDecodeError and binascii.Error are ValueErrors; a JSON value
# that is not an envelope object raises TypeError or KeyError when kombu reads its fields.
UNDECODABLE = (ValueError, TypeError, KeyError)


class Channel(kombu_redis.Channel):
    """A Redis channel that survives undecodable messages."""

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except UNDECODABLE as exc:
            # Type and message only: the entry itself may be anything, including someone's secret.
            log.error("dropped a malformed message from the queue: %s: %s", type(exc).__name__, str(exc)[:200])
            return True


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


def install() -> None:
    """Make ``redis://`` (and ``rediss://``) URLs use :class:`Transport` in this process.

    Registered under kombu's own aliases rather than as a new scheme, so broker URLs, logs and
    Flower's broker page still read ``redis://``.
    """
    for scheme in ("redis", "rediss"):
        kombu_transports.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        getattr(kombu_transports, "_transport_cache", {}).pop(scheme, None)
