"""``oceane-ticket flower``: the refusal rules, the arguments given to Flower, readable task rows.

Nothing here starts Flower: the decision is :func:`worker.flower.check_access`, and
:func:`~worker.flower.run` is checked up to the point where it would hand over to Celery.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cli import flower as flower_cli
from cli.main import build_parser
from tests.conftest import make_settings
from worker import flower

ANY = "0.0.0.0"  # noqa: S104 - the address under test
REMOTE = [ANY, "", "::", "10.1.2.3", "192.168.0.10", "flower.example.com", "fe80::1"]
LOOPBACK = ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]
MALFORMED = [
    "",
    "user",
    "user:",
    ":secret",
    "user:secret,",
    "user:secret,other",
    " user:secret",
    "us er:secret",
    "user:secret ",
]
VALID = ["user:pass", "admin:pa:ss", "a:b,c:d"]


@pytest.mark.parametrize("address", REMOTE)
def test_a_non_loopback_address_without_auth_is_refused(address: str) -> None:
    problem = flower.check_access(address, None)
    assert problem is not None and "FLOWER_BASIC_AUTH" in problem


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_without_auth_is_allowed(address: str) -> None:
    assert flower.is_loopback(address)
    assert flower.check_access(address, None) is None


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("address", ["127.0.0.1", ANY])
def test_a_malformed_basic_auth_is_refused_everywhere(value: str, address: str) -> None:
    problem = flower.check_access(address, value)
    assert problem is not None and "FLOWER_BASIC_AUTH" in problem
    # The message names the variable but never echoes a password.
    assert "secret" not in problem


@pytest.mark.parametrize("value", VALID)
@pytest.mark.parametrize("address", [ANY, "127.0.0.1"])
def test_valid_basic_auth_allows_any_address(value: str, address: str) -> None:
    assert flower.check_access(address, value) is None


def test_basic_auth_comes_from_the_environment_then_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    assert flower.read_basic_auth({}, env_file) is None
    env_file.write_text("OCEANE_QUEUE=q\nFLOWER_BASIC_AUTH=fromfile:pw\n")
    assert flower.read_basic_auth({}, env_file) == "fromfile:pw"
    assert flower.read_basic_auth({"FLOWER_BASIC_AUTH": "fromenv:pw"}, env_file) == "fromenv:pw"
    assert flower.read_basic_auth({}, None) is None


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["flower", *argv])


def test_defaults_are_loopback_5555_read_only() -> None:
    args = parse()
    assert (args.address, args.port, args.allow_control) == ("127.0.0.1", 5555, False)


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_bad_port_is_an_input_error(port: str) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--port", port)
    assert exc.value.code == 2


@pytest.fixture
def no_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here


@pytest.fixture
def celery_start(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record what run() would hand to Celery instead of serving."""
    from worker.celery_app import app

    calls: list[list[str]] = []
    monkeypatch.setattr(app, "start", lambda argv: calls.append(list(argv)) or 0)
    return calls


