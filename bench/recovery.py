#!/usr/bin/env python3
"""Health sweep and recovery time, with the real controller against the bundled simulator.

    python bench/recovery.py [--sweep-sizes 1000,10000] [--rto-sizes 10,100,1000]

1. A steady-state health sweep (the second of a controller that has swept once already, its
   inventory the watcher's picture and its heap settled after that whole read, as under `run`,
   phase by phase: bench/sweep_phases.py) on
   generated labs: round trips and seconds, the ratio of seconds per VM to the smallest lab's, and
   the process's peak RSS after the largest (the controller runs in this process).
2. RTO under `vsphere-dr run` (the daemon, a process of its own) with the shipped settings
   (settings.ini's defaults; only the simulator's ``not_responding_after_seconds`` is shortened,
   from vCenter's 60 s to 20 s: still longer than the datastores' 16 s lock lease, as on a real
   vCenter, so a dead host's locks have expired when vCenter shows it notResponding): a host with N running VMs fails (/chaos host_down), on shared storage (each VM registered
   again on a live host) or on its local disk (each VM's replica started: the snapshot and replica
   rounds run first). Printed per path and N: seconds from vCenter showing the host notResponding
   to the decision (the first recovery journaled), from the decision to the last VM answering its
   probe, the total, per VM against the smallest N (the total, and the recovery alone: detection
   is a constant), and the daemon's peak RSS.

Its last lines: `sweep_10000_s=<s>` then `rto_100_s=<seconds from notResponding to the last of
100 VMs answering>`.
"""

from __future__ import annotations

import argparse
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from modules.inventory_administrator import InventoryAdministrator  # noqa: E402
from vsphere_dr.app.controller import Controller  # noqa: E402
from vsphere_dr.app.daemon import settle_heap  # noqa: E402
from vsphere_dr.gateway import VCenterGateway  # noqa: E402
from vsphere_dr.journal import Journal  # noqa: E402
from vsphere_dr.recoveries import recovery  # noqa: E402
from vsphere_dr.settings import load_settings  # noqa: E402
from vsphere_dr.simulator import topology as topo  # noqa: E402
from vsphere_dr.simulator.launcher import Simulator, free_port  # noqa: E402
from vsphere_dr.gateway.watcher import InventoryWatcher  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402
from sweep_phases import PHASES, phases_timed  # noqa: E402


FAILED = "esx-00-00.bench.local"
LIVE_HOSTS = ("esx-00-01.bench.local", "esx-00-02.bench.local", "esx-00-03.bench.local")
OWN_VMS = 10  # each live host's own VMs in an RTO lab


