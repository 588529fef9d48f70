"""Bad input to the producer, through the real console script against PostgreSQL and Redis.

A handful of the cases of tests/unit/test_bad_input.py (which runs them all in-process, with
hypothesis), here as DataMiner's hook runs them: exit 2, the field named on stderr, and neither a
row in PostgreSQL nor anything in Redis.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import settings_env
from tests.faults.kit import CLI, CLI_DETAILS, alarm_params

pytestmark = pytest.mark.integration

CASES = [
    (["--alarm", "DMA ID=12;Element ID=abc;Alarm ID=1;Element Name=x", *CLI_DETAILS], "element_id"),
    (["--alarm", "garbage;;==", *CLI_DETAILS], "alarm"),
    (["--alarm", alarm_params(1), "--priority", "9", "--urgency", "Major", "--technical-impact", "Major"], "priority"),
    (["--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=x;Root Time=not a time", *CLI_DETAILS], "root_time"),
    (["--alarm", alarm_params(1), *CLI_DETAILS, "--description", "x" * 100 * 1024], "description"),
    (["--alarm", alarm_params(1), "--urgency", "Major", "--technical-impact", "Major"], "priority"),
]


def test_bad_input_through_the_console_script(stack: Any, ledger: Any) -> None:
    book = ledger(f"bad input via the console script ({len(CASES)} cases) -> exit 2, nothing stored")
    env = settings_env(stack.settings)
    for argv, field in CASES:
        done = subprocess.run(
            [CLI, "create", *argv, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, (argv[:2], done.stdout, done.stderr)
        assert f"{field}:" in done.stderr and json.loads(done.stdout)["field"] == field, done.stderr
    assert book.rows() == {}
    assert stack.redis.dbsize() == 0
    book.notes = f"{len(CASES)} rejected"
    book.finish()
