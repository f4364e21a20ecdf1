"""End to end: the real controller (`vsphere-dr once`) against a real simulator, one case each.

Every test starts its own simulator (the world changes), breaks it with /chaos or as a user
would, runs one or two health sweeps, and asserts what an operator cares about, in vCenter
and in the journal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from tests.chaos import chaos
from tests.conftest import settings_text
from tests.sim_world import (Client, answers, client, example_topology_data, free_port, own_simulator, probe_port,
                             run_task, wait_until, write_topology)
from vsphere_dr.app.cli import main
from vsphere_dr.journal import Journal
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1_VMS = {"web-01": "127.0.2.1", "web-02": "127.0.2.2", "db-01": "127.0.2.3", "cache-01": "127.0.2.4"}
EDGE_VMS = {"edge-01": "127.0.2.21", "edge-02": "127.0.2.22", "edge-03": "127.0.2.23"}
# The spare host's certificate: vCenter adds it only with this thumbprint.
SPARE_THUMBPRINT = "2E:91:0C:7A:D4:33:58:B6:1F:E0:9A:47:C2:65:8D:13:FB:04:A9:76"


class Lab:
    """A private simulator, a pyVmomi client acting as a person, and the controller's settings."""

    def __init__(self, sim: Simulator, vc: Client, topology: Path, directory: Path) -> None:
        self.sim, self.vc, self.port, self.dir = sim, vc, probe_port(topology), directory
        self.settings = directory / "settings.ini"
        self.configure()

    def configure(self, **sections: dict[str, object]) -> None:
        base: dict[str, dict[str, object]] = {
            "monitoring": {"probe_port": self.port, "probe_timeout_seconds": 0.3, "failures_before_action": 1,
                           "isolation_timeout_seconds": 0, "interval_seconds": 5},
            "recovery": {"confirm_timeout_seconds": 20, "host_boot_timeout_seconds": 30},
            "inventory": {"vhost_backing": "esx-d2.lab.local = nested-esx-d2"},
            "logging": {"level": "INFO"},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        self.settings.write_text(settings_text(self.sim.host, self.sim.port, **base), encoding="utf-8")

    def once(self, *extra: str) -> int:
        return main(["--config", str(self.settings), "once", *extra])

    def once_command(self) -> list[str]:
        """`vsphere-dr once` as cron starts it: a process of its own."""
        return [sys.executable, "-m", "vsphere_dr.app", "--config", str(self.settings), "once"]

    def journal(self) -> Journal:
        return Journal(self.dir / "journal.sqlite")

    def running_with_ip(self, ip: str) -> list[str]:
        """Names of the powered-on VMs whose guest reports ``ip``."""
        return sorted(vm.name for vm in self.vc.every(vim.VirtualMachine)
                      if vm.runtime.powerState == "poweredOn" and vm.guest.ipAddress == ip)

    def host_of(self, name: str) -> str:
        return self.vc.vm(name).runtime.host.name

    def registrations_of(self, name: str) -> int:
        """How many VMs of that name vCenter has: exactly one, whatever was recovered."""
        return sum(1 for vm in self.vc.every(vim.VirtualMachine) if vm.name == name)

    def has_host(self, name: str) -> bool:
        return any(h.name == name for h in self.vc.every(vim.HostSystem))


def start_lab(vcsim_binary: Path, tmp_path: Path, data: dict[str, Any] | None = None,
              extra_args: tuple[str, ...] = ()) -> Iterator[Lab]:
    """A lab where vCenter notices a dead host at once and its file locks expire at once: the tests
    act at once (isolation_timeout 0)."""
    topology = write_topology(tmp_path, {**(data or example_topology_data()), "lock_lease_seconds": 0,
                                         "not_responding_after_seconds": 0})
    with own_simulator(vcsim_binary, topology, extra_args) as sim, client(sim) as vc:
        yield Lab(sim, vc, topology, tmp_path)


@pytest.fixture
def lab(vcsim_binary: Path, tmp_path: Path) -> Iterator[Lab]:
    yield from start_lab(vcsim_binary, tmp_path)


def actions(lab: Lab) -> list[tuple[str, str, str]]:
    return [(a.kind, a.vm_name, a.state) for a in _actions_raw(lab)]


def incidents(lab: Lab) -> list[Any]:
    journal = lab.journal()
    try:
        return journal.incidents()
    finally:
        journal.close()


def test_all_healthy_nothing_done(lab: Lab) -> None:
    assert lab.once() == 0
    assert actions(lab) == [] and incidents(lab) == []
    assert all(lab.running_with_ip(ip) == [name] for name, ip in P1_VMS.items())


def test_person_powered_off_vm_stays_off(lab: Lab) -> None:
    with client(lab.sim, user="alice") as alice:
        run_task(alice.vm("web-02").PowerOffVM_Task())
    assert lab.once() == 0 and lab.once() == 0
    assert lab.vc.vm("web-02").runtime.powerState == "poweredOff"
    assert actions(lab) == []


def test_crashed_vm_on_live_host_runs_again_there_from_its_snapshot(lab: Lab) -> None:
    chaos(lab.sim, "vm_crash", "web-01")
    assert lab.once() == 0
    assert lab.running_with_ip(P1_VMS["web-01"]) == ["web-01"] and lab.host_of("web-01") == "esx-p1.lab.local"
    assert answers(P1_VMS["web-01"], lab.port)
    assert actions(lab) == [("restart_from_snapshot", "web-01", "done")]
    (incident,) = incidents(lab)
    assert incident.state == "recovered" and incident.rto_seconds is not None and incident.rpo_seconds is not None


def test_nested_host_comes_back_from_its_backing_snapshot(lab: Lab) -> None:
    chaos(lab.sim, "vm_crash", "nested-esx-d2")
    wait_until(lambda: lab.vc.host("esx-d2.lab.local").runtime.connectionState == "notResponding")
    assert lab.once() == 0
    assert lab.vc.host("esx-d2.lab.local").runtime.connectionState == "connected"
    assert lab.running_with_ip("127.0.2.18") == ["dev-03"] and lab.host_of("dev-03") == "esx-d2.lab.local"
    assert ("revive_host", "esx-d2.lab.local", "done") in actions(lab)
    assert lab.registrations_of("dev-03") == 1


def test_host_down_on_shared_storage_each_vm_runs_once_elsewhere_same_identity_nothing_missing(lab: Lab) -> None:
    run_task(lab.vc.vm("cache-01").PowerOffVM_Task())  # a person's power-off, before the failure
    uuids = {name: lab.vc.vm(name).config.instanceUuid for name in [*P1_VMS, "scratch-01"]}
    chaos(lab.sim, "host_down", "esx-p1.lab.local")
    assert lab.once() == 0
    assert not lab.has_host("esx-p1.lab.local"), "the failed host was removed from vCenter"
    for name, ip in P1_VMS.items():
        assert lab.vc.vm(name).config.instanceUuid == uuids[name], "the same VM, registered again"
        assert lab.host_of(name) in ("esx-p2.lab.local", "esx-p3.lab.local"), name
        if name == "cache-01":
            assert lab.vc.vm(name).runtime.powerState == "poweredOff", "the person's powered-off VM stays off"
        else:
            assert lab.running_with_ip(ip) == [name] and answers(ip, lab.port), name
    assert lab.vc.vm("scratch-01").runtime.powerState == "poweredOff", "nothing disappears from the inventory"
    chaos(lab.sim, "host_up", "esx-p1.lab.local")
    assert lab.once() == 0
    assert all(len(lab.running_with_ip(ip)) <= 1 for ip in P1_VMS.values()), "never two running copies"
    assert all(lab.registrations_of(name) == 1 for name in P1_VMS), "nothing was duplicated"


def test_host_down_registered_vm_revert_each_vm_runs_once_elsewhere_from_its_newest_snapshot(lab: Lab) -> None:
    """[recovery] registered_vm = revert: the failed host's VMs, registered on live hosts, have their
    snapshots from their files; each is reverted to its newest one (web-01's is not its current one
    before the failure) and powered on, once."""
    lab.configure(recovery={"registered_vm": "revert"})
    web = lab.vc.vm("web-01")
    run_task(web.CreateSnapshot_Task(name="nightly", description="", memory=False, quiesce=False))
    (baseline,) = web.snapshot.rootSnapshotList
    run_task(baseline.snapshot.RevertToSnapshot_Task())  # current: baseline, newest: nightly
    run_task(web.PowerOnVM_Task())
    chaos(lab.sim, "host_down", "esx-p1.lab.local")
    assert lab.once() == 0
    assert not lab.has_host("esx-p1.lab.local")
    again = lab.vc.vm("web-01")
    (current,) = [tree for tree in again.snapshot.rootSnapshotList[0].childSnapshotList
                  if tree.snapshot == again.snapshot.currentSnapshot]
    assert current.name == "nightly", "reverted to its newest snapshot"
    done = {a.vm_name: a for a in _actions_raw(lab) if a.kind == "register_elsewhere"}
    assert sorted(done) == ["cache-01", "db-01", "web-01", "web-02"]
    assert all(a.state == "done" and a.params["mode"] == "revert" for a in done.values())
    assert done["web-01"].params["snapshot_name"] == "nightly"
    for name, ip in P1_VMS.items():
        assert lab.host_of(name) in ("esx-p2.lab.local", "esx-p3.lab.local"), name
        assert lab.running_with_ip(ip) == [name] and answers(ip, lab.port), name
    chaos(lab.sim, "host_up", "esx-p1.lab.local")
    assert lab.once() == 0
    assert all(lab.running_with_ip(ip) == [name] for name, ip in P1_VMS.items()), "each runs once"
    assert all(lab.registrations_of(name) == 1 for name in P1_VMS), "nothing was duplicated"


@pytest.mark.parametrize("vm_network", [True, False])
def test_isolated_host_is_never_failed_over_into_a_second_copy(lab: Lab, vm_network: bool) -> None:
    chaos(lab.sim, "host_isolate", "esx-p1.lab.local", vm_network=vm_network)
    wait_until(lambda: lab.vc.host("esx-p1.lab.local").runtime.connectionState == "notResponding")
    assert lab.once() == 0 and lab.once() == 0
    vms = [vm for vm in lab.vc.every(vim.VirtualMachine) if vm.name in P1_VMS]
    assert not [vm.name for vm in vms if vm.runtime.powerState == "poweredOn"
                and vm.runtime.host.name != "esx-p1.lab.local"], "no second running copy, ever"
    if vm_network:
        assert actions(lab) == [], "its VMs answer: isolated, not failed"
    else:
        assert not [a for a in actions(lab) if a[0] == "register_elsewhere" and a[2] == "done"]
        waiting = [i for i in incidents(lab) if i.state == "needs_person"]
        assert waiting and all("isolated, not failed" in i.note for i in waiting)
    assert all(answers(ip, lab.port) == vm_network for ip in P1_VMS.values()), "they run on where they were"


def one_host_lab() -> dict[str, Any]:
    return {"datacenters": [{"name": "dc-small", "datastores": [{"name": "ds-1", "hosts": ["esx-1.lab.local"]}],
                             "clusters": [{"name": "cl-1", "hosts": [{
                                 "name": "esx-1.lab.local", "ip": "127.0.5.1", "cpu_mhz": 20000, "memory_mb": 65536,
                                 "vms": [{"name": "solo-01", "ip": "127.0.5.11", "power": "poweredOn", "cpus": 1,
                                          "memory_mb": 1024, "datastore": "ds-1", "snapshots": ["baseline"]}]}]}]}],
            "spare_hosts": [{"name": "esx-spare.lab.local", "ip": "127.0.5.2", "cpu_mhz": 20000, "memory_mb": 65536,
                             "thumbprint": SPARE_THUMBPRINT, "datastores": ["ds-1"]}]}


@pytest.mark.parametrize("thumbprint_right", [True, False])
def test_no_live_host_a_spare_host_is_added_and_runs_the_vm(vcsim_binary: Path, tmp_path: Path, thumbprint_right: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARE_PASSWORD", "spare-secret")
    given = SPARE_THUMBPRINT if thumbprint_right else "ab" * 20
    for lab in start_lab(vcsim_binary, tmp_path, one_host_lab()):
        lab.configure(inventory={"vhost_backing": "", "spare_hosts": "esx-spare.lab.local",
                                 "spare_host_password_env": "SPARE_PASSWORD",
                                 "spare_host_thumbprints": f"esx-spare.lab.local = {given}"})
        chaos(lab.sim, "host_down", "esx-1.lab.local")
        assert lab.once() == 0 and lab.once() == 0  # the spare host is added, then the VM registered on it
        if not thumbprint_right:
            (added,) = [a for a in _actions_raw(lab) if a.kind == "add_spare_host"]
            assert added.state == "failed" and "SSLVerifyFault" in added.error and "AB:AB:AB" in added.error
            assert not lab.has_host("esx-spare.lab.local") and not answers("127.0.5.11", lab.port)
            assert incidents(lab)[-1].state == "needs_person", "tried once, then a person decides"
            return
        assert lab.host_of("solo-01") == "esx-spare.lab.local"
        assert lab.running_with_ip("127.0.5.11") == ["solo-01"]
        assert [(k, state) for k, _, state in actions(lab)] == [("add_spare_host", "done"),
                                                                ("remove_failed_host", "done"),
                                                                ("register_elsewhere", "done")]


def test_host_silent_but_connected_in_vcenter_no_clone(vcsim_binary: Path, tmp_path: Path) -> None:
    data = example_topology_data()
    p3 = data["datacenters"][0]["clusters"][0]["hosts"][2]
    assert p3["name"] == "esx-p3.lab.local"
    elsewhere = free_port()  # the simulator answers where the controller does not probe: a partition
    p3["probe_port"] = elsewhere
    for vm in p3["vms"]:
        vm["probe_port"] = elsewhere
    for lab in start_lab(vcsim_binary, tmp_path, data):
        assert lab.once() == 0 and lab.once() == 0
        assert actions(lab) == []
        assert lab.registrations_of("app-03") == 1 and lab.vc.vm("app-03").runtime.powerState == "poweredOn"


def test_vcenter_unreachable_no_action_and_a_clear_log_line(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    chaos(lab.sim, "vm_crash", "web-01")
    lab.settings.write_text(lab.settings.read_text().replace(f"port = {lab.sim.port}", "port = 9"))
    assert lab.once() == 3
    log = capsys.readouterr().err
    assert "ERROR" in log and "vCenter cannot be read" in log and "no action until it answers" in log
    assert "127.0.0.1:9" in log
    assert actions(lab) == [] and lab.running_with_ip(P1_VMS["web-01"]) == ["web-01"]
    assert not answers(P1_VMS["web-01"], lab.port), "nothing was done to the crashed VM"


def test_flapping_vm_stops_being_recovered_after_max_restarts(lab: Lab) -> None:
    lab.configure(recovery={"max_restarts": 2})
    for _ in range(2):
        chaos(lab.sim, "vm_crash", "web-02")
        assert lab.once() == 0
        assert answers(P1_VMS["web-02"], lab.port)
    chaos(lab.sim, "vm_crash", "web-02")
    assert lab.once() == 0 and lab.once() == 0
    assert not answers(P1_VMS["web-02"], lab.port), "the third crash is left for a person"
    assert [a for a in actions(lab) if a[0] == "restart_from_snapshot"] == [("restart_from_snapshot", "web-02", "done")] * 2
    assert incidents(lab)[-1].state == "needs_person"


def test_controller_killed_mid_recovery_completes_with_each_vm_running_once(vcsim_binary: Path,
                                                                           tmp_path: Path) -> None:
    for lab in start_lab(vcsim_binary, tmp_path, extra_args=("-method-delay", "RegisterVM_Task=1500")):
        chaos(lab.sim, "host_down", "esx-p1.lab.local")
        command = lab.once_command()
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: any(a.kind == "register_elsewhere" and a.step for a in _actions_raw(lab)),
                       timeout=60, interval=0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        unfinished = [a for a in _actions_raw(lab) if a.state in ("intended", "running")]
        assert unfinished, "the kill came in the middle of a recovery"
        second = subprocess.run(command, timeout=120, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        for name, ip in P1_VMS.items():
            assert lab.running_with_ip(ip) == [name], (name, second.stderr)
        assert all(a.state == "done" for a in _actions_raw(lab))


def test_concurrent_controllers_recover_each_vm_once(vcsim_binary: Path, tmp_path: Path) -> None:
    """Issue 10: three `once` started together after a host failure made two running copies of a VM.

    Registrations are served late, so the first controller still holds the lock when the others reach it.
    """
    for lab in start_lab(vcsim_binary, tmp_path, extra_args=("-method-delay", "RegisterVM_Task=1000")):
        chaos(lab.sim, "host_down", "esx-p1.lab.local")
        runs = [subprocess.Popen(lab.once_command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
        errors = [run.communicate(timeout=120)[1] for run in runs]
        codes = [run.returncode for run in runs]
        assert sorted(codes) == [0, 4, 4], errors
        winner = runs[codes.index(0)].pid
        assert all(f"pid {winner} on " in err for code, err in zip(codes, errors) if code == 4), errors
        started = sorted(vm for kind, vm, state in actions(lab) if kind == "register_elsewhere")
        assert started == sorted(P1_VMS), "one recovery action per VM"
        for name, ip in P1_VMS.items():
            assert lab.running_with_ip(ip) == [name], name


def _actions_raw(lab: Lab) -> list[Any]:
    journal = lab.journal()
    try:
        return journal.actions()
    finally:
        journal.close()


def test_plan_explains_each_action_and_changes_nothing(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    chaos(lab.sim, "host_down", "esx-p1.lab.local")
    assert main(["--config", str(lab.settings), "plan"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("1. remove_failed_host esx-p1.lab.local: host esx-p1.lab.local is notResponding"), text
    for name in P1_VMS:
        assert any(line.split(" ")[1:3] == ["register_elsewhere", f"{name}:"] for line in text.splitlines()), text
    assert actions(lab) == [] and lab.vc.vm("web-01").runtime.host.name == "esx-p1.lab.local"
    assert main(["--config", str(lab.settings), "plan", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["actions"]
    assert {a["name"] for a in planned if a["kind"] == "register_elsewhere"} == set(P1_VMS)
    assert all(a["preconditions"] for a in planned), "each action says what the executor will check"


def test_incidents_lists_rto_and_rpo(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    chaos(lab.sim, "vm_crash", "cache-01")
    assert lab.once() == 0
    capsys.readouterr()
    assert main(["--config", str(lab.settings), "incidents", "--json"]) == 0
    (incident,) = json.loads(capsys.readouterr().out)
    assert incident["vm_name"] == "cache-01" and incident["state"] == "recovered"
    assert incident["rto_seconds"] >= 0 and incident["rpo_seconds"] > 0
    assert incident["vm"].startswith("vm-") and incident["detected_at"].endswith("Z")  # a moref; ISO-8601 UTC
    assert main(["--config", str(lab.settings), "incidents"]) == 0
    assert "cache-01" in capsys.readouterr().out



def test_connection_reset_mid_registration_is_continued_on_the_next_sweep(lab: Lab) -> None:
    """vCenter carries out the registration but its answer is lost (connection reset): the action
    stays at the step it reached; the daemon's next sweep continues it and adopts the VM vCenter
    registered."""
    from modules.inventory_administrator import InventoryAdministrator
    from tests.flaky_proxy import FlakyProxy
    from vsphere_dr.app.controller import Controller
    from vsphere_dr.app.module_registry import PAUSABLE

    chaos(lab.sim, "host_down", "esx-p1.lab.local")
    with FlakyProxy(lab.sim.host, lab.sim.port) as proxy:
        text = lab.settings.read_text(encoding="utf-8").replace(f"port = {lab.sim.port}\n", f"port = {proxy.port}\n")
        lab.settings.write_text(text, encoding="utf-8")
        controller = Controller(InventoryAdministrator(lab.settings, PAUSABLE))  # one process, as `run`
        try:
            proxy.break_next("RegisterVM_Task", after_forwarding=True)
            assert controller.run_module("health_administrator") is None
            cut_off = [a for a in controller.journal.actions() if a.state == "running"]
            assert len(cut_off) == 1 and cut_off[0].step == "target_usable", "left at the step it reached"
            assert controller.run_module("health_administrator") is None
        finally:
            controller.close()
    assert {a.state for a in _actions_raw(lab)} == {"done"}
    for name, ip in P1_VMS.items():
        assert lab.running_with_ip(ip) == [name], name
