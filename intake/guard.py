"""The intake's door: the bearer token (any of several, for rotation), then the body size, before any route runs."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from intake.errors import error_response
from oceane_ticket.hub import LISTENER_PREFIX
from oceane_ticket.loopback import is_loopback

MAX_BODY_BYTES = 64 * 1024
# Served without a token: probes, and the API's own description (public: it is in the repository too).
UNAUTHENTICATED = frozenset({"/health", "/docs", "/openapi.json"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_tokens(raw: str) -> list[str]:
    """OCEANE_INTAKE_TOKEN: one token, or several separated by commas or spaces (old and new while rotating)."""
    return [token for token in re.split(r"[\s,]+", raw) if token]


def _is_loopback_peer(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    return is_loopback(str(client[0]))


def is_listener_path(path: str) -> bool:
    """Whether a request path is a listener call from Oceane's hub (exempt from the bearer token)."""
    return path.startswith(LISTENER_PREFIX)


class Guard:
    """Pure ASGI middleware: the bearer token, then the body size, before any route or parser runs.

    The token is compared in constant time against each configured one. Without a token configured,
    only loopback peers are served (``serve`` refuses any other address then). A body is buffered up
    to 64 KB (the intake's requests are a few hundred bytes) and refused beyond, whether or not a
    Content-Length announced it.
    """

    def __init__(self, app: ASGIApp, tokens: list[str], max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.tokens = [token.encode() for token in tokens]
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass the request on with its body buffered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Listener calls come from Oceane's hub without our token: their path's secret proves them (intake/listener.py).
        exempt = scope["path"] in UNAUTHENTICATED or is_listener_path(scope["path"])
        if not exempt and not self._authorized(scope):
            hint = "Authorization: Bearer <OCEANE_INTAKE_TOKEN>" if self.tokens else "a loopback client"
            response = error_response(401, f"missing or wrong credentials: this intake needs {hint}")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        if self._announced_length(scope) > self.max_body:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > self.max_body:
                await self._too_large(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # later calls: the disconnect, for a waiting request

        await self.app(scope, replay, send)

    def _authorized(self, scope: Scope) -> bool:
        if not self.tokens:
            return _is_loopback_peer(scope)
        given = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
        if given is None:
            return False
        scheme, _, credential = bytes(given).partition(b" ")
        credential = credential.strip()
        # Every token is compared (no early exit): the time taken says nothing about which one matched.
        matches = [hmac.compare_digest(credential, token) for token in self.tokens]
        return scheme.lower() == b"bearer" and any(matches)

    @staticmethod
    def _announced_length(scope: Scope) -> int:
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server refuses a bad Content-Length itself
        return 0

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        kb = self.max_body // 1024
        await error_response(413, f"body: larger than {kb} KB")(scope, receive, send)
