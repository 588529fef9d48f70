"""The create-ticket body (oceane-api.md §3), built from a recorded request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oceane_ticket.request import format_time


def ticket_payload(row: Mapping[str, Any] | object) -> dict[str, Any]:
    """The TMF621 body for a ``tickets`` row (a dict or a model: anything with its column names)."""

    def get(name: str) -> Any:
        return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)

    characteristic = [
        {"name": "urgency", "value": get("urgency")},
        {"name": "technicalImpact", "value": get("technical_impact")},
    ]
    if get("client_impact"):
        characteristic.append({"name": "clientImpact", "value": get("client_impact")})
    if get("alarm_value"):
        characteristic.append({"name": "alarmValue", "value": get("alarm_value")})
    root_time = get("root_time")
    if isinstance(root_time, datetime):
        characteristic.append({"name": "rootTime", "value": format_time(root_time)})
    dma, element = get("dma_id"), get("element_id")
    return {
        "externalId": f"{dma}/{element}/{get('alarm_id')}",
        "ticketType": "incident",
        "description": get("root_cause"),
        "priority": str(get("priority")),
        # TMF621 requires a severity; the Technical Impact is the closest field of the form.
        "severity": get("technical_impact"),
        "characteristic": characteristic,
        "relatedParty": [{"id": get("oceane_user_id"), "role": "reporter", "@referredType": "Individual"}],
        "relatedEntity": [
            {
                "id": f"{dma}/{element}",
                "name": get("element_name"),
                "role": "impactedResource",
                "@referredType": "Resource",
            }
        ],
    }
