"""The database URL, read once: its accepted spellings, the two forms our drivers want, the connect options.

``OCEANE_DATABASE_URL`` is a SQLite URL or a PostgreSQL URL as SQLAlchemy documents it for psycopg,
including its multi-host form ("Specifying multiple fallback hosts" in SQLAlchemy's PostgreSQL
dialect page)::

    postgresql+psycopg://user:pw@/oceane?host=db1:5432&host=db2:5432&target_session_attrs=read-write

libpq then tries the hosts in order and keeps the first that accepts writes, so after a promotion
(Patroni, a managed service, ``pg_ctl promote``) a new connection reaches the new primary. The
worker's engine (``storage/db.py``) hands the URL to SQLAlchemy; the producer's plain DB-API path
(``storage/direct.py``) needs libpq's own URI, where several hosts are ``host=a,b&port=1,2``.
Standard library only: the producer imports this on every click.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")

# TCP keepalives and a user timeout: a database link that silently drops packets (no reset) is
# noticed within about a minute instead of the kernel's default of some fifteen minutes, so a
# caller stuck on it gives up, retries later, and the sweep or a redelivery completes the request.
# The same for every PostgreSQL connection we open, pooled or not.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}

# Every commit waits for the synchronous standby, where the server has one
# (``synchronous_standby_names``), whatever the server's default: a failover must not lose the
# request row the operator was told is accepted, nor the attempt counted before a create call (lost,
# the promoted standby says "never sent" and the create is repeated without a lookup: a duplicate).
# The one commit that opts out is the result (``SET LOCAL synchronous_commit = off`` in claims.py):
# losing it is safe, since the attempt is counted and the re-run looks the ticket up. Without a
# synchronous standby this is the server's local flush, PostgreSQL's default, and costs nothing.
# A URL that sets ``options`` itself keeps its own (README, "When Redis or PostgreSQL fail over").
SESSION_OPTIONS = "-c synchronous_commit=on"


def normalised(url: str) -> str:
    """``url`` as the settings keep it (``postgres://`` spelled ``postgresql://``); ValueError if not a database URL."""
    url = url.strip()
    if url.startswith("sqlite://"):
        return url
    if not url.startswith(POSTGRES_SCHEMES):
        raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL (several hosts: ?host=a:5432&host=b:5432)")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    for host in _query(url).get("host", []):
        name, _, port = host.partition(":")
        if not name or (port and not port.isdigit()) or ":" in port:
            raise ValueError(f"host entry {host!r} must be host or host:port")
    return url


def sqlalchemy_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3 (SQLAlchemy's default would be psycopg2, not installed)."""
    return re.sub(r"^postgres(ql)?(\+psycopg2)?://", "postgresql+psycopg://", url)


def libpq_uri(url: str) -> str:
    """The libpq URI of ``url``: no ``+driver``; SQLAlchemy's repeated ``host=h:p`` as ``host=h1,h2&port=p1,p2``."""
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    hosts = [v for k, v in pairs if k == "host"]
    if len(hosts) < 2 and not any(":" in h for h in hosts):
        return url
    rest = [(k, v) for k, v in pairs if k not in ("host", "port")]
    names = [h.rsplit(":", 1)[0] if ":" in h else h for h in hosts]
    ports = [h.rsplit(":", 1)[1] if ":" in h else "5432" for h in hosts]
    query = urlencode([("host", ",".join(names)), ("port", ",".join(ports)), *rest], safe=",/")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def hosts(url: str) -> list[str]:
    """The ``host[:port]`` entries ``url`` names (one for the single-host form), for messages."""
    listed = _query(url).get("host", [])
    if listed:
        return listed
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return [netloc] if netloc else []


def connect_args(url: str, *, connect_timeout: int = 5) -> dict[str, Any]:
    """The psycopg keyword arguments every PostgreSQL connection of ours gets."""
    args: dict[str, Any] = {"connect_timeout": connect_timeout, **KEEPALIVES}
    if "options" not in _query(url):
        args["options"] = SESSION_OPTIONS
    return args


def _query(url: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        found.setdefault(key, []).append(value)
    return found
