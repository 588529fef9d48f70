"""``oceane-ticket serve``: the HTTP intake DataMiner's Automation scripts call (:mod:`intake`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cli.common import BAD_SETTING, OK, USAGE, Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``serve`` with the intake's options."""
    parser = add("serve", run, "the HTTP intake for DataMiner's Automation scripts")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback; any other needs OCEANE_INTAKE_TOKEN)",
    )
    parser.add_argument("--port", type=_port, default=8080, help="TCP port (default 8080)")
    parser.add_argument(
        "--ssl-certfile",
        metavar="PEM",
        help="serve HTTPS with this certificate (chain) file; needs --ssl-keyfile",
    )
    parser.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key (HTTPS)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, got {text!r}")
    return port


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    from intake import serve

    token = settings.intake_token.get_secret_value()
    # A token too short to be a credential is a bad setting (78, like every other), whatever the
    # address; listening off loopback without one is a refused option (2): --host is what to change.
    problem = serve.token_problem(token)
    if problem:
        print(f"oceane-ticket: serve: {problem}", file=sys.stderr)
        return BAD_SETTING
    problem = serve.check_access(args.host, token) or serve.check_tls(args.ssl_certfile, args.ssl_keyfile)
    if problem:
        print(f"oceane-ticket: serve: {problem}", file=sys.stderr)
        return USAGE
    if not token:
        print(
            "oceane-ticket: serve: no OCEANE_INTAKE_TOKEN: serving loopback clients without a credential",
            file=sys.stderr,
        )
    serve.serve(settings, args.host, args.port, args.ssl_certfile, args.ssl_keyfile)
    return OK
