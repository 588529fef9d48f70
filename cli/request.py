"""``oceane-ticket create`` and ``oceane-ticket lookup``: what the alarm hook script calls.

The parsing, the prompts and the printing live here; recording and enqueuing are
:mod:`producer.core`'s. At import time only the standard library and two of the library's modules that are
themselves standard-library only (``oceane_ticket.request``, ``oceane_ticket.statuses``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from cli.common import OK, PROBLEM, STILL_PENDING, TICKET_FAILED, UNAVAILABLE, USAGE, Add
from oceane_ticket.request import InputError, build_alarm, choose, clean_text, external_id, parse_alarm_params
from oceane_ticket.statuses import Status

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``create`` and ``lookup``."""
    configure_create(add("create", run_create, "queue a ticket for an alarm (the alarm hook script calls this)"))
    add_alarm_arguments(
        add("lookup", run_lookup, "show the alarm's ticket; exit 1 when it has none"), element_name=False
    )


DETAIL_FIELDS = (
    ("priority", "Priority", "priorities", True),
    ("urgency", "Urgency", "urgencies", True),
    ("technical_impact", "Technical Impact", "technical_impacts", True),
    ("client_impact", "Client Impact", "client_impacts", False),
)


def add_alarm_arguments(parser: argparse.ArgumentParser, *, element_name: bool = True) -> None:
    """The alarm, as the hyperlink's parameter string or as separate flags.

    ``element_name=False`` (``lookup``): the alarm is found by its ids alone, so the element name
    and the other descriptive flags are not offered.
    """
    group = parser.add_argument_group("alarm")
    group.add_argument(
        "--alarm",
        metavar="PARAMS",
        help="the hyperlink's parameters: 'DMA ID=..;Element ID=..;Alarm ID=..;Element Name=..;"
        "Alarm Value=..;Root Time=yyyy-MM-ddTHH:mm:ssZ'",
    )
    group.add_argument("--dma-id")
    group.add_argument("--element-id")
    group.add_argument("--alarm-id", help="the alarm's root key")
    if element_name:
        group.add_argument("--element-name")
        group.add_argument("--alarm-value")
        group.add_argument("--root-time", help="yyyy-MM-ddTHH:mm:ssZ")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def configure_create(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``create``."""
    add_alarm_arguments(parser)
    details = parser.add_argument_group("ticket details")
    details.add_argument("--priority")
    details.add_argument("--urgency")
    details.add_argument("--technical-impact")
    details.add_argument("--client-impact")
    details.add_argument("--description")
    details.add_argument("--user", help="the DataMiner user (mapped to an Oceane User ID)")
    # Checked by the producer like every field (exit 2 naming it), not by argparse's choices, so that
    # --json prints the same error object as for any other field.
    details.add_argument(
        "--origin",
        metavar="operator|rule",
        help="who asks: operator (default) or rule (a Correlation rule; held by OCEANE_AUTO_TICKETS_PER_MINUTE)",
    )
    parser.add_argument(
        "--wait", type=float, metavar="SECONDS", default=0.0, help="wait until the ticket is created or failed"
    )


# The alarm's fields as the hyperlink names them, asked in this order when a person runs `create`.
ALARM_FIELDS = (
    ("dma_id", "DMA ID", True),
    ("element_id", "Element ID", True),
    ("alarm_id", "Alarm ID", True),
    ("element_name", "Element Name", True),
    ("alarm_value", "Alarm Value", False),
    ("root_time", "Root Time (yyyy-MM-ddTHH:mm:ssZ)", False),
)
# Valid values for every required alarm field, so one answer is checked by the real validator alone.
_VALID_ALARM = {"dma_id": "1", "element_id": "1", "alarm_id": "1", "element_name": "-"}


def alarm_fields(args: argparse.Namespace, *, needs_name: bool = True) -> dict[str, Any]:
    """The raw alarm fields from ``--alarm`` and the flags (flags win); ``create`` at a terminal asks for the rest."""
    raw: dict[str, Any] = parse_alarm_params(args.alarm) if args.alarm else {}
    for name in ("dma_id", "element_id", "alarm_id", "element_name", "alarm_value", "root_time"):
        value = getattr(args, name, None)
        if value is not None:
            raw[name] = value
    if needs_name and sys.stdin.isatty():
        _prompt_alarm(raw)
    if not raw:
        flags = "--dma-id/--element-id/--alarm-id" + ("/--element-name" if needs_name else "")
        raise InputError("alarm", f"is required: give --alarm 'DMA ID=..;...' or {flags}")
    return raw


def _check_alarm_field(field: str, answer: str) -> None:
    build_alarm(_VALID_ALARM | {field: answer})


def _prompt_alarm(raw: dict[str, Any]) -> None:
    # Nothing given: the whole alarm is asked for. Part of it given: only what is still required.
    asking_all = not raw
    for field, label, required in ALARM_FIELDS:
        if field in raw or not (required or asking_all):
            continue
        suffix = "" if required else " (Enter to skip)"
        answer = _ask(field, label.split(" (")[0], f"{label}{suffix}: ", partial(_check_alarm_field, field))
        if answer is not None:
            raw[field] = answer


def _ask(field: str, name: str, prompt: str, check: Callable[[str], Any]) -> str | None:
    # Re-ask until the answer passes ``check``: a typo costs one line, not the whole form. The
    # answer itself goes on to the same validation as the flags, which also normalises it.
    while True:
        try:
            answer = input(prompt).strip()
        except EOFError:
            # Ctrl-D: the person is done typing. End the prompt's line; nothing is queued (exit 2).
            print(file=sys.stderr)
            raise InputError(field, "no answer (end of input); nothing was queued") from None
        try:
            check(answer)
        except InputError as exc:
            print(f"  {name} {exc.message}", file=sys.stderr)
            continue
        return answer or None


def _choice(name: str, allowed: Sequence[str], required: bool, answer: str) -> str | None:
    return choose(name, answer, allowed, required=required)


def _prompt_missing(details: dict[str, Any], settings: Settings) -> None:
    # The connector's dialog: only when a person is at the terminal.
    if not sys.stdin.isatty():
        return
    for name, label, allowed_attr, required in DETAIL_FIELDS:
        if details.get(name):
            continue
        allowed = getattr(settings, allowed_attr)
        suffix = "" if required else " (Enter to skip)"
        prompt = f"{label} [{'/'.join(allowed)}]{suffix}: "
        details[name] = _ask(name, label, prompt, partial(_choice, name, allowed, required))
    if details.get("description") is None:
        details["description"] = _ask(
            "description",
            "Description",
            "Description (Enter for a summary of the alarm): ",
            lambda answer: clean_text("description", answer, max_len=settings.description_max_length, multiline=True),
        )


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(text)


def _error(args: argparse.Namespace, code: int, message: str, **extra: Any) -> int:
    if args.json:
        print(json.dumps({"error": message, **extra}, ensure_ascii=False))
    print(f"oceane-ticket: {message}", file=sys.stderr)
    return code


def describe(status: Any) -> str:
    """One line (two when created: the URL alone on its own) saying where the request stands."""
    alarm = status.alarm
    where = f"alarm {external_id(alarm['dma_id'], alarm['element_id'], alarm['alarm_id'])} ({alarm['element_name']})"
    prefix = "existing request" if status.existing else "request"
    if status.status == Status.CREATED:
        return f"{prefix} {status.instance}: ticket {status.ticket_id} for {where}\n{status.ticket_url}"
    if status.status == Status.FAILED:
        return f"{prefix} {status.instance}: FAILED for {where}: {status.error or 'see oceane-ticket failed'}"
    return f"{prefix} {status.instance}: {status.status} for {where}"


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    """Validate, record, enqueue; optionally wait. Returns the exit code."""
    from producer import core

    if args.wait < 0:
        return _error(args, USAGE, "wait: must be 0 or more seconds", field="wait")
    try:
        raw_alarm = alarm_fields(args)
        details = {
            name: getattr(args, name)
            for name in ("priority", "urgency", "technical_impact", "client_impact", "description", "user", "origin")
        }
        _prompt_missing(details, settings)
        status = core.create_ticket(raw_alarm, wait=args.wait, settings=settings, **details)
    except InputError as exc:
        return _error(args, USAGE, str(exc), field=exc.field)
    except core.Unavailable as exc:
        return _error(args, UNAVAILABLE, str(exc), service=exc.service)
    _emit(args, status.as_dict(), describe(status))
    if args.wait and status.status == Status.FAILED:
        return TICKET_FAILED
    if args.wait and not status.final:
        alarm = status.alarm
        print(
            f"oceane-ticket: request {status.instance} still {status.status} after --wait {args.wait:g} s; "
            "the worker goes on with it, and `oceane-ticket lookup "
            f"--dma-id {alarm['dma_id']} --element-id {alarm['element_id']} --alarm-id {alarm['alarm_id']}` "
            "shows how it ends",
            file=sys.stderr,
        )
        return STILL_PENDING
    return OK


def run_lookup(args: argparse.Namespace, settings: Settings) -> int:
    """Print the alarm's ticket; exit 1 when it has none."""
    from producer import core

    try:
        raw = alarm_fields(args, needs_name=False)
        raw.setdefault("element_name", "-")  # not needed to find the alarm
        alarm = build_alarm(raw)
    except InputError as exc:
        return _error(args, USAGE, str(exc), field=exc.field)
    try:
        status = core.lookup(settings, alarm.dma_id, alarm.element_id, alarm.alarm_id)
    except core.Unavailable as exc:
        return _error(args, UNAVAILABLE, str(exc), service=exc.service)
    if status is None:
        return _error(args, PROBLEM, f"no ticket for alarm {alarm.external_id}")
    _emit(args, status.as_dict(), describe(status))
    return OK