def write_settings(directory: Path, sim: Simulator, probe_port: int, extra: str = "") -> Path:
    """The shipped settings (settings.ini's defaults), pointed at the simulator and its probe port."""
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
{extra}""", encoding="utf-8")
    return path


NOT_RESPONDING_AFTER_SECONDS = 20


def lab(directory: Path, name: str, hosts: int, vms_per_host: int) -> tuple[Path, int]:
    return save_lab(directory, name, topo.generate(clusters=1, hosts_per_cluster=hosts, vms_per_host=vms_per_host))


def save_lab(directory: Path, name: str, world: topo.Topology) -> tuple[Path, int]:
    port = free_port()
    world.data["probe_port"] = port
    # The one change to the simulator's defaults: vCenter shows a dead host notResponding after 20 s
    # (60 s on a real vCenter), still after its VMs' 16 s file locks expired, as on a real one.
    # Shorter, the registrations would find the files locked and leave them to a person.
    world.data["not_responding_after_seconds"] = NOT_RESPONDING_AFTER_SECONDS
    return topo.save(world, directory / f"{name}.json"), port


def failure_lab(directory: Path, vms: int, local: bool) -> tuple[Path, int]:
    """``vms`` running VMs on FAILED, on shared storage (registration path) or on a datastore only
    FAILED mounts (replica path); three live hosts with OWN_VMS each."""
    world = topo.generate(clusters=1, hosts_per_cluster=4, vms_per_host=vms)
    datacenter = world.data["datacenters"][0]
    hosts = datacenter["clusters"][0]["hosts"]
    for host in hosts[1:]:
        host["vms"] = host["vms"][:OWN_VMS]
        # Room (memory, and CPU for admission) for every VM of the failed host: each is started, none left off.
        host["memory_mb"], host["cpu_mhz"] = 1048576, 400000
    if local:
        datacenter["datastores"].append({"name": "ds-local", "hosts": [FAILED]})
        for vm in hosts[0]["vms"]:
            vm["datastore"] = "ds-local"
    return save_lab(directory, "lab", world)


@dataclass(frozen=True)
class Sweep:
    vms: int
    round_trips: int
    seconds: float
    phases: dict[str, float]


def sweep(vms: int, workdir: Path) -> Sweep:
    """The daemon's sweep in steady state: the second of a controller that has swept once, its
    inventory the watcher's picture (as under `run`)."""
    directory = workdir / f"sweep-{vms}"
    directory.mkdir()
    path, port = lab(directory, "lab", hosts=10, vms_per_host=vms // 10)
    with Simulator(path) as sim:
        controller = Controller(InventoryAdministrator(write_settings(directory, sim, port)))
        watcher = InventoryWatcher(controller.settings().vcenter, on_whole_read=settle_heap)  # as under `run`
        try:
            # The VMs' alarms are not created: vcsim's alarm manager takes more than 10 minutes for
            # 10,000 (one CreateAlarm each); in steady state they exist and a sweep creates none.
            controller.health.ping_alarm._available = False
            controller.run_module("health_administrator")  # logs in, reads events once
            if not watcher.step():
                raise SystemExit(f"the watcher could not read the inventory of {vms} VMs")
            controller.health.live = watcher
            before, start = sum(g.round_trips for g in controller.gateways), time.perf_counter()
            with phases_timed() as spent:
                failed = controller.run_module("health_administrator")
            seconds = time.perf_counter() - start
            trips = sum(g.round_trips for g in controller.gateways) - before
        finally:
            watcher.stop()
            controller.close()
    if failed is not None:
        raise SystemExit(f"the sweep of {vms} VMs failed: {failed}")
    print(f"  sweep of {vms} VMs: {seconds:.2f} s, {trips} round trips", file=sys.stderr, flush=True)
    return Sweep(vms, trips, seconds, dict(spent))


@dataclass(frozen=True)
class Rto:
    path: str  # registration or replica
    vms: int
    to_decision: float  # from vCenter showing the host notResponding to the first action journaled
    to_answers: float  # from then to the last VM answering its probe
    peak_rss_mb: float  # the daemon's

    @property
    def total(self) -> float:
        return self.to_decision + self.to_answers


REPLICATION = f"""[replication]
enabled = true
hosts = {", ".join(LIVE_HOSTS)}
datastores = ds-00
"""


def rto(path: str, vms: int, workdir: Path) -> Rto:
    """A host with ``vms`` VMs fails under `vsphere-dr run` (the daemon, a process of its own)."""
    directory = workdir / f"rto-{path}-{vms}"
    directory.mkdir()
    build = time.perf_counter()
    topology, port = failure_lab(directory, vms, local=path == "replica")
    kind = "start_replica" if path == "replica" else "register_elsewhere"
    with Simulator(topology) as sim:
        settings = write_settings(directory, sim, port, REPLICATION if path == "replica" else "")
        print(f"  {path} lab of {vms + 3 * OWN_VMS} VMs built in {time.perf_counter() - build:.1f} s",
              file=sys.stderr, flush=True)
        if path == "replica":
            made = time.perf_counter()
            replicas_made(settings)
            print(f"  snapshots and replicas of {vms + 3 * OWN_VMS} VMs made in {time.perf_counter() - made:.1f} s",
                  file=sys.stderr, flush=True)
        with daemon(settings, directory / "daemon.log") as process, \
                VCenterGateway(load_settings(settings).vcenter) as gateway:
            journal = Journal(directory / "journal.sqlite")
            wait_for(lambda: (run := journal.runs().get("health_administrator")) is not None and run.finished_at,
                     600, "the daemon's first sweep")
            failed = gateway.host_named(FAILED)
            assert failed is not None
            requests.post(f"{sim.url.rsplit('/sdk', 1)[0]}/chaos", json={"action": "host_down", "target": FAILED},
                          timeout=10).raise_for_status()
            wait_for(lambda: gateway.host_runtimes([failed])[failed].connection_state == "notResponding", 120,
                     "vCenter showing the host notResponding")
            not_responding = time.time()
            wait_for(lambda: recovered(journal, not_responding, kind) >= vms, 600 + 2 * vms, f"{vms} VMs recovered")
            rss = peak_rss_mb(process.pid)
            actions = [a for a in journal.actions(since=not_responding) if recovery(a.kind) is not None]
            journal.close()
    decided = min(a.created_at for a in actions)
    answered = max(a.result["answered_at"] for a in actions if a.kind == kind)
    found = Rto(path, vms, decided - not_responding, answered - decided, rss)
    print(f"  RTO for {vms} VMs, {path} path: {found.total:.2f} s ({found.to_decision:.2f} s to the decision)",
          file=sys.stderr, flush=True)
    return found


def recovered(journal: Journal, since: float, kind: str) -> int:
    """How many ``kind`` actions are done; a failed one ends the benchmark (it would wait in vain)."""
    actions = [a for a in journal.actions(since=since) if a.kind == kind]
    failed = [a for a in actions if a.state == "failed"]
    if failed:
        raise SystemExit(f"{len(failed)} {kind} actions failed, e.g. {failed[0].vm_name}: {failed[0].error}")
    return sum(a.state == "done" for a in actions)


def replicas_made(settings: Path) -> None:
    """The snapshot and replica rounds the daemon would have run before the failure."""
    controller = Controller(InventoryAdministrator(settings))
    try:
        for module in ("snapshot_creator", "replica_creator"):
            failed = controller.run_module(module)
            if failed is not None:
                raise SystemExit(f"{module} failed: {failed}")
    finally:
        controller.close()


@contextmanager
def daemon(settings: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), "run"],
                                   stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(ready: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep-sizes", default="1000,10000")
    parser.add_argument("--rto-sizes", default="10,100,1000", help="VMs on the failed host, registration path")
    parser.add_argument("--replica-sizes", default="10,100,1000", help="VMs on the failed host, replica path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweeps = [sweep(int(n), work) for n in sizes(args.sweep_sizes)]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rtos = [rto("registration", n, work) for n in sizes(args.rto_sizes)]
        rtos += [rto("replica", n, work) for n in sizes(args.replica_sizes)]
    if sweeps:
        base = sweeps[0].seconds / sweeps[0].vms
        print(render_table(("VMS", "ROUND TRIPS", "SECONDS", *(name.upper() + " S" for name, *_ in PHASES),
                            "SECONDS PER VM vs smallest"),
                           [(w.vms, w.round_trips, f"{w.seconds:.2f}",
                             *(f"{w.phases[name]:.2f}" for name, *_ in PHASES), f"{(w.seconds / w.vms) / base:.2f}")
                            for w in sweeps]))
        print(f"peak RSS of the controller (this process) after the sweeps of up to {sweeps[-1].vms} VMs: "
              f"{peak_mb:.0f} MB")
        print()
    if rtos:
        smallest = {r.path: r for r in reversed(rtos)}
        print(render_table(("PATH", "VMS ON THE FAILED HOST", "NOTRESPONDING -> DECISION S",
                            "DECISION -> LAST ANSWER S", "RTO S", "RTO PER VM vs smallest",
                            "RECOVERY PER VM vs smallest", "DAEMON PEAK RSS MB"),
                           [(r.path, r.vms, f"{r.to_decision:.2f}", f"{r.to_answers:.2f}", f"{r.total:.2f}",
                             f"{(r.total / r.vms) / (smallest[r.path].total / smallest[r.path].vms):.2f}",
                             f"{(r.to_answers / r.vms) / (smallest[r.path].to_answers / smallest[r.path].vms):.2f}",
                             f"{r.peak_rss_mb:.0f}") for r in rtos]))
    at_10000 = [w.seconds for w in sweeps if w.vms == 10000]
    if at_10000:
        print(f"sweep_10000_s={at_10000[0]:.2f}")
    at_100 = [r.total for r in rtos if r.vms == 100 and r.path == "registration"]
    if at_100:
        print(f"rto_100_s={at_100[0]:.2f}")
    return 0


def sizes(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


if __name__ == "__main__":
    sys.exit(main())
