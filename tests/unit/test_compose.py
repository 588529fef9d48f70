"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine.

Every command a service or healthcheck runs must exist in the package (``oceane-ticket``
subcommands parse; ``celery -A worker ...`` subcommands exist and their options parse), every
variable the stack sets or references must be a real setting or a known compose/Flower/PostgreSQL
one, and the stack's shape (one beat, profiles, Redis persistence, healthchecks) is as issue 4 says.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from oceane_ticket.settings import Settings
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

CORE = {"redis", "postgres", "migrate", "worker", "beat", "metrics", "intake"}
PROFILED = {"flower": ["debug"], "sandbox": ["demo"]}
# Variables that are not OCEANE_* settings, and who reads them.
KNOWN_VARIABLES = {
    "FLOWER_BASIC_AUTH",  # Flower's basic auth, checked by `oceane-ticket flower`
    "FLOWER_PORT",  # host port of Flower (compose)
    "SANDBOX_PORT",  # host port of the sandbox (compose)
    "POSTGRES_USER",  # the postgres image, and our database URL
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "REDIS_MAXMEMORY",  # redis-server --maxmemory (compose)
    "COMPOSE_PROFILES",  # docker compose itself
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus-client's multiprocess mode (worker and metrics)
    "METRICS_PORT",  # host port of the metrics exporter (compose)
    "INTAKE_ADDRESS",  # host address the HTTP intake is published on (compose)
    "INTAKE_PORT",  # host port of the HTTP intake (compose)
}
# ${VAR}, ${VAR:-default}, ${VAR:?message} and $VAR, but not $$VAR (a container-side variable).
INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))")
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_example() -> dict[str, tuple[str, bool]]:
    """``.env.example`` as name -> (value, active); commented ``# NAME=value`` lines are defaults."""
    found: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(line.strip())
        if match:
            found[match.group(1)] = (match.group(2), not line.lstrip().startswith("#"))
    return found


def as_argv(command: Any) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    kind, *rest = test
    if kind == "CMD-SHELL":
        # Compose turns $$ into $; the shell then expands the container's own variable.
        return shlex.split(rest[0].replace("$$", "$"))
    assert kind == "CMD", test
    return rest


def check_oceane_ticket(argv: list[str]) -> Any:
    from cli.main import build_parser

    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse's way of saying "no such command or option"
        raise AssertionError(f"`{shlex.join(argv)}` does not parse") from exc


def check_celery(argv: list[str]) -> str:
    """``celery -A MODULE SUB ARGS``: the app imports, SUB is a celery command and ARGS parse."""
    import click
    from celery import Celery
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery

    assert argv[:2] == ["celery", "-A"], f"expected `celery -A MODULE ...`: {argv}"
    app = find_app(argv[2])
    assert isinstance(app, Celery), argv
    sub, args = argv[3], argv[4:]
    assert sub in celery.commands, f"`celery {sub}` is not a celery command"
    try:
        celery.commands[sub].make_context(sub, list(args), obj=CLIContext(app=app, no_color=True, workdir=None))
    except click.ClickException as exc:
        raise AssertionError(f"`{shlex.join(argv)}`: {exc.format_message()}") from exc
    return sub


def check_command(argv: list[str]) -> str:
    if argv[0] == "oceane-ticket":
        return "oceane-ticket " + check_oceane_ticket(argv).command
    if argv[0] == "celery":
        return "celery " + check_celery(argv)
    if argv[0] == "python":
        compile(argv[argv.index("-c") + 1], "<healthcheck>", "exec")
        return "python"
    raise AssertionError(f"unexpected program {argv[0]!r}")


# --- the file and its services ---


def test_it_parses_and_has_the_issues_services(services: dict[str, Any]) -> None:
    assert set(services) == CORE | set(PROFILED)


