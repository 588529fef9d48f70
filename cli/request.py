"""``oceane-ticket create`` and ``lookup``: what the alarm hook script calls (see :mod:`producer.cli`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``create`` and ``lookup`` with the producer's options."""
    from producer.cli import add_alarm_arguments, configure_create

    configure_create(add("create", run_create, "queue a ticket for an alarm (the alarm hook script calls this)"))
    add_alarm_arguments(
        add("lookup", run_lookup, "show the alarm's ticket; exit 1 when it has none"), element_name=False
    )


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    """See :func:`producer.cli.run_create`."""
    from producer.cli import run_create

    return run_create(args, settings)


def run_lookup(args: argparse.Namespace, settings: Settings) -> int:
    """See :func:`producer.cli.run_lookup`."""
    from producer.cli import run_lookup

    return run_lookup(args, settings)
