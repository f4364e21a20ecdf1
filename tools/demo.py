#!/usr/bin/env python3
"""`make demo`, once the simulator runs (VCSIM_URL): the inventory, then a host failure and what
vsphere-dr does about it: the plan (a dry run, with the reason of every action), one sweep that
recovers, and the incidents with their RTO and RPO.

It uses settings.ini as shipped, with only the waits shortened so the demo takes seconds: a copy
is written to a temporary directory (with its own journal), settings.ini itself is not changed.
"""

from __future__ import annotations

import configparser
import os
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsphere_dr.app.cli import main as cli  # noqa: E402

DEMO_TIMINGS = {"monitoring": {"failures_before_action": "1", "isolation_timeout_seconds": "0",
                               "probe_timeout_seconds": "0.5"},
                "recovery": {"confirm_timeout_seconds": "30"}}
FAILED_HOST = "esx-p1.lab.local"


def demo_settings(directory: Path) -> Path:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "settings.ini", encoding="utf-8")
    for section, values in DEMO_TIMINGS.items():
        parser[section].update(values)
    parser["journal"]["path"] = str(directory / "journal.sqlite")
    path = directory / "settings.ini"
    with path.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return path


def step(title: str, *args: str) -> None:
    print(f"\n=== {title}: vsphere-dr {' '.join(args)}", flush=True)
    code = cli(list(args))
    if code != 0:
        sys.exit(code)


def main() -> int:
    sim = os.environ["VCSIM_URL"].rsplit("/sdk", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        config = str(demo_settings(Path(tmp)))
        step("what vCenter shows", "--config", config, "inventory")
        print(f"\n=== injecting a failure: host {FAILED_HOST} stops (POST {sim}/chaos host_down)", flush=True)
        requests.post(f"{sim}/chaos", json={"action": "host_down", "target": FAILED_HOST}, timeout=10,
                      verify=False).raise_for_status()
        step("what vsphere-dr would do, and why (dry run)", "--config", config, "plan")
        step("one health sweep: detect, decide, act", "--config", config, "once")
        step("incidents, with RTO and RPO", "--config", config, "incidents")
        step("the VMs now", "--config", config, "inventory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
