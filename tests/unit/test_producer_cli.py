"""The connector's dialog: missing details are asked for only when a person is at the terminal."""

from __future__ import annotations

import argparse
import os
from typing import Any

import pytest

from cli import request as cli
from cli.common import INTERRUPTED, UNAVAILABLE, USAGE
from cli.main import main
from producer import core
from tests.conftest import make_settings


def _args(**values: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure_create(parser)
    args = parser.parse_args(["--dma-id", "1", "--element-id", "2", "--alarm-id", "3", "--element-name", "n"])
    for key, value in values.items():
        setattr(args, key, value)
    return args


def test_prompts_list_the_allowed_values_and_fill_the_missing_details(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    answers = iter(["2", "", "major", "", ""])  # priority, urgency (empty: asked again), urgency, client, description

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", fake_input)
    details: dict[str, Any] = {"priority": None, "urgency": None, "technical_impact": "Minor", "client_impact": None,
                               "description": None}  # fmt: skip
    cli._prompt_missing(details, make_settings())
    assert details == {"priority": "2", "urgency": "major", "technical_impact": "Minor", "client_impact": None,
                       "description": None}  # fmt: skip
    assert asked[0] == "Priority [1/2/3/4]: "
    assert asked[1] == asked[2] == "Urgency [Critical/Major/Minor/None]: "
    assert asked[3].startswith("Client Impact [Critical/Major/Minor/None] (Enter to skip)")


def test_no_prompt_without_a_terminal_and_the_missing_field_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("must not prompt"))
    code = cli.run_create(_args(priority="1", urgency="Major"), make_settings())
    assert code == USAGE
    assert "technical_impact: is required; allowed: Critical, Major, Minor, None" in capsys.readouterr().err


def test_a_bad_answer_is_refused_as_it_is_typed_and_asked_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    answers = iter(["7", "2", "Majr", "Major", "Mnior", "Minor", "", ""])

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", fake_input)
    details: dict[str, Any] = {"priority": None, "urgency": None, "technical_impact": None, "client_impact": None,
                               "description": None}  # fmt: skip
    cli._prompt_missing(details, make_settings())
    assert details == {"priority": "2", "urgency": "Major", "technical_impact": "Minor", "client_impact": None,
                       "description": None}  # fmt: skip
    # Each bad answer was re-asked straight away, with the allowed values, before the next field.
    assert [p.split(" [")[0] for p in asked[:6]] == ["Priority", "Priority", "Urgency", "Urgency",
                                                     "Technical Impact", "Technical Impact"]  # fmt: skip
    err = capsys.readouterr().err
    assert "'7' is not allowed; allowed: 1, 2, 3, 4" in err
    assert "'Majr' is not allowed; allowed: Critical, Major, Minor, None" in err


def test_a_too_long_description_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["x" * 20, "short"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    details: dict[str, Any] = {"priority": "1", "urgency": "Major", "technical_impact": "Major",
                               "client_impact": "None", "description": None}  # fmt: skip
    cli._prompt_missing(details, make_settings(description_max_length=10))
    assert details["description"] == "short"


# --- a person at the terminal: the alarm is asked for, an empty answer is named, Ctrl-D and Ctrl-C ---


def _no_alarm() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure_create(parser)
    return parser.parse_args([])


def test_create_at_a_terminal_asks_for_the_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["12", "345", "678", "Encoder", "Signal lost", "", "2", "Major", "Major", "", ""])
    recorded: dict[str, Any] = {}

    def create_ticket(raw_alarm: dict[str, Any], **details: Any) -> Any:
        recorded.update(raw_alarm)
        raise core.Unavailable("redis", "stop here: only the parsed alarm is checked")

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr(core, "create_ticket", create_ticket)
    assert cli.run_create(_no_alarm(), make_settings()) == UNAVAILABLE
    assert recorded == {"dma_id": "12", "element_id": "345", "alarm_id": "678", "element_name": "Encoder",
                        "alarm_value": "Signal lost"}  # fmt: skip


def test_an_empty_required_answer_names_the_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["", "2", "", "Major", "Minor", "", ""])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    details: dict[str, Any] = {"priority": None, "urgency": None, "technical_impact": None, "client_impact": None,
                               "description": None}  # fmt: skip
    cli._prompt_missing(details, make_settings())
    said = [line.strip() for line in capsys.readouterr().err.splitlines()]
    assert said[0].startswith("Priority is required") and said[1].startswith("Urgency is required"), said


def test_ctrl_d_at_a_prompt_ends_cleanly_naming_the_field_and_queues_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def end_of_input(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", end_of_input)
    monkeypatch.setattr(core, "create_ticket", lambda *a, **k: pytest.fail("nothing may be queued"))
    assert cli.run_create(_args(priority=None), make_settings()) == USAGE
    err = capsys.readouterr().err
    assert err.startswith("\n") and "priority: no answer" in err and "Traceback" not in err


def test_ctrl_c_at_a_prompt_exits_130_on_a_line_of_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    for name in [n for n in os.environ if n.startswith("OCEANE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", interrupted)
    assert main(["create"]) == INTERRUPTED
    assert capsys.readouterr().err == "\n"  # the shell's prompt then starts on its own line
