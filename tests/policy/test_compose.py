"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine.

Every command a service or healthcheck runs must exist in the package (``oceane-ticket``
subcommands parse; ``celery -A worker ...`` subcommands exist and their options parse), every
variable the stack sets or references must be a real setting or a known compose/Flower/PostgreSQL
one, and the stack's shape (one beat, profiles, Redis persistence, healthchecks) is as the README's
"Running the stack with Docker Compose" says; nothing is published on every interface by default,
no compose-only variable is one Flower would take for one of its options, the image is built once
and installed from the pinned constraints. ``make stack-test`` runs the stack itself.

Over 400 lines on purpose: one parse of the compose file, the env example and the Dockerfile, checked from
every side the stack depends on.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tomllib
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
CONSTRAINTS = ROOT / "constraints.txt"

CORE = {"redis", "postgres", "migrate", "worker", "beat", "metrics", "intake"}
PROFILED = {"flower": ["debug"], "sandbox": ["demo"]}
# Variables that are not OCEANE_* settings, and who reads them.
KNOWN_VARIABLES = {
    "FLOWER_BASIC_AUTH",  # Flower's basic auth, checked by `oceane-ticket flower`
    "DEBUG_PAGE_ADDRESS",  # host address and port Flower is published on (compose)
    "DEBUG_PAGE_PORT",
    "SANDBOX_ADDRESS",  # host address and port of the sandbox (compose)
    "SANDBOX_PORT",
    "METRICS_ADDRESS",  # host address and port of the metrics exporter (compose)
    "APP_IMAGE",  # the image name of the app services (compose)
    "APP_ENV_FILE",  # the app containers' env_file (compose; the stack test's throwaway file)
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
# Read by Flower itself (as its --basic-auth option): the only FLOWER_* variable there may be.
FLOWER_OWN = {"FLOWER_BASIC_AUTH"}
SECRETS = {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH", "OCEANE_CLIENT_SECRET"}
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
    for name, service in app_services(services).items():
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


def app_services(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run our image (every one but redis and postgres)."""
    return {n: s for n, s in services.items() if n not in ("redis", "postgres")}


def test_app_services_take_their_settings_from_dotenv(services: dict[str, Any]) -> None:
    apps = app_services(services)
    assert set(apps) == {"migrate", "worker", "beat", "metrics", "flower", "sandbox", "intake"}
    for name, service in apps.items():
        env_file = service["env_file"]
        files = env_file if isinstance(env_file, list) else [env_file]
        # .env unless APP_ENV_FILE names another (the stack test's throwaway file).
        assert [default(f) for f in files] == [".env"], name


def default(value: str) -> str:
    """What compose makes of ``value`` when no variable is set (every ``${X:-d}`` becomes d)."""
    resolved = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    assert "$" not in resolved.replace("$$", ""), f"{value!r} has no default"
    return resolved


def test_the_image_is_built_once(services: dict[str, Any]) -> None:
    # Six `build:` sections built and exported the same image six times per `up --build`.
    apps = app_services(services)
    builders = [n for n, s in apps.items() if "build" in s]
    assert builders == ["migrate"]
    images = {default(s["image"]) for s in apps.values()}
    assert images == {"oceane-ticket:local"}
    for name, service in apps.items():
        if name not in builders:
            # Never pulled: it is built here and exists in no registry.
            assert service["pull_policy"] == "never", name
    # Every core app service waits for the builder, so `up` always builds before it starts them.
    for name in CORE & set(apps) - {"migrate"}:
        assert "migrate" in services[name]["depends_on"], name


# --- published ports ---


def published(services: dict[str, Any]) -> dict[str, list[str]]:
    """Every service's port mappings as written."""
    return {n: [str(p) for p in s.get("ports") or []] for n, s in services.items() if s.get("ports")}


def test_nothing_is_published_on_every_interface_by_default(services: dict[str, Any]) -> None:
    ports = published(services)
    assert set(ports) == {"metrics", "flower", "sandbox", "intake"}
    for name, mappings in ports.items():
        for mapping in mappings:
            # host_ip:host_port:container_port; without a host_ip Docker binds 0.0.0.0.
            parts = default(mapping).split(":")
            assert len(parts) == 3, f"{name}: {mapping} publishes on every interface"
            assert parts[0] == "127.0.0.1", f"{name}: {mapping}"
            assert parts[1].isdigit() and parts[2].isdigit(), mapping


def test_the_published_address_and_port_are_separate_variables(services: dict[str, Any]) -> None:
    # One variable for "127.0.0.1:5555" would have to be split by compose; and FLOWER_PORT once
    # held it, which Flower also read as its own port and crashed on.
    for mappings in published(services).values():
        for mapping in mappings:
            names = [m.group(1) or m.group(2) for m in INTERPOLATION.finditer(mapping)]
            assert len(names) == 2 and names[0].endswith("_ADDRESS") and names[1].endswith("_PORT"), mapping


def test_no_compose_only_variable_is_one_flower_reads(services: dict[str, Any]) -> None:
    # env_file hands every .env line to the containers too, and Flower takes any FLOWER_* variable
    # as one of its options: FLOWER_PORT=127.0.0.1:5555 (meant for compose) crashed it.
    names = compose_variables(services) | set(env_example())
    flowerish = {n for n in names if n.startswith("FLOWER_")}
    assert flowerish <= FLOWER_OWN, f"compose-only variables Flower would read: {flowerish - FLOWER_OWN}"
    interpolated = {m.group(1) or m.group(2) for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    assert not interpolated & FLOWER_OWN, "Flower's credentials are not for compose to interpolate"


def test_every_compose_variable_is_documented_in_env_example(services: dict[str, Any]) -> None:
    listed = set(env_example())
    interpolated = {m.group(1) or m.group(2) for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    assert "METRICS_PORT" in listed
    assert not interpolated - listed, f"not in .env.example: {sorted(interpolated - listed)}"


def test_no_secret_in_a_command_line(services: dict[str, Any]) -> None:
    # Command lines show in `docker compose config`, `docker inspect` and `ps` inside containers.
    for name, service in services.items():
        argvs = [as_argv(service.get("command") or []), as_argv(service.get("entrypoint") or [])]
        if "healthcheck" in service:
            argvs.append([str(p) for p in service["healthcheck"]["test"]])
        text = " ".join(" ".join(a) for a in argvs)
        for secret in SECRETS:
            assert secret not in text, f"{name} puts {secret} on a command line"


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
    fields = {f.name for f in dataclasses.fields(Settings)}
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

    urls = {k.removeprefix("OCEANE_").lower(): resolve(v) for k, v in env.items() if k.startswith("OCEANE_")}
    settings = make_settings(**urls)
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.database_url.startswith("postgresql+psycopg://oceane:")
    assert settings.database_url.endswith("@postgres:5432/oceane")
    assert settings.base_url == "http://sandbox:8090"


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed = env_example()
    missing = [
        f"OCEANE_{name.upper()}"
        for name in (f.name for f in dataclasses.fields(Settings))
        if f"OCEANE_{name.upper()}" not in listed
    ]
    assert not missing, f".env.example lacks {missing}"
    # The intake's token is shipped active, like Flower's credentials (below): not a default.
    shipped = {"OCEANE_INTAKE_TOKEN"}
    values = {
        k.removeprefix("OCEANE_").lower(): v
        for k, (v, _) in listed.items()
        if k.startswith("OCEANE_") and k not in shipped
    }
    # The documented defaults, read as settings, are the code's defaults.
    assert make_settings(**values) == make_settings()
    assert make_settings(**values).client_secret.get_secret_value() == make_settings().client_secret.get_secret_value()
    # Settings are commented out (defaults); only compose's own PostgreSQL account, Flower's
    # credentials and the intake's token are active, so that every profile starts as shipped (Flower
    # and the intake refuse to listen beyond loopback without them; Flower used to restart-loop).
    active = {k for k, (_, is_active) in listed.items() if is_active}
    assert active == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "FLOWER_BASIC_AUTH", *shipped}


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


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, rest) of every instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line[:1].isupper()
    ]


def test_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    keywords = dockerfile_instructions()
    assert keywords[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    froms = [rest for k, rest in keywords if k == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    runs = [rest for k, rest in keywords if k == "RUN"]
    assert any("pip install" in r and "-c constraints.txt" in r and "/wheels/" in r for r in runs)
    users = [rest for k, rest in keywords if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    # The image takes only the virtualenv from the build stage: no wheels, sources or pip cache.
    final = keywords[max(i for i, (k, _) in enumerate(keywords) if k == "FROM") :]
    assert [rest for k, rest in final if k == "COPY"] == ["--from=build /opt/venv /opt/venv"]


def requirement_name(spec: str) -> str:
    """The normalised project name of a requirement (``celery[redis]>=5.4`` -> ``celery``)."""
    return re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_in_the_constraints() -> None:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unpinned = {requirement_name(d) for d in project["dependencies"]} - set(pins)
    # A dependency added to pyproject.toml without regenerating constraints.txt.
    assert not unpinned, f"constraints.txt lacks {sorted(unpinned)}"
    # celery[redis] pulls kombu's Redis transport in: pinned too.
    assert {"kombu", "redis", "billiard"} <= set(pins)


def test_make_install_takes_the_images_versions() -> None:
    # The tests and lint run against the versions the image ships, not whatever the index has today.
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and "-e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
    stamp = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert stamp and "constraints.txt" in stamp.group(1).split()


def test_dockerignore_keeps_dotenv_out_of_the_build() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git/", ".venv/"} <= ignored


def test_make_stack_test_exists_and_is_not_part_of_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^stack-test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "scripts/stack_test.py" in target.group(1)
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert test_recipe and "stack" not in test_recipe.group(1)


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
