"""Running the HTTP intake under uvicorn, and who it may serve (the command is :mod:`cli.serve`).

Imports of FastAPI and uvicorn are deferred to :func:`serve`: the console script builds every
subcommand's parser, and ``create`` must not pay for a web framework.
"""

from __future__ import annotations

from oceane_ticket.loopback import is_loopback
from oceane_ticket.settings import Settings

MIN_TOKEN_LENGTH = 16  # a bearer token short enough to guess is no credential


def token_problem(token: str) -> str | None:
    """Why ``OCEANE_INTAKE_TOKEN`` is no credential (a bad setting), or None when it is one (or unset).

    It may hold several tokens (separated by commas or spaces, while rotating): each must be one.
    """
    from intake.guard import parse_tokens

    tokens = parse_tokens(token)
    for index, one in enumerate(tokens, start=1):
        if len(one) < MIN_TOKEN_LENGTH:
            which = "" if len(tokens) == 1 else f"'s token {index}"
            return f"OCEANE_INTAKE_TOKEN{which} is too short ({len(one)} characters); use at least {MIN_TOKEN_LENGTH}"
    return None


def check_access(host: str, token: str) -> str | None:
    """Why ``serve`` must not start with this address and token, or None when it may."""
    problem = token_problem(token)
    if problem:
        return problem
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


def serve(settings: Settings, host: str, port: int, certfile: str | None = None, keyfile: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM (the caller has checked :func:`check_access` and :func:`check_tls`)."""
    import uvicorn

    from intake.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
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