def test_run_refuses_a_remote_address_without_auth(
    no_auth: None, celery_start: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert flower.run(parse("--address", ANY), make_settings()) == 2
    err = capsys.readouterr().err
    assert "FLOWER_BASIC_AUTH" in err and ANY in err
    assert celery_start == []


def test_run_refuses_malformed_auth(
    no_auth: None, celery_start: list[list[str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "nocolon")
    assert flower.run(parse(), make_settings()) == 2
    assert "FLOWER_BASIC_AUTH" in capsys.readouterr().err
    assert celery_start == []


def test_the_cli_exits_2_when_it_refuses(no_auth: None, celery_start: list[list[str]]) -> None:
    from cli.main import main

    assert main(["flower", "--address", ANY]) == 2
    assert celery_start == []


def test_run_on_loopback_without_auth_starts_flower_read_only(no_auth: None, celery_start: list[list[str]]) -> None:
    from flower.options import options

    assert flower.run(parse("--port", "5601"), make_settings()) == 0
    (argv,) = celery_start
    assert argv[0] == "flower"
    assert "--address=127.0.0.1" in argv and "--port=5601" in argv and "--read_only=true" in argv
    assert callable(options.format_task)


def test_run_exports_auth_read_from_dotenv(
    no_auth: None, celery_start: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("FLOWER_BASIC_AUTH=ops:pw\n")
    monkeypatch.setattr(flower.os, "environ", dict(flower.os.environ))  # run() writes to it
    assert flower.run(parse("--address", ANY, "--allow-control"), make_settings()) == 0
    assert flower.os.environ["FLOWER_BASIC_AUTH"] == "ops:pw"  # Flower reads only its environment
    assert "--read_only=false" in celery_start[0]


def test_every_argument_is_a_flower_option() -> None:
    from flower.command import is_flower_option
    from flower.options import options

    for argument in flower.flower_arguments("127.0.0.1", 5555, allow_control=False):
        assert is_flower_option(argument), argument
        name, _, value = argument.lstrip("-").partition("=")
        options._options[name.replace("_", "-")].parse(value)  # raises on a bad value
    columns = flower.TASK_COLUMNS.split(",")
    from flower.views.tasks import TASK_COLUMNS

    assert set(columns) <= set(TASK_COLUMNS) and "args" in columns and "name" in columns


def test_flower_command_for_make_run(no_auth: None, tmp_path: Path) -> None:
    settings = make_settings(queue="oceane.debug")
    cmd, env = flower_cli.flower_command(settings, "127.0.0.1", 5566)
    assert cmd[:3] == [sys.executable, "-m", "cli.main"]
    args = build_parser().parse_args(cmd[3:])
    assert (args.command, args.address, args.port) == ("flower", "127.0.0.1", 5566)
    assert env["OCEANE_QUEUE"] == "oceane.debug" and "FLOWER_BASIC_AUTH" not in env
    (tmp_path / ".env").write_text("FLOWER_BASIC_AUTH=ops:pw\n")
    assert flower_cli.flower_command(settings)[1]["FLOWER_BASIC_AUTH"] == "ops:pw"


# --- what the task list shows ---

ROW = {
    "instance": "0f3a9c",
    "dma_id": 12,
    "element_id": 345,
    "alarm_id": 67890,
    "element_name": "Encoder",
    "status": "created",
    "ticket_id": "TT-1",
    "root_cause": "operator text",
    "error": None,
}


def task(name: str = "oceane.create_ticket", args: Any = "['0f3a9c']") -> Any:
    return SimpleNamespace(name=name, args=args, kwargs="{}")


def test_a_create_job_shows_its_alarm_and_ticket() -> None:
    format_task = flower.make_task_formatter(lambda instance: ROW if instance == "0f3a9c" else None)
    shown = format_task(task())
    assert shown.args == "alarm 12/345/67890 on Encoder: created as TT-1 (instance 0f3a9c)"
    assert "operator text" not in shown.args  # the description stays in the database
    assert format_task(task(args="['ffff']")).args == "instance ffff (not in the database)"


def test_other_jobs_and_odd_arguments_are_left_alone() -> None:
    format_task = flower.make_task_formatter(lambda instance: ROW)
    assert format_task(task("oceane.sweep", "()")).args == "()"
    assert format_task(task(args="['a', 'b']")).args == "['a', 'b']"
    assert format_task(task(args="not python")).args == "not python"
    assert format_task(task(args="['../etc']")).args == "['../etc']"


def test_final_rows_are_cached_open_ones_are_not() -> None:
    calls: list[str] = []
    rows = {"done": ROW | {"instance": "done"}, "open": ROW | {"instance": "open", "status": "processing"}}
    format_task = flower.make_task_formatter(lambda i: calls.append(i) or rows[i])
    for _ in range(3):
        format_task(task(args="['done']"))
        format_task(task(args="['open']"))
    assert calls.count("done") == 1 and calls.count("open") == 3


def test_a_database_outage_pauses_lookups() -> None:
    now = [100.0]
    calls: list[str] = []

    def down(instance: str) -> Any:
        calls.append(instance)
        raise OSError("connection refused")

    format_task = flower.make_task_formatter(down, clock=lambda: now[0])
    assert format_task(task()).args == "instance 0f3a9c"
    assert format_task(task()).args == "instance 0f3a9c"
    assert len(calls) == 1  # the page does not wait on the dead database for every row
    now[0] += flower.LOOKUP_BACKOFF + 1
    format_task(task())
    assert len(calls) == 2
