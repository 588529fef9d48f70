"""``make bench``: every benchmark, each reporting ratios to a floor measured in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ["producer_start.py", "retention.py"]


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(path)], check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
