"""``oceane-ticket hub register|unregister``: Oceane's changes by push (TMF621 hub), where Oceane offers it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cli.common import OK, PROBLEM, USAGE, Add, print_json

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``hub``."""
    p = add("hub", run_hub, "register (or remove) our listener at Oceane's hub: ticket changes pushed to the intake")
    p.add_argument("action", choices=("register", "unregister"))
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_hub(args: argparse.Namespace, settings: Settings) -> int:
    """Register or unregister; the callback's secret is never printed."""
    from oceane_ticket import connections, hub
    from oceane_ticket.oceane.client import OceaneClient
    from oceane_ticket.oceane.errors import OceaneError

    redis = connections.redis_client(settings, purpose="command")
    client = OceaneClient(settings)
    try:
        if args.action == "register":
            reason = hub.problem(settings)
            if reason is not None:
                print(f"oceane-ticket hub: {reason}", file=sys.stderr)
                return USAGE
            registration: str | None = hub.register(settings, client, redis)
        else:
            registration = hub.unregister(settings, client, redis)
    except OceaneError as error:
        print(f"oceane-ticket hub: Oceane refused: {error}", file=sys.stderr)
        return PROBLEM
    finally:
        client.close()
    if args.json:
        print_json({"ok": True, "action": args.action, "registration": registration})
    else:
        print(f"hub {args.action}: {registration or 'no registration known'}")
    return OK
