"""``oceane-ticket sandbox``: serve the fake Oceane (:mod:`oceane_ticket.sandbox`)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.common import Add


def register(add: Add) -> None:
    """Add ``sandbox`` with the sandbox's own options (it needs no settings)."""
    from oceane_ticket.sandbox import cli as sandbox_cli

    sandbox_cli.configure_parser(add("sandbox", run, "serve the fake Oceane", needs_settings=False))


def run(args: argparse.Namespace, settings: Any) -> int:
    """Serve until stopped."""
    from oceane_ticket.sandbox import cli as sandbox_cli

    return sandbox_cli.run(args)
