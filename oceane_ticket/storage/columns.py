"""The connector's two tables, as the snake_case column names our reports and ``--json`` use.

Plain tuples (no SQLAlchemy), so the producer's fast path can share them.
"""

# Instance, Ticket ID, Alarm ID, DataMiner ID, Element ID, Element Name, Created At, Priority,
# Urgency, Technical Impact, Client Impact, Root Cause, Status, and the ticket's link.
TICKETS_TABLE = (
    "instance",
    "ticket_id",
    "alarm_id",
    "dma_id",
    "element_id",
    "element_name",
    "created_at",
    "priority",
    "urgency",
    "technical_impact",
    "client_impact",
    "root_cause",
    "status",
    "ticket_url",
)

# Instance, Ticket ID, HTTP Error Code, App Error Code, Error Message, Error Description, and when.
FAILED_TICKET_REQUESTS_TABLE = (
    "instance",
    "ticket_id",
    "http_error_code",
    "app_error_code",
    "error_message",
    "error_description",
    "failed_at",
    "attempt",
)

# The Tickets table as the commands and the intake's GQI tables report it: the connector's columns,
# then ours (where the ticket's write-back and Oceane status stand).
TICKET_REPORT_COLUMNS = (*TICKETS_TABLE, "writeback_state", "oceane_status")
