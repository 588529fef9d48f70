"""``oceane-ticket sandbox`` options, its refusal of remote hosts, its run loop, and what it logs."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from typing import Any

import pytest
import requests

from cli import sandbox as cli
from oceane_ticket.sandbox.server import Sandbox


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    return parser.parse_args(argv)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCEANE_CLIENT_ID", raising=False)
    monkeypatch.delenv("OCEANE_CLIENT_SECRET", raising=False)
    args = parse([])
    assert (args.host, args.port, args.client_id, args.client_secret) == (
        "127.0.0.1",
        8090,
        "sandbox-client",
        "sandbox-secret",
    )
    monkeypatch.setenv("OCEANE_CLIENT_ID", "env-id")
    monkeypatch.setenv("OCEANE_CLIENT_SECRET", "env-secret")
    assert (parse([]).client_id, parse([]).client_secret) == ("env-id", "env-secret")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org"])  # noqa: S104
def test_non_loopback_host_is_refused(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse(["--host", host])) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_fail_code_needs_fail_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse(["--fail-code", "53"])) == 2
    assert "--fail-status" in capsys.readouterr().err


def test_busy_port_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.run(parse(["--port", str(port)])) == 1
    assert str(port) in capsys.readouterr().err  # the message names the port it could not take


def test_run_serves_with_its_faults_until_sigterm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = threading.Event()
    seen: dict[str, Any] = {}
    original_start = Sandbox.start

    def spy_start(self: Sandbox) -> Sandbox:
        result = original_start(self)
        seen["sandbox"] = self
        started.set()
        return result

    def client() -> None:
        try:
            if started.wait(5):
                state = requests.get(f"{seen['sandbox'].base_url}/_sandbox/state", timeout=5).json()
                seen["faults"] = state["faults"]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Sandbox, "start", spy_start)
    thread = threading.Thread(target=client)
    thread.start()
    argv = ["--port", "0", "--fail-status", "429", "--fault-group", "create", "--retry-after", "9"]
    assert cli.run(parse(argv)) == 0
    thread.join(5)
    assert seen["faults"]["forced"]["create"]["status"] == 429
    assert seen["faults"]["retry_after"] == 9
    assert seen["sandbox"].base_url in capsys.readouterr().out


def test_request_log_has_one_line_per_call_and_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-value"
    caplog.set_level(logging.DEBUG, logger="oceane_ticket.sandbox")
    with Sandbox(client_secret=secret) as sb, requests.Session() as http:
        caplog.clear()
        token = http.post(
            sb.token_url, auth=("sandbox-client", secret), data={"grant_type": "client_credentials"}, timeout=5
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        http.post(sb.tickets_url, json={"externalId": "1"}, headers=headers, timeout=5)
        http.get(sb.tickets_url, params={"externalId": "1"}, headers=headers, timeout=5)
        lines = [r.getMessage() for r in caplog.records if r.name == "oceane_ticket.sandbox"]
    request_lines = [line for line in lines if " -> " in line]
    assert len(request_lines) == 3
    assert "POST /troubleTicket -> 400 code 23" in request_lines[1]
    text = "\n".join(lines)
    for leaked in (secret, token, "Bearer", "Basic", "c2FuZGJveC1jbGllbnQ6"):
        assert leaked not in text
