"""The producer's database access: plain DB-API (psycopg or sqlite3), no SQLAlchemy.

The producer runs once per operator click, so its cold start is its latency; importing SQLAlchemy
and SQLModel would triple it. It needs five statements, kept here next to the models they write;
``tests/integration/test_storage.py`` checks that rows written here read back through SQLModel.
Statements use ``:name`` placeholders; :func:`_sql` adapts them to psycopg's ``%(name)s``.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oceane_ticket.logs import describe_exception
from oceane_ticket.request import TicketRequest, column_names
from oceane_ticket.statuses import Status, WritebackState
from oceane_ticket.storage import schema
from oceane_ticket.storage.columns import TICKETS_TABLE

# Every column of ``tickets``: the connector's Tickets table first, then ours.
TICKET_COLUMNS = (
    *TICKETS_TABLE,
    "user",
    "oceane_user_id",
    "alarm_value",
    "root_time",
    "updated_at",
    "ticket_created_at",
    "attempts",
    "retries_used",
    "not_before",
    "lock_token",
    "adopted",
    "error",
)
# What a new request sets: the request itself, and the bookkeeping of a row nobody worked on yet
# (NEW_ROW). The rest stays at its default until the worker gets to it.
NEW_ROW: dict[str, Any] = {
    "status": Status.QUEUED.value,
    "attempts": 0,
    "retries_used": 0,
    "adopted": False,
    "writeback_state": WritebackState.NONE.value,
}
_INSERT_COLUMNS = (*column_names(TicketRequest), "updated_at", *NEW_ROW)

# "user" is a reserved word in PostgreSQL, so every column name is quoted.
_SELECT = "SELECT " + ", ".join(f'"{c}"' for c in TICKET_COLUMNS) + " FROM tickets"

INSERT_REQUEST = (
    "INSERT INTO tickets ("
    + ", ".join(f'"{c}"' for c in _INSERT_COLUMNS)
    + ") VALUES ("
    + ", ".join(f":{c}" for c in _INSERT_COLUMNS)
    + ")"
)
FIND_OPEN_FOR_ALARM = (
    _SELECT + " WHERE dma_id = :dma_id AND element_id = :element_id AND alarm_id = :alarm_id"
    f" AND status <> '{Status.FAILED.value}'"
)
FIND_LATEST_FOR_ALARM = (
    _SELECT + " WHERE dma_id = :dma_id AND element_id = :element_id AND alarm_id = :alarm_id"
    " ORDER BY created_at DESC LIMIT 1"
)
GET_BY_INSTANCE = _SELECT + " WHERE instance = :instance"
# Compensation when the job could not be queued: only a row nobody has started on yet.
DELETE_UNSTARTED = (
    f"DELETE FROM tickets WHERE instance = :instance AND status = '{Status.QUEUED.value}' AND attempts = 0"
)

_NAMED = re.compile(r"(?<!:):([a-z_]+)")


class DatabaseUnavailable(Exception):
    """The database could not be reached or answered with an operational error."""


class DuplicateOpenRequest(Exception):
    """The alarm already has an open request (the unique index refused a second one)."""


@dataclass(frozen=True)
class Connection:
    """A DB-API connection and the placeholder style its driver wants."""

    raw: Any
    dialect: str  # "postgresql" or "sqlite"

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run one statement with named parameters; returns the driver's cursor."""
        return self.raw.execute(_sql(sql, self.dialect), _params(dict(params or {}), self.dialect))


def _sql(sql: str, dialect: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql) if dialect == "postgresql" else sql


def _params(params: dict[str, Any], dialect: str) -> dict[str, Any]:
    if dialect == "sqlite":
        # Store datetimes the way SQLAlchemy's SQLite dialect does (naive UTC text), so the
        # worker and the reports read them back as datetimes.
        return {
            k: (
                v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                if isinstance(v, datetime)
                else v
            )
            for k, v in params.items()
        }
    return params


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path.split("?", 1)[0] or ":memory:"


def postgres_dsn(url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (drops the ``+driver`` part)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


@contextmanager
def connect(url: str, *, connect_timeout: int = 5) -> Iterator[Connection]:
    """Open a short-lived connection; operational failures become :class:`DatabaseUnavailable`."""
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path != ":memory:" and not Path(path).exists():
                # sqlite3 would create an empty file here (in whatever directory we run from).
                raise schema.missing_file_error(path)
            raw: Any = sqlite3.connect(path, timeout=30, isolation_level=None)
            raw.row_factory = sqlite3.Row
            raw.execute("PRAGMA foreign_keys = ON")
            conn = Connection(raw, "sqlite")
        else:
            import psycopg  # only the PostgreSQL path pays for it
            from psycopg.rows import dict_row

            raw = psycopg.connect(
                postgres_dsn(url), connect_timeout=connect_timeout, autocommit=True, row_factory=dict_row
            )
            conn = Connection(raw, "postgresql")
    except Exception as exc:
        raise DatabaseUnavailable(schema.schema_problem(exc) or describe_exception(exc)) from None
    try:
        yield conn
    except (DuplicateOpenRequest, DatabaseUnavailable):
        raise
    except Exception as exc:
        if _is_operational(exc):
            raise DatabaseUnavailable(schema.schema_problem(exc) or describe_exception(exc)) from None
        raise
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do
            raw.close()


def _is_operational(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return True
    module = type(exc).__module__
    return module.startswith("psycopg") and type(exc).__name__ in {
        "OperationalError",
        "InterfaceError",
        "AdminShutdown",
        "ConnectionTimeout",
        "CannotConnectNow",
    }


def _is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return getattr(exc, "sqlstate", None) == "23505"


def _row(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    data = dict(row)
    for key in ("created_at", "updated_at", "root_time", "ticket_created_at", "not_before"):
        value = data.get(key)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        data[key] = value
    data["adopted"] = bool(data.get("adopted"))
    return data


def insert_request(conn: Connection, request: TicketRequest) -> None:
    """Record a new request, queued (autocommit: it is durable when this returns).

    Raises:
        DuplicateOpenRequest: the alarm already has a request that is not failed.
    """
    values = {f: getattr(request, f) for f in column_names(TicketRequest)}
    try:
        conn.execute(INSERT_REQUEST, values | {"updated_at": request.created_at} | NEW_ROW)
    except Exception as exc:
        if _is_unique_violation(exc):
            raise DuplicateOpenRequest() from None
        raise


def find_open(conn: Connection, dma_id: int, element_id: int, alarm_id: int) -> dict[str, Any] | None:
    """The alarm's request that is queued, processing or created, if any."""
    params = {"dma_id": dma_id, "element_id": element_id, "alarm_id": alarm_id}
    return _row(conn.execute(FIND_OPEN_FOR_ALARM, params).fetchone())


def find_latest(conn: Connection, dma_id: int, element_id: int, alarm_id: int) -> dict[str, Any] | None:
    """The alarm's newest request in any status."""
    params = {"dma_id": dma_id, "element_id": element_id, "alarm_id": alarm_id}
    return _row(conn.execute(FIND_LATEST_FOR_ALARM, params).fetchone())


def get(conn: Connection, instance: str) -> dict[str, Any] | None:
    """One request by instance."""
    return _row(conn.execute(GET_BY_INSTANCE, {"instance": instance}).fetchone())


def delete_unstarted(conn: Connection, instance: str) -> bool:
    """Remove a request that was recorded but could not be queued; True if it was removed."""
    return bool(conn.execute(DELETE_UNSTARTED, {"instance": instance}).rowcount)
