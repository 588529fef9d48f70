"""The connector's debug page is Flower, beside the Celery app it serves, with authentication enforced.

Flower shows every ticket job (``oceane.create_ticket``, the beat's ``oceane.sweep`` and
``oceane.cleanup``) with its state, retries and worker, and the broker page shows the length of
our queue (``OCEANE_QUEUE``). Flower reads the queue length straight from Redis, so it needs no
``--broker-api`` (that is only for RabbitMQ's management API).

Rules enforced before Flower starts (:func:`check_access`):

* bound to loopback (the default, ``127.0.0.1``), authentication is optional;
* bound to anything else, Flower's own basic auth ``FLOWER_BASIC_AUTH=user:password`` is required;
* a malformed ``FLOWER_BASIC_AUTH`` is refused everywhere, since Flower would start with
  credentials nobody can type.

What the pages can show: a job's only argument is the request's instance id (the database holds the
request, see :mod:`oceane_ticket.jobs`), which :func:`make_task_formatter` turns into the alarm it is
for; the broker URL is shown with its password masked (Celery and kombu censor it). Flower is
started read-only unless ``--allow-control``: a debug page should not be able to revoke ticket jobs
or shut workers down.

``oceane-ticket flower`` (:mod:`cli.flower`) parses the options and calls :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oceane_ticket.exits import USAGE
from oceane_ticket.loopback import is_loopback
from oceane_ticket.request import external_id
from oceane_ticket.statuses import FINISHED_STATUSES

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

AUTH_ENV = "FLOWER_BASIC_AUTH"
DEFAULT_ADDRESS = "127.0.0.1"
# Flower's default columns leave out the arguments and retries, the two things we debug with.
TASK_COLUMNS = "name,uuid,state,args,retries,received,started,runtime,worker,exception"

# How long the debug page stops asking the database for alarm details after a failed lookup, so a
# database outage does not stall every page load on connect timeouts.
LOOKUP_BACKOFF = 30.0


def basic_auth_problem(value: str) -> str | None:
    """Why ``value`` is not a valid ``FLOWER_BASIC_AUTH``, or None when it is.

    Flower splits the value on commas into ``user:password`` entries and compares each with the
    decoded ``Authorization`` header, so a user cannot contain ``:`` and nothing may contain ``,``.
    The message never repeats the value: it holds a password.
    """
    if not value:
        return f"{AUTH_ENV} is empty: give user:password, or unset it"
    for number, entry in enumerate(value.split(","), start=1):
        user, colon, password = entry.partition(":")
        where = f"entry {number}" if "," in value else "it"
        if not colon:
            return f"{AUTH_ENV} must be user:password[,user2:password2]; {where} has no ':'"
        if not user or not password:
            return f"{AUTH_ENV} must be user:password with a non-empty user and password; {where} has an empty one"
        if user != user.strip() or password != password.strip() or any(ch.isspace() for ch in user):
            # Flower compares byte for byte: stray blanks would make the credentials untypeable.
            return f"{AUTH_ENV}: {where} has blanks around or inside the user, or around the password"
    return None


def check_access(address: str, basic_auth: str | None) -> str | None:
    """Decide whether Flower may start: None if so, else the reason to refuse.

    Args:
        address: the address Flower would listen on.
        basic_auth: the ``FLOWER_BASIC_AUTH`` value, or None when it is not set.
    """
    if basic_auth is not None:
        problem = basic_auth_problem(basic_auth)
        if problem:
            return problem
        return None
    if is_loopback(address):
        return None
    shown = address or "all interfaces"
    return (
        f"refusing to serve Flower on {shown} without authentication: set {AUTH_ENV}=user:password "
        f"(Flower's basic auth), or listen on loopback (--address {DEFAULT_ADDRESS})"
    )


def read_basic_auth(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> str | None:
    """``FLOWER_BASIC_AUTH`` from the environment, else from the ``.env`` file the settings read.

    The settings only take ``OCEANE_*`` names from ``.env``; reading Flower's variable from the
    same file lets ``make run`` and docker compose share one configuration file.
    """
    environ = os.environ if environ is None else environ
    if AUTH_ENV in environ:
        return environ[AUTH_ENV]
    if env_file is None or not Path(env_file).is_file():
        return None
    from dotenv import dotenv_values  # the parser the settings use for .env too

    value = dotenv_values(env_file).get(AUTH_ENV)
    return value if isinstance(value, str) else None


def flower_arguments(address: str, port: int, *, allow_control: bool = False) -> list[str]:
    """The arguments after ``celery -A worker flower``."""
    return [
        f"--address={address}",
        f"--port={port}",
        f"--tasks_columns={TASK_COLUMNS}",
        f"--read_only={'false' if allow_control else 'true'}",
    ]


def describe_instance(row: Mapping[str, Any]) -> str:
    """A ticket request as the debug page shows it: the alarm and its ticket, no operator text.

    The alarm comes first because Flower's argument column is narrow and cuts the end off.
    """
    alarm = external_id(row["dma_id"], row["element_id"], row["alarm_id"])
    text = f"alarm {alarm} on {row['element_name']}: {row['status']}"
    if row.get("ticket_id"):
        text += f" as {row['ticket_id']}"
    return f"{text} (instance {row['instance']})"


def make_task_formatter(
    lookup: Callable[[str], Mapping[str, Any] | None], clock: Callable[[], float] = time.monotonic
) -> Callable[[Any], Any]:
    """Flower's ``format_task`` hook: show a create job's instance id as the alarm it is for.

    Args:
        lookup: the ``tickets`` row for an instance id, or None; may raise when the database is down.
        clock: monotonic seconds (injected by tests).

    Returns:
        A plain function (Flower's option only accepts functions) that rewrites ``task.args``.
    """
    from oceane_ticket.jobs import TASK_CREATE

    described: dict[str, str] = {}
    paused_until = [0.0]

    def describe(instance: str) -> str:
        if instance in described:
            return described[instance]
        if clock() < paused_until[0]:
            return f"instance {instance}"
        try:
            row = lookup(instance)
        except Exception:
            paused_until[0] = clock() + LOOKUP_BACKOFF
            return f"instance {instance}"
        if row is None:
            return f"instance {instance} (not in the database)"
        text = describe_instance(row)
        if row.get("status") in FINISHED_STATUSES and len(described) < 10_000:
            described[instance] = text  # final: it will not change any more
        return text

    def format_task(task: Any) -> Any:
        if getattr(task, "name", None) != TASK_CREATE:
            return task
        instance = _single_argument(getattr(task, "args", None))
        if instance is not None:
            task.args = describe(instance)
            task.kwargs = ""
        return task

    return format_task


def _single_argument(args: Any) -> str | None:
    # Flower holds the arguments as the repr the sender wrote (argsrepr), e.g. "['0f3a...']".
    import ast

    if isinstance(args, str):
        try:
            args = ast.literal_eval(args)
        except (ValueError, SyntaxError):
            return None
    if isinstance(args, list | tuple) and len(args) == 1 and isinstance(args[0], str) and args[0].isalnum():
        return args[0]
    return None


def database_lookup(database_url: str) -> Callable[[str], Mapping[str, Any] | None]:
    """A lookup of ``tickets`` rows for :func:`make_task_formatter`, with a short connect timeout."""

    def lookup(instance: str) -> Mapping[str, Any] | None:
        from oceane_ticket.storage import direct

        with direct.connect(database_url, connect_timeout=2) as conn:
            return direct.get(conn, instance)

    return lookup


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve Flower for the worker's Celery app until SIGINT or SIGTERM.

    Returns:
        0 after a clean stop; 2 when it refuses to start (the reason on stderr).
    """
    basic_auth = read_basic_auth()
    problem = check_access(args.address, basic_auth)
    if problem:
        print(f"oceane-ticket flower: {problem}", file=sys.stderr)
        return USAGE  # a refused option, like any other
    if basic_auth is not None:
        # Flower reads its credentials from the environment only; a value from .env goes there.
        os.environ[AUTH_ENV] = basic_auth
    else:
        mode = "on loopback without authentication"
        print(f"oceane-ticket flower: serving {mode}; set {AUTH_ENV} to require a login", file=sys.stderr)

    from flower.options import options

    from worker.celery_app import app

    options.format_task = make_task_formatter(database_lookup(settings.database_url))
    # The workers send task events only when asked (worker/celery_app.py). Flower asks every 5 s,
    # first 5 s after it starts; asking now means a job run in that first window is shown too.
    try:
        app.control.enable_events()
    except Exception as exc:  # the broker is down: Flower says so itself, and asks again later
        print(f"oceane-ticket flower: could not switch task events on yet: {type(exc).__name__}", file=sys.stderr)
    argv = ["flower", *flower_arguments(args.address, args.port, allow_control=args.allow_control)]
    code = app.start(argv)
    return int(code or 0)
