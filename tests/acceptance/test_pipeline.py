"""Create to ticket, through the real console script, a real worker, PostgreSQL, Redis and the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_env

CLI = str(Path(sys.executable).with_name("oceane-ticket"))
ALARM = (
    "DMA ID=12;Element ID=345;Alarm ID={alarm};Element Name=Encoder; Paris=1;Alarm Value=LOS;"
    "Root Time=2026-11-27T08:12:00Z"
)
DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]


def cli(settings: Any, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def stack(settings_for: Any, start_worker: Any) -> Any:
    settings = settings_for()
    start_worker(settings)
    return settings


def test_create_wait_lists_and_dedupes(stack: Any, sandbox: Any) -> None:
    first = cli(stack, "create", "--alarm", ALARM.format(alarm=67890), *DETAILS, "--wait", "30", "--json")
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert created["status"] == "created" and created["existing"] is False
    assert created["ticket_id"] and created["ticket_url"] == f"{sandbox.base_url}/ticket/{created['ticket_id']}"
    assert (created["dma_id"], created["element_id"], created["alarm_id"]) == (12, 345, 67890)
    assert created["element_name"] == "Encoder; Paris=1"

    listed = json.loads(cli(stack, "tickets", "--json").stdout)
    assert [t["ticket_id"] for t in listed] == [created["ticket_id"]]
    assert set(listed[0]) >= {
        "instance",
        "ticket_id",
        "alarm_id",
        "dma_id",
        "element_id",
        "element_name",
        "created_at",
        "priority",
        "urgency",
        "technical_impact",
        "client_impact",
        "root_cause",
        "status",
        "ticket_url",
    }

    again = cli(stack, "create", "--alarm", ALARM.format(alarm=67890), *DETAILS, "--json")
    assert again.returncode == 0
    second = json.loads(again.stdout)
    assert second["existing"] is True
    assert (second["instance"], second["ticket_id"]) == (created["instance"], created["ticket_id"])
    assert sandbox.state()["tickets_created"] == 1

    looked_up = cli(stack, "lookup", "--dma-id", "12", "--element-id", "345", "--alarm-id", "67890", "--json")
    assert looked_up.returncode == 0 and json.loads(looked_up.stdout)["ticket_id"] == created["ticket_id"]
    missing = cli(stack, "lookup", "--dma-id", "12", "--element-id", "345", "--alarm-id", "1")
    assert missing.returncode == 1


def test_a_400_code_24_leaves_a_failed_ticket_with_all_four_error_columns(stack: Any, sandbox: Any) -> None:
    sandbox.force(
        400, 24, group="create", count=None, message="Invalid body field", description="priority is not valid"
    )
    done = cli(stack, "create", "--alarm", ALARM.format(alarm=5), *DETAILS, "--wait", "30", "--json")
    assert done.returncode == 3, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "failed"
    failed = json.loads(cli(stack, "failed", "--json").stdout)
    assert len(failed) == 1
    row = failed[0]
    assert (row["http_error_code"], row["app_error_code"]) == (400, "24")
    assert (row["error_message"], row["error_description"]) == ("Invalid body field", "priority is not valid")
    assert sandbox.state()["tickets_created"] == 0
    # A failed request no longer blocks the alarm: the operator may try again once Oceane is fixed.
    sandbox.clear_faults()
    retried = cli(stack, "create", "--alarm", ALARM.format(alarm=5), *DETAILS, "--wait", "30", "--json")
    assert json.loads(retried.stdout)["status"] == "created"


def test_unreachable_redis_exits_4_and_records_nothing(settings_for: Any) -> None:
    settings = settings_for(redis_url="redis://127.0.0.1:1/0")
    done = cli(settings, "create", "--alarm", ALARM.format(alarm=9), *DETAILS, "--json")
    assert done.returncode == 4
    assert json.loads(done.stdout)["service"] == "redis"
    assert done.stderr.strip() and "Traceback" not in done.stderr  # a message for the operator, not a crash
    assert json.loads(cli(settings, "tickets", "--json").stdout) == []


def test_authenticate_reports_success_and_oceane_s_error(settings_for: Any) -> None:
    good = cli(settings_for(), "authenticate", "--json")
    assert good.returncode == 0 and json.loads(good.stdout)["ok"] is True
    bad = cli(settings_for(client_secret="wrong"), "authenticate", "--json")
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["http_error_code"] == 401 and result["error_message"] == "invalid_client"
    assert "wrong" not in bad.stdout + bad.stderr


def test_one_token_is_shared_by_every_worker_process(settings_for: Any, start_worker: Any, sandbox: Any) -> None:
    from producer.core import create_ticket

    settings = settings_for()
    start_worker(settings, concurrency=2)
    start_worker(settings, concurrency=2)
    statuses = [
        create_ticket(
            ALARM.format(alarm=100 + i), priority="1", urgency="Minor", technical_impact="Minor", settings=settings
        )
        for i in range(6)
    ]
    from producer.core import wait_for

    done = [wait_for(settings, s, 30) for s in statuses]
    assert [d.status for d in done] == ["created"] * 6
    state = sandbox.state()
    assert state["tickets_created"] == 6
    assert state["token_calls"] == 1


def test_wait_running_out_exits_5_with_the_request_still_queued(settings_for: Any) -> None:
    settings = settings_for()  # no worker: nothing will take the job
    done = cli(settings, "create", "--alarm", ALARM.format(alarm=77), *DETAILS, "--wait", "0.5", "--json")
    assert done.returncode == 5, done.stderr
    assert json.loads(done.stdout)["status"] == "queued"
