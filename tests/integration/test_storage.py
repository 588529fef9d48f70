"""Storage against the real PostgreSQL (and the SQLite default): schema, fast path, the unique index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel

from oceane_ticket.request import RequestRecord
from oceane_ticket.storage import clock, db, direct
from oceane_ticket.storage.models import Ticket


def request_values(instance: str, alarm_id: int = 3) -> RequestRecord:
    now = datetime.now(UTC)
    return RequestRecord(
        instance=instance,
        alarm_id=alarm_id,
        dma_id=1,
        element_id=2,
        element_name="Enc ;=é",
        created_at=now,
        priority="2",
        urgency="Major",
        technical_impact="Major",
        client_impact=None,
        root_cause="because",
        user="op",
        oceane_user_id="U1",
        alarm_value="LOS",
        root_time=now,
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("clean_pg")


def test_migrations_match_the_models(any_db: str) -> None:
    with db.get_engine(any_db).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_rows_written_by_the_fast_path_read_back_through_sqlmodel(any_db: str) -> None:
    with direct.connect(any_db) as conn:
        direct.insert_request(conn, request_values("a" * 32))
        fast = direct.get(conn, "a" * 32)
    with Session(db.get_engine(any_db)) as s:
        model = s.get(Ticket, "a" * 32)
    assert model is not None and fast is not None
    assert model.element_name == fast["element_name"] == "Enc ;=é"
    assert clock.as_utc(model.created_at) == fast["created_at"]
    assert model.status == "queued" and model.adopted is False


def test_one_open_request_per_alarm_is_enforced_by_the_database(any_db: str) -> None:
    with direct.connect(any_db) as conn:
        direct.insert_request(conn, request_values("1" * 32))
        with pytest.raises(direct.DuplicateOpenRequest):
            direct.insert_request(conn, request_values("2" * 32))
        direct.insert_request(conn, request_values("3" * 32, alarm_id=4))  # another alarm is fine
        conn.execute("UPDATE tickets SET status = 'failed' WHERE instance = :i", {"i": "1" * 32})
        direct.insert_request(conn, request_values("2" * 32))  # a failed request no longer blocks the alarm
        assert direct.find_open(conn, 1, 2, 3)["instance"] == "2" * 32


def test_database_down_is_reported_as_unavailable() -> None:
    with pytest.raises(direct.DatabaseUnavailable), direct.connect("postgresql://postgres@127.0.0.1:1/x"):
        pass


def test_a_ticket_oceane_reported_closed_no_longer_holds_its_alarm(any_db: str) -> None:
    # Someone closed the ticket in Oceane: a new Create Ticket on the same alarm is a new request, and
    # the database still allows only one open one.
    with direct.connect(any_db) as conn:
        direct.insert_request(conn, request_values("4" * 32, alarm_id=7))
        conn.execute(
            "UPDATE tickets SET status = 'created', ticket_id = 'T1', oceane_status = 'inProgress' WHERE instance = :i",
            {"i": "4" * 32},
        )
        with pytest.raises(direct.DuplicateOpenRequest):
            direct.insert_request(conn, request_values("5" * 32, alarm_id=7))
        conn.execute("UPDATE tickets SET oceane_status = 'Resolved' WHERE instance = :i", {"i": "4" * 32})
        assert direct.insert_unless_open(conn, request_values("5" * 32, alarm_id=7), None)
        assert not direct.insert_unless_open(conn, request_values("6" * 32, alarm_id=7), None)
        found = direct.find_open(conn, 1, 2, 7)
    assert found is not None and found["instance"] == "5" * 32
