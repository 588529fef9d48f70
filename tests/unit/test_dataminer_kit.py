"""The DataMiner kit: the C# scripts compile against the API stub, run right under Mono, HyperLinks.xml is sound.

Compiling needs Mono's ``mcs`` and the System.Net.Http / System.Web.Extensions assemblies (.ci/run installs
them): the tests skip on a laptop without them and fail in CI. Running the scripts uses
``tests/dataminer_stub/Harness.cs``: a recording engine stands in for DataMiner, a small HTTP server on
loopback for the intake, and the fake DataMiner checks that it answers exactly as the real script does.

Over 400 lines on purpose: one test bed (Mono's compiler, the harness, the stand-in intake) serves every
test of the kit, and the developers' guide names this file as the kit's tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES
from tests.conftest import ROOT, service_missing

KIT = ROOT / "dataminer"
STUB = ROOT / "tests" / "dataminer_stub"
REFERENCES = ["-r:System.Net.Http.dll", "-r:System.Web.Extensions.dll", "-r:System.Core.dll"]
AUTOMATION_NS = "{http://www.skyline.be/automation}"
HYPERLINKS_NS = "{http://www.skyline.be/config/hyperlinks}"
TOKEN = "intake-secret-token-123"
STUB_SOURCES = [str(STUB / "Automation.cs"), str(STUB / "GenericInterface.cs")]


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dataminer_build_scripts", KIT / "build_scripts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
SCRIPT_IDS = [spec.source for spec in builder.SCRIPTS]


def _spec(source: str) -> Any:
    return next(spec for spec in builder.SCRIPTS if spec.source == source)


def _parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - the kit's own committed files, not untrusted input


def _xml_code(spec: Any) -> str:
    """The C# block of a committed script XML, as DataMiner would compile it."""
    root = _parse(KIT / "scripts" / spec.xml_name)
    value = root.find(f"{AUTOMATION_NS}Script/{AUTOMATION_NS}Exe/{AUTOMATION_NS}Value")
    assert value is not None and value.text
    return value.text


# --- compiling ---


@pytest.fixture(scope="session")
def mcs() -> str:
    """Mono's C# compiler, with the framework assemblies the scripts reference."""
    path = shutil.which("mcs")
    if path is None or shutil.which("mono") is None:
        service_missing(
            "Mono (mcs)", "apt-get install mono-mcs libmono-system-net-http4.0-cil libmono-system-web-extensions4.0-cil"
        )
    return str(path)


