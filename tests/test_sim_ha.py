"""A cluster's vSphere HA configuration in the bundled simulator, from the topology's "ha" key, as pyVmomi reads it.

vCenter shows it in ``configurationEx.dasConfig`` (enabled, hostMonitoring, defaultVmSettings) and
``configurationEx.dasVmConfig`` (a VM's own restart priority, in dasSettings); the simulator only shows
it (docs/simulator.md, "vSphere HA").
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyVmomi import vim

from tests.sim_world import Client, client, example_topology_data, own_simulator, write_topology
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live


def with_ha(**clusters: dict[str, Any]) -> dict[str, Any]:
    data = example_topology_data()
    for cluster in data["datacenters"][0]["clusters"]:
        if cluster["name"] in clusters:
            cluster["ha"] = clusters[cluster["name"]]
    return data


@pytest.fixture(scope="module")
def vc(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    data = with_ha(**{"cl-prod": {"enabled": True, "host_monitoring": "enabled", "restart_priority": "medium",
                                  "vms": {"db-01": "high", "scratch-01": "disabled"}},
                      "cl-dev": {"enabled": True, "host_monitoring": "disabled", "restart_priority": "low"}})
    with own_simulator(vcsim_binary, write_topology(tmp_path_factory.mktemp("sim"), data)) as sim, \
            client(sim) as c:
        yield c


def das(vc: Client, cluster: str) -> tuple[Any, list[Any]]:
    config = vc.find(vim.ClusterComputeResource, cluster).configurationEx
    return config.dasConfig, list(config.dasVmConfig)


def test_ha_on_with_a_vm_s_own_restart_priority(vc: Client) -> None:
    config, per_vm = das(vc, "cl-prod")
    assert config.enabled is True and config.hostMonitoring == "enabled"
    assert config.defaultVmSettings.restartPriority == "medium"
    assert config.vmMonitoring == "vmMonitoringDisabled"
    assert {(entry.key.name, entry.dasSettings.restartPriority) for entry in per_vm} == {
        ("db-01", "high"), ("scratch-01", "disabled")}


def test_ha_on_without_host_monitoring(vc: Client) -> None:
    config, per_vm = das(vc, "cl-dev")
    assert (config.enabled, config.hostMonitoring) == (True, "disabled")
    assert config.defaultVmSettings.restartPriority == "low"
    assert per_vm == []


def test_ha_is_off_unless_the_topology_turns_it_on(vc: Client) -> None:
    config, per_vm = das(vc, "cl-mgmt")
    assert config.enabled is False
    assert (config.hostMonitoring, config.defaultVmSettings.restartPriority) == ("enabled", "medium")
    assert per_vm == []


@pytest.mark.parametrize(("ha", "error"), [
    ({"restart_priority": "urgent"}, 'cluster "cl-prod": ha: restart_priority must be one of disabled, lowest, low'),
    ({"host_monitoring": "on"}, 'cluster "cl-prod": ha: host_monitoring must be "enabled" or "disabled", got "on"'),
    ({"vms": {"dev-01": "high"}}, 'cluster "cl-prod": ha: vms: "dev-01" is not a VM of this cluster'),
    ({"vms": {"db-01": "top"}}, 'cluster "cl-prod": ha: vms: "db-01": restart priority must be one of'),
])
def test_a_bad_ha_setting_is_refused(vcsim_binary: Path, tmp_path: Path, ha: dict[str, Any], error: str) -> None:
    topology = write_topology(tmp_path, with_ha(**{"cl-prod": ha}))
    result = subprocess.run([str(vcsim_binary), "-topology", str(topology)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and error in result.stderr


def test_the_parsed_topology_shows_ha_with_its_defaults(vcsim_binary: Path, tmp_path: Path) -> None:
    with own_simulator(vcsim_binary, write_topology(tmp_path, with_ha(**{"cl-dev": {"enabled": True}}))) as sim:
        shown = json.loads(_get(sim, "/topology"))
    ha = {c["name"]: c["ha"] for c in shown["datacenters"][0]["clusters"]}
    assert ha["cl-dev"] == {"enabled": True, "host_monitoring": "enabled", "restart_priority": "medium", "vms": {}}
    assert ha["cl-prod"]["enabled"] is False


def _get(sim: Simulator, path: str) -> str:
    response = requests.get(f"{sim.scheme}://{sim.host}:{sim.port}{path}", timeout=10)
    response.raise_for_status()
    return response.text
