"""Bad input, the services' side: the worker and the sandbox survive garbage.

Malformed task messages pushed straight onto the queue must not kill the worker or poison the
queue: the next good job completes. Malformed HTTP requests to the sandbox get an error answer and
the sandbox keeps serving the pipeline.
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest
import requests

from oceane_ticket import jobs
from tests.faults.kit import alarm_params

pytestmark = pytest.mark.integration


def _message(args: Any = ("0123abcd",), kwargs: Any = None, task: str = jobs.TASK_CREATE, **changes: Any) -> str:
    message = jobs.task_message(task, list(args), "oceane.faults")
    if kwargs is not None:
        body = json.dumps([list(args), kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
        message["body"] = base64.b64encode(body.encode()).decode()
    for key, value in changes.items():
        if key == "headers":
            message["headers"].update(value)
        else:
            message[key] = value
    return json.dumps(message)


def _garbage() -> dict[str, str | bytes]:
    """Broken task messages, named for what is wrong with each."""
    not_base64 = json.loads(_message())
    not_base64["body"] = "!!! not base64 !!!"
    body_not_json = json.loads(_message())
    body_not_json["body"] = base64.b64encode(b"{not json").decode()
    no_task_header = json.loads(_message())
    del no_task_header["headers"]["task"]
    return {
        "not JSON": b"\x00\xffnot json at all",
        "empty": b"",
        "JSON, not an object": b"[1, 2, 3]",
        "empty object": b"{}",
        "unknown task": _message(task="oceane.no_such_task"),
        "no arguments": _message(args=()),
        "integer instance": _message(args=(12345,)),
        "null instance": _message(args=(None,)),
        "path as instance": _message(args=("../../etc/passwd",)),
        "huge instance": _message(args=("a" * 100_000,)),
        "unknown request": _message(args=("f" * 32,)),
        "extra keyword": _message(kwargs={"instance": "abc", "evil": 1}),
        "two arguments": _message(args=("abc", "def")),
        "body not base64": json.dumps(not_base64),
        "body not JSON": json.dumps(body_not_json),
        "pickle content type": _message(**{"content-type": "application/x-python-serialize"}),
        "no task header": json.dumps(no_task_header),
    }


def test_malformed_task_messages_do_not_stop_the_worker(stack: Any, ledger: Any) -> None:
    garbage = _garbage()
    book = ledger(f"{len(garbage)} malformed task messages, then a good job")
    worker = stack.worker()
    r = stack.redis
    for raw in garbage.values():
        r.lpush(stack.settings.queue, raw)
    instance = book.accept(stack.submit(alarm_params(700)))
    book.finish(timeout=30)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker must survive garbage"
    assert stack.row(instance)["status"] == "created"
    # The worker keeps serving after the garbage, not just once.
    second = book.accept(stack.submit(alarm_params(701)))
    book.finish(timeout=30)
    assert stack.row(second)["status"] == "created"
    assert worker.proc.poll() is None


def _raw(host: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_requests_do_not_stop_the_sandbox(stack: Any, ledger: Any) -> None:
    sandbox = stack.sandbox
    token = sandbox.issue_token()
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    bodies: dict[str, tuple[bytes, str]] = {
        "not JSON": (b"{not json", "application/json"),
        "not UTF-8": (b"\xff\xfe\x00garbage", "application/json"),
        "JSON array": (b"[1, 2]", "application/json"),
        "wrong content type": (b'{"externalId": "1/2/3"}', "text/plain"),
        "missing fields": (b"{}", "application/json"),
        "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        "too large": (b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}', "application/json"),
    }
    book = ledger(f"{len(bodies) + 3} malformed requests to the sandbox, then the pipeline")
    for what, (body, kind) in bodies.items():
        answer = requests.post(sandbox.tickets_url, data=body, headers={**auth, "Content-Type": kind}, timeout=10)
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text[:200])
        assert isinstance(answer.json().get("code"), int), what
    for payload in (
        b"GARBAGE\r\n\r\n",
        b"POST /troubleTicket HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /troubleTicket HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",
    ):
        assert _raw(sandbox.host, sandbox.port, payload).startswith(b"HTTP/1.")
    assert sandbox.state()["tickets_created"] == 0
    stack.worker()
    book.accept(stack.submit(alarm_params(710)))
    book.finish(timeout=30)
