#!/usr/bin/env python3
"""Health sweep and recovery time, with the real controller against the bundled simulator.

    python bench/recovery.py [--sweep-sizes 1000,10000] [--rto-sizes 10,100]

1. One health sweep as `vsphere-dr plan` does it (inventory read, one concurrent probe round,
   classification, decisions) on generated labs: round trips and seconds, and the ratio of
   seconds per VM to the smallest lab's (1.0 = the sweep scales linearly in fleet size).
2. RTO: a host with N running VMs fails (/chaos host_down); the controller's sweeps run until
   every one of them runs again, from a copy, on another host and answers its probe. Time from
   the injection to then, and the ratio to the smallest N.

Prints one table per part and, last, `rto_100_s=<seconds for 100 VMs>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from modules.inventory_administrator import InventoryAdministrator  # noqa: E402
from vsphere_dr.app.controller import Controller  # noqa: E402
from vsphere_dr.simulator import topology as topo  # noqa: E402
from vsphere_dr.simulator.launcher import Simulator, free_port  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402


def write_settings(directory: Path, sim: Simulator, probe_port: int) -> Path:
    path = directory / "settings.ini"
    path.write_text(f"""[vcenter]
host = {sim.host}
port = {sim.port}
user = bench
password = bench-password
insecure_http = true
connect_timeout_seconds = 600
[monitoring]
probe_port = {probe_port}
probe_timeout_seconds = 1
probe_concurrency = 256
failures_before_action = 1
isolation_timeout_seconds = 0
[recovery]
max_restarts = 5
confirm_timeout_seconds = 60
[journal]
path = journal.sqlite
[logging]
level = WARNING
""", encoding="utf-8")
    return path


def lab(directory: Path, name: str, hosts: int, vms_per_host: int) -> tuple[Path, int]:
    world = topo.generate(clusters=1, hosts_per_cluster=hosts, vms_per_host=vms_per_host)
    port = free_port()
    world.data["probe_port"] = port
    # Detection is not measured: vCenter notices at once, and a dead host's locks are gone at once.
    world.data["lock_lease_seconds"] = world.data["not_responding_after_seconds"] = 0
    return topo.save(world, directory / f"{name}.json"), port


def sweep(vms: int, workdir: Path) -> tuple[int, int, float]:
    directory = workdir / f"sweep-{vms}"
    directory.mkdir()
    path, port = lab(directory, "lab", hosts=10, vms_per_host=vms // 10)
    with Simulator(path) as sim:
        controller = Controller(InventoryAdministrator(write_settings(directory, sim, port)))
        try:
            controller.health.plan()  # log in, resolve alarms and events once
            before, start = sum(g.round_trips for g in controller.gateways), time.perf_counter()
            report = controller.health.plan()
            seconds = time.perf_counter() - start
            trips = sum(g.round_trips for g in controller.gateways) - before
        finally:
            controller.close()
    print(f"  sweep of {report.monitored} VMs: {seconds:.2f} s, {trips} round trips", file=sys.stderr, flush=True)
    return report.monitored, trips, seconds


def rto(vms: int, workdir: Path) -> float:
    directory = workdir / f"rto-{vms}"
    directory.mkdir()
    path, port = lab(directory, "lab", hosts=4, vms_per_host=vms)
    with Simulator(path) as sim:
        controller = Controller(InventoryAdministrator(write_settings(directory, sim, port)))
        try:
            controller.health.plan()
            failed = "esx-00-00.bench.local"
            start = time.perf_counter()
            requests.post(f"{sim.url.rsplit('/sdk', 1)[0]}/chaos", json={"action": "host_down", "target": failed},
                          timeout=10).raise_for_status()
            while not recovered(controller, vms):
                controller.run_module("health_administrator")
            seconds = time.perf_counter() - start
        finally:
            controller.close()
    print(f"  RTO for {vms} VMs: {seconds:.2f} s", file=sys.stderr, flush=True)
    return seconds


def recovered(controller: Controller, vms: int) -> bool:
    """Every VM of the failed host runs again, registered on a live host, and answered its probe."""
    done = [a for a in controller.journal.actions() if a.state == "done" and a.kind == "register_elsewhere"]
    return len(done) >= vms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep-sizes", default="1000,10000")
    parser.add_argument("--rto-sizes", default="10,100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweeps = [sweep(int(n), work) for n in args.sweep_sizes.split(",")]
        rtos = [(int(n), rto(int(n), work)) for n in args.rto_sizes.split(",")]
    base = sweeps[0][2] / sweeps[0][0]
    print(render_table(("VMS", "ROUND TRIPS", "SECONDS", "SECONDS PER VM vs smallest"),
                       [(n, trips, f"{s:.2f}", f"{(s / n) / base:.2f}") for n, trips, s in sweeps]))
    print()
    print(render_table(("VMS ON THE FAILED HOST", "RTO SECONDS", "vs smallest"),
                       [(n, f"{s:.2f}", f"{s / rtos[0][1]:.2f}") for n, s in rtos]))
    at_100 = [s for n, s in rtos if n == 100]
    if at_100:
        print(f"rto_100_s={at_100[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
