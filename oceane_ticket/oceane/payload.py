"""The create-ticket body (docs/oceane-api.md §3), built from a recorded request."""

from __future__ import annotations

from typing import Any

from oceane_ticket.request import TicketRequest, format_time


def ticket_payload(request: TicketRequest) -> dict[str, Any]:
    """The TMF621 body for a recorded request (``TicketRequest.from_row`` reads one from a row)."""

    def get(name: str) -> Any:
        return getattr(request, name)

    characteristic = [
        {"name": "urgency", "value": get("urgency")},
        {"name": "technicalImpact", "value": get("technical_impact")},
    ]
    if get("client_impact"):
        characteristic.append({"name": "clientImpact", "value": get("client_impact")})
    if get("alarm_value"):
        characteristic.append({"name": "alarmValue", "value": get("alarm_value")})
    root_time = get("root_time")
    if root_time is not None:
        characteristic.append({"name": "rootTime", "value": format_time(root_time)})
    dma, element = get("dma_id"), get("element_id")
    return {
        "externalId": request.external_id,
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
