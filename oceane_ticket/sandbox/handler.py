"""The HTTP plumbing: a threaded server that survives any input, framing HTTP/1.1 with h11.

h11 (a sans-I/O HTTP/1.1 library, already installed through uvicorn) parses request lines, headers,
``Content-Length`` and chunked bodies with their trailers, and writes the answers. What is ours: the
socket (timeouts, Nagle off, the open connections closed on stop), the limits (body size, header
count), every refusal answered as a JSON error of the API the path belongs to, and the socket-level
faults h11 cannot express: ``reset`` (RST), ``close`` (FIN without an answer). Nothing here knows
Oceane: :class:`LoopbackHTTPServer` takes any ``app`` with ``handle(Request) -> Response`` and
``error_response(ApiError, path) -> Response``, so another fake can serve on the same plumbing.
"""

from __future__ import annotations

import contextlib
import http
import logging
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Any, Protocol

import h11

from oceane_ticket.sandbox.httpio import Headers, Request, split_target
from oceane_ticket.sandbox.protocol import ApiError, Response

logger = logging.getLogger("oceane_ticket.sandbox")

MAX_HEADERS = 100  # as http.server allowed: more is a client bug or an attack
MAX_HEAD_BYTES = 64 * 1024  # request line plus headers
_RECV = 64 * 1024
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d\r?$")


class App(Protocol):
    """What the server serves."""

    def handle(self, request: Request) -> Response:
        """Answer one request."""
        ...

    def error_response(self, error: ApiError, path: str) -> Response:
        """An error as the API of ``path`` shapes it."""
        ...


class LoopbackHTTPServer(socketserver.ThreadingTCPServer):
    """A threaded TCP server that remembers its open connections, so stopping it closes them all."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        *,
        max_body_bytes: int,
        request_timeout: float,
        server_header: str = "OceaneSandbox/1.0",
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.server_header = server_header
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, ConnectionHandler)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a finished connection."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection, so keep-alive clients see the server go away."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log, rather than print, what escaped a handler; a client vanishing mid-request is routine."""
        if isinstance(sys.exc_info()[1], OSError):
            logger.debug("connection from %s ended with an error", client_address, exc_info=True)
        else:
            logger.error("sandbox connection handler failed for %s", client_address, exc_info=True)


class _Refused(Exception):
    """A request that cannot be served; ``error`` is the answer, and the connection closes after it."""

    def __init__(self, error: ApiError, path: str = "/") -> None:
        super().__init__(error.description)
        self.error = error
        self.path = path


