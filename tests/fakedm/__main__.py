"""``python -m tests.fakedm --port 8091``: a fake DataMiner for manual runs (Ctrl-C stops)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from tests.fakedm.server import DEFAULT_ROUTE, FakeDataMiner


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; credentials come from flags or FAKEDM_* variables, never printed."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakedm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8091, help="port (0 picks a free one)")
    parser.add_argument("--route", default=DEFAULT_ROUTE, help="User-Defined API route after /api/custom/")
    parser.add_argument(
        "--token", default=os.environ.get("FAKEDM_TOKEN", "fake-udapi-token"), help="UDAPI bearer token"
    )
    parser.add_argument("--user", default=os.environ.get("FAKEDM_USER", "oceane"), help="Web Services login")
    parser.add_argument(
        "--password", default=os.environ.get("FAKEDM_PASSWORD", "fake-password"), help="Web Services password"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="UDAPI requests per minute before 429 RateLimitExceeded (DataMiner 10.6.9+: 60; default: no limit)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: expected 0..65535, got {args.port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server = FakeDataMiner(
            args.host,
            args.port,
            token=args.token,
            user=args.user,
            password=args.password,
            route=args.route,
            rate_limit=args.rate_limit,
        ).start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"fake DataMiner on {server.url} (UDAPI route /api/custom/{server.route}, Web Services /API/v1/Json.asmx)")
    sys.stdout.flush()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
