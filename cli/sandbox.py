"""``oceane-ticket sandbox``: run the fake Oceane server (:mod:`oceane_ticket.sandbox`) until SIGINT or SIGTERM.

The server module is imported only by :func:`run`, so building the project's parser stays cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from cli.common import OK, PROBLEM, USAGE, Add
from oceane_ticket.loopback import is_loopback

if TYPE_CHECKING:
    from oceane_ticket.sandbox.server import SandboxConfig

DEFAULT_PORT = 8090
FAULT_GROUPS = ("token", "create", "find", "update", "hub", "all")
AFTER_CREATE_MODES = ("hang", "reset", "close", "garbage", "accept_no_body")
# Spelled here too (not imported from the sandbox) so that building the parser stays cheap.
DIALECTS = ("oceane", "tmf621-v4", "tmf621-v5")


def register(add: Add) -> None:
    """Add ``sandbox`` with the sandbox's own options (it needs no settings)."""
    configure_parser(add("sandbox", run, "serve the fake Oceane", needs_settings=False))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to ``parser``."""
    parser.description = "Run a fake Oceane server (token, trouble tickets, fault injection) for demos and tests."
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="oceane",
        help="API to speak: our Oceane contract (default) or TM Forum TMF621 v4 / v5, under its base path",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"listen port, 0 for any (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the control API has no auth)",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("OCEANE_CLIENT_ID") or "sandbox-client",
        help="accepted client id (default $OCEANE_CLIENT_ID or sandbox-client)",
    )
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("OCEANE_CLIENT_SECRET") or "sandbox-secret",
        help="accepted client secret (default $OCEANE_CLIENT_SECRET or sandbox-secret)",
    )
    faults = parser.add_argument_group("faults (also settable at run time through /_sandbox/faults)")
    faults.add_argument("--token-lifetime", type=int, default=3600, metavar="S", help="token lifetime in seconds")
    faults.add_argument("--expires-in-as-string", action="store_true", help='send expires_in as "3600"')
    faults.add_argument("--fault-group", choices=FAULT_GROUPS, default="all", help="group the options below hit")
    faults.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds added to each answer")
    faults.add_argument("--error-rate", type=float, default=0.0, metavar="R", help="0..1 share of random 500/503")
    faults.add_argument("--fail-status", type=int, metavar="N", help="force this HTTP status on every call")
    faults.add_argument("--fail-code", type=int, metavar="N", help="app code of the forced answer")
    faults.add_argument("--fail-count", type=int, metavar="N", help="force only the next N calls")
    faults.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After of a forced 429")
    faults.add_argument("--after-create", choices=AFTER_CREATE_MODES, help="misbehave after storing each ticket")
    faults.add_argument("--find-ignores-filter", action="store_true", help="list every ticket whatever the externalId")
    faults.add_argument("--find-ignores-offset", action="store_true", help="start every list page at the first ticket")
    faults.add_argument("--find-newest-first", action="store_true", help="list tickets newest first")
    faults.add_argument(
        "--no-duplicate-conflict",
        action="store_true",
        help="store a second ticket for an external id that has an open one, instead of answering 409",
    )
    faults.add_argument(
        "--accept-no-body", action="store_true", help="answer every create 202 Accepted with an empty body"
    )
    faults.add_argument(
        "--hand-made-tickets",
        type=int,
        default=0,
        metavar="N",
        help="start with N tickets opened by hand (no externalId)",
    )


def run(args: argparse.Namespace, settings: Any = None) -> int:
    """Serve until SIGINT or SIGTERM (``settings`` is unused: the sandbox needs none).

    Returns:
        0 after a clean stop, 1 if the port cannot be bound, 2 for invalid options.
    """
    problem = _check_options(args)
    if problem:
        print(f"oceane-ticket sandbox: {problem}", file=sys.stderr)
        return USAGE
    from oceane_ticket.sandbox.server import Sandbox

    if not logging.getLogger().handlers:  # the request log is the sandbox's main output
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        sandbox = Sandbox(args.host, args.port, args.client_id, args.client_secret, _config(args), args.dialect)
    except ValueError as exc:
        print(f"oceane-ticket sandbox: {exc}", file=sys.stderr)
        return USAGE
    with _stop_on_signals() as stop:  # handlers first: a signal right after start must not kill us
        try:
            sandbox.start()
        except OSError as exc:
            print(f"oceane-ticket sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return PROBLEM
        try:
            print(
                f"Oceane sandbox ({args.dialect}) on {sandbox.base_url} (client id {args.client_id!r}; "
                f"token at {sandbox.token_url}); Ctrl-C stops it",
                flush=True,
            )
            # A timeout keeps the main thread waking up, so the handler runs promptly everywhere.
            while not stop.wait(0.5):
                pass
        finally:
            sandbox.stop()
    return OK


def _check_options(args: argparse.Namespace) -> str | None:
    if not args.allow_remote and not is_loopback(args.host):
        return (
            f"refusing to listen on non-loopback address {args.host!r}: the control API has no "
            "authentication. Pass --allow-remote if you really mean it."
        )
    if args.fail_code is not None and args.fail_status is None:
        return "--fail-code needs --fail-status"
    if not 0 <= args.port <= 65535:
        return f"--port must be 0..65535, got {args.port}"
    if not 0 <= args.hand_made_tickets <= 10_000:
        return f"--hand-made-tickets must be 0..10000, got {args.hand_made_tickets}"
    return None


def _config(args: argparse.Namespace) -> SandboxConfig:
    from oceane_ticket.sandbox.server import SandboxConfig

    return SandboxConfig(
        token_lifetime=args.token_lifetime,
        expires_in_as_string=args.expires_in_as_string,
        retry_after=args.retry_after,
        fault_group=args.fault_group,
        latency=args.latency,
        error_rate=args.error_rate,
        fail_status=args.fail_status,
        fail_code=args.fail_code,
        fail_count=args.fail_count,
        after_create=args.after_create,
        find_ignores_filter=args.find_ignores_filter,
        find_ignores_offset=args.find_ignores_offset,
        find_newest_first=args.find_newest_first,
        conflict_on_duplicate=not args.no_duplicate_conflict,
        accept_no_body=args.accept_no_body,
        hand_made_tickets=args.hand_made_tickets,
    )


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
