"""Every Redis client and broker goes through ``oceane_ticket.connections``, so Sentinel reaches all of them.

A client built from ``settings.redis_url`` by hand would keep talking to whatever host the URL names
(under Sentinel: none) and never follow a failover.
"""

from __future__ import annotations

import re

from tests.policy.test_layout import modules

BY_HAND = re.compile(r"redis_client\(settings\.redis_url|Redis\.from_url\(|broker=settings\.redis_url")


def test_no_redis_client_or_broker_is_built_beside_connections() -> None:
    offenders = [
        name
        for name, path in modules().items()
        if name != "oceane_ticket.connections" and BY_HAND.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"build Redis clients with connections.redis_client(settings, ...): {offenders}"
