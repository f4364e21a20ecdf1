"""`vsphere-dr inventory` and `check-config` as an operator runs them, against the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import Topology

pytestmark = pytest.mark.live


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsphere_dr.app", *args], capture_output=True, text=True, timeout=120)


def test_inventory_json_lists_hosts_and_monitored_vms(sim: Simulator, write_settings, example_topology: Topology) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(write_settings(sim.host, sim.port)), "inventory", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {h["name"]: h["cluster"] for h in data["hosts"]} == {h.name: h.cluster for h in example_topology.hosts()}
    assert all(h["connection_state"] == "connected" and h["in_maintenance"] is False for h in data["hosts"])
    vms = {vm["name"]: vm for vm in data["vms"]}
    assert vms.keys() == {vm.name for vm in example_topology.vms() if vm.ip}
    for want in example_topology.vms():
        if want.ip:
            got = vms[want.name]
            assert (got["ip"], got["host"], got["power_state"]) == (want.ip, want.host, want.spec["power"])
            newest = got["newest_snapshot"]
            assert (newest["name"] if newest else None) == (want.spec["snapshots"] or [None])[-1]
    assert sorted(data["not_monitored"]) == sorted(vm.name for vm in example_topology.vms() if not vm.ip)


def test_inventory_table_names_every_host_and_vm(sim: Simulator, write_settings, example_topology: Topology) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(write_settings(sim.host, sim.port)), "inventory")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for host in example_topology.hosts():
        assert any(line.startswith(host.name + " ") and host.ip in line for line in lines), host.name
    for vm in example_topology.vms():
        listed = any(line.startswith(vm.name + " ") for line in lines)
        assert listed == bool(vm.ip), vm.name


def test_check_config_reaches_vcenter(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(write_settings(sim.host, sim.port)), "check-config")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout and "answered as VMware vCenter Server" in result.stdout
    assert "[journal] path: " in result.stdout and "can be written" in result.stdout
    as_json = run("check-config", "--json", "--config", str(write_settings(sim.host, sim.port)))  # --config after
    assert as_json.returncode == 0, as_json.stderr
    checked = json.loads(as_json.stdout)
    assert checked["valid"] is True and checked["vcenter"]["about"].startswith("VMware vCenter Server")
    assert set(checked["writable"]) == {"[journal] path", "[health] model_path",
                                        "[health] model_path's history directory"}


def test_help_documents_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    for line in ("0  success", "2  settings.ini is missing or invalid", "3  vCenter unreachable",
                 "4  run/once only: another vsphere-dr run or once holds the journal's lock"):
        assert line in result.stdout


def test_missing_settings_file_exit_code(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.ini"), "inventory")
    assert result.returncode == 2
    assert "cannot read settings file" in result.stderr


@pytest.mark.parametrize("style", ["ansible", "govc"])
def test_connection_from_the_environment_without_a_password_in_the_file(sim: Simulator, tmp_path: Path,
                                                                       style: str) -> None:
    """Ansible's VMWARE_* (or govc's GOVC_URL) give the connection; the file has no [vcenter] password."""
    path = tmp_path / "settings.ini"
    path.write_text("[vcenter]\nconnect_attempts = 1\n" + ("insecure_http = true\n" if style == "ansible" else ""),
                    encoding="utf-8")
    secret = "env-only-password"
    env = ({"VMWARE_HOST": sim.host, "VMWARE_PORT": str(sim.port), "VMWARE_USER": "admin", "VMWARE_PASSWORD": secret}
           if style == "ansible" else {"GOVC_URL": f"http://admin:{secret}@{sim.host}:{sim.port}/sdk"})
    result = subprocess.run([sys.executable, "-m", "vsphere_dr.app", "check-config", "--config", str(path)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert f"{sim.host}:{sim.port}" in result.stdout and "answered as VMware vCenter Server" in result.stdout
    assert secret not in result.stdout + result.stderr
    inventory = subprocess.run([sys.executable, "-m", "vsphere_dr.app", "inventory", "--json", "--config", str(path)],
                               capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert inventory.returncode == 0, inventory.stderr
    assert all(vm["moref"].startswith("vm-") for vm in json.loads(inventory.stdout)["vms"])
