"""``make stack-test``: the production stack of docker-compose.yml, run for real and broken on purpose.

Builds the image, brings the whole stack up (both profiles) under a throwaway project name and a
throwaway env file (a developer's ``.env``, containers and volumes are never touched), then drives it
through the containers' own ``oceane-ticket``:

1. a ticket created with ``--wait``, listed by ``tickets``, counted by the metrics endpoint;
2. Flower: 401 without credentials, 200 with them, the task visible;
3. the sandbox slowed to 2 s per create, five requests queued, the worker container killed
   (``docker kill``) during the second and started again: five tickets, each exactly once in the
   sandbox, all created within 30 s of the restarted worker being ready, and no message left
   unacknowledged in Redis;
4. ``docker compose restart redis postgres`` with a request queued: it is created afterwards and
   every earlier row is still there;
5. ``health`` all ok; then ``down -v``.

One line per step with its time; the first failure stops the run with a non-zero exit. The logs of
every service are left in ``artifacts/stack-test/`` either way. Needs Docker with Compose v2 and only
the standard library (run it with any Python 3.11+). ``--keep`` leaves the stack up for a look.

Over 400 lines on purpose: one script a developer runs by hand (make stack-test), its steps in the order
they break the stack.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "stack-test"
IMAGE = "oceane-ticket:stacktest"
# The worker-kill step must be over this soon after the worker container is started again.
RECOVERY_LIMIT = 30.0
CREATE_LATENCY = 2.0
DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]


class StepFailed(Exception):
    """A step's check did not hold; the message says what was seen."""


def alarm(n: int) -> str:
    """The hyperlink's parameter string of test alarm ``n`` (distinct per run and per alarm)."""
    return (
        f"DMA ID=77;Element ID={os.getpid() % 100000};Alarm ID={n};Element Name=Stack test;"
        "Alarm Value=Signal lost;Root Time=2026-11-27T08:12:00Z"
    )


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; StepFailed after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise StepFailed(f"{what}: not seen within {timeout:g} s (last: {str(last)[:300]})")


