"""``make faults``: run the whole fault matrix and print its table.

Runs every scenario of tests/faults (the ``slow``-marked ones included) plus the unit-level
lock, processing and bad-input suites, against the real Redis, PostgreSQL, worker processes and
the sandbox. Each scenario's ledger writes one JSON row (scenario, requests accepted, Oceane
tickets created, duplicates, lost, failed as expected); this prints them as one aligned table and
exits non-zero if any test failed or any row shows a duplicate or a lost request.

Every scenario runs under both lock scopes (OCEANE_LOCK_SCOPE ``global``, then ``alarm``:
exactly-once must hold for each alarm under either), the scope in the table's ``lock`` column.

Usage: ``python -m tests.faults.matrix [pytest arguments]``, e.g. ``-k crash``, ``-x`` or
``--lock-scopes alarm`` (one scope only).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from tests.faults.ledger import REPORT_ENV

ROOT = Path(__file__).resolve().parents[2]
# Each module with the short id of its row in the table (ids kept stable so tables compare across runs).
SCENARIOS = {
    "tests/faults/test_concurrency.py": "1",  # many callers for one alarm: one ticket; what the lock lets through
    "tests/faults/test_timeout_safe.py": "2",  # a create that may have reached Oceane is never blindly repeated
    "tests/faults/test_crashes.py": "3",  # a worker SIGKILLed at each step completes the request once
    "tests/faults/test_redis_restart.py": "4",  # Redis restarted empty: every accepted request completes
    "tests/faults/test_database_outage.py": "5",  # PostgreSQL down: nothing lost, nothing failed for it
    "tests/faults/test_lock_fencing.py": "6",  # a holder that outlived its lock cannot commit a second ticket
    "tests/faults/test_oceane_answers.py": "7",  # each Oceane answer, end to end through a real worker
    "tests/faults/test_bad_input_cli.py": "8",  # bad input through the console script: exit 2, nothing stored
    "tests/faults/test_garbage.py": "8",  # bad input, the services' side: worker and sandbox survive garbage
    "tests/faults/test_secrets.py": "9",  # the client secret and tokens appear nowhere they should not
    "tests/faults/test_shutdown.py": "10",  # SIGTERM: the ticket in flight finishes or is handed back
    "tests/faults/test_foreign_server.py": "i10",  # a trouble-ticket server that is not Oceane
    "tests/faults/test_crash_resume.py": "11.4",  # a crashed worker's request resumes within 30 s
    "tests/faults/test_dialects.py": "i16",  # the wire dialects: oceane, TMF621 v4 and v5
    "tests/faults/test_failover.py": "i19",  # Redis (Sentinel) and PostgreSQL failovers
    "tests/faults/test_lifecycle.py": "i18",  # alarm events applied once each (notes, resolves)
    "tests/faults/test_rule_cap.py": "i18",  # the rule cap's release killed between marking and sending
    "tests/faults/test_two_locks.py": "i20",  # the record outside the global lock, inside the alarm's
}
UNITS = {
    "tests/unit/test_lock.py": "6",
    "tests/unit/test_processing.py": "2-7",
    "tests/unit/test_bad_input.py": "8",
}
UNIT_TITLES = {
    "tests/unit/test_lock.py": "lock semantics, global and alarm keys (unit: fakeredis + Lua)",
    "tests/unit/test_processing.py": "processing: adopt, retry, fence, both scopes (unit: SQLite, fake Oceane)",
    "tests/unit/test_bad_input.py": "bad input to the producer (unit: table + hypothesis)",
}


class Outcomes:
    """A pytest plugin that remembers each test's outcome and duration."""

    def __init__(self) -> None:
        self.outcome: dict[str, str] = {}
        self.seconds: dict[str, float] = defaultdict(float)
        self.scope: dict[str, str] = {}

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Remember each test's lock scope (the ``lock_scope`` parameter of tests/faults/conftest.py)."""
        callspec = getattr(item, "callspec", None)
        self.scope[item.nodeid] = str(callspec.params.get("lock_scope", "")) if callspec else ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record a phase's result; a failed setup or teardown fails the test."""
        self.seconds[report.nodeid] += report.duration
        counts = report.when == "call" or report.outcome != "passed"
        if counts and self.outcome.get(report.nodeid) != "failed":
            self.outcome[report.nodeid] = report.outcome


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    # A scenario may settle in stages (finish() more than once): its last row is its result.
    rows: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["test"]] = row
    return rows


def _mark(outcome: str) -> str:
    return {"passed": "[green]passed[/]", "failed": "[bold red]FAILED[/]", "skipped": "[yellow]skipped[/]"}.get(
        outcome, outcome
    )


