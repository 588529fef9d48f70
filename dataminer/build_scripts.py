"""Build the importable Automation script XML files from the C# sources in dataminer/scripts.

Each script's C# block is its own file followed by every file of ``scripts/common`` (one type or a small
group of types per file; each keeps its ``using`` lines inside its namespace, so they concatenate into one
valid compilation unit). One XML per script means one import per script in Cube, with no script library to
precompile and reference.

    python dataminer/build_scripts.py          # rewrite dataminer/scripts/*.xml
    python dataminer/build_scripts.py --check  # exit 1 if a committed XML is out of date

tests/unit/test_dataminer_kit.py runs the check and compiles the code inside each XML.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
COMMON_DIR = "common"
# The scripts sit in the Automation root folder: a hyperlink names a script by its name only, and Skyline's own
# note for the Oceane connector's hyperlink assumes the root folder (a script in a folder would have to be named
# with it in every hyperlink and Correlation rule).
FOLDER = ""
# .NET Framework assemblies the shared code uses (HttpClient, JavaScriptSerializer); both are in the GAC of
# every DataMiner Agent, so no DLL has to be copied.
REFERENCES = ("System.Net.Http.dll", "System.Web.Extensions.dll")
# The GQI types (Skyline.DataMiner.Analytics.GenericInterface) are in SLAnalyticsTypes.dll, in this folder on
# every Agent (dataminer-docs: user-guide/Advanced_Modules/Dashboards_and_Low_Code_Apps/GQI/Extensions/
# Configuring_an_ad_hoc_data_source_in_a_query.md).
GQI_REFERENCE = r"C:\Skyline DataMiner\Files\SLAnalyticsTypes.dll"

ALARM_PARAMS = ("DMA ID", "Element ID", "Alarm ID", "Element Name", "Alarm Value", "Root Time")
DETAIL_PARAMS = ("Priority", "Urgency", "Technical Impact", "Client Impact", "Description")
PROPERTY_PARAMS = (
    "DMA ID",
    "Element ID",
    "Alarm ID",
    "Oceane Ticket ID",
    "Oceane Ticket URL",
    "Oceane Ticket Status",
)


@dataclass(frozen=True)
class ScriptSpec:
    """One Automation script: its DataMiner name, its C# file and its script parameters."""

    name: str
    source: str
    description: str
    parameters: tuple[str, ...]
    references: tuple[str, ...] = REFERENCES
    library: bool = False  # compiled as a library (a GQI data source)

    @property
    def xml_name(self) -> str:
        """The XML file written next to the C# source."""
        return Path(self.source).with_suffix(".xml").name


SCRIPTS: tuple[ScriptSpec, ...] = (
    ScriptSpec(
        "Orange Oceane Ticketing System",
        "OrangeOceaneTicketingSystem.cs",
        "Create Ticket hyperlink: shows the alarm's Oceane ticket or asks the ticket details (interactive).",
        ALARM_PARAMS,
    ),
    ScriptSpec(
        "Oceane Create Ticket",
        "OceaneCreateTicket.cs",
        "Creates the alarm's Oceane ticket without a dialog, for Correlation rules and alarm templates.",
        ALARM_PARAMS + DETAIL_PARAMS,
    ),
    ScriptSpec(
        "Oceane Alarm Properties API",
        "OceaneAlarmPropertiesApi.cs",
        "User-Defined API (OnApiTrigger) that sets Oceane Ticket ID / URL / Status on an alarm.",
        (),
    ),
    ScriptSpec(
        "Oceane Set Alarm Properties",
        "OceaneSetAlarmProperties.cs",
        "Sets Oceane Ticket ID / URL / Status on an alarm; run by the worker through Web Services.",
        PROPERTY_PARAMS,
    ),
    ScriptSpec(
        "Oceane Tables",
        "OceaneTables.cs",
        "GQI data sources: the intake's Tickets and Failed Ticket Requests tables and its debug values.",
        (),
        references=(*REFERENCES, GQI_REFERENCE),
        library=True,
    ),
    # The ticket's life after the click: alarm events for the alarm's ticket (POST /alarms/events).
    ScriptSpec(
        "Oceane Alarm Event",
        "OceaneAlarmEvent.cs",
        "Sends the alarm's clear or escalation to its Oceane ticket, for Correlation rules (no dialog).",
        ("DMA ID", "Element ID", "Alarm ID", "Event", "Severity", "Alarm Value", "Alarm Event ID"),
    ),
    # Tickets from Correlation rules: the triggering alarm from the rule (parameter 65006), origin "rule" (held by
    # OCEANE_AUTO_TICKETS_PER_MINUTE), the details as parameters or the script's defaults.
    ScriptSpec(
        "Oceane Rule Ticket",
        "OceaneRuleTicket.cs",
        "Correlation rule action: asks for the Oceane ticket of the alarm that triggered the rule (origin rule).",
        DETAIL_PARAMS,
    ),
    ScriptSpec(
        "Oceane Add Note",
        "OceaneAddNote.cs",
        "Add Note to Ticket hyperlink: asks for a note and adds it to the alarm's Oceane ticket (interactive).",
        ("DMA ID", "Element ID", "Alarm ID"),
    ),
)


