"""Topology files of the bundled simulator (tools/vcsim): reading them and generating large ones.

The format is documented in docs/simulator.md. Every address in a topology is on 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TopologyHost:
    name: str
    ip: str
    datacenter: str
    cluster: str | None  # None for a standalone host
    spec: dict[str, Any]


@dataclass(frozen=True)
class TopologyVm:
    name: str
    host: str
    spec: dict[str, Any]

    @property
    def ip(self) -> str | None:
        return self.spec.get("ip")


class Topology:
    """A parsed topology file with flat views of its hosts, VMs and datastores."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, path: Path) -> Topology:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def hosts(self) -> Iterator[TopologyHost]:
        for dc in self.data["datacenters"]:
            for cluster in dc.get("clusters", []):
                for host in cluster["hosts"]:
                    yield TopologyHost(host["name"], host["ip"], dc["name"], cluster["name"], host)
            for host in dc.get("hosts", []):
                yield TopologyHost(host["name"], host["ip"], dc["name"], None, host)

    def vms(self) -> Iterator[TopologyVm]:
        for host in self.hosts():
            for vm in host.spec.get("vms", []):
                yield TopologyVm(vm["name"], host.name, vm)

    def datastores(self) -> dict[str, set[str]]:
        """Datastore name to the names of the hosts that mount it."""
        return {ds["name"]: set(ds["hosts"]) for dc in self.data["datacenters"] for ds in dc.get("datastores", [])}

    def spare_hosts(self) -> list[dict[str, str]]:
        return list(self.data.get("spare_hosts", []))


def generate(clusters: int, hosts_per_cluster: int, vms_per_host: int) -> Topology:
    """A uniform world for benchmarks: every VM has a unique loopback IP and no snapshot."""
    host_ips = _loopback_addresses(start="127.1.0.1")
    vm_ips = _loopback_addresses(start="127.2.0.1")
    datastores, cluster_specs = [], []
    for c in range(clusters):
        hosts = []
        for h in range(hosts_per_cluster):
            name = f"esx-{c:02d}-{h:02d}.bench.local"
            vms = [{"name": f"vm-{c:02d}-{h:02d}-{v:04d}", "ip": next(vm_ips), "power": "poweredOn",
                    "cpus": 1, "memory_mb": 512, "datastore": f"ds-{c:02d}", "snapshots": []}
                   for v in range(vms_per_host)]
            hosts.append({"name": name, "ip": next(host_ips), "cpu_mhz": 40000, "memory_mb": 262144, "vms": vms})
        datastores.append({"name": f"ds-{c:02d}", "hosts": [h["name"] for h in hosts]})
        cluster_specs.append({"name": f"cl-{c:02d}", "hosts": hosts})
    return Topology({"datacenters": [{"name": "dc-bench", "datastores": datastores, "clusters": cluster_specs,
                                      "hosts": []}], "spare_hosts": []})


def _loopback_addresses(start: str) -> Iterator[str]:
    """Consecutive addresses from ``start`` skipping .0 and .255, never leaving 127.0.0.0/8."""
    address = ipaddress.IPv4Address(start)
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    while address in loopback:
        if str(address).split(".")[-1] not in ("0", "255"):
            yield str(address)
        address += 1
    raise ValueError("ran out of loopback addresses")


def save(topology: Topology, path: Path) -> Path:
    path.write_text(json.dumps(topology.data, indent=1), encoding="utf-8")
    return path
