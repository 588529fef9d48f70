"""The ``oceane-ticket`` command. Each subcommand imports only what it needs, so ``create`` stays fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from oceane_ticket.settings import Settings, SettingsError, load_settings

# sysexits' EX_CONFIG: a bad setting is not the operator's input error (2).
BAD_SETTING = 78

Handler = Callable[[argparse.Namespace, Settings], int]


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from producer.cli import run_create

    return run_create(args, settings)


def _lookup(args: argparse.Namespace, settings: Settings) -> int:
    from producer.cli import run_lookup

    return run_lookup(args, settings)


def _tickets(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket import reports

    return reports.show_tickets(settings, limit=args.limit, as_json=args.json, status=args.status)


def _failed(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket import reports

    return reports.show_failed(settings, limit=args.limit, as_json=args.json)


def _authenticate(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket import reports

    return reports.authenticate(settings, as_json=args.json)


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket.storage import db

    db.upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    if settings.user_map and args.revision == "head":  # the deprecated OCEANE_USER_MAP, imported once
        from producer import users

        return users.run(argparse.Namespace(users_command="import-env", replace=False), settings)
    return 0


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket.sandbox import cli

    return cli.run(args)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket import run

    return run.main(settings, once=args.once)


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from worker.sweep import sweep

    sent = sweep(settings, redis.Redis.from_url(settings.redis_url))
    print(f"re-enqueued {len(sent)} request(s)" + (": " + ", ".join(sent) if sent else ""))
    return 0


def _flower(args: argparse.Namespace, settings: Settings) -> int:
    from oceane_ticket import flower

    return flower.run(args, settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from intake import serve

    return serve.run(args, settings)


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from producer import users

    return users.run(args, settings)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="oceane-ticket", description="Create Orange Oceane tickets from DataMiner alarms, exactly once."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str, *, needs_settings: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler, needs_settings=needs_settings)
        return p

    from producer.cli import add_alarm_arguments, configure_create

    configure_create(add("create", _create, "queue a ticket for an alarm (the alarm hook script calls this)"))
    add_alarm_arguments(add("lookup", _lookup, "show the alarm's ticket; exit 1 when it has none"))

    for name, handler, text in (
        ("tickets", _tickets, "the Tickets table, newest first"),
        ("failed", _failed, "the Failed Ticket Requests table, newest first"),
    ):
        p = add(name, handler, text)
        p.add_argument("--limit", type=int, default=50)
        p.add_argument("--json", action="store_true")
        if name == "tickets":
            p.add_argument("--status", choices=["queued", "processing", "created", "failed"])

    add(
        "authenticate", _authenticate, "fetch a token with the configured credentials (the connector's button)"
    ).add_argument("--json", action="store_true")

    db = add("db", _db, "database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply the migrations").add_argument("revision", nargs="?", default="head")

    from oceane_ticket.sandbox import cli as sandbox_cli

    sandbox_cli.configure_parser(add("sandbox", _sandbox, "serve the fake Oceane", needs_settings=False))

    add("run", _run, "the embedded demo: sandbox, worker, a sample ticket").add_argument(
        "--once", action="store_true", help="create the sample ticket, show it, stop everything and exit"
    )
    add("sweep", _sweep, "re-enqueue open requests whose job may be lost (beat runs this)")
    from oceane_ticket import flower

    flower.configure_parser(add("flower", _flower, "the debug page (Flower), with authentication"))
    _add_operations(add)
    from intake.serve import configure_parser as configure_serve
    from producer.users import configure_parser as configure_users

    configure_serve(add("serve", _serve, "the HTTP intake for DataMiner's Automation scripts"))
    configure_users(add("users", _users, "map DataMiner users to Oceane User IDs (the relatedParty sent)"))
    return parser


def _add_operations(add: Callable[..., argparse.ArgumentParser]) -> None:
    # status, health, cleanup, retry and metrics live with the operations code.
    from oceane_ticket import operations

    operations.register(add)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings: Any = None
    if args.needs_settings:
        try:
            settings = load_settings()
        except SettingsError as exc:
            print(f"oceane-ticket: {exc}", file=sys.stderr)
            return BAD_SETTING
    try:
        return int(args.handler(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
