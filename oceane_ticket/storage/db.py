"""Engines and sessions for the worker, the reports and the migrations (SQLAlchemy/SQLModel)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from oceane_ticket.storage import urls

MIGRATIONS = Path(__file__).with_name("migrations")


# One home for the URL's forms and the connect options of every PostgreSQL connection (urls.py).
sqlalchemy_url = urls.sqlalchemy_url


_ENGINES: dict[str, sa.Engine] = {}


def get_engine(url: str) -> sa.Engine:
    """One pooled engine per URL per process (reset in forked workers, see worker/celery_app.py)."""
    url = sqlalchemy_url(url)
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def _create_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        from oceane_ticket.storage import direct, schema

        path = direct.sqlite_path(url)

        @event.listens_for(engine, "do_connect")
        def _existing_file_only(*_: Any) -> None:
            # sqlite3 would create an empty file wherever we run; only `db upgrade` (Alembic's
            # own engine) creates the database.
            if path != ":memory:" and not Path(path).exists():
                raise schema.missing_file_error(path)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the producer write while a worker reads; foreign keys make deletes cascade.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # pre_ping: a worker outlives database restarts and failovers; a pooled connection to a server
    # that is gone (or demoted) is replaced before use, and the new one goes through libpq's host
    # list again (target_session_attrs=read-write finds the promoted primary). A failure after the
    # checkout (the primary dies mid-transaction) fails that task, which is retried; pool_recycle
    # bounds how long a connection can stay on a server that was demoted but still answers.
    return sa.create_engine(
        url, pool_pre_ping=True, pool_recycle=300, pool_size=2, max_overflow=2, connect_args=urls.connect_args(url)
    )


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (``oceane-ticket db upgrade``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    if url.startswith("sqlite"):
        from oceane_ticket.storage.direct import sqlite_path

        path = Path(sqlite_path(url))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, revision)


def dispose_all() -> None:
    """Forget pooled connections (after fork: a child must not share its parent's sockets)."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)
