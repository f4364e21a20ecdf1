#!/usr/bin/env python3
"""Detection on the simulator: how soon `vsphere-dr run` decides, and what a steady sweep costs.

    python bench/detection.py [--sizes 1000,10000] [--trials 2]

1. Latency, with the shipped [monitoring] settings (settings.ini; only the address of vCenter,
   the probe port and the journal changed; snapshot and replica rounds paused, no /metrics), on the example
   lab with vCenter's notResponding delay shortened from vpxd's 60 s to 10 s (so the lab's 16 s
   lock lease of the dead host has expired by the time the host is declared failed, as it would
   be on a real vCenter): seconds from vCenter showing a host notResponding (seen by a separate
   client polling the host every 0.1 s) to the decision (`remove_failed_host` logged), and from
   a guest crash (heartbeat red, address silent, VM still powered on) to its recovery's decision.
2. The health sweep (the daemon's: detect, decide, journal; the VMs' alarms not created, as
   vcsim's alarm manager takes minutes for 10,000) at 1,000 and 10,000 VMs in steady state: with
   a full inventory read (`once`, and `run` before the watcher's first read) and with the
   watcher's picture after one VM changed (`run`): seconds and round trips of the sweep, the
   seconds of its phases (inventory, probes, classification, probe history, decision) and of the
   inventory phase alone; then the peak RSS of this process (the controller runs in it).

Last lines: `host_decided_s=<worst of the trials>`, `crash_decided_s=<worst>` (when --trials is
not 0), `sweep_10000_watched_s=<seconds>` (when 10,000 is among the sizes).
"""

from __future__ import annotations

import argparse
import configparser
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVim.task import WaitForTask  # noqa: E402
from pyVmomi import vim  # noqa: E402

from modules.inventory_administrator import InventoryAdministrator  # noqa: E402
from vsphere_dr.app.controller import Controller  # noqa: E402
from vsphere_dr.app.daemon import settle_heap  # noqa: E402
from vsphere_dr.gateway.watcher import InventoryWatcher  # noqa: E402
from vsphere_dr.simulator import topology as topo  # noqa: E402
from vsphere_dr.simulator.launcher import Simulator, free_port  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402
from sweep_phases import PHASES, phases_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tools" / "vcsim" / "example-topology.json"
NOT_RESPONDING_AFTER = 10
HOST, CRASHED = "esx-p1.lab.local", "app-03"


def shipped_settings(directory: Path, sim: Simulator, probe_port: int, **extra: dict[str, str]) -> Path:
    """settings.ini as shipped, pointed at this simulator."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "settings.ini", encoding="utf-8")
    parser["vcenter"].update(host=sim.host, port=str(sim.port), user="bench", password="bench-password",
                             insecure_http="true")
    parser["monitoring"]["probe_port"] = str(probe_port)
    parser["journal"]["path"] = str(directory / "journal.sqlite")
    parser["logging"].update(format="json", level="INFO")
    parser["scheduler"]["paused"] = "snapshot_creator, snapshot_creator_vhost, replica_creator"
    if parser.has_section("metrics"):  # the shipped port may be taken by a `run` of the machine's own
        parser["metrics"]["listen"] = ""
    for section, values in extra.items():
        parser[section].update(values)
    path = directory / "settings.ini"
    with path.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return path


def logged(log: Path, text: str, timeout: float) -> float:
    """The time of the first log entry containing text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            entry = _entry(line)
            if entry is not None and text in entry["message"]:
                return _epoch(entry["time"])
        time.sleep(0.1)
    raise SystemExit(f"no log entry with {text!r} within {timeout} s; see {log}")


def _entry(line: str) -> dict[str, str] | None:
    """A JSON log line; None for a line still being written, or one that is not the log's (a
    warning printed before logging was set up)."""
    try:
        return json.loads(line)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        return None


def _epoch(stamp: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(stamp).timestamp()


def latency_trial(workdir: Path, trial: int) -> tuple[float, float]:
    """One run on a fresh lab: (host decided after notResponding, crash decided after the crash)."""
    directory = workdir / f"latency-{trial}"
    directory.mkdir()
    data = json.loads(EXAMPLE.read_text()) | {"probe_port": free_port(),
                                              "not_responding_after_seconds": NOT_RESPONDING_AFTER}
    lab = directory / "lab.json"
    lab.write_text(json.dumps(data), encoding="utf-8")
    with Simulator(lab) as sim:
        settings = shipped_settings(directory, sim, data["probe_port"])
        log = directory / "vsphere-dr.log"
        with log.open("w") as sink:
            daemon = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), "run"],
                                      stdout=subprocess.DEVNULL, stderr=sink, cwd=ROOT)
        si = SmartConnect(host=sim.host, port=sim.port, user="observer", pwd="x", protocol=sim.scheme)
        try:
            logged(log, "inventory watcher: ", 60)
            crashed = time.time()
            chaos(sim, "vm_crash", CRASHED)
            crash_decided = logged(log, f"recovering {CRASHED}: ", 60) - crashed
            chaos(sim, "host_down", HOST)
            shown = not_responding_at(si, HOST)
            host_decided = logged(log, "remove_failed_host", 60) - shown
        finally:
            Disconnect(si)
            daemon.terminate()
            daemon.wait(60)
    print(f"  trial {trial}: host decided {host_decided:.1f} s after notResponding, crash {crash_decided:.1f} s",
          file=sys.stderr, flush=True)
    return host_decided, crash_decided


