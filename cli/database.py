"""``oceane-ticket db upgrade``: bring the database schema to the newest migration (Alembic)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import OK, Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``db`` and its actions."""
    db = add("db", run, "database schema")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="apply the migrations").add_argument("revision", nargs="?", default="head")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket db upgrade [REVISION]``."""
    from oceane_ticket.settings import mask_url
    from oceane_ticket.storage import db

    db.upgrade(settings.database_url, args.revision)
    print(f"database {mask_url(settings.database_url)} at {args.revision}")
    if settings.user_map and args.revision == "head":  # the deprecated OCEANE_USER_MAP, imported once
        from cli.users import run_users

        return run_users(argparse.Namespace(users_command="import-env", replace=False), settings)
    return OK
