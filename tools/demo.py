#!/usr/bin/env python3
"""`make demo`, once the simulator runs (VCSIM_URL): the inventory; a snapshot and a replica round;
which VMs are protected and why; a drill (test failover) of one VM; then two hosts lose power, one whose VMs are on shared storage and one whose VMs are on its own
disk, and what vsphere-dr does about it: a sweep that waits out the isolation timeout, the plan (a
dry run, with the reason of every action: the first host removed from vCenter and each of its VMs
registered again on a live host from its files; the second host's VMs started from their
replicas), one sweep that recovers, the second host's return (its originals stay off), and the
incidents with their RTO and RPO.

It uses settings.ini as shipped, with only the waits shortened so the demo takes seconds: a copy
is written to a temporary directory (with its own journal), settings.ini itself is not changed.
"""

from __future__ import annotations

import configparser
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsphere_dr.app.cli import main as cli  # noqa: E402

# The isolation timeout stays above the simulated datastores' lock lease (16 s, as VMFS): a dead
# host's locks have expired by the time it is declared failed, an isolated host's never do.
ISOLATION_TIMEOUT = 18
DEMO_TIMINGS = {"monitoring": {"failures_before_action": "1", "isolation_timeout_seconds": str(ISOLATION_TIMEOUT),
                               "probe_timeout_seconds": "0.5"},
                "recovery": {"confirm_timeout_seconds": "30"}}
SHARED_HOST = "esx-p1.lab.local"  # its VMs' files are on ds-prod, which esx-p2 and esx-p3 mount too
LOCAL_HOST = "esx-e1.lab.local"  # its VMs' files are on its own disk: only their replicas survive it


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


def chaos(sim: str, action: str, target: str) -> None:
    requests.post(f"{sim}/chaos", json={"action": action, "target": target}, timeout=10).raise_for_status()


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
        step("a snapshot round (as cron or `run` makes them)", "--config", config, "once", "--module",
             "snapshot_creator")
        step("a replica round: every VM cloned, powered off, onto the secondary site ([replication])",
             "--config", config, "once", "--module", "replica_creator")
        step("which VMs are protected, why, their RPO and how each would be recovered", "--config", config,
             "protection")
        step("a drill: an isolated copy of app-01's replica started, checked and deleted; production untouched",
             "--config", config, "drill", "--vm", "app-01")
        step("the drill reports kept in the journal", "--config", config, "drills")
        for host in (SHARED_HOST, LOCAL_HOST):
            print(f"\n=== injecting a failure: host {host} loses power (POST {sim}/chaos host_down)", flush=True)
            chaos(sim, "host_down", host)
        step("a health sweep sees it: the host is suspect, not yet failed", "--config", config, "once")
        print(f"\n=== waiting {ISOLATION_TIMEOUT} s: the isolation timeout (by then a dead host's file locks have "
              "expired; an isolated host's would not)", flush=True)
        time.sleep(ISOLATION_TIMEOUT)
        step("what vsphere-dr would do now, and why (dry run)", "--config", config, "plan")
        step("one health sweep: detect, decide, act", "--config", config, "once")
        print(f"\n=== {LOCAL_HOST} comes back (POST {sim}/chaos host_up): its VMs' replicas run, the originals "
              "stay off and are kept", flush=True)
        chaos(sim, "host_up", LOCAL_HOST)
        step("a health sweep after the host's return", "--config", config, "once")
        step("incidents, with RTO and RPO", "--config", config, "incidents")
        step("the VMs now", "--config", config, "inventory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
