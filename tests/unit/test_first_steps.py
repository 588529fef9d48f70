"""What a newcomer meets first: the default database, a database not set up yet, the Tickets table
at 80 columns, the demo runner's safety rules and the small command-line courtesies."""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from rich.console import Console

from cli import reports
from cli import run as demo
from cli.main import main
from oceane_ticket import connections
from oceane_ticket.settings import Settings
from tests.conftest import make_settings

FIX = "oceane-ticket db upgrade"
ALARM = ["--dma-id", "12", "--element-id", "345", "--alarm-id", "678"]
DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]


@pytest.fixture
def newcomer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A shell in some other directory, with no OCEANE_* setting and no .env: only the defaults."""
    for name in list(os.environ):
        if name.startswith("OCEANE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    server = fakeredis.FakeServer()
    monkeypatch.setattr(connections, "redis_client", lambda url, *, purpose: fakeredis.FakeRedis(server=server))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    yield elsewhere


# --- 1. the default database does not depend on the current directory ---


def test_the_default_database_is_one_per_user_file_wherever_the_command_runs(
    newcomer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Settings().database_url
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url == first
    assert first == f"sqlite:///{tmp_path / 'data' / 'oceane-ticket' / 'oceane-tickets.db'}"


COMMANDS = [
    ["tickets"],
    ["tickets", "--json"],
    ["failed"],
    ["status"],
    ["lookup", *ALARM],
    ["create", *ALARM, "--element-name", "Encoder", *DETAILS],
    ["cleanup"],
    ["retry", "--all-failed"],
    ["sweep"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_every_command_says_the_database_is_not_set_up_and_how_to_fix_it(
    newcomer: Path, tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 4, (out, err)
    assert FIX in out + err
    assert "Traceback" not in out + err
    # ...and nothing was created, neither here nor at the default place.
    assert list(newcomer.iterdir()) == []
    assert not (tmp_path / "data" / "oceane-ticket" / "oceane-tickets.db").exists()


@pytest.mark.parametrize("argv", [["tickets"], ["failed"], ["lookup", *ALARM], ["cleanup"]], ids=str)
def test_a_database_file_without_the_schema_gets_the_same_message(
    newcomer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    monkeypatch.setenv("OCEANE_DATABASE_URL", f"sqlite:///{empty}")
    assert main(argv) == 4
    out, err = capsys.readouterr()
    assert FIX in out + err and "no such table" in out + err and "Traceback" not in out + err


def test_db_upgrade_then_tickets_works_from_anywhere(
    newcomer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert main(["tickets"]) == 0
    assert "Tickets (0 shown" in capsys.readouterr().out


# --- 3. the Tickets table at 80 columns ---

ROW = {
    "instance": "9f" * 16,
    "ticket_id": "2026M00123",
    "alarm_id": 1764403920,
    "dma_id": 12,
    "element_id": 345,
    "element_name": "Encoder Paris-Nord 1",
    "created_at": "2026-11-29T08:12:00Z",
    "priority": "2",
    "urgency": "Major",
    "technical_impact": "Critical",
    "client_impact": "Minor",
    "root_cause": "DataMiner alarm 12/345/1764403920 on Encoder Paris-Nord 1; value: Signal lost " * 2,
    "status": "created",
    "ticket_url": "https://oceane.example.com/ticket/2026M00123",
    "writeback_state": "pending",
    "oceane_status": "inProgress",
}


def rendered(table: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the console
    console.print(table)
    return console.export_text().splitlines()


@pytest.mark.parametrize(
    ("width", "element"),
    [(80, "Encoder Paris-Nord"), (80, "ENC-01"), (120, "Encoder Paris-Nord 1, rack 12, slot 4")],
)
def test_the_tickets_table_keeps_what_an_operator_needs_whole(width: int, element: str) -> None:
    rows = [ROW | {"element_name": element}, ROW | {"ticket_id": None, "status": "processing", "element_name": element}]
    lines = rendered(reports.tickets_table(rows), width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for needed in ("2026M00123", "12/345/1764403920", element, "created", "processing", "2026-11-29 08:12"):
        assert needed in text, (needed, text)


def test_the_wide_view_shows_every_column_including_write_back_and_oceane_status() -> None:
    text = "\n".join(rendered(reports.tickets_table([ROW], wide=True), 250))
    for needed in ("9f" * 16, "2026M00123", "Critical", "Minor", "pending", "inProgress", "Write-back",
                   "2026-11-29T08:12:00Z"):  # fmt: skip
        assert needed in text, needed


def test_tickets_json_has_the_new_columns(newcomer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["db", "upgrade"]) == 0
    assert main(["create", *ALARM, "--element-name", "Encoder", *DETAILS, "--json"]) == 0
    capsys.readouterr()
    assert main(["tickets", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["writeback_state"] == "none" and "oceane_status" in row and row["status"] == "queued"


# --- 2 and 4. the demo runner: only the sandbox, and a configured Redis is never replaced ---


def test_run_points_the_worker_at_its_own_sandbox_even_with_a_real_oceane_configured(tmp_path: Path) -> None:
    settings = make_settings(base_url="https://oceane.example.com", ticket_url_template="https://o.example/{id}")
    stack = demo.Stack(tmp_path)
    try:
        overrides = demo.start_sandbox(stack, settings, real_oceane=False)
        assert stack.sandbox is not None
        assert overrides["base_url"] == stack.sandbox.base_url and overrides["base_url"].startswith("http://127.0.0.1:")
        assert overrides["ticket_url_template"].startswith(stack.sandbox.base_url)
    finally:
        stack.stop()


def test_run_uses_the_real_oceane_only_when_asked(tmp_path: Path) -> None:
    stack = demo.Stack(tmp_path)
    settings = make_settings(base_url="https://oceane.example.com")
    assert demo.start_sandbox(stack, settings, real_oceane=True) == {}
    assert stack.sandbox is None
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    demo.register(lambda name, handler, text, **kw: sub.add_parser(name))
    assert parser.parse_args(["run"]).real_oceane is False


def test_run_refuses_a_configured_redis_that_does_not_answer(tmp_path: Path) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")  # configured (given), nothing listens
    stack = demo.Stack(tmp_path)
    with pytest.raises(demo.RunError, match="OCEANE_REDIS_URL"):
        demo.start_redis(stack, settings)
    assert stack.procs == []  # no private redis-server was started


def test_run_folders_of_ended_runs_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCEANE_RUN_DIR", str(tmp_path))
    ended = tmp_path / "run-ended"
    ended.mkdir()
    (ended / demo.OWNER_FILE).write_text("999999999")  # no such process
    legacy = tmp_path / "run-legacy"  # from before owner files
    legacy.mkdir()
    alive = tmp_path / "run-alive"
    alive.mkdir()
    (alive / demo.OWNER_FILE).write_text(str(os.getppid()))
    mine = demo.new_workdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run-alive", mine.name])
    assert (mine / demo.OWNER_FILE).read_text() == str(os.getpid())


# --- 5. small courtesies ---


@pytest.mark.parametrize("limit", ["0", "-1", "x"])
@pytest.mark.parametrize("command", ["tickets", "failed"])
def test_a_limit_below_one_is_refused(command: str, limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--limit", limit])
    assert exit_.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_lookup_does_not_ask_for_the_element_name(newcomer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["lookup", "--help"])
    assert "--element-name" not in capsys.readouterr().out
    assert main(["lookup"]) == 2
    err = capsys.readouterr().err
    assert "--alarm-id" in err and "--element-name" not in err


def test_a_wait_that_runs_out_says_so_on_stderr(newcomer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    code = main(["create", *ALARM, "--element-name", "Encoder", *DETAILS, "--wait", "0.3"])  # no worker runs
    _out, err = capsys.readouterr()
    assert code == 5
    assert "still queued" in err and "--wait" in err and "lookup" in err
