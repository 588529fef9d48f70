"""``oceane-ticket metrics``: serve Prometheus metrics (see :mod:`oceane_ticket.metrics`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import OK, Add

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``metrics``."""
    p = add("metrics", run, "serve Prometheus metrics (workers' counters and the queue gauges)")
    p.add_argument("--port", type=int, default=9808)
    # Loopback by default: the exporter has no authentication of its own. Beyond this host, put it
    # behind a proxy that checks a credential (README, "Exposing Flower/metrics behind a proxy");
    # compose listens on its container's interfaces and publishes on the host's loopback only.
    p.add_argument("--address", default="127.0.0.1", help="listen address (default loopback)")
    p.add_argument("--once", action="store_true", help="print one scrape to standard output and exit")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket metrics [--port 9808] [--once]``: serve until stopped."""
    import signal
    import sys
    import threading

    from oceane_ticket import metrics

    if metrics.multiproc_dir() is None:
        print(
            f"oceane-ticket metrics: {metrics.MULTIPROC_ENV} is not set: serving only the queue gauges; the "
            "workers' counters need that directory, shared with them",
            file=sys.stderr,
        )
    if args.once:
        sys.stdout.write(metrics.render(settings).decode())
        return OK
    server = metrics.serve(settings, args.port, args.address)
    print(f"serving Prometheus metrics on http://{args.address}:{args.port}/metrics", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.shutdown()
    return OK
