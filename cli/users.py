"""``oceane-ticket users set|list|remove|import-env``: DataMiner user -> Oceane User ID (:mod:`producer.users`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``users`` and its actions."""
    from producer.users import configure_parser

    configure_parser(add("users", run, "map DataMiner users to Oceane User IDs (the relatedParty sent)"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``users`` action."""
    from producer import users

    return users.run(args, settings)
