"""Typed, immutable records of what vCenter showed at one moment.

The gateway builds them from PropertyCollector results; nothing outside the gateway ever sees a
pyVmomi object. Managed objects are named by their managed object id (``vm-42``, ``host-7``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    moref: str
    name: str
    description: str
    created: datetime
    parent: str | None = None  # moref of the parent snapshot, None for a root snapshot


@dataclass(frozen=True, slots=True)
class AlarmStateRecord:
    alarm: str  # moref of the alarm definition
    entity: str  # moref of the entity the alarm fired on
    status: str  # gray, green, yellow or red
    acknowledged: bool
    time: datetime | None


@dataclass(frozen=True, slots=True)
class DatastoreRecord:
    moref: str
    name: str
    accessible: bool
    capacity_bytes: int
    free_bytes: int
    hosts: tuple[str, ...]  # morefs of the hosts that mount it


@dataclass(frozen=True, slots=True)
class ComputeResourceRecord:
    """A cluster, or the compute resource that wraps a standalone host."""

    moref: str
    name: str
    datacenter: str
    is_cluster: bool
    hosts: tuple[str, ...]
    resource_pool: str | None
    ha_restarts_vms: bool = False  # vSphere HA on, with host monitoring: HA restarts a failed host's VMs


@dataclass(frozen=True, slots=True)
class HostRecord:
    moref: str
    name: str
    datacenter: str
    compute_resource: str | None  # moref of the cluster or standalone compute resource
    cluster: str | None  # the cluster's name; None for a standalone host
    address: str  # management address (vmk0), or the host's name when vCenter shows none
    connection_state: str  # connected, disconnected or notResponding
    in_maintenance: bool
    power_state: str
    cpu_mhz_total: int
    cpu_mhz_used: int
    memory_mb_total: int
    memory_mb_used: int
    datastores: tuple[str, ...]
    overall_status: str
    alarms: tuple[AlarmStateRecord, ...] = ()

    @property
    def usable(self) -> bool:
        """Connected and out of maintenance: a host that may receive VMs."""
        return self.connection_state == "connected" and not self.in_maintenance


@dataclass(frozen=True, slots=True)
class HostRuntime:
    """A host's connection and maintenance state alone: what a recovery step re-reads."""

    moref: str
    connection_state: str  # connected, disconnected or notResponding
    in_maintenance: bool

    @property
    def usable(self) -> bool:
        return self.connection_state == "connected" and not self.in_maintenance


@dataclass(frozen=True, slots=True)
class ReplicaMark:
    """What a replica's annotation says of it: whose replica it is, and from which snapshot."""

    source_uuid: str  # instance UUID of the VM it replicates
    source_name: str
    snapshot_name: str
    taken: datetime  # when that snapshot was taken: the replica's point in time (its RPO)


@dataclass(frozen=True, slots=True)
class DrillMark:
    """What a drill copy's annotation says of it (vsphere_dr/drill_marks.py): which drill of which
    journal made it, and of which VM."""

    drill: int  # the drills row of the journal that made it
    token: str  # that row's random token: also in the copy's extraConfig
    source_name: str


@dataclass(frozen=True, slots=True)
class NicState:
    label: str  # "Network adapter 1"
    connected: bool
    start_connected: bool
    network: str | None  # the port group's name, as the backing names it


@dataclass(frozen=True, slots=True)
class CopyState:
    """One VM as a drill step reads it (one round trip): its marks, power, guest and adapters."""

    moref: str
    name: str
    annotation: str
    extra_mark: str | None  # the value of its drill key in extraConfig, if any
    power_state: str
    heartbeat: str  # guestHeartbeatStatus: gray, green, yellow or red
    guest_state: str  # guest.guestState: running, notRunning, ...
    ip: str | None
    nics: tuple[NicState, ...] = ()


