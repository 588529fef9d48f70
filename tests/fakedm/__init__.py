"""A fake DataMiner Agent (User-Defined API and Web Services v1) for tests; see :mod:`.server`."""

from __future__ import annotations

from tests.fakedm.server import Call, FakeDataMiner

__all__ = ["Call", "FakeDataMiner"]