def chaos(sim: Simulator, action: str, target: str) -> None:
    requests.post(f"{sim.scheme}://{sim.host}:{sim.port}/chaos", json={"action": action, "target": target},
                  timeout=10).raise_for_status()


def not_responding_at(si: vim.ServiceInstance, name: str) -> float:
    """When vCenter first shows the host notResponding (polled every 0.1 s)."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    host = next(h for h in view.view if h.name == name)
    while host.runtime.connectionState != "notResponding":
        time.sleep(0.1)
    return time.time()


def sweep_costs(vms: int, workdir: Path) -> list[tuple[object, ...]]:
    """Rows: (VMs, inventory source, sweep s, sweep round trips, each phase's s, inventory phase s)."""
    directory = workdir / f"sweep-{vms}"
    directory.mkdir()
    world = topo.generate(clusters=1, hosts_per_cluster=10, vms_per_host=vms // 10)
    world.data["probe_port"] = free_port()
    with Simulator(topo.save(world, directory / "lab.json")) as sim:
        settings = shipped_settings(directory, sim, world.data["probe_port"], health={"enabled": "false"},
                                    vcenter={"connect_timeout_seconds": "600"}, logging={"level": "WARNING"})
        controller = Controller(InventoryAdministrator(settings))
        watcher = InventoryWatcher(controller.settings().vcenter, on_whole_read=settle_heap)  # as under `run`
        controller.health.ping_alarm._available = False  # in steady state they exist: a sweep creates none
        try:
            assert controller.run_module("health_administrator") is None  # log in, read events once
            assert watcher.step()
            rows = [measure(controller, vms, "full read", controller.health.gateway.inventory, lambda: None)]
            morefs = iter(sorted(watcher.inventory().vms))
            controller.health.live = watcher
            rows.append(measure(controller, vms, "watcher", watcher.inventory,
                                lambda: changed(sim, watcher, next(morefs))))
        finally:
            watcher.stop()
            controller.close()
    return rows


def changed(sim: Simulator, watcher: InventoryWatcher, moref: str) -> None:
    """A person powers one VM off; the watcher has applied the update."""
    power_off(sim, moref)
    while watcher.inventory().vms[moref].power_state != "poweredOff":
        watcher.step()
    watcher._built = None  # the next inventory() builds the records again, as after any update


def measure(controller: Controller, vms: int, source: str, read: Callable[[], object],
            change: Callable[[], None]) -> tuple[object, ...]:
    """The sweep after a change, and the inventory phase alone after another."""
    trips = lambda: sum(g.round_trips for g in controller.gateways)  # noqa: E731
    change()
    before, start = trips(), time.perf_counter()
    with phases_timed() as spent:
        failed = controller.run_module("health_administrator")
    sweep_s, sweep_trips = time.perf_counter() - start, trips() - before
    if failed is not None:
        raise SystemExit(f"the sweep of {vms} VMs failed: {failed}")
    change()
    start = time.perf_counter()
    read()
    inventory_s = time.perf_counter() - start
    print(f"  {vms} VMs, {source}: sweep {sweep_s:.2f} s", file=sys.stderr, flush=True)
    return (vms, source, f"{sweep_s:.2f}", sweep_trips, *(f"{seconds:.3f}" for seconds in spent.values()),
            f"{inventory_s:.3f}")


def power_off(sim: Simulator, moref: str) -> None:
    si = SmartConnect(host=sim.host, port=sim.port, user="person", pwd="x", protocol=sim.scheme)
    try:
        WaitForTask(vim.VirtualMachine(moref, si._stub).PowerOffVM_Task())
    finally:
        Disconnect(si)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        trials = [latency_trial(workdir, n) for n in range(1, args.trials + 1)]
        sweeps = [row for vms in (int(s) for s in args.sizes.split(",") if s) for row in sweep_costs(vms, workdir)]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trials:
        print(render_table(("trial", "host decided after notResponding (s)", "crash decided after crash (s)"),
                           [(n, f"{h:.1f}", f"{c:.1f}") for n, (h, c) in enumerate(trials, 1)]))
        print(f"(shipped [monitoring] settings; vCenter's notResponding delay {NOT_RESPONDING_AFTER} s)")
        print()
    if sweeps:
        full = {row[0]: float(row[2]) for row in sweeps if row[1] == "full read"}
        print(render_table(("VMs", "inventory", "sweep s", "round trips", *(f"{name} s" for name, *_ in PHASES),
                            "inventory alone s", "sweep vs full read"),
                           [(*row, f"{float(row[2]) / full[row[0]]:.2f}") for row in sweeps]))
        print(f"peak RSS of this process (the controller and the watcher) after the sweeps: {peak_mb:.0f} MB")
    if trials:
        print(f"host_decided_s={max(h for h, _ in trials):.1f}")
        print(f"crash_decided_s={max(c for _, c in trials):.1f}")
    watched = [row for row in sweeps if row[0] == 10000 and row[1] == "watcher"]
    if watched:
        print(f"sweep_10000_watched_s={watched[0][2]}")


if __name__ == "__main__":
    main()
