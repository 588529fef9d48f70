"""The HTTP intake in-process: Starlette's TestClient, a migrated SQLite file and fakeredis (no services).

Over 400 lines on purpose: one app fixture (SQLite, fakeredis) for every route of the intake; split by
route, each module would rebuild it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from cli import serve as cli_serve
from cli.common import BAD_SETTING, USAGE
from cli.main import main
from intake import serve
from intake.app import MAX_BODY_BYTES, create_app
from oceane_ticket.storage import db
from oceane_ticket.storage.direct import sqlite_path
from producer import core
from tests.conftest import make_settings, wait_until

TOKEN = "t0ken-for-the-unit-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUEUE = "oceane.unit-intake"
BODY = {
    "dmaId": 12,
    "elementId": 345,
    "alarmId": 1,
    "elementName": "Router; core=1",
    "alarmValue": "Link down",
    "rootTime": "2026-11-27T08:12:00Z",
    "priority": "2",
    "urgency": "major",
    "technicalImpact": "Major",
    "clientImpact": None,
    "description": "fibre cut",
    "user": "CORP/Alice",
}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("intake-template") / "tickets.db"
    db.upgrade(f"sqlite:///{path}")
    db.dispose_all()
    return path


class World:
    """One intake over a fresh SQLite copy and a fakeredis."""

    def __init__(self, database: Path, **overrides: Any) -> None:
        self.url = f"sqlite:///{database}"
        self.redis = fakeredis.FakeRedis()
        values: dict[str, Any] = {"database_url": self.url, "intake_token": TOKEN, "queue": QUEUE}
        self.settings = make_settings(**(values | overrides))
        self.producer = core.Producer(self.settings, core.Connections(self.settings, redis_client=self.redis))
        self.app = create_app(self.settings, self.producer)

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **({"headers": AUTH} | kwargs))

    def rows(self) -> list[dict[str, Any]]:
        with sqlite3.connect(sqlite_path(self.url)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM tickets")]

    def queued(self) -> int:
        return int(self.redis.llen(QUEUE))

    def execute(self, sql: str, *params: Any) -> None:
        with sqlite3.connect(sqlite_path(self.url)) as conn:
            conn.execute(sql, params)


@pytest.fixture
def make_world(migrated: Path, tmp_path: Path) -> Iterator[Any]:
    made: list[World] = []

    def make(**overrides: Any) -> World:
        copy = tmp_path / f"tickets-{len(made)}.db"
        shutil.copy(migrated, copy)
        world = World(copy, **overrides)
        made.append(world)
        return world

    yield make
    for world in made:
        world.producer.close()


@pytest.fixture
def world(make_world: Any) -> World:
    return make_world()


def assert_nothing_stored(world: World) -> None:
    assert world.rows() == [], "a rejected request must store nothing"
    assert world.queued() == 0, "a rejected request must queue nothing"


# --- creating ---


def test_a_new_request_is_201_with_camel_case_keys_then_200_existing(world: World) -> None:
    client = world.client()
    first = client.post("/tickets", json=BODY)
    assert first.status_code == 201, first.text
    data = first.json()
    assert data == {
        "instance": data["instance"],
        "status": "queued",
        "ticketId": None,
        "ticketUrl": None,
        "existing": False,
        "dmaId": 12,
        "elementId": 345,
        "alarmId": 1,
        "elementName": "Router; core=1",
        "alarmValue": "Link down",
        "rootTime": "2026-11-27T08:12:00Z",
        "error": None,
    }
    assert first.headers["location"] == f"/tickets/{data['instance']}"
    (row,) = world.rows()
    assert (row["instance"], row["urgency"], row["root_cause"], row["user"]) == (
        data["instance"],
        "Major",  # stored in the configured spelling
        "fibre cut",
        "CORP/Alice",
    )
    assert world.queued() == 1

    again = client.post("/tickets", json={**BODY, "priority": "1"})
    assert again.status_code == 200
    assert again.json()["existing"] is True and again.json()["instance"] == data["instance"]
    assert len(world.rows()) == 1 and world.queued() == 1


@pytest.mark.parametrize(("cap", "queued"), [(0, 1), (10, 0)])
def test_a_rule_request_is_recorded_as_one_and_held_only_under_a_cap(make_world: Any, cap: int, queued: int) -> None:
    world = make_world(auto_tickets_per_minute=cap)
    response = world.client().post("/tickets", json={**BODY, "origin": "Rule"})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued"
    (row,) = world.rows()
    assert row["origin"] == "rule"  # stored in its one spelling
    assert (row["released_at"] is None) == (cap > 0)
    assert world.queued() == queued
    click = world.client().post("/tickets", json={**BODY, "alarmId": 2})
    assert click.status_code == 201
    assert world.queued() == queued + 1, "an operator's click is sent at once, cap or not"


def test_ids_may_come_as_strings_of_digits(world: World) -> None:
    response = world.client().post("/tickets", json={**BODY, "dmaId": "12", "elementId": "345", "alarmId": "7"})
    assert response.status_code == 201, response.text
    assert (response.json()["dmaId"], response.json()["alarmId"]) == (12, 7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": "9"}, "priority"),
        ({"urgency": ""}, "urgency"),
        ({"technicalImpact": None}, "technicalImpact"),
        ({"clientImpact": "Enormous"}, "clientImpact"),
        ({"dmaId": -1}, "dmaId"),
        ({"elementId": "12a"}, "elementId"),
        ({"alarmId": 2**31}, "alarmId"),
        ({"alarmId": 1.5}, "alarmId"),
        ({"dmaId": True}, "dmaId"),
        ({"elementName": "  "}, "elementName"),
        ({"elementName": 5}, "elementName"),
        ({"elementName": "a\x00b"}, "elementName"),
        ({"rootTime": "yesterday"}, "rootTime"),
        ({"description": "x" * 4001}, "description"),
        ({"user": "bell\x07"}, "user"),
        ({"technicalimpact": "Major"}, "technicalimpact"),  # a misspelt key is named, not ignored
        ({"origin": "robot"}, "origin"),  # operator or rule only
        ({"origin": 1}, "origin"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_stores_nothing(
    world: World, change: dict[str, Any], field: str
) -> None:
    response = world.client().post("/tickets", json={**BODY, **change})
    assert response.status_code == 422, response.text
    data = response.json()
    assert field in data["fields"]
    assert data["error"].startswith(f"{data['field']}:")
    assert_nothing_stored(world)


def test_a_missing_required_field_is_named(world: World) -> None:
    body = {k: v for k, v in BODY.items() if k != "urgency"}
    response = world.client().post("/tickets", json=body)
    assert response.status_code == 422
    assert response.json()["fields"] == ["urgency"]
    assert_nothing_stored(world)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfeh\x04\xc2"])
def test_a_body_that_is_not_a_json_object_is_422(world: World, raw: bytes) -> None:
    response = world.client().post("/tickets", content=raw, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["field"] == "body"
    assert_nothing_stored(world)


@pytest.mark.parametrize("wait", ["-1", "61", "abc", "nan", "inf"])
def test_wait_must_be_0_to_60_seconds(world: World, wait: str) -> None:
    response = world.client().post("/tickets", params={"wait": wait}, json=BODY)
    assert response.status_code == 422
    assert response.json()["field"] == "wait"
    assert_nothing_stored(world)


def test_wait_answers_once_the_ticket_is_created(world: World) -> None:
    # A stand-in worker: once the request is recorded, mark it created (as the real worker would).
    def worker() -> None:
        (row,) = wait_until(world.rows, timeout=30)
        world.execute(
            "UPDATE tickets SET status = 'created', ticket_id = 'TT-1', ticket_url = 'http://o/ticket/TT-1'"
            " WHERE instance = ?",
            row["instance"],
        )

    thread = threading.Thread(target=worker)
    thread.start()
    response = world.client().post("/tickets", params={"wait": 60}, json=BODY)
    thread.join()
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["ticketId"]) == ("created", "TT-1")


def test_wait_answers_with_what_is_known_when_time_runs_out(world: World) -> None:
    response = world.client().post("/tickets", params={"wait": 0.3}, json=BODY)
    assert response.status_code == 201
    assert response.json()["status"] == "queued"


# --- body size ---


def test_a_body_over_64_kb_is_413_and_stores_nothing(world: World) -> None:
    big = {**BODY, "description": "x" * MAX_BODY_BYTES}
    response = world.client().post("/tickets", json=big)
    assert response.status_code == 413
    assert_nothing_stored(world)


def test_a_chunked_body_over_64_kb_is_413_too(world: World) -> None:
    payload = json.dumps({**BODY, "description": "x" * MAX_BODY_BYTES}).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for start in range(0, len(payload), 4096):
            yield payload[start : start + 4096]

    response = world.client().post("/tickets", content=chunks(), headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_nothing_stored(world)


def test_a_body_just_under_the_limit_is_read(world: World) -> None:
    body = {**BODY, "description": "x" * 4000, "alarmValue": "v" * 2000}
    response = world.client().post("/tickets", json=body)
    assert response.status_code == 201


# --- the token ---


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token-wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": TOKEN},
    ],
)
def test_no_or_a_wrong_token_is_401_and_stores_nothing(world: World, headers: dict[str, str]) -> None:
    client = TestClient(world.app, headers=headers)
    for method, path in [("POST", "/tickets"), ("GET", "/tickets"), ("GET", "/form"), ("GET", "/tables/tickets")]:
        response = client.request(method, path, json=BODY if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    assert_nothing_stored(world)


def test_the_bearer_scheme_is_case_insensitive(world: World) -> None:
    response = TestClient(world.app, headers={"Authorization": f"bearer {TOKEN}"}).get("/form")
    assert response.status_code == 200


def test_health_needs_no_token(world: World) -> None:
    response = TestClient(world.app).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "database": "ok"}


def test_without_a_token_only_loopback_clients_are_served(make_world: Any) -> None:
    world = make_world(intake_token="")
    assert TestClient(world.app, client=("127.0.0.1", 50000)).get("/form").status_code == 200
    assert TestClient(world.app, client=("::1", 50000)).get("/form").status_code == 200
    assert TestClient(world.app, client=("192.0.2.7", 50000)).get("/form").status_code == 401
    response = TestClient(world.app, client=("192.0.2.7", 50000)).post("/tickets", json=BODY)
    assert response.status_code == 401
    assert_nothing_stored(world)


def test_serve_refuses_a_non_loopback_address_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(intake_token="")
    for host in ("0.0.0.0", "192.0.2.7", "::", "intake.example"):  # noqa: S104 - what is being refused
        code = cli_serve.run(argparse.Namespace(host=host, port=8080), settings)
        assert code == USAGE
        assert "OCEANE_INTAKE_TOKEN" in capsys.readouterr().err


def test_a_short_token_is_a_bad_setting_exit_78(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README: a bad setting exits 78 naming the variable; an option refused is 2.
    monkeypatch.setenv("OCEANE_INTAKE_TOKEN", "short")
    assert main(["serve", "--host", "127.0.0.1", "--port", "8080"]) == BAD_SETTING
    assert "OCEANE_INTAKE_TOKEN" in capsys.readouterr().err


def test_serve_checks_every_token_and_the_https_files(tmp_path: Path) -> None:
    assert serve.check_access("0.0.0.0", f"{TOKEN},short") is not None  # noqa: S104
    assert "token 2" in (serve.check_access("127.0.0.1", f"{TOKEN} short") or "")
    assert serve.check_access("0.0.0.0", f"{TOKEN},{TOKEN}-2") is None  # noqa: S104
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert "go together" in (serve.check_tls(str(cert), None) or "")
    assert "--ssl-keyfile: cannot read" in (serve.check_tls(str(cert), str(tmp_path / "missing.key")) or "")
    assert serve.check_tls(str(cert), str(cert)) is None and serve.check_tls(None, None) is None


def test_serve_may_listen_on_loopback_without_a_token_and_anywhere_with_one() -> None:
    assert serve.check_access("127.0.0.1", "") is None
    assert serve.check_access("localhost", "") is None
    assert serve.check_access("::1", "") is None
    assert serve.check_access("0.0.0.0", TOKEN) is None  # noqa: S104


# --- the services down ---


def test_redis_down_is_503_and_leaves_nothing(make_world: Any) -> None:
    import redis

    world = make_world()
    world.producer = core.Producer(
        world.settings, core.Connections(world.settings, redis_client=redis.Redis(port=1, socket_connect_timeout=1))
    )
    world.app = create_app(world.settings, world.producer)
    response = world.client().post("/tickets", json=BODY)
    assert response.status_code == 503
    assert response.json()["service"] == "redis"
    assert world.rows() == []
    health = TestClient(world.app).get("/health")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "redis": "unavailable", "database": "ok"}


def test_the_database_down_is_503(make_world: Any) -> None:
    world = make_world(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = world.client().post("/tickets", json=BODY)
    assert response.status_code == 503
    assert response.json()["service"] == "database"
    assert world.queued() == 0
    assert world.client().get("/tickets", params={"dmaId": 1, "elementId": 2, "alarmId": 3}).status_code == 503


# --- reading ---


def test_lookup_finds_the_alarms_ticket_or_404(world: World) -> None:
    client = world.client()
    created = client.post("/tickets", json=BODY).json()
    found = client.get("/tickets", params={"dmaId": 12, "elementId": 345, "alarmId": 1})
    assert found.status_code == 200
    assert found.json()["instance"] == created["instance"] and found.json()["existing"] is True
    assert client.get("/tickets", params={"dmaId": 12, "elementId": 345, "alarmId": 2}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"dmaId": 1, "elementId": 2},
        {"dmaId": "x", "elementId": 2, "alarmId": 3},
        {"dmaId": -4, "elementId": 2, "alarmId": 3},
    ],
)
def test_lookup_with_bad_alarm_ids_is_422(world: World, params: dict[str, Any]) -> None:
    response = world.client().get("/tickets", params=params)
    assert response.status_code == 422
    assert response.json()["fields"]


def test_poll_one_request(world: World) -> None:
    client = world.client()
    created = client.post("/tickets", json=BODY).json()
    polled = client.get(f"/tickets/{created['instance']}")
    assert polled.status_code == 200 and polled.json()["status"] == "queued"
    assert client.get("/tickets/" + "0" * 32).status_code == 404
    assert client.get("/tickets/not-an-instance").status_code == 404


def test_form_lists_the_configured_values(make_world: Any) -> None:
    world = make_world(priorities="P1,P2", urgencies="High,Low", description_max_length=500)
    assert world.client().get("/form").json() == {
        "priority": ["P1", "P2"],
        "urgency": ["High", "Low"],
        "technicalImpact": ["Critical", "Major", "Minor", "None"],
        "clientImpact": ["Critical", "Major", "Minor", "None"],
        "descriptionMaxLength": 500,
        "required": ["priority", "urgency", "technicalImpact"],
        "alarmWriter": "none",  # the scripts follow the intake's OCEANE_ALARM_WRITER: one setting, one default
    }
    strict = make_world(require_user_mapping=True)
    assert "user" in strict.client().get("/form").json()["required"]


def test_status_only_with_the_debug_page(make_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from oceane_ticket import queue_state

    assert make_world().client().get("/status").status_code == 404
    seen: list[Any] = []
    monkeypatch.setattr(queue_state, "collect_status", lambda s: seen.append(s) or {"lock": {"state": "free"}})
    world = make_world(debug_page=True)
    response = world.client().get("/status")
    assert response.status_code == 200 and response.json() == {"lock": {"state": "free"}}
    assert seen == [world.settings]


def test_the_openapi_document_describes_every_route(world: World) -> None:
    document = TestClient(world.app).get("/openapi.json").json()  # no token: the description is public
    assert set(document["paths"]) == {
        "/tickets",
        "/tickets/{instance}",
        "/tables/tickets",
        "/tables/failed-requests",
        "/form",
        "/status",
        "/health",
        "/alarms/events",
    }
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/health"]["get"]["security"] == []
    request = document["components"]["schemas"]["TicketIn"]
    assert set(request["required"]) == {
        "dmaId",
        "elementId",
        "alarmId",
        "elementName",
        "priority",
        "urgency",
        "technicalImpact",
    }


def test_the_openapi_document_shows_no_python_markup(world: World) -> None:
    text = TestClient(world.app).get("/openapi.json").text
    for markup in (":class:", ":func:", ":mod:", ":meth:", "``"):
        assert markup not in text


def test_docs_answer_without_a_token(world: World) -> None:
    response = TestClient(world.app).get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


def test_priority_may_be_a_json_number(world: World) -> None:
    response = world.client().post("/tickets", json={**BODY, "priority": 2})
    assert response.status_code == 201, response.text
    assert world.rows()[0]["priority"] == "2"


def test_every_wrong_field_is_named_at_once(world: World) -> None:
    response = world.client().post(
        "/tickets", json={**BODY, "priority": "9", "urgency": "whenever", "rootTime": "yesterday"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["fields"] == ["rootTime", "priority", "urgency"]
    for name in body["fields"]:
        assert f"{name}:" in body["error"]
    assert_nothing_stored(world)


@pytest.mark.parametrize("value", [True, 2.5, [2]])
def test_a_priority_that_is_no_string_or_whole_number_is_refused(world: World, value: Any) -> None:
    response = world.client().post("/tickets", json={**BODY, "priority": value})
    assert response.status_code == 422 and response.json()["fields"] == ["priority"]
    assert_nothing_stored(world)


def test_several_tokens_are_accepted_at_once_for_rotation(make_world: Any) -> None:
    old, new = TOKEN, "n3w-token-for-rotation-0123456789"
    world = make_world(intake_token=f"{new}, {old}")
    for token in (old, new):
        assert world.client(headers={"Authorization": f"Bearer {token}"}).get("/form").status_code == 200
    assert world.client(headers={"Authorization": "Bearer " + old[:-1]}).get("/form").status_code == 401


# --- tables ---


def test_the_tickets_table_pages_newest_first(world: World) -> None:
    client = world.client()
    for alarm in (1, 2, 3):
        assert client.post("/tickets", json={**BODY, "alarmId": alarm}).status_code == 201
    first = client.get("/tables/tickets", params={"limit": 2}).json()
    second = client.get("/tables/tickets", params={"offset": first["next"], "limit": 2}).json()

    assert [r["alarmId"] for r in first["rows"] + second["rows"]] == [3, 2, 1]
    assert (first["next"], second["next"]) == (2, None)
    assert {"instance", "ticketId", "dmaId", "elementName", "createdAt", "status", "writebackState"} <= set(
        first["rows"][0]
    )


def test_the_failed_requests_table_has_the_connectors_columns(world: World) -> None:
    page = world.client().get("/tables/failed-requests").json()
    assert page == {"rows": [], "offset": 0, "limit": 100, "next": None}


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "lost"}])
def test_a_bad_page_is_refused_naming_the_parameter(world: World, query: dict[str, Any]) -> None:
    response = world.client().get("/tables/tickets", params=query)
    assert response.status_code == 422 and response.json()["fields"] == list(query)


# --- users ---


def test_the_users_mapping_sets_the_stored_oceane_user(world: World) -> None:
    from datetime import UTC, datetime

    world.execute(
        "INSERT INTO oceane_users (dataminer_user, oceane_user_id, updated_at) VALUES (?, ?, ?)",
        "corp/alice",
        "U-ALICE",
        datetime.now(UTC).isoformat(),
    )
    client = world.client()
    assert client.post("/tickets", json=BODY).status_code == 201  # "CORP/Alice": matched case-insensitively
    assert client.post("/tickets", json={**BODY, "alarmId": 2, "user": "bob"}).status_code == 201
    assert client.post("/tickets", json={**BODY, "alarmId": 3, "user": None}).status_code == 201
    stored = {r["alarm_id"]: r["oceane_user_id"] for r in world.rows()}
    assert stored == {1: "U-ALICE", 2: world.settings.user_id, 3: world.settings.user_id}


@pytest.mark.parametrize("user", ["bob", None])
def test_an_unmapped_user_is_refused_when_mapping_is_required(make_world: Any, user: str | None) -> None:
    world = make_world(require_user_mapping=True)
    response = world.client().post("/tickets", json={**BODY, "user": user})
    assert response.status_code == 422
    assert response.json()["field"] == "user"
    assert_nothing_stored(world)
