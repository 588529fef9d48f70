"""The producer's database access: plain DB-API (psycopg or sqlite3), no SQLAlchemy.

The one place whose SQL is plain text rather than prebuilt Core statements (why: the package's
docstring, storage/__init__.py). The producer needs a few statements, kept here next to the models
they write;
``tests/integration/test_storage.py`` checks that rows written here read back through SQLModel.
Statements use ``:name`` placeholders; :func:`_sql` adapts them to psycopg's ``%(name)s``.
A one-shot command opens a connection with :func:`connect`; long-lived callers (the HTTP intake,
repeated ``create_ticket()`` calls) keep theirs open in a :class:`Pool`.

Over 400 lines on purpose: the statements, the two drivers' differences and the pool are one
boundary (the producer's), and splitting it would make the producer import more at each click.
"""

from __future__ import annotations

import contextlib
import re
import select
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oceane_ticket.logs import describe_exception
from oceane_ticket.request import RequestRecord, column_names
from oceane_ticket.statuses import Status, WritebackState
from oceane_ticket.storage import schema, urls
from oceane_ticket.storage.columns import TICKETS_TABLE
from oceane_ticket.storage.open_request import OPEN_REQUEST_SQL

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
    "origin",
    "released_at",
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
# released_at: when the job is sent, which for a request the producer sends at once is the insert's
# time; a rule request the cap holds gets NULL (see :func:`insert_unless_open`).
_INSERT_COLUMNS = (*column_names(RequestRecord), "updated_at", "released_at", *NEW_ROW)

# "user" is a reserved word in PostgreSQL, so every column name is quoted.
_SELECT = "SELECT " + ", ".join(f'"{c}"' for c in TICKET_COLUMNS) + " FROM tickets"

INSERT_REQUEST = (
    "INSERT INTO tickets ("
    + ", ".join(f'"{c}"' for c in _INSERT_COLUMNS)
    + ") VALUES ("
    + ", ".join(f":{c}" for c in _INSERT_COLUMNS)
    + ")"
)
# The producer's warm path in one round trip: the row, its Oceane user resolved from oceane_users
# (else the configured default), unless the alarm has an open request (the partial unique index
# decides; nothing is written then). PostgreSQL and SQLite (3.24+) both infer a partial index
# from the conflict target and its WHERE.
INSERT_REQUEST_UNLESS_OPEN = (
    "INSERT INTO tickets ("
    + ", ".join(f'"{c}"' for c in _INSERT_COLUMNS)
    + ") VALUES ("
    + ", ".join(
        "COALESCE((SELECT u.oceane_user_id FROM oceane_users u WHERE u.dataminer_user = :user_key), :oceane_user_id)"
        if c == "oceane_user_id"
        else f":{c}"
        for c in _INSERT_COLUMNS
    )
    + f") ON CONFLICT (dma_id, element_id, alarm_id) WHERE {OPEN_REQUEST_SQL} DO NOTHING"
)
FIND_OPEN_FOR_ALARM = (
    _SELECT + f" WHERE dma_id = :dma_id AND element_id = :element_id AND alarm_id = :alarm_id AND {OPEN_REQUEST_SQL}"
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

# --- oceane_users: DataMiner user (lower-cased) -> Oceane User ID (producer/users.py) ---
GET_USER = "SELECT oceane_user_id FROM oceane_users WHERE dataminer_user = :dataminer_user"
LIST_USERS = "SELECT dataminer_user, oceane_user_id, updated_at FROM oceane_users ORDER BY dataminer_user"
# ON CONFLICT ... excluded: the same upsert syntax in PostgreSQL and SQLite (3.24+).
UPSERT_USER = (
    "INSERT INTO oceane_users (dataminer_user, oceane_user_id, updated_at)"
    " VALUES (:dataminer_user, :oceane_user_id, :updated_at)"
    " ON CONFLICT (dataminer_user) DO UPDATE SET oceane_user_id = excluded.oceane_user_id,"
    " updated_at = excluded.updated_at"
)
# The deprecated OCEANE_USER_MAP import: the table wins over the environment.
INSERT_USER_IF_ABSENT = (
    "INSERT INTO oceane_users (dataminer_user, oceane_user_id, updated_at)"
    " VALUES (:dataminer_user, :oceane_user_id, :updated_at) ON CONFLICT (dataminer_user) DO NOTHING"
)
DELETE_USER = "DELETE FROM oceane_users WHERE dataminer_user = :dataminer_user"

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
    """A libpq URI from a SQLAlchemy URL (drops the ``+driver`` part; several hosts as libpq lists them)."""
    return urls.libpq_uri(url)


def _open(url: str, *, connect_timeout: int = 5, kept: bool = False) -> Connection:
    """Open one connection; ``kept`` ones are shared across threads (one at a time) and kept alive."""
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path != ":memory:" and not Path(path).exists():
                # sqlite3 would create an empty file here (in whatever directory we run from).
                raise schema.missing_file_error(path)
            raw: Any = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=not kept)
            raw.row_factory = sqlite3.Row
            raw.execute("PRAGMA foreign_keys = ON")
            return Connection(raw, "sqlite")
        import psycopg  # only the PostgreSQL path pays for it
        from psycopg.rows import dict_row

        # Kept-open connections (the pool) must notice a database link that silently drops
        # packets; every connection gets the session options (urls.py: synchronous commits).
        extra = urls.connect_args(url, connect_timeout=connect_timeout)
        if not kept:
            extra = {k: v for k, v in extra.items() if k not in urls.KEEPALIVES}
        raw = psycopg.connect(postgres_dsn(url), autocommit=True, row_factory=dict_row, **extra)
        return Connection(raw, "postgresql")
    except Exception as exc:
        raise DatabaseUnavailable(schema.schema_problem(exc) or describe_exception(exc)) from None