@pytest.fixture(scope="session")
def stub_dll(mcs: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DataMiner API stub, compiled once."""
    out = tmp_path_factory.mktemp("stub") / "Skyline.DataMiner.Stub.dll"
    result = _compile(mcs, ["-target:library", f"-out:{out}", *STUB_SOURCES])
    if result.returncode != 0 and "Metadata file" in result.stdout + result.stderr:
        service_missing("Mono framework assemblies", (result.stdout + result.stderr).strip()[:300])
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _compile(mcs: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mcs, "-warnaserror", *REFERENCES, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _compile_script(mcs: str, stub: Path, code: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    source = workdir / "Script.cs"
    source.write_text(code, encoding="utf-8")
    return _compile(mcs, ["-target:library", f"-r:{stub}", f"-out:{workdir / 'Script.dll'}", str(source)])


def test_script_xml_files_are_built_from_the_sources() -> None:
    for spec in builder.SCRIPTS:
        committed = (KIT / "scripts" / spec.xml_name).read_text(encoding="utf-8")
        assert committed == builder.render(spec), f"{spec.xml_name} is stale: run python dataminer/build_scripts.py"


@pytest.mark.parametrize("source", SCRIPT_IDS)
def test_script_compiles_against_the_dataminer_api(mcs: str, stub_dll: Path, tmp_path: Path, source: str) -> None:
    spec = _spec(source)
    root = _parse(KIT / "scripts" / spec.xml_name)
    assert root.findtext(f"{AUTOMATION_NS}Name") == spec.name
    declared = [p.findtext(f"{AUTOMATION_NS}Description") for p in root.iter(f"{AUTOMATION_NS}ScriptParameter")]
    assert declared == list(spec.parameters)
    refs = [p.text for p in root.iter(f"{AUTOMATION_NS}Param") if p.get("type") == "ref"]
    assert refs == list(spec.references)
    assert (
        root.findtext(f"{AUTOMATION_NS}Folder") == ""
    )  # the Automation root: hyperlinks name scripts without a folder

    result = _compile_script(mcs, stub_dll, _xml_code(spec), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        # A method DataMiner's engine does not have (here: the obsolete overload without the element ID).
        (
            (
                "engine.SetAlarmProperty(Alarm.DmaId, Alarm.ElementId, Alarm.AlarmId,",
                "engine.SetAlarmProperty(Alarm.DmaId, Alarm.AlarmId,",
            ),
            "CS1501",
        ),
        (("public void Apply(IEngine engine)\n\t\t{", "public void Apply(IEngine engine)\n\t\t{ int x = "), "CS1525"),
        (("using Oceane.DataMiner;", "using Oceane.DataMinerX;"), "CS0234"),
    ],
)
def test_a_broken_script_fails_to_compile(
    mcs: str, stub_dll: Path, tmp_path: Path, breakage: tuple[str, str], error: str
) -> None:
    code = _xml_code(_spec("OceaneSetAlarmProperties.cs"))
    old, new = breakage
    assert old in code
    result = _compile_script(mcs, stub_dll, code.replace(old, new, 1), tmp_path)
    assert result.returncode != 0
    assert error in result.stdout + result.stderr


# --- HyperLinks.xml ---


def _hyperlinks() -> dict[str, ET.Element]:
    root = _parse(KIT / "HyperLinks.xml")
    assert root.tag == f"{HYPERLINKS_NS}HyperLinks"
    links = {link.get("name", ""): link for link in root.iter(f"{HYPERLINKS_NS}HyperLink")}
    assert len({link.get("id") for link in links.values()}) == len(links) == 3
    return links


_SEP = re.compile(r"^\[sep:(.)(.)\]")


def _separators(text: str, defaults: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Strip leading [sep:XY] tags (Linking_a_shape_to_an_Automation_script.md): X is now written as Y."""
    seps = dict(defaults)
    while match := _SEP.match(text):
        seps[match.group(1)] = match.group(2)
        text = text[match.end() :]
    return text, seps


def _script_link(link: ET.Element) -> tuple[str, dict[str, str], list[str]]:
    """A script hyperlink as DataMiner reads it: the script, its parameters, and tooltip + options."""
    text, top = _separators((link.text or "").strip(), {"|": "|"})
    script, dummies, params, memory, *rest = text.split(top["|"])
    assert (dummies, memory) == ("", "")
    params, seps = _separators(params, {";": ";", "=": "="})
    passed = dict(pair.split(seps["="], 1) for pair in params.split(seps[";"]))
    return script, passed, rest


def test_create_ticket_link_runs_the_interactive_script_for_a_selection() -> None:
    link = _hyperlinks()["Create Ticket"]
    assert (link.get("version"), link.get("type"), link.get("menu")) == ("2", "script", "root")
    assert link.get("combineParameters") == "true"
    assert link.get("separator") == "\u00b6"  # OceaneNames.CombineSeparator in the scripts
    script, passed, rest = _script_link(link)
    assert script == "Orange Oceane Ticketing System" == builder.SCRIPTS[0].name
    assert rest == ["Create ticket in Oceane Ticketing Tool", "NoConfirmation,CloseWhenFinished"]
    assert passed == {
        "DMA ID": "[DMAID]",
        "Element ID": "[EID]",
        "Alarm ID": "[ROOTKEY]",
        "Element Name": "[ENAME]",
        "Alarm Value": "[VALUE]",
        "Root Time": "[ROOTTIME:yyyy-MM-ddTHH:mm:ssK]",  # K: the time's own offset, never a literal Z
    }
    assert list(passed) == list(builder.SCRIPTS[0].parameters)  # every declared parameter, nothing else


def test_values_with_the_default_separators_stay_inside_their_parameter() -> None:
    _, passed, _ = _script_link(_hyperlinks()["Create Ticket"])
    # What DataMiner substitutes for [ENAME] and [VALUE] may hold ";", "=" and "|": none is a separator now.
    link = _hyperlinks()["Create Ticket"]
    raw = (link.text or "").replace("[ENAME]", "core; site=PAR|1").replace("[VALUE]", "a=b; c|d")
    fake = ET.Element("HyperLink")
    fake.text = raw
    _, substituted, rest = _script_link(fake)
    assert substituted["Element Name"] == "core; site=PAR|1"
    assert substituted["Alarm Value"] == "a=b; c|d"
    assert len(rest) == 2 and list(substituted) == list(passed)


def test_no_hyperlink_carries_a_token_or_the_intakes_address() -> None:
    text = (KIT / "HyperLinks.xml").read_text(encoding="utf-8")
    body = text[text.index("<HyperLinks") :]
    assert "token" not in body.lower()
    assert "intake" not in body.lower().replace("oceane ticketing tool", "")
    for link in _hyperlinks().values():
        if link.get("type") == "script":
            assert not {"Intake URL", "Intake Token", "Alarm Writer"} & set(_script_link(link)[1])


_CLAUSE = re.compile(r"""\(AlarmEventMessage\.PropertiesDict\."([^"]+)"\[String\] (==|!=) '([^']*)'\)""")


def _filter(link: ET.Element) -> Callable[[dict[str, str]], bool]:
    """The link's filterElement as DataMiner evaluates it, accepting only the documented forms.

    Hyperlinks_xml.md, filterElement: quoted property names (9.6.9+) in [String] comparisons, joined by
    AND or OR; an absent property compares as '' (the connector's form). KeyExists with a quoted name is
    not documented and not used.
    """
    condition = link.get("filterElement", "")
    assert "KeyExists" not in condition
    clauses = _CLAUSE.findall(condition)
    joiners = set(re.split(_CLAUSE.pattern, condition)[::4])
    assert clauses and joiners <= {"", " AND ", " OR "} and len(joiners - {""}) <= 1, condition
    any_of = " OR " in joiners

    def matches(properties: dict[str, str]) -> bool:
        results = [(properties.get(name, "") == value) == (op == "==") for name, op, value in clauses]
        return any(results) if any_of else all(results)

    return matches


FINAL = tuple(sorted(OCEANE_CLOSED_STATUSES))  # the kit's filter must agree with ours
ALARM_STATES = [
    {},
    {"Oceane Ticket ID": ""},
    {"Oceane Ticket ID": "TT-1"},
    {"Oceane Ticket ID": "TT-1", "Oceane Ticket URL": "http://oceane/TT-1", "Oceane Ticket Status": "inProgress"},
    *({"Oceane Ticket ID": "TT-1", "Oceane Ticket URL": "u", "Oceane Ticket Status": s} for s in FINAL),
]


@pytest.mark.parametrize("properties", ALARM_STATES)
def test_exactly_one_of_create_ticket_and_add_note_is_offered(properties: dict[str, str]) -> None:
    links = _hyperlinks()
    create, note, go = (_filter(links[n]) for n in ("Create Ticket", "Add Note to Ticket", "Go To Ticket"))
    has_live_ticket = bool(properties.get("Oceane Ticket ID")) and properties.get("Oceane Ticket Status") not in FINAL

    assert create(properties) is not has_live_ticket
    assert note(properties) is has_live_ticket
    assert go(properties) is bool(properties.get("Oceane Ticket URL"))


def test_add_note_link_runs_the_lifecycle_script() -> None:
    link = _hyperlinks()["Add Note to Ticket"]
    assert (link.get("version"), link.get("type"), link.get("menu")) == ("2", "script", "root")
    script, passed, _ = _script_link(link)
    assert script == "Oceane Add Note"
    assert passed == {"DMA ID": "[DMAID]", "Element ID": "[EID]", "Alarm ID": "[ROOTKEY]"}


def test_every_script_hyperlink_passes_exactly_the_parameters_its_script_declares() -> None:
    # DataMiner hands a hyperlink's parameters to the script by name: one the script does not declare,
    # or one it declares but is not given, breaks the run on the Agent, not here.
    by_name = {spec.name: spec for spec in builder.SCRIPTS}
    for name, link in _hyperlinks().items():
        if link.get("type") != "script":
            continue
        script, passed, _ = _script_link(link)
        assert set(passed) == set(by_name[script].parameters), name


def test_go_to_ticket_link_opens_the_ticket_url_once_it_is_set() -> None:
    link = _hyperlinks()["Go To Ticket"]
    assert (link.get("version"), link.get("type")) == ("2", "url")
    assert (link.text or "").strip() == "[PROPERTY:ALARM:Oceane Ticket URL]"


# --- running the scripts under Mono ---


@pytest.fixture(scope="session")
def harness(mcs: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Run a script (by source file) on a scenario; compiled once per script."""
    built: dict[str, Path] = {}
    offline: dict[str, dict[str, Any]] = {}  # runs that touch no network give the same answer every time
    workdir = tmp_path_factory.mktemp("harness")

    def run(source: str, scenario: dict[str, Any]) -> dict[str, Any]:
        key = source + json.dumps(scenario, sort_keys=True)
        if source in ("OceaneAlarmPropertiesApi.cs", "OceaneSetAlarmProperties.cs") and key in offline:
            return json.loads(json.dumps(offline[key]))
        if source not in built:
            code = workdir / f"{source}.code.cs"
            code.write_text(_xml_code(_spec(source)), encoding="utf-8")
            exe = workdir / f"{source}.exe"
            result = _compile(mcs, [f"-out:{exe}", *STUB_SOURCES, str(STUB / "Harness.cs"), str(code)])
            assert result.returncode == 0, result.stdout + result.stderr
            built[source] = exe
        scenario_file = workdir / "scenario.json"
        scenario_file.write_text(json.dumps(scenario), encoding="utf-8")
        # The Agent's intake.json, as an administrator places it (README step 4); None: no file at all.
        config_file = workdir / "intake.json"
        config_file.unlink(missing_ok=True)
        if scenario.get("config") is not None:
            config_file.write_text(json.dumps(scenario["config"]), encoding="utf-8")
        env = {**os.environ, "OCEANE_KIT_CONFIG": str(config_file)}
        done = subprocess.run(
            ["mono", str(built[source]), str(scenario_file)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outcome: dict[str, Any] = json.loads(done.stdout)
        assert outcome.get("exit") != "crashed", outcome.get("reason")
        offline[key] = outcome
        return json.loads(json.dumps(outcome))

    return run


UDAPI_BODY = {
    "dmaId": 12,
    "elementId": 345,
    "rootAlarmId": 67890,
    "properties": {"Oceane Ticket ID": "TT-1", "Oceane Ticket URL": "http://oceane/t/TT-1"},
}


def _api(body: Any, method: str = "Post") -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return {"entry": "api", "api": {"method": method, "body": raw}}


def test_udapi_script_sets_each_property_on_the_root_alarm(harness: Any) -> None:
    outcome = harness("OceaneAlarmPropertiesApi.cs", _api(UDAPI_BODY))

    assert outcome["api"]["code"] == 200
    assert json.loads(outcome["api"]["body"]) == UDAPI_BODY
    assert outcome["properties"] == [
        [12, 345, 67890, "Oceane Ticket ID", "TT-1"],
        [12, 345, 67890, "Oceane Ticket URL", "http://oceane/t/TT-1"],
    ]


BAD_UDAPI_BODIES = [
    ({k: v for k, v in UDAPI_BODY.items() if k != "dmaId"}, "dmaId"),
    ({**UDAPI_BODY, "elementId": "abc"}, "elementId"),
    ({**UDAPI_BODY, "rootAlarmId": -4}, "rootAlarmId"),
    ({**UDAPI_BODY, "rootAlarmId": True}, "rootAlarmId"),
    ({**UDAPI_BODY, "properties": {"Owner": "x"}}, "properties"),
    ({**UDAPI_BODY, "properties": {"Oceane Ticket ID": 5}}, "properties.Oceane Ticket ID"),
    ({**UDAPI_BODY, "properties": {}}, "properties"),
    ({**UDAPI_BODY, "properties": ["Oceane Ticket ID"]}, "properties"),
    ("{not json", "body"),
    ("[1, 2]", "body"),
    ("", "body"),
]


@pytest.mark.parametrize(("body", "field_name"), BAD_UDAPI_BODIES)
def test_udapi_script_refuses_a_bad_body_naming_the_field(harness: Any, body: Any, field_name: str) -> None:
    outcome = harness("OceaneAlarmPropertiesApi.cs", _api(body))

    assert outcome["api"]["code"] == 400
    (error,) = json.loads(outcome["api"]["body"])["errors"]  # DataMiner's recommended shape, without errorCode
    assert error["detail"].startswith(field_name + ":")
    assert "errorCode" not in error
    assert outcome["properties"] == []


def test_udapi_script_answers_405_to_another_method(harness: Any) -> None:
    outcome = harness("OceaneAlarmPropertiesApi.cs", _api(UDAPI_BODY, method="Get"))
    assert outcome["api"]["code"] == 405
    assert outcome["properties"] == []


@pytest.mark.parametrize("body", [UDAPI_BODY, *(body for body, _ in BAD_UDAPI_BODIES)])
def test_fake_dataminer_answers_the_udapi_as_the_script_does(harness: Any, body: Any) -> None:
    from tests.fakedm import FakeDataMiner

    script = harness("OceaneAlarmPropertiesApi.cs", _api(body))
    with FakeDataMiner(token="t") as dm:
        raw = body if isinstance(body, str) else json.dumps(body)
        answer = requests.post(
            f"{dm.url}/api/custom/{dm.route}", data=raw.encode(), headers={"Authorization": "Bearer t"}, timeout=10
        )
        stored = dm.all_properties()

    assert answer.status_code == script["api"]["code"]
    assert answer.json() == json.loads(script["api"]["body"])
    expected: dict[tuple[int, int, int], dict[str, str]] = {}
    for dma, element, alarm, name, value in script["properties"]:
        expected.setdefault((dma, element, alarm), {})[name] = value
    assert stored == expected


PROPERTY_PARAMS = {
    "DMA ID": "12",
    "Element ID": "345",
    "Alarm ID": "67890",
    "Oceane Ticket ID": "TT-9",
    "Oceane Ticket URL": "http://oceane/t/TT-9",
    "Oceane Ticket Status": "acknowledged",
}


def test_property_script_sets_the_given_properties(harness: Any) -> None:
    outcome = harness("OceaneSetAlarmProperties.cs", {"entry": "run", "params": PROPERTY_PARAMS})

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert outcome["properties"] == [
        [12, 345, 67890, "Oceane Ticket ID", "TT-9"],
        [12, 345, 67890, "Oceane Ticket URL", "http://oceane/t/TT-9"],
        [12, 345, 67890, "Oceane Ticket Status", "acknowledged"],
    ]


def test_property_script_without_the_optional_status_sets_the_other_two(harness: Any) -> None:
    params = {k: v for k, v in PROPERTY_PARAMS.items() if k != "Oceane Ticket Status"}
    outcome = harness("OceaneSetAlarmProperties.cs", {"entry": "run", "params": params})

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert [p[3] for p in outcome["properties"]] == ["Oceane Ticket ID", "Oceane Ticket URL"]


@pytest.mark.parametrize(("name", "value"), [("DMA ID", "twelve"), ("Alarm ID", "0"), ("Element ID", "")])
def test_property_script_fails_naming_a_bad_parameter(harness: Any, name: str, value: str) -> None:
    outcome = harness("OceaneSetAlarmProperties.cs", {"entry": "run", "params": {**PROPERTY_PARAMS, name: value}})

    assert outcome["exit"] == "fail"
    assert outcome["reason"].startswith(name + ":")
    assert outcome["properties"] == []


# --- the ticket scripts against an intake on loopback ---


@dataclass
class FakeIntake:
    """A scripted stand-in for `oceane-ticket serve`: answers per (method, path) and records requests."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    # (method, path) -> how many of the next such requests get no answer: the connection is closed
    # once the request is read, as a kept-alive connection the server or a proxy dropped.
    drops: dict[tuple[str, str], int] = field(default_factory=dict)

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        self.answers[(method, path)] = (status, body)


@pytest.fixture
def intake() -> Iterator[FakeIntake]:
    fake = FakeIntake()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            fake.requests.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                    "authorization": self.headers.get("Authorization"),
                    "json": json.loads(body) if body else None,
                }
            )
            if fake.drops.get((self.command, parts.path), 0) > 0:
                fake.drops[(self.command, parts.path)] -= 1
                self.close_connection = True
                return
            status, answer = fake.answers.get((self.command, parts.path), (404, {"error": "not found"}))
            if callable(answer):  # answers that depend on the query (a table's pages)
                status, answer = answer({k: v[0] for k, v in parse_qs(parts.query).items()})
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


