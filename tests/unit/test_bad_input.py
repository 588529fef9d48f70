"""Bad input to the producer gives exit 2, names the field, stores and queues nothing.

The producer runs in-process through the real command line (``cli.main.main`` and
``cli.request.run_create``) against a migrated SQLite file and a fakeredis standing in for the
queue, so each case checks the database and the queue afterwards. Table-driven cases cover what
the issue lists; hypothesis covers what nobody thought to list. The same through the real console
script, against PostgreSQL and Redis, is in tests/faults/test_bad_input_cli.py.

Over 400 lines on purpose: mostly the table of bad inputs, one row each, beside the property-based tests
that share its harness.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cli import common as exits
from cli import main as cli
from cli import request as request_cli
from oceane_ticket.request import PARAM_NAMES
from oceane_ticket.storage import db
from oceane_ticket.storage.direct import sqlite_path
from producer import core
from tests.conftest import make_settings

QUEUE = "oceane.bad-input"
DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]
GOOD = "DMA ID=12;Element ID=345;Alarm ID={alarm};Element Name=Encoder;Alarm Value=LOS;Root Time=2026-11-27T08:12:00Z"
FIELDS = {
    "alarm",
    "dma_id",
    "element_id",
    "alarm_id",
    "element_name",
    "alarm_value",
    "root_time",
    "priority",
    "urgency",
    "technical_impact",
    "client_impact",
    "description",
    "user",
    "wait",
}


class Producer:
    """The producer wired to a SQLite file and a fakeredis, and what a run left behind."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.redis = fakeredis.FakeRedis()
        self.settings = make_settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0", queue=QUEUE)

    def rows(self) -> list[dict[str, Any]]:
        with sqlite3.connect(sqlite_path(self.database_url)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM tickets")]

    def queued(self) -> int:
        return int(self.redis.llen(QUEUE))

    def reset(self) -> None:
        with sqlite3.connect(sqlite_path(self.database_url)) as conn:
            conn.execute("DELETE FROM tickets")
        self.redis.flushall()

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        """``oceane-ticket <argv>`` in-process with these settings; (exit code, stdout, stderr)."""
        out, err = StringIO(), StringIO()
        args = cli.build_parser().parse_args(argv)
        with redirect_stdout(out), redirect_stderr(err):
            code = request_cli.run_create(args, self.settings)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def producer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Producer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'tickets.db'}"
    db.upgrade(url)
    made = Producer(url)
    with pytest.MonkeyPatch.context() as mp:
        # The queue is a fakeredis: a bad input must never reach it, a good one lands there.
        mp.setattr(core, "_redis", lambda _settings: made.redis)
        mp.setattr("sys.stdin.isatty", lambda: False)  # no operator at a terminal: no prompting
        yield made


@pytest.fixture
def fresh(producer: Producer) -> Producer:
    producer.reset()
    return producer


def _assert_rejected(producer: Producer, code: int, out: str, err: str, field: str) -> None:
    assert code == exits.USAGE, (code, out, err)
    assert f"{field}:" in err, f"the message must name {field!r}: {err!r}"
    assert json.loads(out)["field"] == field
    assert producer.rows() == [], "nothing may be stored"
    assert producer.queued() == 0, "nothing may be queued"


# --- table-driven: each field the producer refuses, and why ---