@dataclass(frozen=True, slots=True)
class VmRecord:
    moref: str
    name: str
    uuid: str | None
    ip: str | None
    power_state: str  # poweredOn, poweredOff or suspended
    connection_state: str
    host: str | None  # moref of the host it is registered on
    resource_pool: str | None
    datastores: tuple[str, ...]
    cpus: int
    memory_mb: int
    template: bool
    annotation: str
    heartbeat: str  # guest heartbeat: gray, green, yellow or red
    overall_status: str
    snapshots: tuple[SnapshotRecord, ...] = ()
    alarms: tuple[AlarmStateRecord, ...] = ()
    files_path: str | None = None  # config.files.vmPathName, e.g. "[ds-prod] web-01/web-01.vmx"
    folder: str | None = None  # moref of the VM folder it is in (where it is registered again)
    replica: ReplicaMark | None = None  # set when this VM is a vsphere-dr replica of another
    drill: DrillMark | None = None  # set when this VM is a drill copy (deleted when its drill ends)
    # Read by the whole-inventory read only (not by a few VMs' fresh records):
    folder_path: str | None = None  # its folder's inventory path as govc writes it, e.g. "/DC0/vm/prod"
    attributes: tuple[tuple[str, str], ...] = ()  # its custom attributes (name, value), by name
    tags: tuple[tuple[str, str], ...] = ()  # its vCenter tags (category, tag), when they were read

    def attribute(self, name: str) -> str | None:
        """The value of custom attribute ``name``, or None where it has none."""
        return next((value for key, value in self.attributes if key == name), None)

    @property
    def newest_snapshot(self) -> SnapshotRecord | None:
        return max(self.snapshots, key=lambda snap: snap.created, default=None)

    @property
    def monitored(self) -> bool:
        """The paper's rule: only VMs with an IP take part (templates never run; a replica is a
        copy kept powered off for a failover, a drill copy a test of one: neither is a VM of its own)."""
        return bool(self.ip) and not self.template and self.replica is None and self.drill is None

    @property
    def files_datastore(self) -> str | None:
        """The datastore name of ``files_path`` (``ds-prod`` for ``[ds-prod] web-01/web-01.vmx``)."""
        if not self.files_path or not self.files_path.startswith("["):
            return None
        return self.files_path[1:].split("]", 1)[0]


def _taken(replica: VmRecord) -> datetime:
    return replica.replica.taken if replica.replica else datetime.min


def _frozen(items: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class Inventory:
    """One consistent read of vCenter's inventory, keyed by moref."""

    read_at: datetime
    datacenters: tuple[str, ...]
    compute_resources: Mapping[str, ComputeResourceRecord] = field(default_factory=dict)
    hosts: Mapping[str, HostRecord] = field(default_factory=dict)
    datastores: Mapping[str, DatastoreRecord] = field(default_factory=dict)
    vms: Mapping[str, VmRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("compute_resources", "hosts", "datastores", "vms"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def monitored_vms(self) -> list[VmRecord]:
        """VMs with a guest IP, sorted by name: the ones the controller watches."""
        return sorted((vm for vm in self.vms.values() if vm.monitored), key=lambda vm: vm.name)

    def unmonitored_vms(self) -> list[VmRecord]:
        return sorted((vm for vm in self.vms.values() if not vm.monitored), key=lambda vm: vm.name)

    def host_by_name(self, name: str) -> HostRecord | None:
        return next((host for host in self.hosts.values() if host.name == name), None)

    def vm_by_name(self, name: str) -> VmRecord | None:
        """The first VM of that name (names are not unique in vCenter)."""
        return self._vms_by_name.get(name)

    def replicas_of(self, vm: VmRecord) -> list[VmRecord]:
        """The VM's vsphere-dr replicas, oldest first (by the time of the snapshot each was made from)."""
        return list(self._replicas_by_source.get(vm.uuid or "", ())) if vm.uuid else []

    # Indexes built once per inventory: a round asks about every VM, and a scan per VM would be
    # quadratic in the fleet.
    @cached_property
    def _vms_by_name(self) -> dict[str, VmRecord]:
        found: dict[str, VmRecord] = {}
        for vm in self.vms.values():
            found.setdefault(vm.name, vm)
        return found

    @cached_property
    def _replicas_by_source(self) -> dict[str, tuple[VmRecord, ...]]:
        found: dict[str, list[VmRecord]] = {}
        for vm in self.vms.values():
            if vm.replica is not None:
                found.setdefault(vm.replica.source_uuid, []).append(vm)
        return {uuid: tuple(sorted(vms, key=_taken)) for uuid, vms in found.items()}


def with_tags(inv: Inventory, tags: Mapping[str, tuple[tuple[str, str], ...]]) -> Inventory:
    """The inventory with each VM's vCenter tags (read apart from it: they are not in the SOAP API)."""
    return replace(inv, vms={moref: replace(vm, tags=tags.get(moref, ())) for moref, vm in inv.vms.items()})
