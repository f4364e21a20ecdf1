"""Adding a spare host to the bundled simulator, driven through pyVmomi and the gateway as a client would.

vCenter contacts a host it adds: it refuses one whose certificate it cannot verify with SSLVerifyFault,
carrying the thumbprint it saw, unless ``ConnectSpec.sslThumbprint`` names that thumbprint; it refuses a
host it cannot reach with NoHost; ``Folder.AddStandaloneHost_Task`` returns the new ComputeResource
(docs/simulator.md, "Spare hosts").
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyVmomi import vim

from tests.chaos import chaos
from tests.sim_world import Client, client, own_simulator, run_task, write_topology
from vsphere_dr.errors import VSphereFault
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.settings import load_settings
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

SPARE, SPARE_TP = "esx-spare.lab.local", "5C:0E:5A:1F:7B:2D:93:44:A1:06:C8:3E:F2:19:D7:60:4B:8A:E5:11"
OTHER = "esx-spare2.lab.local"  # no thumbprint in the topology: the simulator derives one


def lab_data() -> dict[str, Any]:
    vm = {"name": "solo-01", "ip": "127.0.6.11", "power": "poweredOn", "cpus": 1, "memory_mb": 1024,
          "datastore": "ds-shared", "snapshots": []}
    return {"datacenters": [{
        "name": "dc-spare",
        "datastores": [{"name": "ds-shared", "hosts": ["esx-1.lab.local"]},
                       {"name": "ds-local-1", "hosts": ["esx-1.lab.local"]}],
        "clusters": [{"name": "cl-1", "hosts": [{"name": "esx-1.lab.local", "ip": "127.0.6.1", "cpu_mhz": 20000,
                                                  "memory_mb": 65536, "vms": [vm]}]}],
        "hosts": []}],
        "spare_hosts": [{"name": SPARE, "ip": "127.0.6.2", "thumbprint": SPARE_TP, "datastores": ["ds-shared"]},
                        {"name": OTHER, "ip": "127.0.6.3"}]}


@pytest.fixture
def own(vcsim_binary: Path, tmp_path: Path) -> Iterator[Simulator]:
    with own_simulator(vcsim_binary, write_topology(tmp_path, lab_data())) as sim:
        yield sim


def topology_of(sim: Simulator) -> dict[str, Any]:
    response = requests.get(f"{sim.scheme}://{sim.host}:{sim.port}/topology", timeout=10)
    response.raise_for_status()
    return response.json()


def connect_spec(name: str, thumbprint: str | None) -> vim.host.ConnectSpec:
    return vim.host.ConnectSpec(hostName=name, userName="root", password="spare-secret", force=True,
                                sslThumbprint=thumbprint)


def host_folder(vc: Client) -> vim.Folder:
    return vc.find(vim.Datacenter, "dc-spare").hostFolder


def add_standalone(vc: Client, name: str, thumbprint: str | None) -> Any:
    return run_task(host_folder(vc).AddStandaloneHost_Task(spec=connect_spec(name, thumbprint), addConnected=True))


def hosts(vc: Client) -> set[str]:
    return {h.name for h in vc.every(vim.HostSystem)}


def test_a_spare_host_added_with_its_thumbprint_joins_with_its_datastores(own: Simulator, vc: Client) -> None:
    resource = add_standalone(vc, SPARE, SPARE_TP)
    assert isinstance(resource, vim.ComputeResource) and not isinstance(resource, vim.ClusterComputeResource)
    (host,) = resource.host
    assert host.name == SPARE == resource.name
    assert host.runtime.connectionState == "connected"
    assert host.summary.config.sslThumbprint == SPARE_TP
    assert [ds.name for ds in host.datastore] == ["ds-shared"]
    shared = vc.find(vim.Datastore, "ds-shared")
    assert {mount.key.name for mount in shared.host} == {"esx-1.lab.local", SPARE}
    assert shared.summary.multipleHostAccess is True


def test_a_wrong_or_missing_thumbprint_is_refused_with_the_one_vcenter_saw(own: Simulator, vc: Client) -> None:
    for given in ("AA:" * 19 + "AA", None, SPARE_TP.replace(":", "")):
        with pytest.raises(vim.fault.SSLVerifyFault) as refused:
            add_standalone(vc, SPARE, given)
        assert refused.value.thumbprint == SPARE_TP and refused.value.selfSigned is True
        assert refused.value.msg == "Authenticity of the host's SSL certificate is not verified."
    assert SPARE not in hosts(vc)
    assert add_standalone(vc, SPARE, SPARE_TP.lower()).name == SPARE  # hex digits in either case


def test_a_spare_host_joins_a_cluster_as_a_host_system(own: Simulator, vc: Client) -> None:
    cluster = vc.find(vim.ClusterComputeResource, "cl-1")
    with pytest.raises(vim.fault.SSLVerifyFault):
        run_task(cluster.AddHost_Task(spec=connect_spec(SPARE, None), asConnected=True))
    host = run_task(cluster.AddHost_Task(spec=connect_spec(SPARE, SPARE_TP), asConnected=True))
    assert isinstance(host, vim.HostSystem) and host.parent == cluster
    assert [ds.name for ds in host.datastore] == ["ds-shared"]
    with pytest.raises(vim.fault.AlreadyConnected):
        run_task(cluster.AddHost_Task(spec=connect_spec(SPARE, SPARE_TP), asConnected=True))


def test_a_thumbprint_the_topology_lacks_is_derived_and_shown(own: Simulator, vc: Client) -> None:
    shown = topology_of(own)
    (other,) = [s for s in shown["spare_hosts"] if s["name"] == OTHER]
    assert len(other["thumbprint"].split(":")) == 20 and other["datastores"] == []
    assert [s["thumbprint"] for s in shown["spare_hosts"] if s["name"] == SPARE] == [SPARE_TP]
    (built,) = shown["datacenters"][0]["clusters"][0]["hosts"]
    assert vc.host("esx-1.lab.local").summary.config.sslThumbprint == built["thumbprint"]
    resource = add_standalone(vc, OTHER, other["thumbprint"])
    assert resource.host[0].datastore == []


def test_a_host_vcenter_cannot_reach_is_refused(own: Simulator, vc: Client) -> None:
    with pytest.raises(vim.fault.NoHost):
        add_standalone(vc, "esx-nowhere.lab.local", None)
    chaos(own, "host_down", SPARE)
    with pytest.raises(vim.fault.NoHost):
        add_standalone(vc, SPARE, SPARE_TP)
    chaos(own, "host_up", SPARE)
    assert add_standalone(vc, SPARE, SPARE_TP).name == SPARE


def test_the_gateway_names_the_thumbprint_vcenter_saw(own: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(write_settings(own.host, own.port))
    wrong = "AB:" * 19 + "AB"
    with VCenterGateway(settings.vcenter) as gateway:
        with pytest.raises(VSphereFault) as refused:
            gateway.hosts.add_host(SPARE, "root", "spare-secret", None, "dc-spare", wrong)
        assert refused.value.fault_type == "SSLVerifyFault"
        assert SPARE_TP in str(refused.value) and wrong in str(refused.value)
        moref = gateway.hosts.add_host(SPARE, "root", "spare-secret", None, "dc-spare", SPARE_TP)
        assert gateway.inventory().hosts[moref].name == SPARE


@pytest.mark.parametrize(("change", "error"), [
    ({"thumbprint": "not-a-thumbprint"},
     'spare host "esx-spare.lab.local": thumbprint "not-a-thumbprint" is not a SHA-1'),
    ({"datastores": ["ds-none"]}, 'spare host "esx-spare.lab.local": unknown datastore "ds-none"'),
])
def test_a_bad_spare_host_entry_is_refused(vcsim_binary: Path, tmp_path: Path, change: dict[str, Any],
                                           error: str) -> None:
    data = lab_data()
    data["spare_hosts"][0].update(change)
    result = subprocess.run([str(vcsim_binary), "-topology", str(write_topology(tmp_path, data))],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and error in result.stderr