ALARM = {
    "DMA ID": "12",
    "Element ID": "345",
    "Alarm ID": "67890",
    "Element Name": "Router; core=1",
    "Alarm Value": "Link down",
    "Root Time": "2026-11-29T08:00:00Z",
}
FORM = {
    "priority": ["1", "2", "3", "4"],
    "urgency": ["Critical", "Major", "Minor", "None"],
    "technicalImpact": ["Critical", "Major", "Minor", "None"],
    "clientImpact": ["Critical", "Major", "Minor", "None"],
    "descriptionMaxLength": 4000,
}


def _answer(status: str, **extra: Any) -> dict[str, Any]:
    answer = {
        "instance": "inst-1",
        "status": status,
        "ticketId": None,
        "ticketUrl": None,
        "existing": False,
        "dmaId": 12,
        "elementId": 345,
        "alarmId": 67890,
        "elementName": ALARM["Element Name"],
        "alarmValue": ALARM["Alarm Value"],
        "rootTime": ALARM["Root Time"],
        "error": None,
    }
    answer.update(extra)
    return answer


CREATED = _answer("created", ticketId="OCE-42", ticketUrl="http://oceane/ticket/OCE-42")


def _config(intake: FakeIntake) -> dict[str, str]:
    """The Agent's intake.json for the stand-in intake."""
    return {"intakeUrl": intake.url, "intakeToken": TOKEN}


