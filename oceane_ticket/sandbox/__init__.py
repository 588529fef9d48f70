"""A fake Oceane server for the demo and the tests; see :mod:`oceane_ticket.sandbox.server`.

The names below load on first use, so that importing the package (``oceane-ticket sandbox``'s parser) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oceane_ticket.sandbox.faults import FaultSpecError
    from oceane_ticket.sandbox.server import Sandbox, SandboxConfig

__all__ = ["FaultSpecError", "Sandbox", "SandboxConfig"]

_HOMES = {"FaultSpecError": "faults", "Sandbox": "server", "SandboxConfig": "server"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
