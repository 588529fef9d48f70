"""What a new user hits on a fresh clone, each as that user would meet it: the demo's printed next
step pasted into a new shell, and the exit statuses its failures give."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from cli import reports
from cli import run as demo
from cli.common import UNAVAILABLE
from cli.main import main
from cli.tables import print_view
from tests.conftest import make_settings


def _pasted(text: str) -> list[str]:
    """The lines a person copies from the demo's hint: everything indented under its first line."""
    return [line.strip() for line in text.splitlines()[1:] if line.startswith("  ")]


def test_the_printed_next_step_works_when_pasted_into_a_new_shell(tmp_path: Path) -> None:
    database = tmp_path / "demo dir" / "tickets.db"  # a space: the line must quote what it prints
    settings = make_settings(
        redis_url="redis://127.0.0.1:6390/0",
        database_url=f"sqlite:///{database}",
        queue="oceane.run-x",
        base_url="http://127.0.0.1:40123",
        ticket_url_template="http://127.0.0.1:40123/ticket/{id}",
    )
    export, command = _pasted(demo._second_shell(settings))
    # A new shell: no virtual environment on its PATH, none of the demo's settings.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    shown = subprocess.run(
        ["bash", "-c", f"{export}\nprintf '%s\\n' \"$OCEANE_BASE_URL\" \"$OCEANE_DATABASE_URL\""],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.splitlines() == ["http://127.0.0.1:40123", f"sqlite:///{database}"]
    done = subprocess.run(["bash", "-c", f"{export}\n{command}"], env=env, capture_output=True, text=True, timeout=60)
    assert "command not found" not in done.stderr and done.returncode != 127, done.stderr
    # It ran, against the demo's database (not set up in this test: it says so and how to fix it).
    assert "oceane-ticket db upgrade" in done.stderr, done.stderr


def test_run_with_its_configured_redis_unreachable_exits_4_like_every_other_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("OCEANE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OCEANE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setenv("OCEANE_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["run", "--once"]) == UNAVAILABLE
    assert "OCEANE_REDIS_URL" in capsys.readouterr().err


# --- 80 columns, and pipes ---

INSTANCE = "9f" * 16
FAILURE = {
    "instance": INSTANCE,
    "ticket_id": None,
    "http_error_code": 503,
    "app_error_code": 5,
    "error_message": "Service unavailable: Oceane is in maintenance until 22:00",
    "error_description": "The service is temporarily unavailable",
    "failed_at": "2026-11-29T08:12:00Z",
    "attempt": 3,
    "final": False,
}
TICKET = {
    "instance": INSTANCE,
    "ticket_id": "2026M00123",
    "dma_id": 12,
    "element_id": 345,
    "alarm_id": 1764403920,
    "element_name": "Encoder Paris-Nord",
    "created_at": "2026-11-29T08:12:00Z",
    "priority": "Critical",
    "urgency": "Major",
    "technical_impact": "Major",
    "client_impact": "Minor",
    "root_cause": None,
    "status": "created",
    "ticket_url": "https://oceane.orange-business.example.com/portal/incidents/troubleTicket/view?id=2026M00123",
    "writeback_state": "pending",
    "oceane_status": "inProgress",
}


def _terminal(width: int) -> Console:
    return Console(width=width, record=True, file=open(os.devnull, "w"), force_terminal=True)


def _text(console: Console) -> list[str]:
    return console.export_text().splitlines()


def test_failed_at_80_columns_keeps_the_instance_whole_and_the_message() -> None:
    console = _terminal(80)
    print_view(reports.failed_table([FAILURE]), console)
    lines = _text(console)
    assert max(map(len, lines)) <= 80
    assert any(INSTANCE in line for line in lines), lines  # what `retry INSTANCE` needs, on one line
    words = " ".join(lines)
    for word in ("Service", "unavailable", "maintenance"):
        assert word in words, lines


def test_failed_with_no_rows_breaks_no_header_word_at_80_columns() -> None:
    console = _terminal(80)
    print_view(reports.failed_table([]), console)
    words = " ".join(_text(console)).split()
    for header in ("Instance", "Attempt", "Message"):
        assert header in words, words


def test_tickets_wide_at_80_columns_shows_every_value_whole() -> None:
    console = _terminal(80)
    print_view(reports.tickets_table([TICKET], wide=True), console, wide=True)
    lines = _text(console)
    assert max(map(len, lines)) <= 80 and "…" not in "".join(lines), lines
    for value in (INSTANCE, "2026M00123", "12/345/1764403920", "Encoder Paris-Nord", "inProgress", "pending"):
        assert any(value in line for line in lines), (value, lines)


@pytest.mark.parametrize("command", [["tickets", "--wide"], ["tickets"], ["failed", "--wide"], ["failed"]])
def test_piped_output_never_wraps_an_url_or_an_id(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reports, "ticket_rows", lambda *a, **k: [TICKET])
    monkeypatch.setattr(reports, "failed_rows", lambda *a, **k: [FAILURE | {"ticket_id": "2026M00123"}])
    assert main([*command, "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = [TICKET["ticket_url"]] if command == ["tickets", "--wide"] else []
    for value in (*shown, INSTANCE if command != ["tickets"] else "2026M00123"):
        assert any(value in line for line in lines), (value, lines)


def test_failed_json_says_which_row_is_final(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:  # fmt: skip
    import json

    import fakeredis

    from oceane_ticket import connections
    from oceane_ticket.storage import db
    from oceane_ticket.storage.models import FailedTicketRequest

    for name in [n for n in os.environ if n.startswith("OCEANE_")]:
        monkeypatch.delenv(name)
    server = fakeredis.FakeServer()
    monkeypatch.setattr(connections, "redis_client", lambda url, *, purpose: fakeredis.FakeRedis(server=server))
    monkeypatch.setenv("OCEANE_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["create", "--dma-id", "1", "--element-id", "2", "--alarm-id", "3", "--element-name", "n",
                 "--priority", "2", "--urgency", "Major", "--technical-impact", "Major", "--json"]) == 0  # fmt: skip
    instance = json.loads(capsys.readouterr().out)["instance"]
    with db.session(f"sqlite:///{tmp_path / 't.db'}") as s:
        for attempt in (1, 2):
            s.add(
                FailedTicketRequest(
                    instance=instance, http_error_code=503, app_error_code=5, error_message="x",
                    error_description="y", failed_at=datetime.now(UTC), attempt=attempt, final=attempt == 2,
                )
            )  # fmt: skip
        s.commit()
    assert main(["failed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["attempt"], r["final"]) for r in rows) == [(1, False), (2, True)]


# --- make install ---


def test_make_install_says_what_it_does_before_pip_speaks(tmp_path: Path) -> None:
    # A stand-in interpreter: `-m venv DIR` makes DIR/bin/python (itself); every call is logged.
    log = tmp_path / "calls"
    fake = tmp_path / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$0 $*" >> {log}\n'
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi\n'
        'case "$*" in *"pip install"*) echo "PIP OUTPUT";; esac\n'
    )
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "install", f"PY={fake}", f"VENV={venv}"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert "PIP OUTPUT" in lines, lines
    said = [line for line in lines[: lines.index("PIP OUTPUT")] if not line.startswith((str(fake), str(venv)))]
    # Before pip's first word, a sentence (not make echoing a command) says where it installs.
    assert any(str(venv) in line for line in said), lines
