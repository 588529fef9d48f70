"""The ``oceane-ticket`` console script: builds the command line from the command modules and runs one.

Each command module (one noun: ``cli/status.py``, ``cli/health.py``...) has ``register(add)``,
which adds its subcommands with their handlers. Every module imports only the standard library at
import time and loads what it needs when its command runs, so ``create`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cli import (
    authenticate,
    database,
    event,
    flower,
    health,
    hub,
    maintenance,
    metrics,
    request,
    run,
    sandbox,
    serve,
    status,
    tables,
    users,
)
from cli.common import BAD_SETTING, INTERRUPTED, UNAVAILABLE, Add, Handler

# THE REGISTRATION POINT: one line per command module, in the order `--help` lists them.
# A new command: write cli/<noun>.py with register(add), import it above, add its line here.
COMMANDS: tuple[Callable[[Add], None], ...] = (
    request.register,  # create, lookup
    serve.register,  # serve (the HTTP intake)
    users.register,  # users set|list|remove|import-env
    tables.register,  # tickets, failed
    authenticate.register,  # authenticate
    database.register,  # db upgrade
    sandbox.register,  # sandbox
    run.register,  # run (the embedded demo)
    status.register,  # status
    health.register,  # health
    maintenance.register,  # cleanup, retry, sweep
    metrics.register,  # metrics
    flower.register,  # flower
    event.register,  # event, history (cli/event.py)
    hub.register,  # hub register|unregister
)


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

    for register in COMMANDS:
        register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from oceane_ticket.settings import SettingsError, load_settings

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
        # The terminal echoed ^C where the cursor was: end that line, so the shell's prompt starts its own.
        print(file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:
        # Every command says the same about a database without our schema, with the fix.
        from oceane_ticket.storage.schema import schema_problem

        problem = schema_problem(exc)
        if problem is None:
            raise
        print(f"oceane-ticket: {problem}", file=sys.stderr)
        return UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
