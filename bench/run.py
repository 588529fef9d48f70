"""``make bench``: every figure beside its floor, one table, ``bench/results.json``.

Each figure is measured against a floor measured in the same run: ratios are the verdict, absolute
times are context (the machine may be shared). ``--smoke`` runs every benchmark at tiny sizes (the
test suite does, so the benchmark cannot rot); ``--only 1,7`` runs some rows. It never fails: a
benchmark that breaks becomes an ``error`` row, and the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import intake, pipeline, producer_start, producer_warm, retention
from bench.common import Row

HERE = Path(__file__).parent
# (rows it produces, module): in the order of the table.
BENCHMARKS: list[tuple[set[str], Callable[[str], list[Row]]]] = [
    ({"1", "8"}, producer_start.run),
    ({"2"}, producer_warm.run),
    ({"3", "8"}, intake.run),
    ({"4", "5", "6", "8", "9", "10"}, pipeline.run),
    ({"7"}, retention.run),
]


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for the table."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def target_text(row: Row) -> str:
    """The target as the issue states it."""
    if row.target is None:
        return ""
    sign = "<=" if row.better == "lower" else ">="
    what = f"{sign} {fmt(row.target)}{'x' if row.floor else ' ' + row.unit}"
    if row.target_p99 is not None:
        what += f", p99 <= {fmt(row.target_p99)}x"
    return what


def print_table(rows: list[Row]) -> None:
    """One table: row, figure, median, p99, floor, ratio, target, verdict; notes below."""
    header = ["#", "figure", "median", "p99", "floor", "ratio", "target", "verdict"]
    lines = [
        [
            r.row,
            r.figure,
            f"{fmt(r.value)} {r.unit}" if r.value is not None else "-",
            fmt(r.p99),
            fmt(r.floor),
            f"{r.ratio:.2f}x" if r.ratio is not None else "",
            target_text(r),
            r.verdict,
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)))
    print()
    for r in rows:
        if r.note:
            print(f"[{r.row}] {r.figure}: {r.note}")
    for r in rows:
        if r.verdict == "miss" and r.reason:
            print(f"[{r.row}] miss, measured reason: {r.reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds, not minutes)")
    parser.add_argument("--only", default="", help="comma-separated row numbers to run")
    parser.add_argument("--output", default=str(HERE / "results.json"))
    parser.add_argument("--storm", type=int, help="requests in row 6's burst (default 10,000)")
    args = parser.parse_args(argv)
    if args.storm:
        os.environ["BENCH_STORM"] = str(args.storm)
    size = "smoke" if args.smoke else "full"
    wanted = {x.strip() for x in args.only.split(",") if x.strip()}
    rows: list[Row] = []
    started = time.perf_counter()
    for produces, bench in BENCHMARKS:
        if wanted and not (produces & wanted):
            continue
        name = bench.__module__.rsplit(".", 1)[-1]
        print(f"== {name} ({size})", flush=True)
        t0 = time.perf_counter()
        try:
            got = bench(size, wanted) if bench is pipeline.run and wanted else bench(size)
        except Exception as exc:
            traceback.print_exc()
            got = [Row(sorted(produces)[0], f"{name}: benchmark failed", None, "", verdict="error", note=repr(exc))]
        rows.extend(r for r in got if not wanted or r.row in wanted)
        print(f"   {time.perf_counter() - t0:.1f} s", flush=True)
    rows.sort(key=lambda r: int(r.row))
    print()
    print_table(rows)
    result = {
        "size": size,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "load": _load()},
        "rows": [r.as_dict() for r in rows],
    }
    Path(args.output).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {args.output}")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 0


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


if __name__ == "__main__":
    sys.exit(main())
