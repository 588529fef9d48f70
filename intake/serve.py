"""``oceane-ticket serve``: run the HTTP intake under uvicorn.

Imports of FastAPI and uvicorn are deferred to :func:`run`: the console script builds every
subcommand's parser, and ``create`` must not pay for a web framework.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from oceane_ticket.settings import Settings

# Exit codes.
OK = 0
REFUSED = 2  # a configuration the command will not run with, like an invalid option
MIN_TOKEN_LENGTH = 16  # a bearer token short enough to guess is no credential


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``serve``."""
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (a name other than ``localhost`` counts as remote)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_access(host: str, token: str) -> str | None:
    """Why ``serve`` must not start with this address and token(s), or None when it may."""
    from intake.guard import parse_tokens

    for index, one in enumerate(parse_tokens(token), start=1):
        if len(one) < MIN_TOKEN_LENGTH:
            return (
                f"OCEANE_INTAKE_TOKEN's token {index} is too short ({len(one)} characters); "
                f"use at least {MIN_TOKEN_LENGTH}"
            )
    if not token.strip() and not is_loopback(host):
        return (
            f"refusing to listen on {host} without OCEANE_INTAKE_TOKEN: every request off loopback needs a "
            "credential; set OCEANE_INTAKE_TOKEN (e.g. `openssl rand -hex 32`) or use --host 127.0.0.1"
        )
    return None


def check_tls(certfile: str | None, keyfile: str | None) -> str | None:
    """Why the HTTPS options cannot be used, or None (both given and readable, or neither)."""
    if bool(certfile) != bool(keyfile):
        return "--ssl-certfile and --ssl-keyfile go together (the certificate and its private key)"
    for option, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if path:
            try:
                with open(path, "rb") as handle:
                    handle.read(1)
            except OSError as exc:
                return f"{option}: cannot read {path!r} ({exc.strerror or type(exc).__name__})"
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    token = settings.intake_token.get_secret_value()
    certfile, keyfile = getattr(args, "ssl_certfile", None), getattr(args, "ssl_keyfile", None)
    problem = check_access(args.host, token) or check_tls(certfile, keyfile)
    if problem:
        print(f"oceane-ticket: serve: {problem}", file=sys.stderr)
        return REFUSED
    import uvicorn

    from intake.app import create_app

    if not token:
        print(
            "oceane-ticket: serve: no OCEANE_INTAKE_TOKEN: serving loopback clients without a credential",
            file=sys.stderr,
        )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        # The access log prints the request line and status only, never headers: the token stays out.
        access_log=True,
        log_level="info",
        server_header=False,
        # On SIGTERM, requests still waiting for their ticket (read-only) get this long, then go;
        # a request being recorded takes milliseconds.
        timeout_graceful_shutdown=10,
        # The client address is the peer's own: the no-token mode trusts loopback peers only, so a
        # forwarded-for header must not stand in for it.
        proxy_headers=False,
        # HTTPS in the intake itself, for a deployment without a TLS-terminating proxy in front.
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    return OK
