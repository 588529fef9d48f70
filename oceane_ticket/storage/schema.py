"""Recognising a database that has no schema yet (or an old one), and saying how to fix it.

A newcomer's first command often runs before ``oceane-ticket db upgrade``; every command then
says the same thing, with the fix, instead of a driver's traceback. Stdlib only: the producer
uses it.
"""

from __future__ import annotations

import sqlite3

FIX = "run `oceane-ticket db upgrade`"

# The SQLite file does not exist: we refuse to create an empty one (see storage.db and storage.direct).
NO_FILE = "database file does not exist"

# PostgreSQL's SQLSTATEs for an undefined table and an undefined column (a migration not applied).
_PG_UNDEFINED = {"42P01", "42703"}
_SQLITE_MARKERS = ("no such table", "no such column", NO_FILE)


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def is_missing_schema(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says a table or column of ours does not exist."""
    for cause in _causes(exc):
        if getattr(cause, "sqlstate", None) in _PG_UNDEFINED:
            return True
        if isinstance(cause, sqlite3.OperationalError) and any(m in str(cause) for m in _SQLITE_MARKERS):
            return True
    return False


def schema_problem(exc: BaseException) -> str | None:
    """The operator's message for a missing schema, or None when ``exc`` is something else."""
    if not is_missing_schema(exc):
        return None
    detail = next(
        (
            str(c).strip().splitlines()[0]
            for c in _causes(exc)
            if isinstance(c, sqlite3.OperationalError) or getattr(c, "sqlstate", None) in _PG_UNDEFINED
        ),
        "schema not found",
    )
    return f"the database is not set up or not at the newest schema ({detail}): {FIX}"


def missing_file_error(path: str) -> sqlite3.OperationalError:
    """The error raised instead of letting sqlite3 create an empty file at ``path``."""
    return sqlite3.OperationalError(f"{NO_FILE}: {path}")
