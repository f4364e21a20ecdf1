#!/usr/bin/env python3
"""Health sweep and recovery time, with the real controller against the bundled simulator.

    python bench/recovery.py [--sweep-sizes 1000,10000] [--rto-sizes 10,100,1000]

1. A steady-state health sweep (the second of a controller that has swept once already) on
   generated labs: round trips and seconds, the ratio of seconds per VM to the smallest lab's, and
   the process's peak RSS after the largest (the controller runs in this process).
2. RTO with the shipped settings (settings.ini's defaults; only the simulator's
   ``not_responding_after_seconds`` is shortened to 1 s): a host with N running VMs on shared
   storage fails (/chaos host_down); the controller sweeps every ``[monitoring] interval_seconds``
   as the daemon does, until every VM runs again on another host and answers its probe. Printed:
   seconds from vCenter showing the host notResponding to the decision (the first action
   journaled), from the decision to the last VM answering, the total, and the total per VM
   against the smallest N. The recoveries run in parallel ([recovery] max_parallel, per host).

Its last lines: `sweep_10000_s=<s>` then `rto_100_s=<seconds from notResponding to the last of
100 VMs answering>`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
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
    # The one change to the simulator's defaults: vCenter shows a dead host notResponding after 1 s.
    world.data["not_responding_after_seconds"] = 1
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


@dataclass(frozen=True)
class Rto:
    vms: int
    to_decision: float  # from vCenter showing the host notResponding to the first action journaled
    to_answers: float  # from then to the last VM answering its probe

    @property
    def total(self) -> float:
        return self.to_decision + self.to_answers


def rto(vms: int, workdir: Path) -> Rto:
    directory = workdir / f"rto-{vms}"
    directory.mkdir()
    build = time.perf_counter()
    path, port = lab(directory, "lab", hosts=4, vms_per_host=vms)
    with Simulator(path) as sim:
        print(f"  lab of {4 * vms} VMs built in {time.perf_counter() - build:.1f} s", file=sys.stderr, flush=True)
        controller = Controller(InventoryAdministrator(write_settings(directory, sim, port)))
        try:
            controller.run_module("health_administrator")
            interval = controller.settings().monitoring.interval_seconds
            gateway = controller.health.gateway
            failed = next(h.moref for h in gateway.inventory().hosts.values() if h.name == "esx-00-00.bench.local")
            requests.post(f"{sim.url.rsplit('/sdk', 1)[0]}/chaos", json={"action": "host_down",
                                                                       "target": "esx-00-00.bench.local"},
                          timeout=10).raise_for_status()
            while gateway.host_runtimes([failed])[failed].connection_state != "notResponding":
                time.sleep(0.05)
            not_responding = time.time()
            while not recovered(controller, vms):
                started = time.monotonic()
                controller.run_module("health_administrator")
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
            actions = controller.journal.actions(since=not_responding)
        finally:
            controller.close()
    decided = min(a.created_at for a in actions)
    answered = max(a.result["answered_at"] for a in actions if a.kind == "register_elsewhere")
    found = Rto(vms, decided - not_responding, answered - decided)
    print(f"  RTO for {vms} VMs: {found.total:.2f} s ({found.to_decision:.2f} s to the decision)",
          file=sys.stderr, flush=True)
    return found


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
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rtos = [rto(int(n), work) for n in args.rto_sizes.split(",")]
    base = sweeps[0][2] / sweeps[0][0]
    print(render_table(("VMS", "ROUND TRIPS", "SECONDS", "SECONDS PER VM vs smallest"),
                       [(n, trips, f"{s:.2f}", f"{(s / n) / base:.2f}") for n, trips, s in sweeps]))
    print(f"peak RSS of the controller's process after the sweeps: {peak_mb:.0f} MB")
    print()
    first = rtos[0]
    print(render_table(("VMS ON THE FAILED HOST", "NOTRESPONDING -> DECISION S", "DECISION -> LAST ANSWER S",
                        "RTO S", "PER VM vs smallest"),
                       [(r.vms, f"{r.to_decision:.2f}", f"{r.to_answers:.2f}", f"{r.total:.2f}",
                         f"{(r.total / r.vms) / (first.total / first.vms):.2f}") for r in rtos]))
    at_10000 = [s for n, _, s in sweeps if n == 10000]
    if at_10000:
        print(f"sweep_10000_s={at_10000[0]:.2f}")
    at_100 = [r.total for r in rtos if r.vms == 100]
    if at_100:
        print(f"rto_100_s={at_100[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
