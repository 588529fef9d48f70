"""A request as the endpoints see it, its headers, and the target split into path and query.

The framing is h11's (:mod:`oceane_ticket.sandbox.handler`), for the sandbox and the fake DataMiner alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from oceane_ticket.sandbox.protocol import ApiError


class Headers:
    """Request headers by case-insensitive name, from h11's (lower-cased) pairs."""

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name.decode("ascii").lower(), []).append(value.decode("latin-1"))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self._values.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``."""
        return list(self._values.get(name.lower(), []))

    def __len__(self) -> int:
        return sum(len(v) for v in self._values.values())


@dataclass
class Request:
    """A parsed request, as the endpoints see it.

    Attributes:
        method: HTTP method.
        path: The path, percent-encoded as received, without a trailing slash.
        query: The raw query string.
        headers: Request headers.
        body: The full body ('' when none).
        target: The request target as received (for the request log).
    """

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    target: str = ""

    def segment(self, prefix: str) -> str:
        """The percent-decoded remainder of the path after ``prefix``; 400 code 20 if it does not decode."""
        try:
            return unquote(self.path[len(prefix) :], errors="strict")
        except UnicodeDecodeError:
            raise ApiError(400, 20, "The URL path is not valid percent-encoded UTF-8.") from None


def split_target(target: str) -> tuple[str, str]:
    """Path and query of a request target, accepting the absolute form proxies send."""
    if not target.startswith("/"):
        try:
            parts = urlsplit(target)
        except ValueError:  # e.g. an unclosed IPv6 bracket: the route lookup will answer 404
            return target, ""
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    return (path.rstrip("/") or "/"), query