def _run(intake: FakeIntake, writer: str, params: dict[str, str] | None = None, **scenario: Any) -> dict[str, Any]:
    """A scenario: the alarm (or ``params``), the Agent's settings file, and an intake running ``writer``."""
    status, form = intake.answers.get(("GET", "/form"), (200, FORM))
    intake.answer("GET", "/form", status, {**form, "alarmWriter": writer} if isinstance(form, dict) else form)
    return {"entry": "run", "params": {**ALARM, **(params or {})}, "config": _config(intake), **scenario}


DETAILS = {"Priority": "2", "Urgency": "Major", "Technical Impact": "Minor", "Client Impact": "", "Description": ""}


def _posts(intake: FakeIntake) -> list[dict[str, Any]]:
    return [r for r in intake.requests if r["method"] == "POST"]


@pytest.mark.parametrize(("writer", "sets_properties"), [("none", True), ("udapi", False), ("webservices", False)])
def test_automatic_script_creates_the_ticket(
    harness: Any, intake: FakeIntake, writer: str, sets_properties: bool
) -> None:
    intake.answer("POST", "/tickets", 201, CREATED)
    scenario = _run(intake, writer, DETAILS, user="corr-engine")

    outcome = harness("OceaneCreateTicket.cs", scenario)

    assert outcome["exit"] == "completed", outcome.get("reason")
    (post,) = _posts(intake)
    assert post["authorization"] == f"Bearer {TOKEN}"
    assert post["query"] == {"wait": "30"}
    assert post["json"] == {
        "dmaId": 12,
        "elementId": 345,
        "alarmId": 67890,
        "elementName": "Router; core=1",
        "alarmValue": "Link down",
        "rootTime": "2026-11-29T08:00:00Z",
        "priority": "2",
        "urgency": "Major",
        "technicalImpact": "Minor",
        "clientImpact": "",
        "description": "",
        "user": "corr-engine",
    }
    assert outcome["outputs"]["ticketId"] == "OCE-42"
    expected = [
        [12, 345, 67890, "Oceane Ticket ID", "OCE-42"],
        [12, 345, 67890, "Oceane Ticket URL", CREATED["ticketUrl"]],
    ]
    assert outcome["properties"] == (expected if sets_properties else [])


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            422,
            {"error": "urgency: must be one of Critical, Major", "field": "urgency", "fields": ["urgency"]},
            "urgency: must be one of",
        ),
        (401, {"error": "missing or wrong credentials"}, "intakeToken in"),
        (503, {"detail": "database unavailable"}, "database unavailable"),
        (201, _answer("failed", error="Oceane answered 400"), "Oceane answered 400"),
    ],
)
def test_automatic_script_fails_with_the_intakes_reason(
    harness: Any, intake: FakeIntake, status: int, body: Any, reason: str
) -> None:
    intake.answer("POST", "/tickets", status, body)
    outcome = harness("OceaneCreateTicket.cs", _run(intake, "none", DETAILS))

    assert outcome["exit"] == "fail"
    assert reason in outcome["reason"]
    assert TOKEN not in json.dumps(outcome)
    assert outcome["properties"] == []


