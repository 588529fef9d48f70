"""PostgreSQL down.

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
from tests.faults.kit import CLI, CLI_DETAILS, PATIENCE, PATIENT, Gate, alarm_params

pytestmark = pytest.mark.integration

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/oceane"


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
    assert out.err.strip() and "Traceback" not in out.err  # a message for the operator, not a crash
    # ...and through the real console script.
    done = subprocess.run(
        [CLI, "create", "--alarm", alarm_params(401), *CLI_DETAILS, "--json"],
        env=settings_env(down),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["service"] == "database"
    assert done.stderr.strip() and "Traceback" not in done.stderr
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


@pytest.mark.slow
def test_database_down_before_the_worker_claims(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL down while the worker picks the job up")
    proxy, proxied = stack.proxied_database()
    worker = stack.worker(proxied)
    proxy.cut()
    instance = book.accept(stack.submit(alarm_params(410)))
    # It waits, trying the database again and again, without giving up.
    wait_until(lambda: proxy.rejected >= 2, timeout=PATIENCE, message="the worker never tried the database")
    assert worker.proc is not None and worker.proc.poll() is None
    assert stack.row(instance)["status"] == "queued"
    proxy.restore()
    book.finish(timeout=PATIENCE)
    done = stack.row(instance)
    assert (done["retries_used"], done["attempts"]) == (0, 1)
    assert book.failures() == [], "our own outage is not a failed ticket request"


@pytest.mark.slow
def test_database_down_between_oceane_answer_and_commit(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL down between Oceane's answer and the commit")
    stack.configure(**PATIENT)  # no HTTP timeout while the answer is held
    proxy, proxied = stack.proxied_database()
    stack.worker(proxied)
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(411)))
    gate.wait_held()  # the ticket is stored, its 201 held back
    proxy.cut()  # before the 201 arrives: the worker holds a ticket it cannot record
    gate.release()
    # Its commit fails on the reset connection; it tries the database again later.
    wait_until(lambda: proxy.rejected >= 1, timeout=PATIENCE, message="the worker never tried the database again")
    assert stack.row(instance)["status"] == "processing"
    proxy.restore()
    book.finish(timeout=PATIENCE)
    done = stack.row(instance)
    assert done["adopted"] is True and done["retries_used"] == 0
    assert stack.sandbox.state()["create_calls"] == 1
    assert book.failures() == []


@pytest.mark.slow
def test_database_hung_then_back(stack: Any, ledger: Any) -> None:
    book = ledger("PostgreSQL hung mid-request, then back")
    stack.configure(**PATIENT)  # no HTTP timeout while the answer is held
    proxy, proxied = stack.proxied_database()
    stack.worker(proxied)
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(412)))
    gate.wait_held()  # the ticket is stored, its 201 held back
    proxy.stall()
    gate.release()
    wait_until(lambda: proxy.stalled_bytes > 0, timeout=PATIENCE, interval=0.01, message="the worker never committed")
    proxy.restore()  # the hung connections are reset, as a database restart would
    book.finish(timeout=PATIENCE)
    # Whether the pool's ping reconnected at once (created) or the commit failed and the retry
    # looked the ticket up (adopted), Oceane saw one create.
    assert stack.row(instance)["status"] == "created"
    assert stack.sandbox.state()["create_calls"] == 1
    assert book.failures() == []
