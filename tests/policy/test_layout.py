"""The house rules of the code's layout, read from the source with ``ast`` (nothing is imported).

* ``oceane_ticket`` is the library: it never imports the producer, the worker, the HTTP intake or
  the command line (they are built on it, not the other way round);
* no two of our modules import each other, directly or through others (no import circle), counting
  imports made inside functions too: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("oceane_ticket", "producer", "worker", "intake", "cli")
LIBRARY = "oceane_ticket"
NOT_FROM_THE_LIBRARY = {"producer", "worker", "intake", "cli"}


def modules() -> dict[str, Path]:
    """Every module of our packages: dotted name -> file (migrations are Alembic's scripts, not modules)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``name`` imports (anywhere in the file), as our dotted names or top-level names."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                targets.add(candidate if candidate in known else module)
    return targets


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: {t for t in imports(name, path, known) if t in known and t != name} for name, path in found.items()}


def test_the_library_never_imports_what_is_built_on_it() -> None:
    found = modules()
    offenders = []
    for name, path in found.items():
        if name.split(".")[0] != LIBRARY:
            continue
        for target in imports(name, path, set(found)):
            if target.split(".")[0] in NOT_FROM_THE_LIBRARY:
                offenders.append(f"{name} imports {target}")
    assert offenders == []
    assert len([n for n in found if n.startswith(LIBRARY + ".")]) > 20  # the walk did find the library


def test_only_commands_import_the_command_line() -> None:
    # cli/ is the composition root and holds the presentation (tables, consoles): the apps and the
    # intake are built beneath it and never reach up into it.
    found = modules()
    offenders = [
        f"{name} imports {target}"
        for name, path in found.items()
        if name.split(".")[0] in {"producer", "worker", "intake"}
        for target in imports(name, path, set(found))
        if target.split(".")[0] == "cli"
    ]
    assert offenders == []


def test_there_is_no_import_circle_among_our_modules() -> None:
    edges = graph()
    # Tarjan's strongly connected components: a component of two or more modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            # A package's __init__ importing its own submodules is how a package hands names on.
            if node and target.startswith(node + "."):
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert circles == []
    assert sum(len(targets) for targets in edges.values()) > 50  # the walk did read the imports
