"""The HTTP plumbing: a threaded server that survives any input, and its request handler."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from oceane_ticket.sandbox.api import App
from oceane_ticket.sandbox.httpio import Request, read_body, split_target
from oceane_ticket.sandbox.protocol import ApiError, Response

logger = logging.getLogger("oceane_ticket.sandbox")

# How http.server's own parse errors map onto Orange codes (their bodies become JSON too).
_PARSE_ERRORS: dict[int, tuple[int, int]] = {
    400: (400, 20),
    408: (400, 22),
    414: (400, 20),
    431: (400, 26),
    501: (405, 61),
    505: (400, 20),
}


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that remembers its open connections, so stopping it closes them all."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, *, max_body_bytes: int, request_timeout: float) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
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


class SandboxHandler(BaseHTTPRequestHandler):
    """Reads a request safely, hands it to the :class:`App`, writes the answer, logs one line."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the real service; clients pool connections
    server_version = "OceaneSandbox/1.0"
    sys_version = ""
    server: SandboxHTTPServer

    def setup(self) -> None:
        """Apply the read timeout and register the connection."""
        self.request.settimeout(self.server.request_timeout)
        # Headers and body leave in two writes; without this, Nagle holds the body back until the
        # client's delayed ACK (~40 ms per call).
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def version_string(self) -> str:
        """The ``Server`` header, without the Python version."""
        return self.server_version

    def do_GET(self) -> None:
        """Answer a GET."""
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            response = self._respond()
        except Exception:  # the sandbox must outlive its own bugs: answer 500 and keep serving
            logger.exception("sandbox error on %s %s", self.command, self.path[:200])
            error = ApiError(500, 1, "The sandbox failed on this request.", close=True)
            response = self.server.app.error_response(error, self.path)
        # Log before answering, so that a client holding the answer can rely on the line being there.
        self._log(response, started)
        self._write(response)

    def _respond(self) -> Response:
        try:
            body = read_body(self.rfile, self.headers, self.server.max_body_bytes, 16 * self.server.max_body_bytes)
        except ApiError as exc:
            return self.server.app.error_response(exc, split_target(self.path)[0])
        path, query = split_target(self.path)
        return self.server.app.handle(Request(self.command, path, query, self.headers, body))

    def _write(self, response: Response) -> None:
        if response.abort is not None:
            self._abort(response.abort)
            return
        # http.server answers "HTTP/0.9" (any unparsable request line) with a bare body; a status
        # line and headers serve every real client better.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status not in (204, 304):  # these carry neither (RFC 9110 §8.6, §15.3.5)
                if response.content_type:  # an empty body (a 202 without one) has no type
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
            if response.close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client left (e.g. its read timeout fired during an injected hang)
            self.close_connection = True

    def _abort(self, mode: str) -> None:
        self.close_connection = True
        if mode == "reset":
            # Linger 0 makes close() send RST instead of FIN: the client sees "connection reset".
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer http.server's own parse errors with a JSON error body."""
        status, app_code = _PARSE_ERRORS.get(code, (code, 1))
        error = ApiError(status, app_code, message or explain or "Malformed request.", close=True)
        self.close_connection = True
        response = error.to_response()
        self._log(response, None)
        self._write(response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence the default access line: :meth:`_log` writes a better one."""

    def log_message(self, format: str, *args: Any) -> None:
        """Route http.server's messages to logging."""
        logger.debug("%s " + format, self.client_address[0], *args)

    def _log(self, response: Response, started: float | None) -> None:
        # Method and target only: headers carry the Basic credentials and the bearer token.
        method = getattr(self, "command", None) or "-"
        target = (getattr(self, "path", "") or "-")[:200]
        outcome = response.abort or str(response.status)
        code = f" code {response.code}" if response.code is not None else ""
        elapsed = f" {1000 * (time.monotonic() - started):.1f}ms" if started is not None else ""
        logger.info("%s %s %s -> %s%s%s", self.client_address[0], method, target, outcome, code, elapsed)
