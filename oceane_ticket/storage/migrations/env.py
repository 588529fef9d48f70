"""Alembic environment: runs the migrations against the URL set by ``storage.db.upgrade``."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

from oceane_ticket.storage import models  # noqa: F401 - registers the tables on the metadata

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run against a live connection; SQLite needs batch mode for ALTERs."""
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
