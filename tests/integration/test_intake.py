"""The HTTP intake as deployed: `oceane-ticket serve` (uvicorn) on a free loopback port, the real Redis
and PostgreSQL, real worker processes and the sandbox."""

from __future__ import annotations

import concurrent.futures
import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from oceane_ticket.storage.direct import postgres_dsn
from tests.conftest import ROOT, settings_env, wait_until
from tests.faults.services import free_port

TOKEN = "integration-intake-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def body(alarm_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "dmaId": 77,
        "elementId": 88,
        "alarmId": alarm_id,
        "elementName": "Core router",
        "alarmValue": "Link down",
        "rootTime": "2026-11-27T08:12:00Z",
        "priority": "2",
        "urgency": "Major",
        "technicalImpact": "Major",
        "description": "from the intake test",
        "user": "operator",
        **changes,
    }


class IntakeServer:
    """`oceane-ticket serve` in a child process, its log in a file."""

    def __init__(self, settings: Any, log_path: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify: str | bool = str(tls[0]) if tls else True
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IntakeServer:
        program = shutil.which("oceane-ticket", path=str(Path(sys.executable).parent)) or "oceane-ticket"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [program, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + (["--ssl-certfile", str(self.tls[0]), "--ssl-keyfile", str(self.tls[1])] if self.tls else []),
            cwd=ROOT,
            env=settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_text()
            with contextlib.suppress(requests.ConnectionError):
                requests.get(self.url + "/health", timeout=5, verify=self.verify)
                return True
            return False

        wait_until(answers, timeout=60, interval=0.1, message="the intake never answered")
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def post(self, data: Any, wait: float | None = None, headers: dict[str, str] | None = None) -> requests.Response:
        params = {"wait": wait} if wait is not None else None
        return requests.post(
            self.url + "/tickets", json=data, params=params, headers=AUTH if headers is None else headers, timeout=120
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.url + path, params=params or None, headers=AUTH, timeout=30)


@pytest.fixture
def start_intake(tmp_path: Path) -> Iterator[Any]:
    started: list[IntakeServer] = []

    def start(settings: Any, tls: tuple[Path, Path] | None = None) -> IntakeServer:
        server = IntakeServer(settings, tmp_path / f"intake-{len(started)}.log", tls)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def stack(settings_for: Any, real_redis: Any, start_intake: Any) -> Any:
    settings = settings_for(intake_token=TOKEN)
    return settings, start_intake(settings)


def rows(settings: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with psycopg.connect(postgres_dsn(settings.database_url), row_factory=dict_row) as conn:
        return list(conn.execute("SELECT instance, status, alarm_id, ticket_id, oceane_user_id FROM tickets"))


def queued(real_redis: Any, settings: Any) -> int:
    return int(real_redis.llen(settings.queue))


def test_201_new_then_200_existing_lookup_and_poll(stack: Any, real_redis: Any) -> None:
    settings, intake = stack
    first = intake.post(body(1))
    assert first.status_code == 201, first.text
    instance = first.json()["instance"]
    assert [r["instance"] for r in rows(settings)] == [instance]
    assert queued(real_redis, settings) == 1

    again = intake.post(body(1, priority="1"))
    assert again.status_code == 200
    assert again.json()["existing"] is True and again.json()["instance"] == instance
    assert len(rows(settings)) == 1 and queued(real_redis, settings) == 1

    found = intake.get("/tickets", dmaId=77, elementId=88, alarmId=1)
    assert found.status_code == 200 and found.json()["instance"] == instance
    assert intake.get("/tickets", dmaId=77, elementId=88, alarmId=2).status_code == 404
    polled = intake.get(f"/tickets/{instance}")
    assert polled.status_code == 200 and polled.json()["status"] == "queued"


def test_401_413_422_leave_nothing_stored_or_queued(stack: Any, real_redis: Any) -> None:
    settings, intake = stack
    answers = [
        intake.post(body(1), headers={}).status_code,
        intake.post(body(1), headers={"Authorization": "Bearer not-the-token-not-the-token"}).status_code,
        intake.post(body(1, description="x" * 70_000)).status_code,
        intake.post(body(1, priority="urgent!")).status_code,
        intake.post(body(1, dmaId="seven")).status_code,
        intake.post(body(1), wait=600).status_code,
    ]
    assert answers == [401, 401, 413, 422, 422, 422]
    assert rows(settings) == []
    assert queued(real_redis, settings) == 0
    assert requests.get(intake.url + "/health", timeout=30).status_code == 200  # no token needed


def test_503_when_redis_is_down_and_nothing_is_half_written(
    settings_for: Any, real_redis: Any, start_intake: Any
) -> None:
    settings = settings_for(intake_token=TOKEN, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    intake = start_intake(settings)
    response = intake.post(body(1))
    assert response.status_code == 503
    assert response.json()["service"] == "redis"
    assert rows(settings) == []
    health = requests.get(intake.url + "/health", timeout=30)
    assert health.status_code == 503 and health.json()["redis"] == "unavailable"


def test_wait_answers_with_the_created_ticket(stack: Any, start_worker: Any, sandbox: Any) -> None:
    settings, intake = stack
    start_worker(settings)
    response = intake.post(body(5), wait=60)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["status"] == "created", data
    ticket = sandbox.get_ticket(data["ticketId"])
    assert ticket is not None and ticket["externalId"] == "77/88/5"
    assert data["ticketUrl"] == settings.ticket_url(data["ticketId"])


def test_waiting_requests_do_not_hold_up_a_new_one(stack: Any, start_worker: Any, real_redis: Any) -> None:
    settings, intake = stack
    # No worker yet: nobody answers these eight, so each waits (up to 60 s) for its ticket.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        waiting = [pool.submit(intake.post, body(100 + i), 60) for i in range(8)]
        wait_until(lambda: len(rows(settings)) == 8, timeout=60, message="the eight requests were not recorded")
        started = time.monotonic()
        ninth = intake.post(body(200))
        elapsed = time.monotonic() - started
        assert ninth.status_code == 201
        # The ninth answered while all eight are still waiting: they did not hold it up.
        assert not any(f.done() for f in waiting), [f.result().json() for f in waiting if f.done()]
        # Now a worker creates the tickets, and each waiting request answers with its own.
        start_worker(settings)
        answers = [f.result(timeout=120) for f in waiting]
    assert [a.status_code for a in answers] == [201] * 8
    assert [a.json()["status"] for a in answers] == ["created"] * 8
    assert sorted(a.json()["alarmId"] for a in answers) == list(range(100, 108))
    print(f"ninth POST answered in {elapsed * 1000:.0f} ms while eight requests waited")


def test_the_token_is_never_logged(stack: Any) -> None:
    _, intake = stack
    assert intake.post(body(9)).status_code == 201
    assert intake.get("/form").status_code == 200
    assert intake.post(body(9), headers={"Authorization": "Bearer " + TOKEN[::-1]}).status_code == 401
    intake.stop()
    log = intake.log_text()
    assert "POST /tickets" in log  # the access log was written, and it is where a header would leak
    assert TOKEN not in log and TOKEN[::-1] not in log


def test_serve_refuses_every_interface_without_a_token(settings_for: Any) -> None:
    settings = settings_for(intake_token="")
    program = shutil.which("oceane-ticket", path=str(Path(sys.executable).parent)) or "oceane-ticket"
    done = subprocess.run(
        [program, "serve", "--host", "0.0.0.0", "--port", str(free_port())],  # noqa: S104 - what is refused
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "OCEANE_INTAKE_TOKEN" in done.stderr


SAN = ("-addext", "subjectAltName=IP:127.0.0.1")


def test_serve_answers_over_https_with_its_certificate(
    settings_for: Any, real_redis: Any, start_intake: Any, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "intake.pem", tmp_path / "intake.key"
    out = ("-keyout", str(key), "-out", str(cert))
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", *SAN, *out],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = start_intake(settings_for(intake_token=TOKEN), tls=(cert, key))

    answer = requests.get(server.url + "/form", headers=AUTH, timeout=30, verify=str(cert))

    assert server.url.startswith("https://") and answer.status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url.replace("https://", "http://") + "/health", timeout=10)
