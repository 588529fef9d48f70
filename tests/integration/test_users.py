"""Per-user Oceane User IDs end to end: `oceane-ticket users` changes the relatedParty Oceane receives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oceane_ticket.request import InputError
from producer.core import create_ticket
from tests.conftest import ROOT, settings_env

DETAILS = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}
PROGRAM = shutil.which("oceane-ticket", path=str(Path(sys.executable).parent)) or "oceane-ticket"


@pytest.fixture(autouse=True)
def no_mappings(clean_pg: str) -> None:
    """clean_pg empties the tickets; the mappings too, for this file's tests."""
    import psycopg

    from oceane_ticket.storage.direct import postgres_dsn

    with psycopg.connect(postgres_dsn(clean_pg), autocommit=True) as conn:
        conn.execute("DELETE FROM oceane_users")


def cli(settings: Any, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROGRAM, *argv], cwd=ROOT, env=settings_env(settings) | env, capture_output=True, text=True, timeout=60
    )


def alarm(n: int) -> dict[str, Any]:
    return {"dma_id": 31, "element_id": 41, "alarm_id": n, "element_name": "Edge switch"}


def reporter(sandbox: Any, ticket_id: str | None) -> str:
    assert ticket_id, "the ticket was not created"
    ticket = sandbox.get_ticket(ticket_id)
    assert ticket is not None
    (party,) = [p for p in ticket["relatedParty"] if p.get("role") == "reporter"]
    return str(party["id"])


def test_users_set_changes_the_related_party_oceane_receives(
    settings_for: Any, real_redis: Any, sandbox: Any, start_worker: Any
) -> None:
    settings = settings_for()
    start_worker(settings)

    before = create_ticket(alarm(1), user="CORP/Alice", wait=60, settings=settings, **DETAILS)
    assert before.status == "created", before
    assert reporter(sandbox, before.ticket_id) == settings.user_id  # unmapped: OCEANE_USER_ID

    done = cli(settings, "users", "set", "corp/ALICE", "U-ALICE")
    assert done.returncode == 0, done.stderr
    mapped = create_ticket(alarm(2), user="CORP/Alice", wait=60, settings=settings, **DETAILS)
    assert reporter(sandbox, mapped.ticket_id) == "U-ALICE"

    # A new mapping takes effect on the next request, in this same (warm) process.
    assert cli(settings, "users", "set", "Corp/Alice", "U-ALICE-2").returncode == 0
    remapped = create_ticket(alarm(3), user="corp/alice", wait=60, settings=settings, **DETAILS)
    assert reporter(sandbox, remapped.ticket_id) == "U-ALICE-2"

    listed = cli(settings, "users", "list", "--json")
    assert [(u["dataminer_user"], u["oceane_user_id"]) for u in json.loads(listed.stdout)] == [
        ("corp/alice", "U-ALICE-2")
    ]

    assert cli(settings, "users", "remove", "CORP/ALICE").returncode == 0
    assert cli(settings, "users", "remove", "CORP/ALICE").returncode == 1  # nothing left to remove
    removed = create_ticket(alarm(4), user="CORP/Alice", wait=60, settings=settings, **DETAILS)
    assert reporter(sandbox, removed.ticket_id) == settings.user_id


def test_required_mapping_refuses_an_unmapped_user_and_stores_nothing(settings_for: Any, real_redis: Any) -> None:
    settings = settings_for(require_user_mapping=True)
    with pytest.raises(InputError) as refused:
        create_ticket(alarm(5), user="mallory", settings=settings, **DETAILS)
    assert refused.value.field == "user"
    with pytest.raises(InputError):
        create_ticket(alarm(5), settings=settings, **DETAILS)  # no user at all
    assert real_redis.llen(settings.queue) == 0
    assert create_ticket_count(settings) == 0

    assert cli(settings, "users", "set", "mallory", "U-M").returncode == 0
    accepted = create_ticket(alarm(5), user="Mallory", settings=settings, **DETAILS)
    assert accepted.status == "queued"


def create_ticket_count(settings: Any) -> int:
    import psycopg

    from oceane_ticket.storage.direct import postgres_dsn

    with psycopg.connect(postgres_dsn(settings.database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM tickets").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["users", "set", "", "U-1"], 2),
        (["users", "set", "bob", "   "], 2),
        (["users", "set", "bob", "x" * 256], 2),
        (["users", "set", "b\x07ob", "U-1"], 2),
    ],
)
def test_users_set_refuses_bad_input(settings_for: Any, argv: list[str], code: int) -> None:
    settings = settings_for()
    done = cli(settings, *argv)
    assert done.returncode == code
    assert "Traceback" not in done.stderr
    assert json.loads(cli(settings, "users", "list", "--json").stdout) == []


def test_db_upgrade_imports_the_deprecated_user_map_once_and_the_table_wins(settings_for: Any) -> None:
    settings = settings_for()
    assert cli(settings, "users", "set", "alice", "U-FROM-TABLE").returncode == 0
    env_map = {"OCEANE_USER_MAP": "Alice=U-FROM-ENV,Bob=U-BOB"}
    upgraded = cli(settings, "db", "upgrade", **env_map)
    assert upgraded.returncode == 0, upgraded.stderr
    pairs = {
        u["dataminer_user"]: u["oceane_user_id"] for u in json.loads(cli(settings, "users", "list", "--json").stdout)
    }
    assert pairs == {"alice": "U-FROM-TABLE", "bob": "U-BOB"}
    # import-env --replace is the explicit way to let the environment win.
    assert cli(settings, "users", "import-env", "--replace", **env_map).returncode == 0
    pairs = {
        u["dataminer_user"]: u["oceane_user_id"] for u in json.loads(cli(settings, "users", "list", "--json").stdout)
    }
    assert pairs["alice"] == "U-FROM-ENV"