REJECTED: list[tuple[str, list[str], str]] = [
    # malformed parameter strings
    ("empty --alarm", ["--alarm", "", *DETAILS], "alarm"),
    ("no alarm at all", [*DETAILS], "alarm"),
    ("no known parameter", ["--alarm", "garbage", *DETAILS], "alarm"),
    (
        "unknown parameter first",
        ["--alarm", "Foo=1;DMA ID=12;Element ID=3;Alarm ID=4;Element Name=x", *DETAILS],
        "alarm",
    ),
    ("lower-case names", ["--alarm", "dma id=12;element id=3;alarm id=4;element name=x", *DETAILS], "alarm"),
    ("leading semicolon", ["--alarm", ";DMA ID=12;Element ID=3;Alarm ID=4;Element Name=x", *DETAILS], "alarm"),
    ("only separators", ["--alarm", ";;;===", *DETAILS], "alarm"),
    # missing required parameters
    ("no element name", ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1", *DETAILS], "element_name"),
    (
        "blank element name",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=   ", *DETAILS],
        "element_name",
    ),
    ("no DMA ID", ["--alarm", "Element ID=345;Alarm ID=1;Element Name=x", *DETAILS], "dma_id"),
    ("empty DMA ID", ["--alarm", "DMA ID=;Element ID=345;Alarm ID=1;Element Name=x", *DETAILS], "dma_id"),
    ("no alarm ID", ["--alarm", "DMA ID=12;Element ID=345;Element Name=x", *DETAILS], "alarm_id"),
    ("no priority", ["--alarm", GOOD.format(alarm=1), "--urgency", "Major", "--technical-impact", "Major"], "priority"),
    ("no urgency", ["--alarm", GOOD.format(alarm=1), "--priority", "2", "--technical-impact", "Major"], "urgency"),
    (
        "no technical impact",
        ["--alarm", GOOD.format(alarm=1), "--priority", "2", "--urgency", "Major"],
        "technical_impact",
    ),
    # non-integer ids
    ("letters", ["--alarm", "DMA ID=abc;Element ID=345;Alarm ID=1;Element Name=x", *DETAILS], "dma_id"),
    ("decimal", ["--alarm", "DMA ID=12;Element ID=3.5;Alarm ID=1;Element Name=x", *DETAILS], "element_id"),
    ("negative", ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=-3;Element Name=x", *DETAILS], "alarm_id"),
    ("exponent", ["--alarm", "DMA ID=12;Element ID=1e3;Alarm ID=1;Element Name=x", *DETAILS], "element_id"),
    ("hex", ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=0x10;Element Name=x", *DETAILS], "alarm_id"),
    (
        "full-width digits",
        ["--alarm", "DMA ID=\uff11\uff12;Element ID=345;Alarm ID=1;Element Name=x", *DETAILS],
        "dma_id",
    ),
    ("Arabic-Indic digits", ["--alarm", "DMA ID=12;Element ID=٣٤٥;Alarm ID=1;Element Name=x", *DETAILS], "element_id"),
    (
        "beyond 32 bits",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=99999999999;Element Name=x", *DETAILS],
        "alarm_id",
    ),
    (
        "flag id not a number",
        ["--dma-id", "twelve", "--element-id", "1", "--alarm-id", "1", "--element-name", "x", *DETAILS],
        "dma_id",
    ),
    # values outside the allowed lists
    (
        "priority 5",
        ["--alarm", GOOD.format(alarm=1), "--priority", "5", "--urgency", "Major", "--technical-impact", "Major"],
        "priority",
    ),
    (
        "priority blank",
        ["--alarm", GOOD.format(alarm=1), "--priority", " ", "--urgency", "Major", "--technical-impact", "Major"],
        "priority",
    ),
    (
        "urgency unknown",
        ["--alarm", GOOD.format(alarm=1), "--priority", "2", "--urgency", "Severe", "--technical-impact", "Major"],
        "urgency",
    ),
    (
        "impact unknown",
        ["--alarm", GOOD.format(alarm=1), "--priority", "2", "--urgency", "Major", "--technical-impact", "Majör"],
        "technical_impact",
    ),
    ("client impact unknown", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--client-impact", "Huge"], "client_impact"),
    # lengths and characters
    (
        "100 kB description",
        ["--alarm", GOOD.format(alarm=1), *DETAILS, "--description", "x" * 100 * 1024],
        "description",
    ),
    ("bell in description", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--description", "ding\x07"], "description"),
    (
        "NUL in element name",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=a\x00b", *DETAILS],
        "element_name",
    ),
    (
        "escape in alarm value",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=x;Alarm Value=\x1b[31m", *DETAILS],
        "alarm_value",
    ),
    (
        "newline in element name",
        ["--element-name", "two\nlines", "--dma-id", "1", "--element-id", "2", "--alarm-id", "3", *DETAILS],
        "element_name",
    ),
    (
        "element name 501 chars",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=" + "n" * 501, *DETAILS],
        "element_name",
    ),
    (
        "alarm value 2001 chars",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Alarm Value=" + "v" * 2001, *DETAILS],
        "alarm_value",
    ),
    ("user 256 chars", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--user", "u" * 256], "user"),
    # unparseable root time
    (
        "root time words",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Root Time=yesterday", *DETAILS],
        "root_time",
    ),
    (
        "root time month 13",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Root Time=2026-13-45T00:00:00Z", *DETAILS],
        "root_time",
    ),
    (
        "root time without zone",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Root Time=2026-11-27T08:12:00", *DETAILS],
        "root_time",
    ),
    (
        "root time European",
        ["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Root Time=27/11/2026 08:12", *DETAILS],
        "root_time",
    ),
    (
        "root time flag",
        [
            "--dma-id",
            "1",
            "--element-id",
            "2",
            "--alarm-id",
            "3",
            "--element-name",
            "x",
            "--root-time",
            "2026-11-27 25:00Z",
            *DETAILS,
        ],
        "root_time",
    ),
    ("negative wait", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--wait", "-1"], "wait"),
    # who asks: an operator or a Correlation rule, nothing else
    ("unknown origin", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--origin", "robot"], "origin"),
    ("blank-padded unknown origin", ["--alarm", GOOD.format(alarm=1), *DETAILS, "--origin", " rules "], "origin"),
]


@pytest.mark.parametrize(("argv", "field"), [(a, f) for _, a, f in REJECTED], ids=[n for n, _, _ in REJECTED])
def test_rejected_input_exits_2_names_the_field_stores_and_queues_nothing(
    fresh: Producer, argv: list[str], field: str
) -> None:
    code, out, err = fresh.run(["create", *argv, "--json"])
    _assert_rejected(fresh, code, out, err, field)


@pytest.mark.parametrize("field", ["priority", "urgency", "technical_impact", "client_impact"])
def test_a_value_outside_the_list_is_answered_with_the_allowed_values(fresh: Producer, field: str) -> None:
    values = {"priority": "2", "urgency": "Major", "technical_impact": "Major", "client_impact": "Minor", field: "Nope"}
    argv = ["create", "--alarm", GOOD.format(alarm=1), "--json"]
    for name, value in values.items():
        argv += [f"--{name.replace('_', '-')}", value]
    code, out, err = fresh.run(argv)
    _assert_rejected(fresh, code, out, err, field)
    allowed = ", ".join(
        getattr(
            fresh.settings,
            {
                "priority": "priorities",
                "urgency": "urgencies",
                "technical_impact": "technical_impacts",
                "client_impact": "client_impacts",
            }[field],
        )
    )
    assert f"allowed: {allowed}" in err


def test_through_main_with_settings_from_the_environment(
    producer: Producer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script's own entry point: settings come from OCEANE_* variables."""
    producer.reset()
    monkeypatch.setenv("OCEANE_DATABASE_URL", producer.database_url)
    monkeypatch.setenv("OCEANE_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("OCEANE_QUEUE", QUEUE)
    code = cli.main(["create", "--alarm", "DMA ID=12;Element ID=x;Alarm ID=1;Element Name=n", *DETAILS, "--json"])
    captured = capsys.readouterr()
    _assert_rejected(producer, code, captured.out, captured.err, "element_id")


# --- accepted edge cases: unicode, ';' and '=' inside values, empty descriptions ---

ACCEPTED: list[tuple[str, list[str], dict[str, Any]]] = [
    (
        "unicode name and value",
        [
            "--alarm",
            "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=Émetteur Zürich — 東京 📡;Alarm Value=Pérte de signal ✓",
        ],
        {"element_name": "Émetteur Zürich — 東京 📡", "alarm_value": "Pérte de signal ✓"},
    ),
    (
        "';' and '=' inside",
        [
            "--alarm",
            "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=Encoder; Paris=1;a=b;;"
            "Alarm Value=x=1;y;=;Root Time=2026-11-27T08:12:00Z",
        ],
        {"element_name": "Encoder; Paris=1;a=b;", "alarm_value": "x=1;y;="},
    ),
    (
        "a parameter name inside a value",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=n;Alarm Value=v;Element Name=zz"],
        {"element_name": "n", "alarm_value": "v;Element Name=zz"},
    ),
    (
        "empty description -> summary",
        ["--alarm", GOOD.format(alarm=1), "--description", ""],
        {"root_cause": "DataMiner alarm 12/345/1 on Encoder; value: LOS; since 2026-11-27T08:12:00Z"},
    ),
    (
        "blank description -> summary",
        ["--alarm", GOOD.format(alarm=1), "--description", " \n\t "],
        {"root_cause": "DataMiner alarm 12/345/1 on Encoder; value: LOS; since 2026-11-27T08:12:00Z"},
    ),
    (
        "multi-line description at the limit",
        ["--alarm", GOOD.format(alarm=1), "--description", "line one\nline two\t" + "d" * (4000 - 18)],
        {"root_cause": "line one\nline two\t" + "d" * (4000 - 18)},
    ),
    (
        "root time with an offset",
        ["--alarm", "DMA ID=12;Element ID=345;Alarm ID=1;Element Name=x;Root Time=2026-11-27T10:12:00+02:00"],
        {"element_name": "x"},
    ),
    ("spaces around ids", ["--alarm", "DMA ID= 12 ;Element ID=345;Alarm ID=1;Element Name=x"], {"dma_id": 12}),
    ("largest id", ["--alarm", "DMA ID=2147483647;Element ID=0;Alarm ID=1;Element Name=x"], {"dma_id": 2147483647}),
]


@pytest.mark.parametrize(("argv", "stored"), [(a, s) for _, a, s in ACCEPTED], ids=[n for n, _, _ in ACCEPTED])
def test_accepted_edge_cases_are_stored_exactly_and_queued_once(
    fresh: Producer, argv: list[str], stored: dict[str, Any]
) -> None:
    code, out, err = fresh.run(
        ["create", *argv, "--priority", "2", "--urgency", "major", "--technical-impact", "MAJOR", "--json"]
    )
    assert code == exits.OK, (out, err)
    [row] = fresh.rows()
    assert {k: row[k] for k in stored} == stored
    assert (row["urgency"], row["technical_impact"]) == ("Major", "Major")  # the configured spelling
    assert fresh.queued() == 1
    assert json.loads(out)["instance"] == row["instance"]


# --- property-based ---

_KNOWN = tuple(PARAM_NAMES)
# Printable text with the characters that matter to the parser over-represented.
_TEXT = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cc", "Cs")), st.sampled_from(";= ")),
    min_size=1,
    max_size=60,
)


def _ambiguous(text: str) -> bool:
    # ";Name=" inside free text is the one thing the format cannot carry (it reads as a boundary).
    return any(f";{name}=" in text for name in _KNOWN) or any(text.startswith(f"{name}=") for name in _KNOWN)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_TEXT, value=_TEXT, ids=st.tuples(*[st.integers(0, 2**31 - 1)] * 3))
def test_any_name_and_value_are_stored_exactly(producer: Producer, name: str, value: str, ids: tuple[int, ...]) -> None:
    assume(name.strip() and not _ambiguous(name) and not _ambiguous(value))
    producer.reset()
    params = f"DMA ID={ids[0]};Element ID={ids[1]};Alarm ID={ids[2]};Element Name={name};Alarm Value={value}"
    code, out, err = producer.run(["create", "--alarm", params, *DETAILS, "--json"])
    assert code == exits.OK, (params, out, err)
    [row] = producer.rows()
    assert (row["dma_id"], row["element_id"], row["alarm_id"]) == ids
    assert row["element_name"] == name.strip()
    assert row["alarm_value"] == (value.strip() or None)
    assert producer.queued() == 1


_ANY = st.text(max_size=80) | st.sampled_from(["", " ", "12", "-1", "1.0", "x", "Major", "major", "5", "\x00"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    alarm=st.text(max_size=200) | st.builds(lambda *p: ";".join(p), *[_ANY] * 3),
    ids=st.lists(_ANY, min_size=3, max_size=3),
    name=_ANY,
    root=_ANY,
    priority=_ANY,
    urgency=_ANY,
    impact=_ANY,
    description=st.none() | st.text(max_size=300),
)
def test_any_input_is_either_accepted_whole_or_rejected_naming_a_field(
    producer: Producer,
    alarm: str,
    ids: list[str],
    name: str,
    root: str,
    priority: str,
    urgency: str,
    impact: str,
    description: str | None,
) -> None:
    """Whatever arrives: exit 0 with one row and one job, or exit 2 naming a field with neither."""
    producer.reset()
    argv = ["create", "--json", "--priority", priority, "--urgency", urgency, "--technical-impact", impact]
    if alarm.strip():
        argv += ["--alarm", alarm]
    else:
        argv += [
            "--dma-id",
            ids[0],
            "--element-id",
            ids[1],
            "--alarm-id",
            ids[2],
            "--element-name",
            name,
            "--root-time",
            root,
        ]
    if description is not None:
        argv += ["--description", description]
    try:
        code, out, err = producer.run(argv)
    except SystemExit as exc:  # argparse refusing an option value that looks like a flag: also exit 2
        assert exc.code == 2
        return
    if code == exits.OK:
        assert len(producer.rows()) == 1 and producer.queued() == 1
        return
    assert code == exits.USAGE, (argv, code, out, err)
    field = json.loads(out)["field"]
    assert field in FIELDS and f"{field}:" in err
    assert producer.rows() == [] and producer.queued() == 0


def test_rejected_runs_leave_the_database_file_untouched(fresh: Producer) -> None:
    before = Path(sqlite_path(fresh.database_url)).stat().st_size
    for _, argv, _field in REJECTED[:10]:
        fresh.run(["create", *argv])
    assert fresh.rows() == [] and fresh.queued() == 0
    assert Path(sqlite_path(fresh.database_url)).stat().st_size == before
