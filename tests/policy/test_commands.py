"""Every command is parsed in ``cli/``: the producer, the worker, the intake and the library keep
their functions, and ``cli/<noun>.py`` turns a command line into a call of them."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PACKAGES = ("oceane_ticket", "producer", "worker", "intake")
PARSES = re.compile(r"\bArgumentParser\(|\.add_argument\(|\.add_subparsers\(")
# Command lines that are not oceane-ticket's, or not yet in cli/: each with why.
ELSEWHERE = {
    # `oceane-ticket sandbox`'s options, on their way to cli/sandbox.py.
    "oceane_ticket/sandbox/cli.py",
}


def test_no_command_is_parsed_outside_cli() -> None:
    found = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if PARSES.search(path.read_text())
    }
    assert found - ELSEWHERE == set()
