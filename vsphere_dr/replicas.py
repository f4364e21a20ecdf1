"""The paper's replication mode, as pure rules: a replica's name and mark, where it may go, and
which of a VM's replicas to prune. No I/O.

A replica is a clone of a protected VM from its newest vsphere-dr snapshot, kept powered off on
a host and a datastore that do not share the VM's fate (never its own host, never a datastore
that only its host mounts), so that it can be started when the VM's host and local disks are
gone. Replicas are rotated as snapshots are: create, verify, then prune beyond ``keep``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from vsphere_dr.records import DatastoreRecord, HostRecord, Inventory, ReplicaMark, VmRecord

_STAMP = "%Y%m%dT%H%M%SZ"
_MARK = re.compile(r"^vsphere-dr replica of (?P<name>.+) \(instance uuid (?P<uuid>[^)]+)\) from snapshot "
                   r"(?P<snapshot>\S+) taken (?P<taken>\d{8}T\d{6}Z)$", re.M)


def replica_name(vm_name: str, suffix: str, taken: datetime) -> str:
    """E.g. ``web-01-replica-20261201T080000Z``: the VM, the suffix and its snapshot's time."""
    return f"{vm_name}{suffix}-{taken.astimezone(timezone.utc).strftime(_STAMP)}"


def mark_text(vm: VmRecord, snapshot_name: str, taken: datetime) -> str:
    """The annotation that makes a VM a replica of ``vm`` (read back by ``parse_mark``)."""
    return (f"vsphere-dr replica of {vm.name} (instance uuid {vm.uuid}) from snapshot {snapshot_name} "
            f"taken {taken.astimezone(timezone.utc).strftime(_STAMP)}\n"
            "Kept powered off for a failover; vsphere-dr rotates it. Do not power it on or edit this line.")


def parse_mark(annotation: str) -> ReplicaMark | None:
    found = _MARK.search(annotation or "")
    if found is None:
        return None
    taken = datetime.strptime(found["taken"], _STAMP).replace(tzinfo=timezone.utc)
    return ReplicaMark(found["uuid"], found["name"], found["snapshot"], taken)


@dataclass(frozen=True)
class Target:
    host: HostRecord
    datastore: DatastoreRecord
    pool: str


def choose_target(inv: Inventory, vm: VmRecord, hosts: Sequence[str], datastores: Sequence[str]) -> Target | str:
    """Where ``vm``'s next replica goes, among the configured hosts and datastores (morefs); or why
    nowhere. Never the VM's own host; never a datastore only that host mounts; a datastore the VM
    does not use is preferred, then the one with the most free space."""
    usable = [inv.hosts[h] for h in hosts if h in inv.hosts and inv.hosts[h].usable and h != vm.host]
    if not usable:
        return "no replication target host is connected, out of maintenance and other than its own"
    choices = [(host, store) for host in usable for store in _stores(inv, host, datastores, vm)]
    if not choices:
        return "no replication datastore is accessible from a target host and survives the VM's host"
    host, store = min(choices, key=lambda c: (c[1].moref in vm.datastores, -c[1].free_bytes, c[0].name))
    resource = inv.compute_resources.get(host.compute_resource or "")
    if resource is None or resource.resource_pool is None:
        return f"vCenter shows no resource pool for {host.name}"
    return Target(host, store, resource.resource_pool)


def _stores(inv: Inventory, host: HostRecord, datastores: Iterable[str], vm: VmRecord) -> list[DatastoreRecord]:
    found = [inv.datastores[d] for d in datastores if d in inv.datastores]
    return [d for d in found if d.accessible and host.moref in d.hosts and tuple(d.hosts) != (vm.host,)]


def to_prune(replicas: Sequence[VmRecord], keep: int, new: str) -> list[VmRecord]:
    """A VM's replicas beyond the newest ``keep``, oldest first: never ``new``, never one that
    runs (a failover or a drill started it), and nothing unless ``new`` is among them."""
    if keep < 1:
        raise ValueError("keep must be at least 1: a VM is never left without a replica")
    if not any(r.moref == new for r in replicas):
        return []
    ordered = sorted(replicas, key=lambda r: r.replica.taken if r.replica else datetime.min)
    return [r for r in ordered[:-keep] if r.moref != new and r.power_state == "poweredOff"]
