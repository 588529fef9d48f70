"""What the sandbox's unit tests share: one sandbox per module, reset before each test, and a session with a token.

A module that needs another configuration (a seed, a dialect, a timeout) defines its own ``server``;
``sb`` and ``api`` then use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from oceane_ticket.sandbox.server import Sandbox


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    """The module's sandbox, default configuration, on a free loopback port."""
    from oceane_ticket.sandbox.server import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sb(server: Sandbox) -> Sandbox:
    """The module's sandbox with nothing left from the test before (tickets, tokens, faults, gates)."""
    server.reset()
    return server


@pytest.fixture
def api(sb: Sandbox) -> Iterator[requests.Session]:
    """A session that sends a valid access token and accepts JSON."""
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"})
        yield session
