"""The producer: validate the operator's request, record it, enqueue its job. Fast to import."""

from oceane_ticket.request import InputError
from producer.core import Producer, TicketStatus, Unavailable, create_ticket, lookup, submit, validate

__all__ = ["InputError", "Producer", "TicketStatus", "Unavailable", "create_ticket", "lookup", "submit", "validate"]
