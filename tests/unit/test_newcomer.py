"""What a new user hits on a fresh clone, each as that user would meet it: the demo's printed next
step pasted into a new shell, and the exit statuses its failures give."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cli import run as demo
from cli.common import UNAVAILABLE
from cli.main import main
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
