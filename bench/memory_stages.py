#!/usr/bin/env python3
"""Where bench/recovery.py's peak RSS at 10,000 VMs comes from, stage by stage.

    python bench/memory_stages.py [--vms 10000]

Runs bench/recovery.py's steady sweep (the same lab, settings and calls) and prints the process's
resident set (VmRSS) and its peak (VmHWM) after each stage of the cold start: the first full
inventory read, the health model's first round (its libraries imported, the performance counters
read, every VM's model judging its first sample), the inventory watcher's whole read, then the steady sweep.
Last line: ``peak_rss_mb=<MB>``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import recovery  # noqa: E402  (bench/recovery.py)

from modules.health_administrator import HealthSweep  # noqa: E402
from vsphere_dr import gateway  # noqa: E402
from vsphere_dr.gateway.watcher import InventoryWatcher  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10000)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def noted(stage: str, owner: Any, attribute: str) -> None:
        original: Callable[..., Any] = getattr(owner, attribute)

        def run(*a: Any, **k: Any) -> Any:
            result = original(*a, **k)
            if stage not in seen:  # the first call: the cold start's stage
                seen.add(stage)
                rows.append((stage, f"{status_mb('VmRSS'):.0f}", f"{status_mb('VmHWM'):.0f}"))
            return result
        setattr(owner, attribute, run)

    rows.append(("python, the controller's modules imported", f"{status_mb('VmRSS'):.0f}", f"{status_mb('VmHWM'):.0f}"))
    noted("first full inventory read", gateway, "read_inventory")
    noted("health model's first round (its libraries loaded)", HealthSweep, "_ill")
    noted("inventory watcher's whole read", InventoryWatcher, "_read_whole")
    with tempfile.TemporaryDirectory() as tmp:
        recovery.sweep(args.vms, Path(tmp))
        gc.collect()
        rows.append(("after the steady sweep (lab stopped)", f"{status_mb('VmRSS'):.0f}", f"{status_mb('VmHWM'):.0f}"))
    print(render_table(("STAGE", "RSS MB", "PEAK RSS MB"), rows))
    print(f"peak_rss_mb={status_mb('VmHWM'):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