def test_every_app_command_exists_in_the_package(services: dict[str, Any]) -> None:
    ran = {}
    for name, service in services.items():
        if "build" not in service:
            continue  # the redis and postgres images
        ran[name] = check_command(as_argv(service["command"]))
    assert ran == {
        "migrate": "oceane-ticket db",
        "worker": "celery worker",
        "beat": "celery beat",
        "flower": "oceane-ticket flower",
        "metrics": "oceane-ticket metrics",
        "sandbox": "oceane-ticket sandbox",
        "intake": "oceane-ticket serve",
    }


def test_every_healthcheck_command_exists(services: dict[str, Any]) -> None:
    for service in services.values():
        if "healthcheck" not in service:
            continue
        argv = healthcheck_argv(service)
        if argv[0] in ("redis-cli", "pg_isready"):
            continue  # the images' own tools
        check_command(argv)


def test_migrate_is_a_one_shot_upgrade(services: dict[str, Any]) -> None:
    args = check_oceane_ticket(as_argv(services["migrate"]["command"]))
    assert (args.command, args.db_command, args.revision) == ("db", "upgrade", "head")
    assert str(services["migrate"]["restart"]) == "no"


def test_exactly_one_beat(services: dict[str, Any]) -> None:
    beats = []
    for name, service in services.items():
        argv = as_argv(service.get("command") or [])
        if argv[:1] == ["celery"]:
            beats += [name] if argv[3] == "beat" else []
            # A worker with an embedded beat would make a second scheduler.
            assert not {"-B", "--beat"} & set(argv), f"{name} embeds a beat"
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "profiles" not in services["beat"]


def test_flower_only_in_the_debug_profile_and_it_needs_auth(services: dict[str, Any]) -> None:
    from worker import flower

    runs_flower = [n for n, s in services.items() if "flower" in as_argv(s.get("command") or [])]
    assert runs_flower == ["flower"]
    assert services["flower"]["profiles"] == ["debug"]
    args = check_oceane_ticket(as_argv(services["flower"]["command"]))
    # It listens on every interface of its container, so it starts only with FLOWER_BASIC_AUTH...
    assert flower.check_access(args.address, None) is not None
    assert flower.check_access(args.address, "admin:change-me") is None
    # ...which comes from .env, never from the compose file.
    for service in services.values():
        assert "FLOWER_BASIC_AUTH" not in (service.get("environment") or {})


def test_sandbox_only_in_the_demo_profile(services: dict[str, Any]) -> None:
    runs_sandbox = [n for n, s in services.items() if as_argv(s.get("command") or [])[1:2] == ["sandbox"]]
    assert runs_sandbox == ["sandbox"]
    assert services["sandbox"]["profiles"] == ["demo"]
    args = check_oceane_ticket(as_argv(services["sandbox"]["command"]))
    assert args.host == "0.0.0.0" and args.allow_remote  # noqa: S104 - inside its container


def test_core_services_have_no_profile(services: dict[str, Any]) -> None:
    for name in CORE:
        assert "profiles" not in services[name], name
    for name, profiles in PROFILED.items():
        assert services[name]["profiles"] == profiles


def test_redis_is_append_only_and_never_evicts(services: dict[str, Any]) -> None:
    argv = as_argv(services["redis"]["command"])
    assert argv[0] == "redis-server"
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    volumes = [v.split(":")[0] for v in services["postgres"]["volumes"]]
    assert "pg-data" in volumes and "pg-data" in compose["volumes"]


