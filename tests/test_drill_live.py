"""`vsphere-dr drill` on the simulator, as an operator runs it (the issue's Done-when).

A protected VM's replica is made by the real Replica Creator; `vsphere-dr drill --vm web-01` then
exits 0, leaves no extra VM behind, changes no production VM (its configuration, snapshots and
power state, and the replicas', read before and after with pyVmomi), and `vsphere-dr drills`
shows its report. A drill SIGKILLed while its copy boots is cleaned up by the next drill or `once`,
or by a `run` serving meanwhile within two sweep intervals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from modules.inventory_administrator import InventoryAdministrator
from tests.sim_world import (Client, example_topology_data, own_simulator, run_task, snapshot_names, wait_until,
                             write_topology)
from tests.test_daemon_live import RunningDaemon, said
from tests.test_replica_live import REPLICATION
from tests.test_snapshots_live import VHOST_BACKING
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.gateway.properties import retrieve
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live
PREFIX = "vsphere-dr-drill"


@pytest.fixture
def own(vcsim_binary: Path, tmp_path: Path) -> Iterator[Simulator]:
    """A simulator of its own whose power-ons take two seconds (so that a drill can be killed while
    its copy boots)."""
    topology = write_topology(tmp_path, example_topology_data())
    with own_simulator(vcsim_binary, topology, ["-probes=false", "-method-delay=PowerOnVM_Task=2000"]) as sim:
        yield sim


@pytest.fixture
def config(own: Simulator, vc: Client, write_settings) -> Path:  # type: ignore[no-untyped-def]
    """Every protected VM with a vsphere-dr snapshot and a replica, but db-01, whose replica a
    person deleted: its drill copies its newest snapshot."""
    path: Path = write_settings(own.host, own.port, replication=REPLICATION, inventory=VHOST_BACKING,
                                drill={"timeout_seconds": 60})
    controller = Controller(InventoryAdministrator(path, PAUSABLE))
    try:
        assert controller.run_module("snapshot_creator") is None
        assert controller.run_module("replica_creator") is None
    finally:
        controller.close()
    (replica,) = [m for m, v in world(vc).items() if v["name"].startswith("db-01-replica-")]
    run_task(vim.VirtualMachine(replica, vc.si._stub).Destroy_Task())
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=180)


def world(vc: Client) -> dict[str, Any]:
    """Every VM as a person would compare it: power, host, files, annotation, extraConfig, adapters
    and snapshots (by moref, so a snapshot removed and made again shows)."""
    return {vm._moId: {
        "name": vm.name, "power": vm.runtime.powerState, "host": vm.runtime.host._moId,
        "files": vm.config.files.vmPathName, "annotation": vm.config.annotation,
        "extra": sorted((o.key, str(o.value)) for o in vm.config.extraConfig or ()),
        "nics": [(d.key, d.connectable.connected, d.connectable.startConnected, d.backing.deviceName)
                 for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)],
        "snapshots": snapshot_names(vm), "ip": vm.guest.ipAddress} for vm in vc.every(vim.VirtualMachine)}


def drill_copies(vc: Client) -> list[str]:
    """The drill copies' names, in one property read (quick enough to catch a copy booting)."""
    names = [p["name"] for _, p in retrieve(vc.content, {vim.VirtualMachine: ("name",)})]
    return [name for name in names if name.startswith(PREFIX)]


def test_a_drill_exits_0_leaves_nothing_behind_changes_nothing_and_drills_shows_it(
        config: Path, vc: Client, tmp_path: Path) -> None:
    before = world(vc)
    page = tmp_path / "drill.html"
    result = cli(config, "drill", "--vm", "web-01", "db-01", "--html", str(page))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 VMs passed" in result.stdout
    assert world(vc) == before, "no VM left behind, no production VM or replica changed"
    shown = cli(config, "drills", "--json")
    assert shown.returncode == 0, shown.stderr
    (report,) = json.loads(shown.stdout)
    vms = {v["vm_name"]: v for v in report["vms"]}
    assert report["outcome"] == "passed" and vms.keys() == {"web-01", "db-01"}
    assert vms["web-01"]["source"]["kind"] == "replica" and vms["db-01"]["source"]["kind"] == "snapshot"
    for v in vms.values():
        assert v["copy"]["removed"] and v["copy"]["host_name"] in REPLICATION["hosts"]
        assert v["time_to_answer_seconds"] >= 0 and v["rpo_seconds"] >= 0
    listed = cli(config, "drills")
    assert listed.returncode == 0 and "passed" in listed.stdout
    assert "<svg" in page.read_text(encoding="utf-8")


