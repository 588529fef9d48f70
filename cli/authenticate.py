"""``oceane-ticket authenticate``: the connector's Authenticate button."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import TYPE_CHECKING

from cli.common import OK, PROBLEM, Add, print_json

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``authenticate``."""
    add("authenticate", run, "fetch a token with the configured credentials (the connector's button)").add_argument(
        "--json", action="store_true"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch a token with the configured credentials and say how it went (never the token)."""
    from oceane_ticket.oceane.client import OceaneClient
    from oceane_ticket.oceane.errors import OceaneError

    client = OceaneClient(settings)
    try:
        token = client.fetch_token()
    except OceaneError as exc:
        if args.json:
            print_json(
                {
                    "ok": False,
                    "token_url": settings.effective_token_url,
                    "http_error_code": exc.http_status,
                    "app_error_code": exc.code,
                    "error_message": exc.message,
                    "error_description": exc.description,
                }
            )
        else:
            print(f"authentication FAILED at {settings.effective_token_url}: {exc}")
        return PROBLEM
    finally:
        client.close()
    expires = datetime.fromtimestamp(token.expires_at).astimezone()
    result = {
        "ok": True,
        "token_url": settings.effective_token_url,
        "client_id": settings.client_id,
        "expires_in": round(token.expires_at - time.time()),
        "expires_at": expires.isoformat(timespec="seconds"),
    }
    if args.json:
        print_json(result)
    else:
        print(
            f"authenticated as {settings.client_id} at {settings.effective_token_url}; "
            f"token valid for {result['expires_in']} s (until {result['expires_at']})"
        )
    return OK