@pytest.mark.parametrize(
    ("override", "field_name"),
    [({"Priority": ""}, "Priority"), ({"DMA ID": "x"}, "DMA ID"), ({"Alarm ID": "1\u00b62"}, "Alarm ID")],
)
def test_automatic_script_refuses_bad_parameters_without_calling_the_intake(
    harness: Any, intake: FakeIntake, override: dict[str, str], field_name: str
) -> None:
    outcome = harness("OceaneCreateTicket.cs", _run(intake, "none", {**DETAILS, **override}))

    assert outcome["exit"] == "fail"
    assert outcome["reason"].startswith(field_name)
    assert intake.requests == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (None, "cannot read"),
        ({"intakeUrl": "ftp://x", "intakeToken": TOKEN}, "intakeUrl in"),
        ({"intakeUrl": "https://intake.example.net"}, "intakeToken in"),
        ("not an object", "is not a JSON object"),
    ],
)
def test_scripts_refuse_a_missing_or_bad_settings_file_on_the_agent(
    harness: Any, intake: FakeIntake, config: Any, problem: str
) -> None:
    outcome = harness("OceaneCreateTicket.cs", {**_run(intake, "none", DETAILS), "config": config})

    assert outcome["exit"] == "fail"
    assert problem in outcome["reason"]
    assert intake.requests == []


def _dialog_texts(outcome: dict[str, Any]) -> list[str]:
    return [" ".join(d["texts"]) for d in outcome["dialogs"]]


