"""``oceane-ticket users set|list|remove|import-env``: DataMiner user -> Oceane User ID.

The mapping itself (the table, the lookup at request time) is :mod:`producer.users`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from cli.common import OK, PROBLEM, UNAVAILABLE, USAGE, Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``users`` and its actions."""
    configure_parser(add("users", run_users, "map DataMiner users to Oceane User IDs (the relatedParty sent)"))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``users set|list|remove|import-env``."""
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = sub.add_parser("set", help="map a DataMiner user to an Oceane User ID (replaces any mapping)")
    p.add_argument("name", help="the DataMiner user name (matched case-insensitively)")
    p.add_argument("oceane_id", metavar="OCEANE_ID", help="the Oceane User ID sent as the ticket's relatedParty")
    p = sub.add_parser("list", help="every mapping")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p = sub.add_parser("remove", help="remove a user's mapping (the user then gets OCEANE_USER_ID)")
    p.add_argument("name")
    p = sub.add_parser("import-env", help="copy the deprecated OCEANE_USER_MAP into the table")
    p.add_argument("--replace", action="store_true", help="overwrite mappings already in the table")


def run_users(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``users`` action; returns the exit code."""
    from oceane_ticket.request import InputError
    from oceane_ticket.storage import direct

    try:
        return _run(args, settings)
    except InputError as exc:
        print(f"oceane-ticket: {exc}", file=sys.stderr)
        return USAGE
    except direct.DatabaseUnavailable as exc:
        print(f"oceane-ticket: database unavailable: {exc}", file=sys.stderr)
        return UNAVAILABLE


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from producer.users import check_oceane_id, import_env, list_users, remove_user, set_user, user_key

    action = args.users_command
    if action == "set":
        key = set_user(settings, args.name, args.oceane_id)
        print(f"{key} -> {check_oceane_id(args.oceane_id)}")
        return OK
    if action == "remove":
        if remove_user(settings, args.name):
            print(f"removed {user_key(args.name)}; it now gets OCEANE_USER_ID ({settings.user_id})")
            return OK
        print(f"oceane-ticket: {user_key(args.name)!r} has no mapping", file=sys.stderr)
        return PROBLEM
    if action == "import-env":
        imported, skipped = import_env(settings, replace=args.replace)
        names = ": " + ", ".join(imported) if imported else ""
        print(f"imported {len(imported)} user(s) from OCEANE_USER_MAP{names}")
        if skipped:
            print(f"kept {len(skipped)} mapping(s) already in the table: " + ", ".join(skipped))
        return OK
    rows = list_users(settings)
    if args.json:
        print(json.dumps([{**r, "updated_at": r["updated_at"].isoformat()} for r in rows], ensure_ascii=False))
        return OK
    if not rows:
        print(f"no mappings; every user gets OCEANE_USER_ID ({settings.user_id})")
        return OK
    width = max(len(r["dataminer_user"]) for r in rows)
    for r in rows:
        print(f"{r['dataminer_user']:<{width}}  {r['oceane_user_id']}")
    return OK
