"""``oceane-ticket flower``: the debug page (:mod:`worker.flower`), with authentication enforced.

The options are parsed here; :func:`worker.flower.run` applies the access rules and starts Flower.
``worker`` is imported only when the command runs: importing it loads Celery, which ``create``
must never pay for.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cli.common import Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

AUTH_ENV = "FLOWER_BASIC_AUTH"  # Flower's own variable (worker.flower.AUTH_ENV)
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 5555


def register(add: Add) -> None:
    """Add ``flower``."""
    parser = add("flower", run, "the debug page (Flower), with authentication")
    parser.description = (
        "Serve Flower, the debug page: ticket jobs with their state and arguments, workers, and the "
        f"queue length. Off loopback it requires Flower's basic auth, {AUTH_ENV}=user:password "
        "(read from the environment or the .env file)."
    )
    parser.add_argument(
        "--address", default=DEFAULT_ADDRESS, help=f"listen address (default {DEFAULT_ADDRESS}; others need {AUTH_ENV})"
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"listen port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--allow-control",
        action="store_true",
        help="let Flower revoke tasks and control workers (read-only by default)",
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, not {value}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve Flower until stopped; 2 when the access rules refuse (the reason on stderr)."""
    from worker import flower

    return flower.run(args, settings)


def flower_command(
    settings: Settings, address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT
) -> tuple[list[str], dict[str, str]]:
    """The command that serves the debug page and the environment it needs, for ``make run``.

    The command runs ``oceane-ticket flower`` (refusal rules, readable arguments) in a fresh
    interpreter; start it with ``os.environ | env``. ``env`` carries ``settings`` as ``OCEANE_*``
    variables and, when the ``.env`` file holds one, ``FLOWER_BASIC_AUTH`` (needed for a
    non-loopback ``address``). The child exits with 2 when it refuses to start.
    """
    from worker.flower import read_basic_auth

    env = settings.as_env()
    basic_auth = read_basic_auth()
    if basic_auth is not None:
        env[AUTH_ENV] = basic_auth
    cmd = [sys.executable, "-m", "cli.main", "flower", "--address", address, "--port", str(port)]
    return cmd, env