def test_interactive_script_shows_the_existing_ticket_without_asking(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/tickets", 200, {**CREATED, "existing": True})
    outcome = harness("OrangeOceaneTicketingSystem.cs", _run(intake, "none"))

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert [r["path"] for r in intake.requests] == ["/tickets", "/form"]
    assert intake.requests[0]["query"] == {"dmaId": "12", "elementId": "345", "alarmId": "67890"}
    texts = _dialog_texts(outcome)
    assert len(texts) == 1 and "already has Oceane ticket OCE-42" in texts[0]
    assert [p[3:] for p in outcome["properties"]] == [
        ["Oceane Ticket ID", "OCE-42"],
        ["Oceane Ticket URL", CREATED["ticketUrl"]],
    ]


def test_interactive_script_asks_the_details_and_creates_the_ticket(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/form", 200, FORM)
    intake.answer("POST", "/tickets", 201, CREATED)
    filled = {
        "priority": "1",
        "urgency": "Critical",
        "technicalImpact": "Major",
        "clientImpact": "Minor",
        "description": "Core router down; ticket from the NOC",
    }
    scenario = {
        "user": "alice",
        **_run(intake, "udapi"),
        "ui": [{"values": filled, "press": "create"}],
    }

    outcome = harness("OrangeOceaneTicketingSystem.cs", scenario)

    assert outcome["exit"] == "completed", outcome.get("reason")
    form_dialog = outcome["dialogs"][0]
    assert form_dialog["dropDowns"] == {
        "priority": ["", *FORM["priority"]],
        "urgency": ["", *FORM["urgency"]],
        "technicalImpact": ["", *FORM["technicalImpact"]],
        "clientImpact": ["", *FORM["clientImpact"]],
    }
    assert form_dialog["required"] == ["priority", "urgency", "technicalImpact"]
    (post,) = _posts(intake)
    assert post["query"] == {"wait": "30"}
    assert {k: post["json"][k] for k in filled} == filled
    assert post["json"]["user"] == "alice"
    assert "Oceane ticket created: OCE-42" in _dialog_texts(outcome)[-1]
    assert outcome["properties"] == []  # udapi: the worker writes them


def test_interactive_script_keeps_asking_until_the_required_fields_are_filled(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/form", 200, FORM)
    intake.answer("POST", "/tickets", 201, _answer("queued"))
    scenario = {
        **_run(intake, "none"),
        "ui": [
            {"values": {"urgency": "Major", "technicalImpact": "Major"}, "press": "create"},
            {"values": {"priority": "3", "urgency": "Major", "technicalImpact": "Major"}, "press": "create"},
        ],
    }

    outcome = harness("OrangeOceaneTicketingSystem.cs", scenario)

    texts = _dialog_texts(outcome)
    assert "Priority is required" in texts[1]
    assert len(_posts(intake)) == 1
    assert "Ticket request queued (inst-1, queued)" in texts[2]
    assert outcome["properties"] == []  # not created yet: nothing to write


def test_interactive_script_shows_the_intakes_field_error_in_the_dialog(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/form", 200, FORM)
    intake.answer(
        "POST", "/tickets", 422, {"error": "description: too long", "field": "description", "fields": ["description"]}
    )
    scenario = {
        **_run(intake, "none"),
        "ui": [
            {"values": {"priority": "1", "urgency": "Major", "technicalImpact": "Major"}, "press": "create"},
            {"press": "cancel"},
        ],
    }

    outcome = harness("OrangeOceaneTicketingSystem.cs", scenario)

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert "description: too long" in _dialog_texts(outcome)[1]
    assert len(_posts(intake)) == 1
    assert outcome["outputs"]["status"] == "cancelled"


def test_interactive_script_reports_an_unreachable_intake(harness: Any, intake: FakeIntake) -> None:
    scenario = {**_run(intake, "none"), "config": {"intakeUrl": "http://127.0.0.1:9", "intakeToken": TOKEN}}
    outcome = harness("OrangeOceaneTicketingSystem.cs", scenario)  # discard port: nothing listens

    assert outcome["exit"] == "fail"
    assert re.search(r"intake at http://127\.0\.0\.1:9 is unreachable", outcome["reason"])
    assert TOKEN not in json.dumps(outcome)


@pytest.mark.parametrize(("body", "reason"), [(b"<html>proxy error</html>", "not JSON"), ('"ok"', "not a JSON object")])
def test_automatic_script_fails_cleanly_on_an_answer_that_is_not_a_ticket(
    harness: Any, intake: FakeIntake, body: Any, reason: str
) -> None:
    intake.answer("POST", "/tickets", 201, body)
    outcome = harness("OceaneCreateTicket.cs", _run(intake, "none", DETAILS))

    assert outcome["exit"] == "fail"
    assert reason in outcome["reason"]


def test_interactive_script_reports_a_created_ticket_it_cannot_write(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/tickets", 200, _answer("created", ticketId=None, ticketUrl=None, existing=True))
    outcome = harness("OrangeOceaneTicketingSystem.cs", _run(intake, "none"))

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert "could not write the ticket onto alarm 12/345/67890" in _dialog_texts(outcome)[0]
    assert outcome["properties"] == []


def test_interactive_script_shows_a_pending_request_and_writes_nothing(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/tickets", 200, _answer("processing", existing=True))
    outcome = harness("OrangeOceaneTicketingSystem.cs", _run(intake, "none"))

    (text,) = _dialog_texts(outcome)
    assert "already has a ticket request (inst-1, processing)" in text
    assert "Use Create Ticket again later" in text
    assert _posts(intake) == []
    assert outcome["properties"] == []


def test_interactive_script_asks_again_after_a_failed_request(harness: Any, intake: FakeIntake) -> None:
    intake.answer("GET", "/tickets", 200, _answer("failed", error="Oceane answered 400: bad urgency"))
    intake.answer("GET", "/form", 200, FORM)
    outcome = harness(
        "OrangeOceaneTicketingSystem.cs",
        {**_run(intake, "udapi"), "ui": [{"press": "cancel"}]},
    )

    assert (
        "previous ticket request for this alarm failed: Oceane answered 400: bad urgency" in _dialog_texts(outcome)[0]
    )
    assert outcome["dialogs"][0]["dropDowns"]["priority"] == ["", "1", "2", "3", "4"]
    assert _posts(intake) == []


# --- a selection of alarms (combineParameters="true") ---

SEP = "\u00b6"  # HyperLinks.xml's separator attribute


def _selection(*alarm_ids: int, names: tuple[str, ...] = ()) -> dict[str, str]:
    """The six parameters as DataMiner combines them for several selected alarms."""
    count = len(alarm_ids)
    names = names or tuple(f"Router {i}" for i in range(count))
    return {
        "DMA ID": SEP.join(["12"] * count),
        "Element ID": SEP.join(["345"] * count),
        "Alarm ID": SEP.join(str(a) for a in alarm_ids),
        "Element Name": SEP.join(names),
        "Alarm Value": SEP.join(["Link down"] * count),
        "Root Time": SEP.join(["2026-11-29T09:00:00+01:00"] * count),
    }


def test_a_selection_gets_one_dialog_and_one_ticket_per_alarm_with_each_result_shown(
    harness: Any, intake: FakeIntake
) -> None:
    already = _answer("created", ticketId="OCE-1", ticketUrl="http://oceane/OCE-1", existing=True, alarmId=1)
    intake.answer("GET", "/tickets", 404, {"error": "no ticket"})
    posted: list[int] = []

    def lookup(query: dict[str, str]) -> tuple[int, Any]:
        return (200, already) if query.get("alarmId") == "1" else (404, {"error": "no ticket"})

    def create(_query: dict[str, str]) -> tuple[int, Any]:
        alarm = intake.requests[-1]["json"]["alarmId"]
        posted.append(alarm)
        if alarm == 3:
            return 422, {"error": "elementName: too long", "field": "elementName", "fields": ["elementName"]}
        return 201, _answer("created", ticketId=f"OCE-{alarm}0", ticketUrl=f"http://oceane/OCE-{alarm}0", alarmId=alarm)

    intake.answer("GET", "/tickets", 200, lookup)
    intake.answer("POST", "/tickets", 201, create)
    filled = {"priority": "1", "urgency": "Major", "technicalImpact": "Major"}
    scenario = {**_run(intake, "udapi", _selection(1, 2, 2, 3)), "ui": [{"values": filled, "press": "create"}]}

    outcome = harness("OrangeOceaneTicketingSystem.cs", scenario)

    assert outcome["exit"] == "completed", outcome.get("reason")
    form, result = outcome["dialogs"]  # one dialog for the details, one with every alarm's outcome
    asked = " ".join(form["texts"])
    # Alarm 2 was selected twice (one root alarm: one ticket); alarm 1 already has one: 2 of 3 are asked for.
    assert "2 alarms: Router 1 (12/345/2), Router 3 (12/345/3)" in asked and "2 of the 3 selected" in asked
    assert posted == [2, 3]  # alarm 1 already had one: never sent again
    text = " ".join(result["texts"])
    assert "Alarm 12/345/1 (Router 0): This alarm already has Oceane ticket OCE-1" in text
    assert "Alarm 12/345/2 (Router 1): Oceane ticket created: OCE-20" in text
    assert "Alarm 12/345/3 (Router 3): refused: elementName: too long" in text
    assert outcome["properties"] == []  # udapi: the worker writes them


def test_the_root_time_is_sent_in_utc_from_the_offset_dataminer_wrote(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/tickets", 201, CREATED)
    params = {**DETAILS, "Root Time": "2026-11-29T09:00:00+01:00"}
    harness("OceaneCreateTicket.cs", _run(intake, "udapi", params))
    assert _posts(intake)[0]["json"]["rootTime"] == "2026-11-29T08:00:00Z"


def test_a_create_whose_connection_was_dropped_unanswered_is_sent_again_once(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/tickets", 201, CREATED)
    intake.drops[("POST", "/tickets")] = 1
    outcome = harness("OceaneCreateTicket.cs", _run(intake, "udapi", DETAILS))
    assert outcome["exit"] == "completed", outcome.get("reason")
    assert len(_posts(intake)) == 2  # the dropped one, then the one answered


def test_a_root_time_without_an_offset_is_not_passed_off_as_utc(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/tickets", 201, CREATED)
    harness("OceaneCreateTicket.cs", _run(intake, "udapi", {**DETAILS, "Root Time": "29/11/2026 09:00"}))
    assert _posts(intake)[0]["json"]["rootTime"] is None


# --- the GQI data sources, under Mono against the stand-in intake ---


def _table(rows: list[dict[str, Any]]) -> Callable[[dict[str, str]], tuple[int, Any]]:
    def page(query: dict[str, str]) -> tuple[int, Any]:
        offset, limit = int(query["offset"]), int(query["limit"])
        more = offset + limit < len(rows)
        return 200, {
            "rows": rows[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "next": offset + limit if more else None,
        }

    return page


def test_the_tickets_data_source_pages_through_the_intake_with_the_connectors_columns(
    harness: Any, intake: FakeIntake
) -> None:
    rows = [
        {"instance": f"i{n}", "ticketId": f"OCE-{n}", "alarmId": n, "dmaId": 12, "elementId": 345,
         "elementName": "Router", "createdAt": "2026-11-29T08:00:00Z", "priority": "2", "urgency": "Major",
         "technicalImpact": "Major", "clientImpact": None, "rootCause": None, "status": "created",
         "ticketUrl": f"http://oceane/OCE-{n}", "oceaneStatus": "inProgress", "writebackState": "done"}
        for n in range(250)
    ]  # fmt: skip
    intake.answer("GET", "/tables/tickets", 200, _table(rows))

    outcome = harness("OceaneTables.cs", {"entry": "gqi", "source": "Oceane Tickets", "config": _config(intake)})["gqi"]

    assert "error" not in outcome, outcome
    headers = [name for name, _ in outcome["columns"]]
    assert headers[:13] == [
        "Instance", "Ticket ID", "Alarm ID", "DataMiner ID", "Element ID", "Element Name", "Created At",
        "Priority", "Urgency", "Technical Impact", "Client Impact", "Root Cause", "Status",
    ]  # fmt: skip
    assert dict(outcome["columns"])["Created At"] == "GQIDateTimeColumn"
    assert outcome["pages"] == 2 and len(outcome["rows"]) == 250
    assert outcome["rows"][7][:3] == ["i7", "OCE-7", 7]
    assert outcome["rows"][0][6] == "2026-11-29T08:00:00.0000000Z|Utc"
    pages = [r["query"] for r in intake.requests if r["path"] == "/tables/tickets"]
    assert pages == [{"offset": "0", "limit": "200"}, {"offset": "200", "limit": "200"}]
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in intake.requests)


def test_the_failed_requests_and_debug_values_data_sources(harness: Any, intake: FakeIntake) -> None:
    failed = [{"instance": "i1", "ticketId": None, "httpErrorCode": 400, "appErrorCode": "30",
               "errorMessage": "Bad Request", "errorDescription": "urgency", "failedAt": "2026-11-29T08:00:00Z",
               "attempt": 1}]  # fmt: skip
    intake.answer("GET", "/tables/failed-requests", 200, _table(failed))
    intake.answer("GET", "/status", 200, {"lock": {"state": "held", "worker": "w1", "instance": "i9"},
                                          "queue": {"queued": 4, "processing": 1}})  # fmt: skip

    failures = harness(
        "OceaneTables.cs", {"entry": "gqi", "source": "Oceane Failed Ticket Requests", "config": _config(intake)}
    )["gqi"]
    debug = harness("OceaneTables.cs", {"entry": "gqi", "source": "Oceane Debug Values", "config": _config(intake)})[
        "gqi"
    ]

    assert [name for name, _ in failures["columns"]][:6] == [
        "Instance", "Ticket ID", "HTTP Error Code", "App Error Code", "Error Message", "Error Description",
    ]  # fmt: skip
    assert failures["rows"] == [["i1", "", 400, "30", "Bad Request", "urgency", "2026-11-29T08:00:00.0000000Z|Utc", 1]]
    assert debug["rows"][:2] == [
        ["Ticket Queue Processing Lock", "held by w1 (request i9)"],
        ["Pending Ticket Creation Queue", "4 queued, 1 processing"],
    ]


# --- Oceane Rule Ticket: a Correlation rule's ticket, the alarm from parameter 65006 ---


# <Correlation Alarm Info> as DataMiner documents it (Special_parameters_available_in_DMS_Automation_scripts.md):
# alarmId|agentId|elementId|parameterId|parameterIdx|rootAlarmId|previousAlarmId|severity|type|status|alarmvalue|
# alarmTime|serviceRca|elementRca|parameterRca|severityRange|sourceId|userStatus|owner|impactedServices|
# propertyCount|...
def _alarm_info(
    alarm_id: int = 67895, root: int = 67890, value: str = "Link down", time: str = "2026-11-29T08:00:00Z"
) -> str:
    fields = [str(alarm_id), "12", "345", "1000", "", str(root), "67894", "3", "4", "1", value, time]
    return "|".join([*fields, "0", "0", "0", "0", "0", "0", "", "", "0"])


def _rule(intake: FakeIntake, params: dict[str, str], **scenario: Any) -> dict[str, Any]:
    intake.answer("GET", "/form", 200, {**FORM, "alarmWriter": "udapi"})
    return {"entry": "run", "params": params, "config": _config(intake), **scenario}


RULE_PARAMS = {"Priority": "", "Urgency": "", "Technical Impact": "", "Client Impact": "", "Description": ""}


def test_rule_script_asks_for_the_triggering_alarms_ticket_as_a_rule(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/tickets", 201, _answer("queued"))
    scenario = _rule(
        intake,
        RULE_PARAMS,
        user="corr-engine",
        paramsById={"65002": "up", "65006": _alarm_info()},
        elements={"12/345": "Router; core=1"},
    )

    outcome = harness("OceaneRuleTicket.cs", scenario)

    assert outcome["exit"] == "completed", outcome["reason"]
    (post,) = _posts(intake)
    assert post["authorization"] == f"Bearer {TOKEN}"
    assert post["query"] == {"wait": "0"}, "the Correlation engine is not held while the request waits its turn"
    assert post["json"] == {
        "dmaId": 12,
        "elementId": 345,
        "alarmId": 67890,  # the root alarm: one alarm tree, one ticket
        "elementName": "Router; core=1",
        "alarmValue": "Link down",
        "rootTime": "2026-11-29T08:00:00Z",
        "priority": "3",  # the script's defaults for the parameters the rule left empty
        "urgency": "Major",
        "technicalImpact": "Major",
        "clientImpact": "",
        "description": "",
        "user": "corr-engine",
        "origin": "rule",
    }
    assert outcome["outputs"]["status"] == "queued"
    assert outcome["properties"] == []


def test_rule_script_takes_the_rules_details_and_names_an_unknown_element_by_its_ids(
    harness: Any, intake: FakeIntake
) -> None:
    intake.answer("POST", "/tickets", 201, _answer("queued"))
    params = {
        **RULE_PARAMS,
        "Priority": "1",
        "Urgency": "Critical",
        "Technical Impact": "Minor",
        "Description": "Site down",
    }
    outcome = harness("OceaneRuleTicket.cs", _rule(intake, params, paramsById={"65006": _alarm_info(root=0, time="")}))

    assert outcome["exit"] == "completed", outcome["reason"]
    (post,) = _posts(intake)
    body = post["json"]
    assert (body["priority"], body["urgency"], body["technicalImpact"]) == ("1", "Critical", "Minor")
    assert body["description"] == "Site down" and body["origin"] == "rule"
    assert body["alarmId"] == 67895  # no root alarm ID: the alarm is its own root
    assert body["elementName"] == "element 12/345" and body["rootTime"] is None


def test_rule_script_does_nothing_when_the_rule_no_longer_matches(harness: Any, intake: FakeIntake) -> None:
    scenario = _rule(intake, RULE_PARAMS, paramsById={"65002": "down", "65006": _alarm_info()})
    outcome = harness("OceaneRuleTicket.cs", scenario)

    assert outcome["exit"] == "completed", outcome.get("reason")
    assert _posts(intake) == []


@pytest.mark.parametrize("info", [None, "", "12|345"])
def test_rule_script_outside_a_rule_fails_naming_the_parameter_without_calling_the_intake(
    harness: Any, intake: FakeIntake, info: str | None
) -> None:
    by_id = {} if info is None else {"65006": info}
    outcome = harness("OceaneRuleTicket.cs", _rule(intake, RULE_PARAMS, paramsById=by_id))

    assert outcome["exit"] == "fail"
    assert outcome["reason"].startswith("Correlation Alarm Info (parameter 65006)")
    assert intake.requests == []


def test_rule_script_fails_with_the_intakes_reason(harness: Any, intake: FakeIntake) -> None:
    intake.answer(
        "POST", "/tickets", 422, {"error": "origin: 'x' is not allowed", "field": "origin", "fields": ["origin"]}
    )
    outcome = harness("OceaneRuleTicket.cs", _rule(intake, RULE_PARAMS, paramsById={"65006": _alarm_info()}))

    assert outcome["exit"] == "fail"
    assert "origin" in outcome["reason"]
    assert TOKEN not in json.dumps(outcome)


# --- what the administrator reads ---


def test_the_kit_readme_lists_every_script_parameter_and_the_write_back_settings() -> None:
    text = (KIT / "README.md").read_text(encoding="utf-8")
    for spec in builder.SCRIPTS:
        assert spec.name in text
        for name in spec.parameters:
            assert f"`{name}`" in text, (spec.name, name)
    for setting in ("OCEANE_ALARM_WRITER", "OCEANE_DATAMINER_URL", "OCEANE_DATAMINER_TOKEN", "OCEANE_DATAMINER_USER"):
        assert setting in text
    assert "OCEANE_DATAMINER_PASSWORD" in text and "OCEANE_INTAKE_TOKEN" in text
    assert "OCEANE_USER_MAP" not in text  # deprecated: the users table picks the Oceane User ID
    for menu in (
        "System Center > Tools > Synchronization",
        "Evaluate script parameter values",
        "Update alarms on value changed",
    ):
        assert menu in text