class ConnectionHandler(socketserver.BaseRequestHandler):
    """One connection: requests in, answers out, until either side closes."""

    server: LoopbackHTTPServer
    request: socket.socket

    def setup(self) -> None:
        """Apply the read timeout, send small answers at once, register the connection."""
        self.request.settimeout(self.server.request_timeout)
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request)
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.peer = str(self.client_address[0])
        # The bytes of the request head so far, to say which part of a refused one was wrong.
        self.head = b""

    def finish(self) -> None:
        """Unregister the connection."""
        self.server.untrack(self.request)

    def handle(self) -> None:
        """Serve requests until the connection must close."""
        while True:
            started = time.monotonic()
            try:
                request = self._read_request()
            except _Refused as refused:
                self._answer(None, self.server.app.error_response(refused.error, refused.path), None, close=True)
                return
            if request is None:
                return
            try:
                response = self.server.app.handle(request)
            except Exception:  # the sandbox must outlive its own bugs: answer 500 and keep serving
                logger.exception("sandbox error on %s %s", request.method, request.target[:200])
                error = ApiError(500, 1, "The sandbox failed on this request.", close=True)
                response = self.server.app.error_response(error, request.path)
            if not self._answer(request, response, started, close=response.close):
                return
            if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is h11.MUST_CLOSE:
                return
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:  # the client is still sending a body we did not read
                return
            self.head = bytes(self.conn.trailing_data[0][:MAX_HEAD_BYTES])

    # --- reading ---

    def _read_request(self) -> Request | None:
        """The next whole request, ``None`` when the client closed between requests.

        Raises:
            _Refused: the request is malformed, too large, or too slow.
        """
        head = self._next_event()
        if head is None:
            return None
        assert isinstance(head, h11.Request)
        method = head.method.decode("ascii", "replace")
        path, query = split_target(head.target.decode("latin-1"))
        if head.http_version not in (b"1.0", b"1.1"):
            raise _Refused(ApiError(400, 20, f"HTTP/{head.http_version.decode()} is not supported.", close=True))
        if len(head.headers) > MAX_HEADERS:
            raise _Refused(ApiError(400, 26, f"More than {MAX_HEADERS} header lines.", close=True), path)
        if method not in _KNOWN_METHODS:
            raise _Refused(ApiError(405, 61, f"Method {method[:20]!r} is not supported.", close=True), path)
        headers = Headers(head.headers)
        body = self._read_body(headers, path)
        return Request(method, path, query, headers, body, head.target.decode("latin-1"))

    def _read_body(self, headers: Headers, path: str) -> bytes:
        limit = self.server.max_body_bytes
        declared = headers.get("Content-Length")
        too_big = declared is not None and int(declared) > limit
        if too_big and int(declared or 0) > 16 * limit:
            raise _Refused(
                ApiError(400, 22, f"The body ({declared} bytes) exceeds the {limit} byte limit.", close=True), path
            )
        if self.conn.client_is_waiting_for_100_continue and not too_big:
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self._next_event(path)
            if isinstance(event, h11.EndOfMessage):
                break
            assert isinstance(event, h11.Data)
            size += len(event.data)
            if not too_big and size > limit:
                too_big = True
            if too_big:
                # Read (and drop) a little more, so that a client still sending gets our 400
                # rather than a reset; beyond that, answer now.
                if size > 16 * limit:
                    break
                continue
            chunks.append(event.data)
        if too_big:
            text = f"The body ({declared or 'chunked'} bytes) exceeds the {limit} byte limit."
            raise _Refused(ApiError(400, 22, text, close=True), path)
        return b"".join(chunks)

    def _next_event(self, path: str | None = None) -> h11.Event | None:
        """The next h11 event, reading from the socket as needed (``path`` set: inside a body)."""
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(self._protocol_error(exc, path), path or "/") from None
            if event is h11.NEED_DATA:
                self._receive(path)
                continue
            if event is h11.PAUSED:  # cannot happen between whole requests; end the connection
                return None
            if isinstance(event, h11.ConnectionClosed):
                if path is not None:
                    raise _Refused(ApiError(400, 22, "The body ended early.", close=True), path)
                return None
            assert isinstance(event, h11.Request | h11.Data | h11.EndOfMessage | h11.InformationalResponse)
            return event

    def _receive(self, path: str | None) -> None:
        try:
            data = self.request.recv(_RECV)
        except TimeoutError:
            if path is None and self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
                data = b""  # an idle keep-alive connection: close it quietly
            else:
                raise _Refused(ApiError(400, 22, "Timed out reading the request.", close=True), path or "/") from None
        except OSError:
            data = b""
        if path is None and len(self.head) <= MAX_HEAD_BYTES:
            self.head += data[: MAX_HEAD_BYTES + 1 - len(self.head)]
        self.conn.receive_data(data)

    def _protocol_error(self, exc: h11.RemoteProtocolError, path: str | None) -> ApiError:
        """What h11 refused, in the contract's codes: 20 request line, 25/26 headers, 22 body."""
        text = str(exc) or "Malformed request."
        if path is not None:
            return ApiError(400, 22, f"Malformed body: {text}", close=True)
        if exc.error_status_hint == 501:
            # h11 answers an unknown transfer coding 501 Not Implemented, as RFC 9112 §6.1 asks.
            return ApiError(501, 26, text, close=True)
        first_line = self.head.split(b"\n", 1)[0]
        if b"\n" not in self.head or not _REQUEST_LINE.match(first_line):
            return ApiError(400, 20, f"Malformed request line: {text}", close=True)
        if "Host" in text:
            # RFC 9112 §3.2: an HTTP/1.1 request without Host must be answered 400.
            return ApiError(400, 25, text, close=True)
        return ApiError(400, 26, f"Malformed header: {text}", close=True)

    # --- writing ---

    def _answer(self, request: Request | None, response: Response, started: float | None, *, close: bool) -> bool:
        """Log and write one answer; whether the connection may serve another request."""
        # Log before answering, so that a client holding the answer can rely on the line being there.
        self._log(request, response, started)
        if response.abort is not None:
            self._abort(response.abort)
            return False
        headers: list[tuple[str, str]] = [("Server", self.server.server_header)]
        headers.extend(response.headers.items())
        if response.status not in (204, 304):  # these carry neither (RFC 9110 §8.6, §15.3.5)
            if response.content_type:  # an empty body (a 202 without one) has no type
                headers.append(("Content-Type", response.content_type))
            headers.append(("Content-Length", str(len(response.body))))
        if close:
            headers.append(("Connection", "close"))
        reason = _reason(response.status)
        try:
            out = self.conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            if response.body and (request is None or request.method != "HEAD"):
                out += self.conn.send(h11.Data(data=response.body))
            out += self.conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            logger.debug("cannot answer on this connection any more", exc_info=True)
            return False
        try:
            self.request.sendall(out or b"")  # one write: status line, headers and body together
        except OSError:  # the client left (e.g. its read timeout fired during an injected hang)
            return False
        return not close

    def _send(self, event: h11.Event) -> None:
        with contextlib.suppress(OSError, h11.LocalProtocolError):
            self.request.sendall(self.conn.send(event) or b"")

    def _abort(self, mode: str) -> None:
        if mode == "reset":
            # Linger 0 makes close() send RST instead of FIN: the client sees "connection reset".
            with contextlib.suppress(OSError):
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.request.close()
        # "close": returning ends the connection with FIN and no answer.

    def _log(self, request: Request | None, response: Response, started: float | None) -> None:
        # Method and target only: headers carry the Basic credentials and the bearer token.
        method = request.method if request else "-"
        target = request.target[:200] if request else "-"
        outcome = response.abort or str(response.status)
        code = f" code {response.code}" if response.code is not None else ""
        elapsed = f" {1000 * (time.monotonic() - started):.1f}ms" if started is not None else ""
        logger.info("%s %s %s -> %s%s%s", self.peer, method, target, outcome, code, elapsed)


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
