"""Headless Chromium logs into Flower after a ticket was created and finds the task.

The real Redis, PostgreSQL, sandbox and worker; Flower as ``make run`` starts it
(:func:`cli.flower.flower_command`) with ``FLOWER_BASIC_AUTH``; Debian's Chromium driven by
Playwright (never a downloaded browser). Screenshots go to ``artifacts/``. Skips without Chromium
locally, fails in CI.

The broker URL carries a password here (a throw-away Redis ACL user), so the test can check that no
Flower page or log shows it, nor the Oceane client secret.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from cli.flower import flower_command
from tests.conftest import ARTIFACTS, service_missing, settings_env, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "user", "pass"
ALARM = "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=Enc"


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium and the Playwright driver; skip locally, fail in CI, without them."""
    if not CHROMIUM.exists():
        service_missing("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        service_missing("Playwright", str(exc))
    return CHROMIUM


@pytest.fixture
def broker_secret(redis_url: str, real_redis: Any) -> Iterator[tuple[str, str | None]]:
    """A Redis URL with a password (a temporary ACL user) and that password; no ACL: the plain URL."""
    import redis

    user, secret = f"oceane-flower-{uuid.uuid4().hex[:8]}", f"brokerpw{uuid.uuid4().hex}"
    try:
        real_redis.execute_command("ACL", "SETUSER", user, "on", f">{secret}", "~*", "&*", "+@all")
    except redis.ResponseError:  # Redis < 6 has no ACL: the masking check is then skipped
        yield redis_url, None
        return
    parts = urlsplit(redis_url)
    yield urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.hostname}:{parts.port or 6379}")), secret
    real_redis.execute_command("ACL", "DELUSER", user)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FlowerProcess:
    """``oceane-ticket flower`` as ``make run`` starts it, with its log in a file."""

    def __init__(self, settings: Any, tmp_path: Path, address: str = "127.0.0.1", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"flower-{self.port}.log"
        cmd, flower_env = flower_command(settings, address, self.port)
        # Run from an empty directory: no .env or flowerconfig.py of the developer's leaks in.
        workdir = tmp_path / "flower-cwd"
        workdir.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=workdir, env=settings_env(settings) | flower_env | env, stdout=log, stderr=subprocess.STDOUT
            )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"flower exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        try:
            return requests.get(self.url + "/healthcheck", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", (USER, PASSWORD))
        return requests.get(self.url + path, timeout=10, **kwargs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_flower(tmp_path: Path) -> Iterator[Any]:
    started: list[FlowerProcess] = []

    def start(settings: Any, **env: str) -> FlowerProcess:
        flower = FlowerProcess(settings, tmp_path, **env)
        started.append(flower)
        return flower

    yield start
    for flower in started:
        flower.stop()


def test_flower_refuses_to_listen_beyond_loopback_without_auth(settings_for: Any, tmp_path: Path) -> None:
    settings = settings_for()
    env = {k: v for k, v in settings_env(settings).items() if k != "FLOWER_BASIC_AUTH"}
    cmd, flower_env = flower_command(settings, "0.0.0.0", free_port())  # noqa: S104 - the case under test
    flower_env.pop("FLOWER_BASIC_AUTH", None)
    done = subprocess.run(cmd, cwd=tmp_path, env=env | flower_env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "FLOWER_BASIC_AUTH" in done.stderr


def test_chromium_logs_into_flower_and_finds_the_ticket_task(
    chromium: Path, settings_for: Any, broker_secret: tuple[str, str | None], start_worker: Any, start_flower: Any
) -> None:
    from playwright.sync_api import sync_playwright

    from producer.core import create_ticket

    broker_url, broker_password = broker_secret
    settings = settings_for(redis_url=broker_url)
    worker = start_worker(settings)
    hostname = f"{worker.name}@{socket.gethostname()}"

    # Flower only knows the tasks whose events it received: it must listen before the ticket is
    # created. A heartbeat of our worker reaching Flower proves its event receiver is connected.
    flower = start_flower(settings, FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}")
    wait_until(flower.answers, timeout=60, message="Flower never answered")

    def sees_worker() -> bool:
        workers = flower.get("/workers?json=1").json()["data"]
        return any(w.get("hostname") == hostname and w.get("status") for w in workers)

    wait_until(sees_worker, timeout=30, interval=0.2, message="Flower never saw the worker's heartbeat")

    status = create_ticket(ALARM, priority="2", urgency="Major", technical_impact="Major", wait=20, settings=settings)
    assert status.status == "created", status
    instance = status.instance

    # Basic auth: nothing without credentials, everything with them.
    for path in ("/", "/tasks", "/broker", "/api/tasks"):
        assert requests.get(flower.url + path, timeout=10).status_code == 401, path
        assert flower.get(path, auth=(USER, "wrong")).status_code == 401, path
        assert flower.get(path).status_code == 200, path

    def task_seen() -> dict[str, Any] | None:
        tasks = flower.get("/api/tasks", params={"taskname": "oceane.create_ticket"}).json()
        done = [dict(t, uuid=u) for u, t in tasks.items() if instance in str(t.get("args")) and t["state"] == "SUCCESS"]
        return done[0] if done else None

    task = wait_until(task_seen, timeout=30, interval=0.2, message="Flower never listed the task as succeeded")
    assert task["worker"] == hostname

    # The queue length, straight from Redis (no --broker-api for a Redis broker).
    queues = flower.get("/api/queues/length").json()["active_queues"]
    assert [q["messages"] for q in queues if q["name"] == settings.queue] == [0]

    # No secret on any page or in Flower's log: the broker password and the Oceane client secret.
    pages = [
        "/",
        "/workers",
        f"/worker/{hostname}",
        "/broker",
        "/tasks",
        f"/task/{task['uuid']}",
        "/api/workers",
        "/api/tasks",
        "/api/queues/length",
        "/tasks/datatable?draw=1&start=0&length=50&search[value]=&order[0][column]=0&order[0][dir]=desc"
        "&columns[0][data]=received",
    ]
    secrets = [settings.client_secret.get_secret_value()] + ([broker_password] if broker_password else [])
    task_page = ""
    for path in pages:
        response = flower.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        for secret in secrets:
            assert secret not in response.text, f"{path} shows a secret"
        if path.startswith("/task/"):
            task_page = response.text
    assert "alarm 1/2/3 on Enc" in task_page  # the readable arguments on the task's own page
    for secret in secrets:
        assert secret not in flower.log_text()
    if broker_password:
        assert "**@" in flower.get("/broker").text  # shown, masked

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                http_credentials={"username": USER, "password": PASSWORD}, viewport={"width": 1600, "height": 900}
            )
            page = context.new_page()
            page.goto(flower.url + "/tasks")
            # The rows arrive by AJAX after the page loads: wait for ours, not for a fixed time.
            row = page.locator("#tasks-table tbody tr", has_text="oceane.create_ticket").first
            row.wait_for(state="visible", timeout=30_000)
            text = row.inner_text()
            assert instance in text and "SUCCESS" in text, text
            assert "alarm 1/2/3 on Enc" in text, text  # readable arguments, not a bare id
            page.screenshot(path=str(ARTIFACTS / "flower-tasks.png"), full_page=True)

            page.goto(flower.url + "/broker")
            queue_row = page.locator("#queue-table tbody tr", has_text=settings.queue).first
            queue_row.wait_for(state="visible", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "flower-broker.png"), full_page=True)
            for secret in secrets:
                assert secret not in page.content()
        finally:
            browser.close()
    assert (ARTIFACTS / "flower-tasks.png").stat().st_size > 0
