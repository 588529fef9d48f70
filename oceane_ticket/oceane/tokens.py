"""The OAuth2 access token: its lifetime rules, and where it is kept (memory, or Redis for every worker).

The token is fetched by :class:`oceane_ticket.oceane.client.OceaneClient`; this module only says how
long one is trusted and where it is shared.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

import redis

from oceane_ticket import keys

log = logging.getLogger(__name__)

# Renew a token this long before Oceane says it expires, so no call races the expiry.
EXPIRY_MARGIN = 60.0
# expires_in is the server's word; an absent, unreadable, zero or negative one means the contract's
# default hour, and a present one is clamped: a token never lives less than two margins (a shorter
# one would be fetched anew for every call), nor more than a day (a revoked one still answers 41).
DEFAULT_TOKEN_LIFETIME = 3600
MIN_TOKEN_LIFETIME = int(2 * EXPIRY_MARGIN)
MAX_TOKEN_LIFETIME = 86400


@dataclass(frozen=True)
class Token:
    """An OAuth2 access token. ``repr`` never shows the token itself."""

    access_token: str = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret

    @property
    def seconds_left(self) -> float:
        """Seconds until Oceane considers it expired."""
        return self.expires_at - time.time()

    def usable(self) -> bool:
        """Whether it is far enough from expiry to be sent."""
        return self.seconds_left > EXPIRY_MARGIN


def token_lifetime(value: Any) -> int:
    """``expires_in`` as seconds we rely on (see :data:`DEFAULT_TOKEN_LIFETIME`)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            seconds = float(value.strip())
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        if value is not None:
            log.warning("token answer: expires_in %.40r is unusable; assuming %d s", value, DEFAULT_TOKEN_LIFETIME)
        return DEFAULT_TOKEN_LIFETIME
    clamped = int(min(max(seconds, MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME))
    if clamped != int(seconds):
        log.warning("token answer: expires_in %g s is out of range; using %d s", seconds, clamped)
    return clamped


class TokenStore(Protocol):
    """Where the shared token lives (Redis in the worker, memory in tests and the CLI)."""

    def get(self) -> Token | None:
        """The current token, if any."""

    def put(self, token: Token) -> None:
        """Share a freshly fetched token."""

    def discard(self, token: Token) -> None:
        """Forget ``token`` if it is still the shared one (Oceane rejected it)."""


class MemoryTokenStore:
    """A token store for one process."""

    def __init__(self) -> None:
        self._token: Token | None = None

    def get(self) -> Token | None:
        """The current token, if any."""
        return self._token

    def put(self, token: Token) -> None:
        """Keep ``token``."""
        self._token = token

    def discard(self, token: Token) -> None:
        """Forget ``token`` if it is the current one."""
        if self._token == token:
            self._token = None


# Compare-and-delete of the shared token, read beside this module as dramatiq keeps its Lua.
_DISCARD = resources.files(__package__).joinpath("token_discard.lua").read_text(encoding="utf-8")


class RedisTokenStore:
    """Keeps the token under :data:`keys.TOKEN_CACHE`, expiring with the token itself."""

    def __init__(self, redis: redis.Redis, key: str = keys.TOKEN_CACHE) -> None:
        self.redis = redis
        self.key = key
        self._discard = redis.register_script(_DISCARD)
        # The last token this process read or shared, used while it is usable instead of a Redis
        # round trip per call. If another process replaced it (Oceane rejected it there), our next
        # call gets a 401, discards it and reads the new one.
        self._known: Token | None = None

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r})"

    def get(self) -> Token | None:
        """The shared token, if one is cached."""
        known = self._known
        if known is not None and known.usable():
            return known
        raw = self.redis.get(self.key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            token = Token(str(data["access_token"]), float(data["expires_at"]), str(data.get("token_type", "Bearer")))
        except (ValueError, KeyError, TypeError):
            return None  # a corrupt entry is as good as none: fetch a new token
        self._known = token
        return token

    def put(self, token: Token) -> None:
        """Share ``token``; Redis drops it when it is no longer usable."""
        ttl = int(token.expires_at - time.time() - EXPIRY_MARGIN)
        if ttl <= 0:
            return
        value = {"access_token": token.access_token, "expires_at": token.expires_at, "token_type": token.token_type}
        self.redis.set(self.key, json.dumps(value), ex=ttl)
        self._known = token

    def discard(self, token: Token) -> None:
        """Drop ``token`` unless another worker already replaced it."""
        if self._known is not None and self._known.access_token == token.access_token:
            self._known = None
        self._discard(keys=[self.key], args=[token.access_token])