def test_an_unknown_vm_exits_2_naming_it(config: Path) -> None:
    result = cli(config, "drill", "--vm", "no-such-vm")
    assert result.returncode == 2 and "no-such-vm" in result.stderr and "Traceback" not in result.stderr


def kill_a_drill_while_its_copy_boots(config: Path, vc: Client) -> None:
    """`vsphere-dr drill --vm web-01`, SIGKILLed once its copy exists and its power-on is under way."""
    drill = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "--config", str(config), "drill", "--vm",
                              "web-01"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: drill_copies(vc), timeout=60)
        time.sleep(0.5)  # its power-on is under way (the simulator answers it two seconds late)
    finally:
        os.kill(drill.pid, signal.SIGKILL)
        drill.wait()
    assert len(drill_copies(vc)) == 1, "the killed drill left its copy"


def assert_reported_interrupted_and_removed(config: Path) -> None:
    reports = json.loads(cli(config, "drills", "--json").stdout)
    killed = reports[0]["vms"][0]
    assert reports[0]["outcome"] == "interrupted" and killed["outcome"] == "failed" and killed["copy"]["removed"]


@pytest.mark.parametrize("next_start", [("drill", "--vm", "db-01"), ("once", "--module", "inventory_administrator")],
                         ids=["drill", "once"])
def test_a_drill_killed_while_its_copy_boots_is_cleaned_up_at_the_next_start(
        config: Path, vc: Client, next_start: tuple[str, ...]) -> None:
    before = world(vc)
    kill_a_drill_while_its_copy_boots(config, vc)
    result = cli(config, *next_start)
    assert result.returncode == 0, result.stdout + result.stderr
    assert drill_copies(vc) == [] and world(vc) == before
    assert_reported_interrupted_and_removed(config)


SWEEP_SECONDS = 2


def test_a_drill_killed_while_run_serves_is_cleaned_up_within_two_sweep_intervals(
        config: Path, vc: Client) -> None:
    """`run` serves (every module paused: the world compared stays as it was, and this
    simulator's VMs do not answer probes) while a drill boots its copy; the drill is SIGKILLed.
    `run` checks at every sweep interval: its copy is gone within two (plus the clean-up's own
    reads and tasks), the production VMs and replicas as they were, and `drills` reports it."""
    settings = config.read_text(encoding="utf-8") + "".join((
        f"[monitoring]\ninterval_seconds = {SWEEP_SECONDS}\nprobe_timeout_seconds = 0.5\n"
        "confirm_interval_seconds = 1\n",
        "[scheduler]\npaused = " + ", ".join(PAUSABLE) + "\n", "[logging]\nformat = json\n"))
    config.write_text(settings, encoding="utf-8")
    before = world(vc)
    daemon = RunningDaemon(config)
    try:
        daemon.wait_for(said("vsphere-dr running"), 60)
        kill_a_drill_while_its_copy_boots(config, vc)
        killed = time.monotonic()
        wait_until(lambda: not drill_copies(vc), timeout=2 * SWEEP_SECONDS + 20)
        took = time.monotonic() - killed
        daemon.wait_for(said("the copy of a drill that did not finish"), 10)
        assert daemon.terminate() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
    print(f"copy of the killed drill removed by `run` {took:.1f} s after the kill (sweep interval {SWEEP_SECONDS} s)")
    assert world(vc) == before, "nothing left behind, no production VM or replica changed"
    assert_reported_interrupted_and_removed(config)