@contextmanager
def _translated() -> Iterator[None]:
    """Operational failures inside the block become :class:`DatabaseUnavailable`."""
    try:
        yield
    except (DuplicateOpenRequest, DatabaseUnavailable):
        raise
    except Exception as exc:
        if _is_operational(exc):
            raise DatabaseUnavailable(schema.schema_problem(exc) or describe_exception(exc)) from None
        raise


def _reusable(conn: Connection) -> bool:
    """Whether a connection may go back to the pool: open, not broken, no transaction left open."""
    raw = conn.raw
    try:
        if conn.dialect == "sqlite":
            return not raw.in_transaction
        if raw.closed or raw.broken:
            return False
        return int(raw.info.transaction_status) == 0  # psycopg.pq.TransactionStatus.IDLE
    except Exception:  # a closed sqlite3 connection raises on any attribute that touches it
        return False


def _has_pending_input(conn: Connection) -> bool:
    """Whether an idle PostgreSQL connection has something to read: the server closed it.

    A restart sends a termination notice, then FIN. A non-blocking select, no round trip.
    """
    if conn.dialect != "postgresql":
        return False
    try:
        readable, _, _ = select.select([conn.raw.fileno()], [], [], 0)
    except Exception:
        return True
    return bool(readable)


def _answers(conn: Connection) -> bool:
    """A round trip: whether the connection still works."""
    try:
        conn.raw.execute("SELECT 1").fetchone()
    except Exception:
        return False
    return True


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do
        conn.raw.close()


@contextmanager
def connect(url: str, *, connect_timeout: int = 5) -> Iterator[Connection]:
    """Open a short-lived connection; operational failures become :class:`DatabaseUnavailable`."""
    conn = _open(url, connect_timeout=connect_timeout)
    try:
        with _translated():
            yield conn
    finally:
        _close(conn)


