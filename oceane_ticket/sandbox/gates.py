"""The sandbox's gates: hold a call where a test wants it, until the test lets it go.

A test thus stops a worker's call at a known step (a create received, a ticket stored and not yet
answered) and acts there, instead of racing an injected delay. Driven through the control API
(``/_sandbox/gates``); the store (:mod:`oceane_ticket.sandbox.state`) passes each call through.
"""

from __future__ import annotations

import threading

from oceane_ticket.sandbox.protocol import ApiError

# Where a test may hold a call: on arrival of a call of each group, or once a create (or an update)
# has stored its ticket and before it answers.
GATE_POINTS = ("token", "create", "find", "update", "hub", "after_create", "after_update")
# A held call gives up waiting after this long, so a test that forgot to open a gate cannot
# leave server threads behind forever.
GATE_HOLD_MAX = 600.0

GateInfo = dict[str, int | bool]


class _Gate:
    """A closed gate holds every call reaching its point until it is opened."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.waiting = 0
        self.passed = 0

    def info(self) -> GateInfo:
        return {"closed": not self.opened.is_set(), "waiting": self.waiting, "passed": self.passed}


class Gates:
    """Every gate used so far, behind their own lock; a held call waits outside it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = {}

    def close(self, point: str) -> GateInfo:
        """Hold every call reaching ``point`` (one of :data:`GATE_POINTS`) until :meth:`open`."""
        _check(point)
        with self._lock:
            gate = self._gates.get(point)
            if gate is None or gate.opened.is_set():
                gate = self._gates[point] = _Gate()
            return gate.info()

    def open(self, point: str) -> GateInfo:
        """Let the calls held at ``point`` go on, and hold no more there."""
        _check(point)
        with self._lock:
            gate = self._gates.setdefault(point, _Gate())
            gate.opened.set()
            return gate.info()

    def info(self) -> dict[str, GateInfo]:
        """Every gate used so far: ``{point: {"closed", "waiting", "passed"}}``."""
        with self._lock:
            return {point: gate.info() for point, gate in self._gates.items()}

    def hold(self, point: str) -> None:
        """Wait (outside the lock) while the gate at ``point`` is closed."""
        with self._lock:
            gate = self._gates.get(point)
            if gate is None or gate.opened.is_set():
                return
            gate.waiting += 1
        try:
            gate.opened.wait(GATE_HOLD_MAX)
        finally:
            with self._lock:
                gate.waiting -= 1
                gate.passed += 1

    def reset(self) -> None:
        """Forget every gate, letting any held call go."""
        with self._lock:
            gates, self._gates = self._gates, {}
        for gate in gates.values():
            gate.opened.set()


def _check(point: str) -> None:
    if point not in GATE_POINTS:
        raise ApiError(404, 60, f"No gate {point[:50]!r}; gates: {', '.join(GATE_POINTS)}.")
