"""Issue 3, item 5: PostgreSQL down.

At the producer: exit 4 with a clear message, nothing queued. While a worker processes: the request
waits, is never marked failed for our own outage, spends no retry, and completes once the database
is back. The shared PostgreSQL is never stopped: the worker reaches it through a loopback proxy
that the test cuts (connections reset, new ones refused) and restores.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from cli import main as cli
from tests.conftest import settings_env, wait_until
from tests.faults.kit import CLI, CLI_DETAILS, alarm_params

pytestmark = pytest.mark.integration

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/oceane"
OUTAGE_LOG = "database unavailable while processing"


def test_producer_with_postgresql_down_exits_4_and_queues_nothing(
    stack: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    book = ledger("PostgreSQL down at the producer -> exit 4, nothing queued")
    down = stack.variant(database_url=UNREACHABLE_DB)
    # In-process, as the hook's Python function would run it...
    for name, value in settings_env(down).items():
        if name.startswith("OCEANE_"):
            monkeypatch.setenv(name, value)
    code = cli.main(["create", "--alarm", alarm_params(400), *CLI_DETAILS, "--json"])
    out = capsys.readouterr()
    assert code == 4, out
    assert json.loads(out.out)["service"] == "database"
    assert "database unavailable" in out.err
    # ...and through the real console script.
    done = subprocess.run(
        [CLI, "create", "--alarm", alarm_params(401), *CLI_DETAILS],
        env=settings_env(down),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 4, done.stderr
    assert "database unavailable" in done.stderr and "port 1" in done.stderr
    assert stack.redis.dbsize() == 0, "nothing may be queued"
    assert book.rows() == {}
    book.finish()


def test_producer_with_redis_down_exits_4_and_records_nothing(stack: Any, ledger: Any) -> None:
    book = ledger("Redis down at the producer -> exit 4, nothing recorded")
    down = stack.variant(redis_url="redis://127.0.0.1:1/0")
    done = subprocess.run(
        [CLI, "create", "--alarm", alarm_params(402), *CLI_DETAILS, "--json"],
        env=settings_env(down),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["service"] == "redis"
    assert book.rows() == {}, "nothing may be half-written"
    book.finish()


@pytest.mark.faults
def test_database_down_before_the_worker_claims(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL down while the worker picks the job up")
    proxy, proxied = stack.proxied_database()
    worker = stack.worker(proxied)
    proxy.cut()
    instance = book.accept(stack.submit(alarm_params(410)))
    worker.wait_for_log(OUTAGE_LOG, timeout=20, count=2)  # it waits, retrying, without giving up
    assert stack.row(instance)["status"] == "queued"
    proxy.restore()
    book.finish(timeout=30)
    done = stack.row(instance)
    assert (done["retries_used"], done["attempts"]) == (0, 1)
    assert book.failures() == [], "our own outage is not a failed ticket request"


@pytest.mark.faults
def test_database_down_between_oceane_answer_and_commit(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL down between Oceane's answer and the commit")
    proxy, proxied = stack.proxied_database()
    worker = stack.worker(proxied)
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 0.5})
    instance = book.accept(stack.submit(alarm_params(411)))
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=10, interval=0.01)
    proxy.cut()  # before the 201 arrives: the worker holds a ticket it cannot record
    worker.wait_for_log(OUTAGE_LOG, timeout=20)
    assert stack.row(instance)["status"] == "processing"
    proxy.restore()
    book.finish(timeout=30)
    done = stack.row(instance)
    assert done["adopted"] is True and done["retries_used"] == 0
    assert stack.sandbox.state()["create_calls"] == 1
    assert book.failures() == []


@pytest.mark.faults
def test_database_hung_then_back(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL hung mid-request, then back")
    proxy, proxied = stack.proxied_database()
    stack.worker(proxied)
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 0.5})
    instance = book.accept(stack.submit(alarm_params(412)))
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=10, interval=0.01)
    proxy.stall()
    wait_until(lambda: proxy.stalled_bytes > 0, timeout=10, interval=0.01)
    proxy.restore()  # the hung connections are reset, as a database restart would
    book.finish(timeout=30)
    # Whether the pool's ping reconnected at once (created) or the commit failed and the retry
    # looked the ticket up (adopted), Oceane saw one create.
    assert stack.row(instance)["status"] == "created"
    assert stack.sandbox.state()["create_calls"] == 1
    assert book.failures() == []
