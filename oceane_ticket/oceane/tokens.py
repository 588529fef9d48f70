"""The OAuth2 token shared through Redis by every worker process until it nears expiry."""

from __future__ import annotations

import json
import time
from typing import Any

from oceane_ticket import keys
from oceane_ticket.oceane.client import EXPIRY_MARGIN, Token

_DISCARD = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['access_token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    """Keeps the token under :data:`keys.TOKEN_CACHE`, expiring with the token itself."""

    def __init__(self, redis: Any, key: str = keys.TOKEN_CACHE) -> None:
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
