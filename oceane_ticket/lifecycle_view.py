"""What ``status`` and the metrics show of the ticket's life after the click: alarm events by state.

Read at call time from the database (the alarm_events table), like the other debug values: no
worker needs to run for them to be right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from oceane_ticket.settings import Settings


def event_counts(settings: Settings) -> dict[str, int]:
    """Alarm events per state (every state present, 0 when none)."""
    from oceane_ticket.storage import alarm_events, db

    with db.get_engine(settings.database_url).connect() as conn:
        return alarm_events.count_by_state(conn)


def status_block(settings: Settings) -> dict[str, Any]:
    """The ``events`` block of ``status --json``; ``{"error": ...}`` when the database does not answer."""
    try:
        return {"counts": event_counts(settings)}
    except Exception as exc:
        return {"error": f"database unavailable: {type(exc).__name__}"}


class EventsCollector:
    """Scrape-time gauges: ``oceane_alarm_events{state}``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One reading; nothing when the database does not answer (QueueCollector reports that)."""
        try:
            counts = event_counts(self.settings)
        except Exception:
            return
        family = GaugeMetricFamily(
            "oceane_alarm_events", "Alarm events per state (pending: not yet applied)", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family
