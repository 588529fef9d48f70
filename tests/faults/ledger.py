"""The ledger of one fault scenario: what it accepted and expects, checked at the end against the
database and the sandbox (tickets, duplicates, losses), written as one row of the matrix table.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.faults.kit import PATIENCE

# The runner (tests/faults/matrix.py) sets this; each scenario appends one JSON row to the file.
REPORT_ENV = "OCEANE_FAULTS_REPORT"


def ticket_external_id(ticket: dict[str, Any]) -> str | None:
    """The alarm a sandbox ticket is for, in any dialect: ``externalId``, or v5's ``externalIdentifier`` of ours."""
    if isinstance(ticket.get("externalId"), str):
        return str(ticket["externalId"])
    for entry in ticket.get("externalIdentifier") or []:
        if isinstance(entry, dict) and entry.get("owner") in (None, "DataMiner") and isinstance(entry.get("id"), str):
            return str(entry["id"])
    return None


@dataclass
class Row:
    """One line of the matrix table."""

    scenario: str
    accepted: int
    tickets: int
    duplicates: int
    lost: int
    failed_expected: int
    failed_total: int
    notes: str = ""
    test: str = ""
    seconds: float = 0.0
    lock_scope: str = "global"


@dataclass
class Ledger:
    """What a scenario accepted and expects, checked against the database and the sandbox at the end.

    * accepted: producer calls that returned success (exit 0), one per caller;
    * tickets: tickets the sandbox (Oceane) holds for the scenario;
    * duplicates: tickets beyond one per alarm, plus creates Oceane refused with 409 that the
      scenario did not provoke (a blind re-create that only the sandbox's assumed 409 stopped);
    * lost: accepted requests that did not end as expected (created, or failed when failure is the
      scenario's point) or vanished;
    * failed as expected: requests expected to fail that ended failed with the four error columns
      filled.
    """

    name: str
    database_url: str
    sandbox: Any
    report_path: str | None
    nodeid: str
    expected: dict[str, str] = field(default_factory=dict)  # instance -> "created" | "failed"
    callers: int = 0
    expected_conflicts: int = 0
    notes: str = ""
    lock_scope: str = "global"
    started: float = field(default_factory=time.monotonic)
    row: Row | None = None

    def accept(self, status: Any, expect: str = "created") -> str:
        """Record one accepted producer answer (a TicketStatus or the CLI's JSON dict)."""
        instance = status["instance"] if isinstance(status, dict) else status.instance
        self.callers += 1
        previous = self.expected.setdefault(instance, expect)
        assert previous == expect, f"{instance} expected both {previous} and {expect}"
        return str(instance)

    @property
    def create_conflicts(self) -> int:
        """Creates Oceane refused with 409 (an open ticket had the externalId), from the sandbox's state.

        Each would have been a duplicate where Oceane does not refuse.
        """
        return int(self.sandbox.state()["create_conflicts"])

    def rows(self) -> dict[str, dict[str, Any]]:
        """The scenario's requests as they stand in the database."""
        from sqlalchemy import text

        from oceane_ticket.storage import db

        with db.get_engine(self.database_url).connect() as conn:
            result = conn.execute(text("SELECT * FROM tickets"))
            return {r["instance"]: dict(r) for r in result.mappings()}

    def failures(self) -> list[dict[str, Any]]:
        """Every failed_ticket_requests row."""
        from sqlalchemy import text

        from oceane_ticket.storage import db

        with db.get_engine(self.database_url).connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM failed_ticket_requests ORDER BY id")).mappings()]

    def settled(self) -> bool:
        """Whether every accepted request is created or failed."""
        rows = self.rows()
        return all(rows.get(i, {}).get("status") in ("created", "failed") for i in self.expected)

    def finish(self, timeout: float = 60.0, check: bool = True) -> Row:
        """Wait until every accepted request is final, count, record, then assert.

        The wait lasts ``timeout`` seconds, but never less than :data:`PATIENCE`: it is a deadline
        for a state, not a claim about speed, and a loaded machine is slow.
        """
        deadline = time.monotonic() + max(timeout, PATIENCE)
        while not self.settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = self.rows()
        tickets = self.sandbox.tickets
        per_alarm = Counter(ticket_external_id(t) for t in tickets)
        created_rows = Counter(
            f"{r['dma_id']}/{r['element_id']}/{r['alarm_id']}" for r in rows.values() if r["status"] == "created"
        )
        duplicates = sum(n - 1 for n in per_alarm.values() if n > 1)
        duplicates += sum(n - 1 for n in created_rows.values() if n > 1)
        counters = {k: v for k, v in self.sandbox.state().items() if k not in ("tickets", "faults")}
        duplicates += max(0, counters["create_conflicts"] - self.expected_conflicts)
        failures = self.failures()
        lost = 0
        failed_expected = 0
        for instance, expect in self.expected.items():
            row = rows.get(instance)
            if row is None or row["status"] != expect:
                lost += 1
                continue
            if expect == "created":
                ticket = next((t for t in tickets if t["id"] == row["ticket_id"]), None)
                external = f"{row['dma_id']}/{row['element_id']}/{row['alarm_id']}"
                if ticket is None or ticket_external_id(ticket) != external:
                    lost += 1  # the row points at no Oceane ticket of its alarm
            else:
                final = [f for f in failures if f["instance"] == instance and f["final"]]
                if len(final) == 1 and all(_filled(final[0], c) for c in _ERROR_COLUMNS):
                    failed_expected += 1
        self.row = Row(
            scenario=self.name,
            accepted=self.callers,
            tickets=len(tickets),
            duplicates=duplicates,
            lost=lost,
            failed_expected=failed_expected,
            failed_total=sum(1 for e in self.expected.values() if e == "failed"),
            notes=self.notes,
            test=self.nodeid,
            seconds=round(time.monotonic() - self.started, 1),
            lock_scope=self.lock_scope,
        )
        if self.report_path:
            with open(self.report_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(self.row.__dict__) + "\n")
        if check:
            assert self.row.duplicates == 0, f"{self.name}: {self.row}\n{counters}"
            assert self.row.lost == 0, f"{self.name}: {self.row}\nrows: {rows}"
            assert self.row.failed_expected == self.row.failed_total, f"{self.name}: {self.row}\n{failures}"
        return self.row


_ERROR_COLUMNS = ("http_error_code", "app_error_code", "error_message", "error_description")


def _filled(row: dict[str, Any], column: str) -> bool:
    # A transport failure has no HTTP answer and no app code: 0 and "" are the documented values there.
    value = row.get(column)
    if column == "app_error_code":
        return isinstance(value, str)
    return value is not None and (not isinstance(value, str) or bool(value.strip()))