def build_table(rows: dict[str, dict[str, Any]], outcomes: Outcomes) -> tuple[Table, bool]:
    """The matrix table and whether every scenario is clean (passed, 0 duplicates, 0 lost)."""
    table = Table(title="Fault matrix", header_style="bold", show_lines=False)
    for name, justify in (
        ("#", "right"),
        ("lock", "left"),
        ("scenario", "left"),
        ("accepted", "right"),
        ("tickets", "right"),
        ("duplicates", "right"),
        ("lost", "right"),
        ("failed as expected", "right"),
        ("time s", "right"),
        ("result", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True, min_width=len(name))  # type: ignore[arg-type]
    clean = True
    for nodeid, outcome in outcomes.outcome.items():
        module = nodeid.split("::", 1)[0]
        if not module.startswith("tests/faults/"):
            continue
        item = SCENARIOS.get(module, "?")
        row = rows.get(nodeid)
        clean &= outcome != "failed"
        scope = outcomes.scope.get(nodeid, "")
        if row is None:  # failed (or skipped) before its ledger settled
            table.add_row(
                item,
                scope,
                nodeid.split("::", 1)[1],
                "-",
                "-",
                "-",
                "-",
                "-",
                f"{outcomes.seconds[nodeid]:.1f}",
                _mark(outcome),
            )
            continue
        clean &= row["duplicates"] == 0 and row["lost"] == 0 and row["failed_expected"] == row["failed_total"]
        failed = f"{row['failed_expected']}/{row['failed_total']}" if row["failed_total"] else "-"
        table.add_row(
            item,
            row.get("lock_scope", scope),
            row["scenario"],
            str(row["accepted"]),
            str(row["tickets"]),
            _count(row["duplicates"]),
            _count(row["lost"]),
            failed,
            f"{outcomes.seconds[nodeid]:.1f}",
            _mark(outcome),
        )
    for suite, title in UNIT_TITLES.items():
        item = UNITS[suite]
        tests = [n for n in outcomes.outcome if n.startswith(suite + "::")]
        if not tests:
            continue
        passed = sum(outcomes.outcome[n] == "passed" for n in tests)
        failed = sum(outcomes.outcome[n] == "failed" for n in tests)
        clean &= failed == 0
        seconds = sum(outcomes.seconds[n] for n in tests)
        result = _mark("failed" if failed else "passed") + f" {passed}/{len(tests)}"
        table.add_row(item, "", title, "-", "-", "-", "-", "-", f"{seconds:.1f}", result)
    return table, clean


def scope_totals(rows: dict[str, dict[str, Any]], outcomes: Outcomes) -> list[str]:
    """One line per lock scope: its scenarios, their outcomes, time, duplicates and lost requests."""
    lines = []
    for scope in dict.fromkeys(outcomes.scope[n] for n in outcomes.outcome if n.startswith("tests/faults/")):
        tests = [n for n in outcomes.outcome if n.startswith("tests/faults/") and outcomes.scope.get(n) == scope]
        counted = Counter(outcomes.outcome[n] for n in tests)
        settled = [rows[n] for n in tests if n in rows]
        lines.append(
            f"lock scope {scope or '-'}: {len(tests)} scenarios ("
            + ", ".join(f"{counted[k]} {k}" for k in ("passed", "failed", "skipped") if counted[k])
            + f"), {sum(outcomes.seconds[n] for n in tests):.0f} s, "
            f"{sum(r['duplicates'] for r in settled)} duplicates, {sum(r['lost'] for r in settled)} lost"
        )
    return lines


def _count(value: int) -> str:
    return str(value) if value == 0 else f"[bold red]{value}[/]"


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; returns the process exit code."""
    extra = list(sys.argv[1:] if argv is None else argv)
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="oceane-faults-") as tmp:
        report = Path(tmp) / "rows.jsonl"
        os.environ[REPORT_ENV] = str(report)
        outcomes = Outcomes()
        started = time.monotonic()
        suites = [*SCENARIOS, *UNITS]
        scopes = [] if any(a.startswith("--lock-scopes") for a in extra) else ["--lock-scopes", "global,alarm"]
        code = pytest.main([*suites, "-p", "no:cacheprovider", "-q", *scopes, *extra], plugins=[outcomes])
        elapsed = time.monotonic() - started
        rows = _rows(report)
        table, clean = build_table(rows, outcomes)
    # Piped or captured output would otherwise wrap the table at 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 220)
    console.print()
    console.print(table)
    scenarios = sum(1 for n in outcomes.outcome if n.startswith("tests/faults/"))
    for line in scope_totals(rows, outcomes):
        console.print(line)
    console.print(f"{scenarios} scenarios, {len(outcomes.outcome)} tests, whole matrix {elapsed:.0f} s wall time")
    if not clean:
        console.print("[bold red]the fault matrix is not clean[/]")
    return int(code) or (0 if clean else 1)


if __name__ == "__main__":
    sys.exit(main())
