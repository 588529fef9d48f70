"""``oceane-ticket serve``: the HTTP intake DataMiner's Automation scripts call (:mod:`intake`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``serve`` with the intake's options."""
    from intake.serve import configure_parser

    configure_parser(add("serve", run, "the HTTP intake for DataMiner's Automation scripts"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until stopped."""
    from intake import serve

    return serve.run(args, settings)