def common_files(scripts_dir: Path = SCRIPTS_DIR) -> list[Path]:
    """The shared C# files, in a fixed order."""
    return sorted((scripts_dir / COMMON_DIR).glob("*.cs"))


def code_of(spec: ScriptSpec, scripts_dir: Path = SCRIPTS_DIR) -> str:
    """The C# block of a script: its own file, then the shared code."""
    parts = [(scripts_dir / spec.source).read_text(encoding="utf-8").rstrip("\n")]
    parts += [path.read_text(encoding="utf-8").rstrip("\n") for path in common_files(scripts_dir)]
    code = "\n\n".join(parts) + "\n"
    if "]]>" in code:  # would end the CDATA section early
        raise ValueError(f"{spec.source} or a file of {COMMON_DIR}/ contains ']]>'")
    return code


def render(spec: ScriptSpec, scripts_dir: Path = SCRIPTS_DIR) -> str:
    """The DMSScript XML of one script, as Cube's Automation module imports it."""
    params = "".join(
        f'\t\t<ScriptParameter id="{i}" type="string" values="">\n'
        f"\t\t\t<Description>{escape(name)}</Description>\n"
        "\t\t</ScriptParameter>\n"
        for i, name in enumerate(spec.parameters, start=1)
    )
    refs = "".join(f'\t\t\t<Param type="ref">{escape(ref)}</Param>\n' for ref in spec.references)
    if spec.library:
        # "Compile as library" in the Automation module; the data sources are found in the library.
        refs += f'\t\t\t<Param type="libraryName">{escape(spec.name)}</Param>\n'
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<DMSScript options="272" xmlns="http://www.skyline.be/automation">\n'
        f"\t<Name>{escape(spec.name)}</Name>\n"
        f"\t<Description>{escape(spec.description)}</Description>\n"
        "\t<Type>Automation</Type>\n"
        "\t<Author>oceane-ticket</Author>\n"
        "\t<CheckSets>FALSE</CheckSets>\n"
        f"\t<Folder>{FOLDER}</Folder>\n"
        "\t<Protocols>\n\t</Protocols>\n"
        "\t<Memory>\n\t</Memory>\n"
        f"\t<Parameters>\n{params}\t</Parameters>\n"
        "\t<Script>\n"
        '\t\t<Exe id="1" type="csharp">\n'
        f"\t\t\t<Value><![CDATA[{code_of(spec, scripts_dir)}]]></Value>\n"
        f"{refs}"
        "\t\t\t<Message></Message>\n"
        "\t\t</Exe>\n"
        "\t</Script>\n"
        "</DMSScript>\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write the XML files, or with --check report the stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed XML differs")
    args = parser.parse_args(argv)
    stale = []
    for spec in SCRIPTS:
        target = SCRIPTS_DIR / spec.xml_name
        text = render(spec)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print("out of date (run python dataminer/build_scripts.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