class Stack:
    """One throwaway compose project: its name, env file and ports, and the commands on it."""

    def __init__(self, workdir: Path) -> None:
        self.project = f"oceane-stacktest-{os.getpid()}"
        self.env_file = workdir / "stack.env"
        self.ports = {
            "METRICS_PORT": free_port(),
            "DEBUG_PAGE_PORT": free_port(),
            "SANDBOX_PORT": free_port(),
            "INTAKE_PORT": free_port(),
        }
        self.flower_auth = f"stack:{secrets.token_hex(8)}"
        self.intake_token = secrets.token_hex(24)
        lines = [
            f"POSTGRES_PASSWORD={secrets.token_hex(12)}",
            "POSTGRES_USER=oceane",
            "POSTGRES_DB=oceane",
            f"FLOWER_BASIC_AUTH={self.flower_auth}",
            f"OCEANE_INTAKE_TOKEN={self.intake_token}",
            f"APP_IMAGE={IMAGE}",
            f"APP_ENV_FILE={self.env_file}",
            *(f"{name}={port}" for name, port in self.ports.items()),
        ]
        self.env_file.write_text("\n".join(lines) + "\n")

    def compose_argv(self, *args: str) -> list[str]:
        """``docker compose`` on this project, with both profiles."""
        return [
            "docker",
            "compose",
            "--project-directory",
            str(ROOT),
            "--file",
            str(ROOT / "docker-compose.yml"),
            "--project-name",
            self.project,
            "--env-file",
            str(self.env_file),
            "--profile",
            "demo",
            "--profile",
            "debug",
            *args,
        ]

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose ...``; StepFailed (with its output) when it fails and ``check``."""
        argv = self.compose_argv(*args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
        if check and done.returncode != 0:
            raise StepFailed(f"`docker compose {' '.join(args)}` exited {done.returncode}:\n{_tail(done)}")
        return done

    def cli(self, service: str, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 120) -> Any:
        """``oceane-ticket ARGS --json`` inside ``service``'s container; its JSON answer."""
        done = self.compose("exec", "-T", service, "oceane-ticket", *args, "--json", timeout=timeout, check=False)
        if done.returncode not in ok:
            raise StepFailed(f"`oceane-ticket {' '.join(args)}` in {service} exited {done.returncode}:\n{_tail(done)}")
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise StepFailed(f"`oceane-ticket {' '.join(args)}` printed no JSON:\n{_tail(done)}") from None

    def container(self, service: str) -> str:
        """The container id of ``service``."""
        cid = self.compose("ps", "--all", "--quiet", service).stdout.strip()
        if not cid:
            raise StepFailed(f"no container for {service}")
        return cid.splitlines()[0]

    def url(self, port_name: str, path: str) -> str:
        """A URL on a port the stack published on the host."""
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    def sandbox(self, path: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
        """The sandbox's control API, through its published port."""
        status, text = http(self.url("SANDBOX_PORT", "/_sandbox/" + path), body=body, method=method)
        if status != 200:
            raise StepFailed(f"sandbox {method} {path}: HTTP {status}: {text[:300]}")
        return json.loads(text)

    def save_logs(self) -> None:
        """Every service's log, and the compose state, into artifacts/stack-test/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        services = self.compose("config", "--services", check=False).stdout.split()
        for service in services:
            done = self.compose("logs", "--no-color", "--timestamps", service, check=False, timeout=120)
            (ARTIFACTS / f"{service}.log").write_text(done.stdout + done.stderr)
        ps = self.compose("ps", "--all", check=False)
        (ARTIFACTS / "ps.txt").write_text(ps.stdout + ps.stderr)


def http(
    url: str,
    body: dict[str, Any] | None = None,
    method: str = "GET",
    auth: str | None = None,
    bearer: str | None = None,
    timeout: float = 15,
) -> tuple[int, str]:
    """One HTTP request; (status, body text). Connection errors are status 0."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URLs we built
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    if bearer is not None:
        request.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def _tail(done: subprocess.CompletedProcess[str], limit: int = 3000) -> str:
    return ((done.stdout or "") + (done.stderr or ""))[-limit:]


class Steps:
    """Prints one line per step with its duration; the first failure ends the run."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.count = 0

    @contextmanager
    def step(self, title: str) -> Iterator[dict[str, str]]:
        """Time one step; the yielded dict's ``note`` is printed after the title."""
        self.count += 1
        began = time.monotonic()
        info: dict[str, str] = {}
        try:
            yield info
        except StepFailed as exc:
            print(f"[{time.monotonic() - began:6.1f}s] FAIL {self.count:2d}. {title}\n{exc}", flush=True)
            raise
        note = f" ({info['note']})" if info.get("note") else ""
        print(f"[{time.monotonic() - began:6.1f}s] ok   {self.count:2d}. {title}{note}", flush=True)


def rows_by_instance(stack: Stack, service: str = "beat") -> dict[str, dict[str, Any]]:
    """Every request the stack's database holds, by instance."""
    return {r["instance"]: r for r in stack.cli(service, "tickets", "--limit", "1000")}


def run(stack: Stack, steps: Steps) -> None:  # noqa: C901 (ten steps in order; each branch is one step's check)
    """The steps of the stack test, in order."""
    with steps.step("docker compose build (the image, built once)") as info:
        done = stack.compose("build", timeout=1800)
        built = (done.stdout + done.stderr).count("naming to ")
        info["note"] = f"{IMAGE}"
        if built > 1:
            raise StepFailed(f"the image was exported {built} times; one build is expected")

    with steps.step("up -d --wait, profiles demo and debug: every service healthy") as info:
        stack.compose("up", "--detach", "--wait", "--wait-timeout", "600", timeout=900)
        services = json_lines(stack.compose("ps", "--all", "--format", "json").stdout)
        state = {s["Service"]: (s["State"], s.get("Health", "")) for s in services}
        running = {n for n, (st, health) in state.items() if st == "running" and health in ("healthy", "")}
        expected = {"redis", "postgres", "worker", "beat", "metrics", "flower", "sandbox", "intake"}
        if not expected <= running:
            raise StepFailed(f"not all running and healthy: {state}")
        info["note"] = f"{len(running)} running, migrate {state.get('migrate', ('?',))[0]}"

    with steps.step("no port published on every interface") as info:
        services = json_lines(stack.compose("ps", "--format", "json").stdout)
        published = [
            (s["Service"], p.get("URL", ""), p["PublishedPort"])
            for s in services
            for p in s.get("Publishers") or []
            if p.get("PublishedPort")
        ]
        wide = [p for p in published if p[1] not in ("127.0.0.1",)]
        if wide or len(published) < 4:
            raise StepFailed(f"published: {published}")
        info["note"] = ", ".join(f"{svc} {url}:{port}" for svc, url, port in published)

    with steps.step("create --wait in the worker container, listed by tickets, counted by metrics") as info:
        first = stack.cli("worker", "create", "--alarm", alarm(1), *DETAILS, "--wait", "90")
        if first["status"] != "created" or not first["ticket_id"]:
            raise StepFailed(f"create --wait answered {first}")
        listed = rows_by_instance(stack, "worker")
        if listed.get(first["instance"], {}).get("ticket_id") != first["ticket_id"]:
            raise StepFailed(f"tickets does not list {first['instance']}: {list(listed)}")

        def counted() -> float:
            status, text = http(stack.url("METRICS_PORT", "/metrics"))
            return metric_sum(text, "oceane_tickets_created_total") if status == 200 else 0.0

        total = wait_for("oceane_tickets_created_total >= 1 on the metrics endpoint", counted, timeout=30)
        info["note"] = f"ticket {first['ticket_id']}, metrics created_total {total:g}"

    with steps.step("intake: POST /tickets 401 without the token, 201 with it, created within its wait") as info:
        tickets_url = stack.url("INTAKE_PORT", "/tickets")
        body = {
            "dmaId": 12,
            "elementId": 345,
            "alarmId": 90_001,
            "elementName": "Encoder; Paris=1",
            "priority": "2",
            "urgency": "Major",
            "technicalImpact": "Major",
            "user": "stack-test",
        }
        anonymous, _ = http(tickets_url, body=body, method="POST")
        if anonymous != 401:
            raise StepFailed(f"the intake without a token answered {anonymous}, not 401")
        status, text = http(tickets_url + "?wait=60", body=body, method="POST", bearer=stack.intake_token, timeout=90)
        answer = json.loads(text) if status in (200, 201) else {}
        if status != 201 or answer.get("status") != "created" or not answer.get("ticketId"):
            raise StepFailed(f"POST /tickets?wait=60 answered {status}: {text[:300]}")
        again, text = http(tickets_url, body=body, method="POST", bearer=stack.intake_token)
        if again != 200 or not json.loads(text).get("existing"):
            raise StepFailed(f"the same alarm again answered {again}: {text[:300]}")
        info["note"] = f"ticket {answer['ticketId']}, the second POST 200 existing"

    with steps.step("Flower: 401 without credentials, 200 with them, the task visible") as info:
        tasks_url = stack.url("DEBUG_PAGE_PORT", "/api/tasks")
        anonymous, _ = http(tasks_url)
        if anonymous != 401:
            raise StepFailed(f"Flower without credentials answered {anonymous}, not 401")

        def task_seen() -> str:
            status, text = http(tasks_url, auth=stack.flower_auth)
            return f"HTTP {status}" if status == 200 and first["instance"] in text else ""

        info["note"] = wait_for("the create task in Flower's /api/tasks", task_seen, timeout=30) + ", task listed"

    with steps.step("worker killed during the 2nd of 5 slow creates, started again: 5 tickets, once each") as info:
        info["note"] = crash_and_resume(stack)

    with steps.step("restart redis postgres with a request queued: it is created, earlier rows kept") as info:
        before = {i: r["ticket_id"] for i, r in rows_by_instance(stack).items()}
        stack.compose("pause", "worker")  # holds the request in the queue across the restart
        try:
            queued = stack.cli("beat", "create", "--alarm", alarm(20), *DETAILS)
            if queued["status"] != "queued":
                raise StepFailed(f"expected the request queued, got {queued}")
            began = time.monotonic()
            stack.compose("restart", "redis", "postgres", timeout=300)
            restart_seconds = time.monotonic() - began
        finally:
            stack.compose("unpause", "worker", check=False)

        def created() -> bool:
            try:
                return rows_by_instance(stack).get(queued["instance"], {}).get("status") == "created"
            except StepFailed:
                return False  # the database may still be starting

        wait_for("the request queued across the restart, created", created, timeout=180, interval=1)
        after = {i: r["ticket_id"] for i, r in rows_by_instance(stack).items()}
        missing = {i: t for i, t in before.items() if after.get(i) != t}
        if missing:
            raise StepFailed(f"rows lost or changed by the restart: {missing}")
        info["note"] = f"restart took {restart_seconds:.1f} s; {len(before)} earlier rows kept, +1 created"

    with steps.step("health: every check ok") as info:
        report = stack.cli("worker", "health")
        bad = [c for c in report["checks"] if c["ok"] is False]
        if not report["ok"] or bad:
            raise StepFailed(f"health: {report}")
        info["note"] = ", ".join(f"{c['name']} ok" for c in report["checks"] if c["ok"])


def crash_and_resume(stack: Stack) -> str:
    """The worker-kill step; returns its note (recovery time)."""
    stack.sandbox("faults", {"latency": {"create": CREATE_LATENCY}}, method="POST")
    calls_before = stack.sandbox("state")["create_calls"]
    # Queued while the worker is paused: five `docker compose exec` take longer than five creates
    # on a busy host, and the kill must come during the second.
    stack.compose("pause", "worker")
    try:
        instances = [stack.cli("beat", "create", "--alarm", alarm(10 + n), *DETAILS)["instance"] for n in range(5)]
    finally:
        stack.compose("unpause", "worker")
    externals = {f"77/{os.getpid() % 100000}/{10 + n}" for n in range(5)}
    wait_for(
        "the second create under way",
        lambda: stack.sandbox("state")["create_calls"] >= calls_before + 2,
        timeout=60,
        interval=0.1,
    )
    worker = stack.container("worker")
    killed = subprocess.run(["docker", "kill", worker], capture_output=True, text=True, check=False)
    if killed.returncode != 0:
        raise StepFailed(f"docker kill: {killed.stderr}")
    holder = stack.cli("beat", "status")["lock"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    stack.compose("start", "worker")
    restarted = time.time()

    def all_created() -> bool:
        rows = rows_by_instance(stack)
        return all(rows.get(i, {}).get("status") == "created" for i in instances)

    wait_for("five requests created after the restart", all_created, timeout=240, interval=0.5)
    seen_at = time.time()  # when our polling saw it: an upper bound, seconds late on a busy host
    # "Up again" is the restarted worker consuming: the time stamp Docker gave Celery's "ready."
    # line in the new container's log. Start-up alone (Python, imports, broker) takes seconds on
    # an idle host and over a minute on a loaded one. "Done" is the worker's last line recording
    # one of the five (created or adopted), when the log has it; else when we saw it.
    log = subprocess.run(
        ["docker", "logs", "--timestamps", "--since", since, worker], capture_output=True, text=True, check=False
    )
    lines = (log.stdout + log.stderr).splitlines()
    ready = [line for line in lines if " ready." in line]
    ready_at = docker_time(ready[0].split()[0]) if ready else restarted
    marks = [f"request {i}: ticket" for i in instances]
    recorded = [docker_time(line.split()[0]) for line in lines if any(m in line for m in marks)]
    done_at = min(seen_at, max(recorded)) if recorded else seen_at
    started_after = done_at - restarted
    recovery = done_at - ready_at
    stack.sandbox("faults", method="DELETE")
    tickets = [t for t in stack.sandbox("state")["tickets"] if t.get("externalId") in externals]
    per_alarm = Counter(t["externalId"] for t in tickets)
    if sorted(per_alarm.values()) != [1] * 5:
        raise StepFailed(f"sandbox tickets per alarm: {dict(per_alarm)} (each exactly once expected)")
    rows = rows_by_instance(stack)
    by_id = {t["id"] for t in tickets}
    if not all(rows[i]["ticket_id"] in by_id for i in instances):
        raise StepFailed("a row points at a ticket that is not its alarm's")
    if recovery > RECOVERY_LIMIT:
        raise StepFailed(f"created {recovery:.1f} s after the worker was ready; the limit is {RECOVERY_LIMIT:g} s")
    queue = wait_for(
        "no message left unacknowledged",
        lambda: (q := stack.cli("beat", "status")["queue"])["redis_unacked"] == 0 and q,
        timeout=30,
    )
    held = f"lock held by {holder.get('worker')} at the kill" if holder else "lock free at the kill"
    return (
        f"{held}; all 5 created {recovery:.1f} s after the worker was ready again "
        f"({started_after:.1f} s after docker start), 5 tickets in the sandbox, unacked {queue['redis_unacked']}"
    )


def docker_time(stamp: str) -> float:
    """A ``docker logs --timestamps`` stamp (RFC 3339, nanoseconds, UTC) as a Unix time."""
    from datetime import datetime

    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (fraction or "0"))


def json_lines(text: str) -> list[dict[str, Any]]:
    """``docker compose ps --format json``: one object per line (or one array, in older v2)."""
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def metric_sum(exposition: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text exposition."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main(argv: list[str] | None = None) -> int:
    """Run the stack test; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end (then `down -v` it)")
    args = parser.parse_args(argv)
    if shutil.which("docker") is None:
        print("stack-test: docker is not installed", file=sys.stderr)
        return 2
    version = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False)
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2"):
        print("stack-test: Docker Compose v2 (`docker compose`) is required", file=sys.stderr)
        return 2
    steps = Steps()
    with tempfile.TemporaryDirectory(prefix="oceane-stacktest-") as tmp:
        stack = Stack(Path(tmp))
        print(f"stack-test: project {stack.project}, compose {version.stdout.strip()}, logs in {ARTIFACTS}", flush=True)
        code = 0
        try:
            run(stack, steps)
        except StepFailed:
            code = 1
        except KeyboardInterrupt:
            code = 130
        finally:
            stack.save_logs()
            if args.keep:
                kept = ARTIFACTS / "stack.env"  # throwaway passwords only
                text = stack.env_file.read_text().replace(f"APP_ENV_FILE={stack.env_file}", f"APP_ENV_FILE={kept}")
                kept.write_text(text)
                print(f"kept; when done: docker compose -p {stack.project} --env-file {kept} down -v", flush=True)
            else:
                with steps.step("down -v"):
                    stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
    total = time.monotonic() - steps.started
    print(f"stack-test: {'passed' if code == 0 else 'FAILED'} in {total:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
