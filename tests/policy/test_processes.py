"""The service's processes are started from one place (``oceane_ticket.processes``): the demo, the
tests and the benchmarks build the ``redis-server``, ``celery worker`` and ``celery beat`` command
lines there, so a flag changed for one is changed for all."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

HOME = ROOT / "oceane_ticket" / "processes.py"
# What only a command line that starts one of them for good spells out (its options, in a list).
STARTS = re.compile(r'"--appendonly",|"--without-mingle"|"--pidfile",|"beat",\s*"-l"|\["-B",')


def test_redis_server_and_celery_are_started_from_one_module() -> None:
    sources = [p for d in ("oceane_ticket", "producer", "worker", "intake", "cli", "tests", "bench", "scripts")
               for p in (ROOT / d).rglob("*.py")]  # fmt: skip
    found = sorted(str(p.relative_to(ROOT)) for p in sources if STARTS.search(p.read_text()))
    assert found == [str(HOME.relative_to(ROOT)), str(Path(__file__).relative_to(ROOT))]
