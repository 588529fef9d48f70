"""How every table and console of the command line looks: one place for rich's settings.

Used by the Tickets and Failed Ticket Requests tables (:mod:`cli.reports`) and the
operator commands (``status``, ``health``, ``cleanup``, ``retry``). ``rich`` is imported inside
the functions: the command line imports its command modules for every ``create``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# Not a terminal (a pipe, a log file, a test): wide enough that no column is ever cut or folded,
# so an id or a URL stays whole on its line for whatever reads the pipe.
PIPE_WIDTH = 10_000


def console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, or :data:`PIPE_WIDTH` when the output is not one."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=PIPE_WIDTH)


def table(title: str, *columns: str) -> Table:
    """A titled table whose columns fold long values rather than cut them."""
    from rich import box
    from rich.table import Table

    result = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def fields(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column Field/Value table (``status``'s debug values); None shows as ``-``."""
    result = table(title, "Field", "Value")
    result.min_width = 60  # keeps a short table's title on one line, and the debug tables alike
    for name, value in rows:
        result.add_row(name, "-" if value is None else str(value))
    return result


def duration(value: float | None) -> str:
    """Seconds as a person reads them: ``12.0 s``, ``3.5 min``, ``2.0 h``, ``4.0 days``."""
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    if value < 172_800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} days"