def test_healthchecks(services: dict[str, Any]) -> None:
    for name in ("redis", "postgres", "worker", "flower", "sandbox"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert healthcheck_argv(services["redis"]) == ["redis-cli", "ping"]
    assert healthcheck_argv(services["postgres"])[0] == "pg_isready"
    worker_check = healthcheck_argv(services["worker"])
    assert check_command(worker_check) == "celery inspect" and "ping" in worker_check


def test_depends_on_uses_conditions(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert "profiles" not in services[target], f"{name} depends on the optional {target}"
            assert spec.get("condition") in {"service_healthy", "service_completed_successfully"}
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck to wait for"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    worker = services["worker"]["depends_on"]
    assert worker["migrate"]["condition"] == "service_completed_successfully"
    assert worker["redis"]["condition"] == worker["postgres"]["condition"] == "service_healthy"
    assert services["beat"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_app_services_take_their_settings_from_dotenv(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            env_file = service["env_file"]
            assert (env_file if isinstance(env_file, list) else [env_file]) == [".env"], name


# --- variables ---


def compose_variables(services: dict[str, Any]) -> set[str]:
    names = {m.group(1) or m.group(2) for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    for service in services.values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        names |= set(environment)
    return names


def test_every_variable_is_a_setting_or_known(services: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    names = compose_variables(services) | set(env_example())
    unknown = []
    for name in sorted(names):
        if name.startswith("OCEANE_"):
            if name.removeprefix("OCEANE_").lower() not in fields:
                unknown.append(name)
        elif name not in KNOWN_VARIABLES:
            unknown.append(name)
    assert not unknown, f"not a setting and not known: {unknown}"


def test_the_stack_urls_are_valid_settings(services: dict[str, Any]) -> None:
    env = services["worker"]["environment"]

    def resolve(value: str) -> str:
        # ${VAR:-default} / ${VAR:?message}: what compose yields with .env.example's values.
        example = {k: v for k, (v, active) in env_example().items() if active}

        def one(match: re.Match[str]) -> str:
            name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
            if name in example:
                return example[name]
            assert op != ":?", f"{name} is required but .env.example does not set it"
            return rest

        return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)

    urls = {k.removeprefix("OCEANE_").lower(): resolve(v) for k, v in env.items()}
    settings = make_settings(**urls)
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.database_url.startswith("postgresql+psycopg://oceane:")
    assert settings.database_url.endswith("@postgres:5432/oceane")
    assert settings.base_url == "http://sandbox:8090"


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed = env_example()
    missing = [f"OCEANE_{name.upper()}" for name in Settings.model_fields if f"OCEANE_{name.upper()}" not in listed]
    assert not missing, f".env.example lacks {missing}"
    values = {k.removeprefix("OCEANE_").lower(): v for k, (v, _) in listed.items() if k.startswith("OCEANE_")}
    # The documented defaults, read as settings, are the code's defaults.
    assert make_settings(**values).model_dump() == make_settings().model_dump()
    assert make_settings(**values).client_secret.get_secret_value() == make_settings().client_secret.get_secret_value()
    # Settings are commented out (defaults); only compose's own PostgreSQL account is active.
    active = {k for k, (_, is_active) in listed.items() if is_active}
    assert active == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def test_env_example_has_a_comment_for_every_setting() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        match = ENV_LINE.match(line.strip())
        if not match or not match.group(1).startswith("OCEANE_"):
            continue
        # Walk up over neighbouring settings of the same group to the explaining comment.
        above = index - 1
        while above >= 0 and ENV_LINE.match(lines[above].strip()):
            above -= 1
        assert above >= 0 and lines[above].startswith("# "), f"{match.group(1)} has no comment"


# --- the image ---


def test_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    instructions = [
        line.split(None, 1)
        for line in DOCKERFILE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line[:1].isupper()
    ]
    keywords = [(k.upper(), rest.strip()) for k, rest in instructions]
    assert keywords[0] == ("FROM", "python:3.11-slim")
    assert any(k == "RUN" and "pip install ." in rest for k, rest in keywords)
    users = [rest for k, rest in keywords if k == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_the_intake_needs_its_token_and_is_published_on_loopback(services: dict[str, Any]) -> None:
    from intake import serve

    args = check_oceane_ticket(as_argv(services["intake"]["command"]))
    # Every interface of its container: it starts only with OCEANE_INTAKE_TOKEN...
    assert serve.check_access(args.host, "") is not None
    assert serve.check_access(args.host, "a-token-of-sixteen-or-more") is None
    # ...which comes from .env, never from the compose file.
    assert "OCEANE_INTAKE_TOKEN" not in (services["intake"].get("environment") or {})
    (published,) = services["intake"]["ports"]
    assert published.startswith("${INTAKE_ADDRESS:-127.0.0.1}:")
    assert "/health" in " ".join(healthcheck_argv(services["intake"]))