class Pool:
    """Open connections reused across calls: the intake and repeated ``create_ticket()`` calls.

    Each checkout hands one thread a connection of its own; it goes back to the pool when the block
    ends, unless the database failed under it (then it is closed: the next checkout opens a fresh
    one). A connection idle longer than ``check_after`` seconds is pinged before it is handed out,
    so a database restarted meanwhile costs a reconnect, not a failed request. Busy connections are
    never pinged: that round trip is what a warm path saves.
    """

    def __init__(self, url: str, *, max_idle: int = 8, check_after: float = 5.0, connect_timeout: int = 5) -> None:
        self.url = url
        self.max_idle = max_idle
        self.check_after = check_after
        self.connect_timeout = connect_timeout
        self._idle: list[tuple[Connection, float]] = []  # (connection, when it was given back)
        self._lock = threading.Lock()
        self._closed = False

    def _take(self) -> Connection:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()  # the most recently used: the likeliest to be alive
            recent = time.monotonic() - since < self.check_after
            if (recent and not _has_pending_input(conn)) or _answers(conn):
                return conn
            _close(conn)
        return _open(self.url, connect_timeout=self.connect_timeout, kept=True)

    def _give_back(self, conn: Connection) -> None:
        if not _reusable(conn):
            _close(conn)
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        _close(conn)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection for the block; operational failures become :class:`DatabaseUnavailable`."""
        conn = self._take()
        try:
            with _translated():
                yield conn
        except DatabaseUnavailable:
            _close(conn)
            raise
        except Exception:
            # An answer such as a unique violation or refused input: with autocommit the connection
            # is still usable (_reusable checks it is idle and unbroken).
            self._give_back(conn)
            raise
        except BaseException:  # interrupted mid-statement: its state is unknown
            _close(conn)
            raise
        else:
            self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections; those checked out are closed when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _close(conn)


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
    for key in ("created_at", "updated_at", "root_time", "ticket_created_at", "not_before", "released_at"):
        data[key] = _as_datetime(data.get(key))
    data["adopted"] = bool(data.get("adopted"))
    return data


def _as_datetime(value: Any) -> Any:
    """An aware UTC datetime from either driver (SQLite gives naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _new_row(request: RequestRecord, held: bool) -> dict[str, Any]:
    values = {f: getattr(request, f) for f in column_names(RequestRecord)}
    released = None if held else request.created_at
    return values | {"updated_at": request.created_at, "released_at": released} | NEW_ROW


def insert_request(conn: Connection, request: RequestRecord, *, held: bool = False) -> None:
    """Record a new request, queued (autocommit: it is durable when this returns).

    ``held``: a rule request the cap keeps until the release sends its job (``released_at`` NULL).

    Raises:
        DuplicateOpenRequest: the alarm already has a request that is not failed.
    """
    try:
        conn.execute(INSERT_REQUEST, _new_row(request, held))
    except Exception as exc:
        if _is_unique_violation(exc):
            raise DuplicateOpenRequest() from None
        raise


def insert_unless_open(conn: Connection, request: RequestRecord, user_key: str | None, *, held: bool = False) -> bool:
    """Record a new request unless the alarm has an open one; True if recorded (durable on return).

    ``request.oceane_user_id`` is the default; the mapping of ``user_key`` in ``oceane_users`` wins.
    ``held``: a rule request the cap keeps (its ``released_at`` stays NULL until the release sends it);
    otherwise ``released_at`` is the insert's time, the job being sent right after. Same one statement.
    """
    params = _new_row(request, held) | {"user_key": user_key}
    return bool(conn.execute(INSERT_REQUEST_UNLESS_OPEN, params).rowcount)


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


def get_user(conn: Connection, dataminer_user: str) -> str | None:
    """The Oceane User ID mapped to a (lower-cased) DataMiner user name, if any."""
    row = conn.execute(GET_USER, {"dataminer_user": dataminer_user}).fetchone()
    return None if row is None else str(row["oceane_user_id"])


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every mapping, by DataMiner user name."""
    rows = conn.execute(LIST_USERS).fetchall()
    return [
        {
            "dataminer_user": row["dataminer_user"],
            "oceane_user_id": row["oceane_user_id"],
            "updated_at": _as_datetime(row["updated_at"]),
        }
        for row in rows
    ]


def set_user(
    conn: Connection, dataminer_user: str, oceane_user_id: str, now: datetime, *, replace: bool = True
) -> bool:
    """Map a user (``replace=False``: only if unmapped); True if a row was written."""
    params = {"dataminer_user": dataminer_user, "oceane_user_id": oceane_user_id, "updated_at": now}
    return bool(conn.execute(UPSERT_USER if replace else INSERT_USER_IF_ABSENT, params).rowcount)


def delete_user(conn: Connection, dataminer_user: str) -> bool:
    """Remove a user's mapping; True if there was one."""
    return bool(conn.execute(DELETE_USER, {"dataminer_user": dataminer_user}).rowcount)
