"""What every command shares: exit statuses, the registration contract, one-line error reports.

The exit statuses are :mod:`oceane_ticket.exits`'s, re-exported here for the command modules.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from oceane_ticket.exits import (
    BAD_SETTING,
    INTERRUPTED,
    OK,
    PROBLEM,
    STILL_PENDING,
    TICKET_FAILED,
    UNAVAILABLE,
    USAGE,
)
from oceane_ticket.logs import describe_exception

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

__all__ = [
    "BAD_SETTING",
    "INTERRUPTED",
    "OK",
    "PROBLEM",
    "STILL_PENDING",
    "TICKET_FAILED",
    "UNAVAILABLE",
    "USAGE",
    "Add",
    "Handler",
    "is_database_outage",
    "positive_int",
    "print_json",
    "unavailable",
]

Handler = Callable[[argparse.Namespace, "Settings"], int]


class Add(Protocol):
    """``add(name, handler, help)``: adds one subcommand and returns its parser (see ``cli.main``)."""

    def __call__(
        self, name: str, handler: Handler, help_text: str, *, needs_settings: bool = True
    ) -> argparse.ArgumentParser:
        """Add subcommand ``name`` run by ``handler``."""
        ...


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value}")
    return value


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be used (down, or without our schema)."""
    import sqlalchemy.exc

    return isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)


def unavailable(service: str, exc: BaseException, as_json: bool) -> int:
    """Report that ``service`` could not be used, as JSON or on stderr; returns :data:`UNAVAILABLE`."""
    from oceane_ticket.settings import mask_url
    from oceane_ticket.storage.schema import schema_problem

    message = schema_problem(exc) or f"{service} unavailable: {mask_url(describe_exception(exc))}"
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    else:
        print(f"oceane-ticket: {message}", file=sys.stderr)
    return UNAVAILABLE


def print_json(data: Any) -> None:
    """One JSON document on stdout (non-ASCII kept: element names are often French)."""
    print(json.dumps(data, ensure_ascii=False))
