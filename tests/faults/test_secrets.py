"""The client secret and the access tokens appear nowhere they should not.

The pipeline runs against a sandbox with a recognisable client secret, through the paths that
touch credentials (first token, expired token renewed, 401 code 41 re-authentication, a rejected
token request, a failed ticket, a retried one), with the worker and beat logging at DEBUG. Then
every log, every Redis key and value but the token cache, both tables, the Celery task events
Flower displays (arguments, keyword arguments, results, exceptions), the CLI's output and the
repr of the settings are searched for the secret and for every token the sandbox issued.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from oceane_ticket import keys
from oceane_ticket.sandbox.server import Sandbox
from tests.conftest import settings_env, wait_until
from tests.faults.kit import CLI, CLI_DETAILS, alarm_params

pytestmark = pytest.mark.integration

SECRET = "Zq8-RECOGNISABLE-client-secret-4e1f9b77"
CLIENT_ID = "faults-client"


@pytest.fixture
def secret_sandbox() -> Iterator[Sandbox]:
    with Sandbox(client_id=CLIENT_ID, client_secret=SECRET) as sb:
        yield sb


class TaskEvents:
    """What Flower sees: every Celery event on the broker, captured by a receiver thread."""

    def __init__(self, redis_url: str) -> None:
        from celery import Celery

        self.app = Celery("flower-view", broker=redis_url)
        self.broker_url = redis_url
        self.events: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.connection() as conn:
            self._receiver = self.app.events.Receiver(conn, handlers={"*": self.events.append})
            self.ready.set()
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def __enter__(self) -> TaskEvents:
        self._thread.start()
        self.ready.wait(10)
        return self

    def switch_on(self, timeout: float = 30.0) -> None:
        """Ask every worker for task events, as Flower does (they are off until asked), and wait
        until a worker confirms."""
        from celery import Celery

        def confirmed() -> bool:
            # A Celery app of its own per attempt: in the full matrix the reply connection was once
            # closed under the broadcast, and a retry must not reuse anything of the failed one.
            control = Celery("flower-control", broker=self.broker_url)
            try:
                return bool(control.control.enable_events(reply=True, timeout=1.0))
            except (ConnectionError, OSError, redis.exceptions.ConnectionError):
                return False
            finally:
                control.close()

        wait_until(confirmed, timeout=timeout)

    def __exit__(self, *exc: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(5)


def _redis_dump(client: Any) -> list[str]:
    """Every key and value (but the token cache), with base64 message bodies decoded too."""
    texts: list[str] = []
    for key in client.scan_iter(count=1000):
        if key.decode() == keys.TOKEN_CACHE:
            continue
        kind = client.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [k + b"=" + v for k, v in client.hgetall(key).items()]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        texts.append(key.decode(errors="replace"))
        for value in values:
            text = value.decode(errors="replace")
            texts.append(text)
            texts.extend(_decoded_bodies(text))
    return texts


def _decoded_bodies(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if isinstance(data, list) and data and isinstance(data[0], str):  # kombu's unacked entries
        return _decoded_bodies(data[0])
    if isinstance(data, dict) and isinstance(data.get("body"), str):
        try:
            return [base64.b64decode(data["body"]).decode(errors="replace")]
        except ValueError:
            return []
    return []


def test_secret_and_tokens_appear_nowhere(stack: Any, ledger: Any, secret_sandbox: Sandbox) -> None:
    stack.sandbox = secret_sandbox
    settings = stack.configure(
        base_url=secret_sandbox.base_url,
        ticket_url_template=secret_sandbox.ticket_url_template(),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        retry_count=1,
    )
    book = ledger("secrets scan: logs at DEBUG, Redis, tables, task events, settings")
    outputs: list[str] = []
    with TaskEvents(settings.redis_url) as events:
        stack.beat(loglevel="DEBUG")
        worker = stack.worker(loglevel="DEBUG")
        events.switch_on()
        book.accept(stack.submit(alarm_params(800)))  # first token
        book.finish(timeout=30, check=False)
        secret_sandbox.expire_tokens()
        book.accept(stack.submit(alarm_params(801)))  # 401 code 42: a second token
        book.finish(timeout=30, check=False)
        secret_sandbox.force(401, 41, group="create", count=1)
        book.accept(stack.submit(alarm_params(802)))  # 401 code 41: one re-authentication
        book.finish(timeout=30, check=False)
        secret_sandbox.force(503, group="create", count=1)
        book.accept(stack.submit(alarm_params(803)))  # a retried attempt
        book.finish(timeout=30, check=False)
        secret_sandbox.force(400, 24, group="create", count=1)
        book.accept(stack.submit(alarm_params(804)), expect="failed")  # a failed row
        book.finish(timeout=30, check=False)
        secret_sandbox.expire_tokens()
        secret_sandbox.force(401, group="token", count=None, description="Client authentication failed.")
        book.accept(stack.submit(alarm_params(805)), expect="failed")  # the token endpoint refuses
        book.finish(timeout=30, check=False)
        secret_sandbox.clear_faults()
        # The operator's commands, through the real console script.
        env = settings_env(settings)
        commands = [
            ["create", "--alarm", alarm_params(806), *CLI_DETAILS, "--wait", "30", "--json"],
            ["authenticate", "--json"],
            ["authenticate"],
            ["tickets", "--json"],
            ["failed", "--json"],
        ]
        for args in commands:
            done = subprocess.run(
                [CLI, *args], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            outputs += [done.stdout, done.stderr]
        book.accept(json.loads(outputs[0]))
        book.finish(timeout=30)
        wait_until(lambda: any(e.get("type") == "task-succeeded" for e in events.events), timeout=10)

    # Every token the sandbox issued (it keeps them to answer 41/42; no public accessor).
    tokens = secret_sandbox.issued_tokens()
    assert len(tokens) >= 4, "the run must have exercised several tokens"
    # Positive control: the one key allowed to hold a token does, in a form the scan would catch.
    cached = stack.redis.get(keys.TOKEN_CACHE)
    assert cached is not None and any(t in cached.decode() for t in tokens)

    haystacks: dict[str, list[str]] = {
        "worker and beat logs (DEBUG)": [stack.logs()],
        "CLI output": outputs,
        "Redis keys and values": _redis_dump(stack.redis),
        "tickets table": [repr(r) for r in book.rows().values()],
        "failed_ticket_requests table": [repr(r) for r in book.failures()],
        "task events (Flower)": [json.dumps(e, default=str) for e in events.events],
        "settings repr": [
            repr(settings),
            str(settings),
            json.dumps(settings.as_dict(), default=str),
            repr(settings.as_dict()),
        ],
    }
    assert "DEBUG" in worker.log_text() and len(events.events) > 10
    assert any(e.get("type") == "task-received" and e.get("args") for e in events.events)
    for where, texts in haystacks.items():
        blob = "\n".join(texts)
        assert SECRET not in blob, f"the client secret leaks into {where}"
        assert base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode() not in blob, f"Basic credentials in {where}"
        leaked = [t for t in tokens if t in blob]
        assert not leaked, f"{len(leaked)} access token(s) leak into {where}"
