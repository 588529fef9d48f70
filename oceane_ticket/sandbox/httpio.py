"""A request as the endpoints see it, its headers, and the target split into path and query.

The sandbox's own framing is h11's (:mod:`oceane_ticket.sandbox.handler`). :func:`read_body`, the
hand-made body reader the sandbox used before, stays only for the fake DataMiner
(``tests/fakedm/server.py``), which still frames by hand on ``http.server``; it can move onto
:class:`oceane_ticket.sandbox.handler.LoopbackHTTPServer` and then this goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import Protocol
from urllib.parse import unquote, urlsplit

from oceane_ticket.sandbox.protocol import ApiError

_CHUNK = 64 * 1024
MAX_TRAILER_LINES = 100


class Reader(Protocol):
    """What the body readers need from a connection's input stream."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes."""
        ...

    def readline(self, size: int = -1, /) -> bytes:
        """Read one line of at most ``size`` bytes."""
        ...


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
    headers: Headers | Message
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


def read_body(rfile: Reader, headers: Message, max_bytes: int, drain_limit: int) -> bytes:
    """Read the request body whatever its framing.

    Args:
        rfile: The connection's input stream.
        headers: The request headers.
        max_bytes: Largest body accepted.
        drain_limit: A larger body up to this size is read and discarded, so that the client, still
            sending, receives our 400 instead of a connection reset.

    Returns:
        The body bytes.

    Raises:
        ApiError: 400 with ``close`` set: the stream can no longer be trusted to be in sync.
    """
    encoding = headers.get("Transfer-Encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise ApiError(400, 26, f"Unsupported Transfer-Encoding {encoding!r}.", close=True)
        return _read_chunked(rfile, max_bytes)
    length = _content_length(headers)
    if length > max_bytes:
        if length <= drain_limit:
            _discard(rfile, length)
        raise ApiError(400, 22, f"The body ({length} bytes) exceeds the {max_bytes} byte limit.", close=True)
    return _read_exact(rfile, length)


def _content_length(headers: Message) -> int:
    values = {v.strip() for v in headers.get_all("Content-Length") or []}
    if not values:
        return 0
    text = values.pop()
    if values or not text.isascii() or not text.isdigit() or len(text) > 15:
        raise ApiError(400, 26, "The Content-Length header is not a single non-negative integer.", close=True)
    return int(text)


def _read_exact(rfile: Reader, length: int) -> bytes:
    try:
        data = rfile.read(length) if length else b""
    except TimeoutError:
        raise ApiError(400, 22, "Timed out reading the body.", close=True) from None
    if len(data) < length:
        raise ApiError(400, 22, f"The body ended after {len(data)} of {length} bytes.", close=True)
    return data


def _discard(rfile: Reader, length: int) -> None:
    remaining = length
    try:
        while remaining > 0:
            data = rfile.read(min(_CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
    except (TimeoutError, OSError):
        return


def _read_chunked(rfile: Reader, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size = _chunk_size(rfile)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise ApiError(400, 22, f"The chunked body exceeds the {max_bytes} byte limit.", close=True)
        chunks.append(_read_exact(rfile, size))
        if _read_exact(rfile, 2) != b"\r\n":
            raise ApiError(400, 22, "A chunk is not followed by CRLF.", close=True)
    _skip_trailers(rfile)
    return b"".join(chunks)


def _chunk_size(rfile: Reader) -> int:
    try:
        line = rfile.readline(1024)
    except TimeoutError:
        raise ApiError(400, 22, "Timed out reading the body.", close=True) from None
    text = line.split(b";", 1)[0].strip()
    if not line.endswith(b"\n") or not text or len(text) > 15:
        raise ApiError(400, 22, "Malformed chunk size line.", close=True)
    try:
        size = int(text, 16)
    except ValueError:
        raise ApiError(400, 22, "Malformed chunk size line.", close=True) from None
    if size < 0:
        raise ApiError(400, 22, "Negative chunk size.", close=True)
    return size


def _skip_trailers(rfile: Reader) -> None:
    for _ in range(MAX_TRAILER_LINES):
        try:
            line = rfile.readline(65537)
        except TimeoutError:
            return
        if line in (b"\r\n", b"\n", b""):
            return
