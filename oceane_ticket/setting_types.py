"""How a setting is declared, read by its type, and found in the environment or a ``.env`` file.

:mod:`oceane_ticket.settings` declares the settings; this module is the small framework under them:
:func:`setting` (a field with bounds and a check), :class:`Secret`, one reader per field type, and
:func:`read_environment`. It is the standard library only (python-dotenv only when a ``.env`` file
exists): the producer's ``create`` is a short-lived process, and a validation framework cost it a
third of its start-up and most of its memory (README, Performance).
"""

# No ``from __future__ import annotations``: the field types are read at run time to parse values.

import json
import math
import os
import sys
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, Field, field
from typing import Any, Literal

PREFIX = "OCEANE_"
ENV_FILE = ".env"  # in the current directory, like the previous reader; variables win over it

TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE = frozenset({"0", "false", "f", "no", "n", "off"})

# ``OCEANE_*`` variables of the project that are not settings (test beds, run folders, reports):
# never reported as misspelt settings.
NOT_SETTINGS = frozenset(
    {
        "OCEANE_TEST_REDIS_URL",
        "OCEANE_BENCH_REDIS_URL",
        "OCEANE_TEST_PG_URL",
        "OCEANE_RUN_DIR",
        "OCEANE_FAULTS_REPORT",
        "OCEANE_FAULTS_UNPROTECTED",
        "OCEANE_KIT_CONFIG",
    }
)


class Secret:
    """A secret setting: ``get_secret_value()`` gives it, ``repr`` and ``str`` never do."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself (for the one call that needs it)."""
        return self._value

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)


Check = Callable[[Any], Any]


def setting(
    default: Any,
    *,
    check: Check | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> Any:
    """A field of :class:`Settings`: its default, its bounds (numbers) and a check run after parsing.

    ``check`` takes the parsed value and returns it (possibly normalised), or raises ``ValueError``
    with what is allowed.
    """
    metadata = {"check": check, "ge": ge, "gt": gt, "le": le}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def env_name(name: str) -> str:
    """The environment variable of field ``name``: ``retry_count`` -> ``OCEANE_RETRY_COUNT``."""
    return PREFIX + name.upper()


def default_of(f: Field[Any]) -> Any:
    """The declared default of field ``f``."""
    return f.default if f.default_factory is MISSING else f.default_factory()


# --- parsing by type ---


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    return Secret(_text(value))


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
    raise ValueError("must be true or false (also 1/0, yes/no, on/off)")


def _bounds(ge: float | None, gt: float | None, le: float | None) -> str:
    parts = [f">= {ge:g}" if ge is not None else "", f"> {gt:g}" if gt is not None else ""]
    parts.append(f"<= {le:g}" if le is not None else "")
    return " and ".join(p for p in parts if p)


def _number(kind: type, ge: float | None, gt: float | None, le: float | None) -> Check:
    what = ("must be a whole number" if kind is int else "must be a number") + (
        f" {_bounds(ge, gt, le)}" if (ge, gt, le) != (None, None, None) else ""
    )

    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(what)
        if isinstance(value, str):
            try:
                number = float(value.strip()) if kind is float else _whole(value.strip())
            except ValueError:
                raise ValueError(what) from None
        elif isinstance(value, int | float):
            number = value
        else:
            raise ValueError(what)
        if not math.isfinite(number):
            raise ValueError(what)
        if kind is int:
            if number != int(number):
                raise ValueError(what)
            number = int(number)
        else:
            number = float(number)
        if (ge is not None and number < ge) or (gt is not None and number <= gt) or (le is not None and number > le):
            raise ValueError(what)
        return number

    return parse


def _whole(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)  # "3.0" is 3, "3.5" is refused by the caller


def _choice(allowed: tuple[str, ...]) -> Check:
    what = "must be one of " + ", ".join(allowed)

    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValueError(what)
        return typing.cast(str, value)

    return parse


def _values(value: Any) -> tuple[str, ...]:
    """``a,b,c`` or a JSON array, at least one value."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON array of text or values separated by commas") from None
        else:
            value = [p.strip() for p in text.split(",")]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a JSON array of text or values separated by commas")
    cleaned = tuple(str(v).strip() for v in value if str(v).strip())
    if not cleaned:
        raise ValueError("must list at least one value")
    return cleaned


def _mapping(value: Any) -> dict[str, str]:
    """A JSON object or ``name=value`` pairs separated by commas."""
    what = "expected JSON or name=oceane_user_id pairs separated by commas"
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(what) from None
        else:
            pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(what)
            return {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(what)
    return {str(k): v for k, v in value.items()}


def parser(f: Field[Any], kind: Any) -> Check:
    """The reader of field ``f`` of declared type ``kind``: parse by type, then the field's own check."""
    origin = typing.get_origin(kind)
    parse: Check
    if origin is Literal:
        parse = _choice(typing.get_args(kind))
    elif kind is bool:
        parse = _boolean
    elif kind in (int, float):
        parse = _number(kind, f.metadata["ge"], f.metadata["gt"], f.metadata["le"])
    elif kind is Secret:
        parse = _secret
    elif origin is tuple:
        parse = _values
    elif origin is dict:
        parse = _mapping
    elif kind is str:
        parse = _text
    else:  # a new field type needs its reader here
        raise TypeError(f"no reader for {f.name}: {kind!r}")
    check = f.metadata["check"]
    return parse if check is None else (lambda value: check(parse(value)))


# --- reading the environment and .env ---


def read_environment(
    names: Collection[str],
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ENV_FILE,
) -> dict[str, str]:
    """The raw values of settings ``names`` (field names): ``OCEANE_*`` variables over the ``.env`` file's.

    Names are matched without regard to case; variables that are not settings are ignored, but an
    ``OCEANE_*`` one that is none is reported on stderr once, naming the closest setting: a
    misspelt variable would otherwise leave its setting at the default without a word.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    if env_file is not None and os.path.isfile(env_file):
        from dotenv import dotenv_values  # only when there is a file to read

        found |= _ours(names, dotenv_values(env_file, encoding="utf-8"))
    return found | _ours(names, environ)


def _ours(names: Collection[str], variables: Mapping[str, str | None]) -> dict[str, str]:
    by_env = {env_name(n).lower(): n for n in names}
    found: dict[str, str] = {}
    for key, value in variables.items():
        name = by_env.get(key.lower())
        if name is not None:
            if value is not None:
                found[name] = value
        elif key.upper().startswith(PREFIX) and key.upper() not in NOT_SETTINGS:
            _warn_unknown(key, sorted(env_name(n) for n in names))
    return found


_warned: set[str] = set()  # each unknown variable is reported once per process


def _warn_unknown(variable: str, settings: list[str]) -> None:
    if variable in _warned:
        return
    _warned.add(variable)
    import difflib  # only when there is something to report

    close = difflib.get_close_matches(variable.upper(), settings, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    sys.stderr.write(f"oceane-ticket: warning: {variable} is not a setting and is ignored{hint}\n")
