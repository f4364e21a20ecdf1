"""Read the whole inventory in one PropertyCollector pass and build immutable records from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.gateway.properties import Extra, PropertyMap, retrieve, retrieve_objects
from vsphere_dr.records import (
    AlarmStateRecord,
    ComputeResourceRecord,
    DatastoreRecord,
    HostRecord,
    HostRuntime,
    Inventory,
    SnapshotRecord,
    VmRecord,
)
from vsphere_dr.drill_marks import parse_mark as parse_drill_mark
from vsphere_dr.replicas import parse_mark

WANTED: dict[type, tuple[str, ...]] = {
    vim.Folder: ("name", "parent"),
    vim.Datacenter: ("name", "parent"),
    vim.ComputeResource: ("name", "parent", "host", "resourcePool"),
    vim.ClusterComputeResource: ("configurationEx.dasConfig.enabled", "configurationEx.dasConfig.hostMonitoring"),
    vim.Datastore: ("name", "summary.accessible", "summary.capacity", "summary.freeSpace", "host"),
    vim.HostSystem: (
        "name", "parent", "runtime.connectionState", "runtime.inMaintenanceMode", "runtime.powerState",
        "summary.hardware.cpuMhz", "summary.hardware.numCpuCores", "summary.hardware.memorySize",
        "summary.quickStats.overallCpuUsage", "summary.quickStats.overallMemoryUsage",
        "datastore", "config.network.vnic", "triggeredAlarmState", "overallStatus",
    ),
    vim.VirtualMachine: (
        "name", "config.instanceUuid", "guest.ipAddress", "runtime.powerState", "runtime.connectionState",
        "runtime.host", "resourcePool", "datastore", "config.hardware.numCPU", "config.hardware.memoryMB",
        "config.template", "config.annotation", "summary.quickStats.guestHeartbeatStatus",
        "overallStatus", "snapshot", "triggeredAlarmState", "config.files.vmPathName", "parent",
        "customValue",
    ),
}
# The custom attributes' definitions (key -> name), read in the same RetrievePropertiesEx.
FIELDS: tuple[type, tuple[str, ...]] = (vim.CustomFieldsManager, ("field",))


def read_inventory(content: vim.ServiceInstanceContent) -> Inventory:
    """Everything the controller needs to know about vCenter's inventory, in a few round trips."""
    objects = retrieve(content, WANTED, extra=outside_the_tree(content))
    return build_inventory({_id(obj): p for obj, p in objects}, {_id(obj): type(obj) for obj, _ in objects},
                           datetime.now(timezone.utc))


def outside_the_tree(content: vim.ServiceInstanceContent) -> list[Extra]:
    """The objects outside the inventory tree that a read includes: the custom attributes'
    definitions (none where vCenter has no custom attributes)."""
    manager = content.customFieldsManager
    return [(manager, *FIELDS)] if manager is not None else []


def build_inventory(props: Mapping[str, PropertyMap], kinds: Mapping[str, type], read_at: datetime,
                    vm_cache: dict[str, VmRecord] | None = None) -> Inventory:
    """The records of objects whose properties (``WANTED``, ``FIELDS``) are ``props``, of the types
    ``kinds``.

    The one way from property maps to an Inventory, for a full read and for the watcher's
    incremental picture alike. ``vm_cache`` (moref -> record) holds VM records still true: the
    watcher drops those whose properties changed (all of them when a folder, a datacenter or the
    custom attributes' definitions changed), so a sweep rebuilds only them.
    """
    cache = {} if vm_cache is None else vm_cache
    of_kind = lambda kind: [(ref, p) for ref, p in props.items() if issubclass(kinds[ref], kind)]  # noqa: E731
    fields = _field_names(next((p for _, p in of_kind(vim.CustomFieldsManager)), {}))
    datacenter_of = _DatacenterResolver(props, kinds)
    folder_path = _FolderPaths(props)
    resources = {ref: _compute_resource(ref, p, kinds[ref], datacenter_of(ref))
                 for ref, p in of_kind(vim.ComputeResource)}
    for ref, p in of_kind(vim.VirtualMachine):
        if ref not in cache:
            cache[ref] = _vm(ref, p, fields, folder_path)
    return Inventory(
        read_at=read_at,
        datacenters=tuple(sorted(p["name"] for _, p in of_kind(vim.Datacenter))),
        compute_resources=resources,
        hosts={ref: _host(ref, p, resources, datacenter_of(ref)) for ref, p in of_kind(vim.HostSystem)},
        datastores={ref: _datastore(ref, p) for ref, p in of_kind(vim.Datastore)},
        vms={ref: cache[ref] for ref, _ in of_kind(vim.VirtualMachine)},
    )


def read_vms(content: vim.ServiceInstanceContent, morefs: Iterable[str]) -> dict[str, VmRecord]:
    """Fresh records of a few VMs in one round trip (VMs that no longer exist are left out)."""
    stub = content.rootFolder._stub
    objects = [vim.VirtualMachine(moref, stub) for moref in morefs]
    try:
        found = retrieve_objects(content, objects, vim.VirtualMachine, WANTED[vim.VirtualMachine])
    except vmodl.fault.ManagedObjectNotFound:
        if len(objects) == 1:
            return {}
        # One of them is gone: vCenter refuses the whole read, so read them one by one.
        return {ref: vm for moref in morefs for ref, vm in read_vms(content, [moref]).items()}
    return {_id(obj): _vm(_id(obj), p) for obj, p in found}


def read_host_runtimes(content: vim.ServiceInstanceContent, morefs: Iterable[str]) -> dict[str, HostRuntime]:
    """The connection and maintenance state of a few hosts in one round trip (gone ones left out)."""
    stub = content.rootFolder._stub
    objects = [vim.HostSystem(moref, stub) for moref in morefs]
    paths = ("runtime.connectionState", "runtime.inMaintenanceMode")
    try:
        found = retrieve_objects(content, objects, vim.HostSystem, paths)
    except vmodl.fault.ManagedObjectNotFound:
        if len(objects) == 1:
            return {}
        return {ref: host for moref in morefs for ref, host in read_host_runtimes(content, [moref]).items()}
    return {_id(obj): HostRuntime(_id(obj), str(p.get(paths[0], "disconnected")), bool(p.get(paths[1], False)))
            for obj, p in found}


def _id(obj: Any) -> str:
    return obj._moId


def _ids(objs: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(_id(obj) for obj in objs or ())


class _DatacenterResolver:
    """Finds the datacenter above an object by following ``parent`` through the folders."""

    def __init__(self, props: Mapping[str, PropertyMap], kinds: Mapping[str, type]) -> None:
        self._props, self._kinds = props, kinds

    def __call__(self, ref: str) -> str:
        current: str | None = ref
        while current is not None and current in self._props:
            if issubclass(self._kinds[current], vim.Datacenter):
                return self._props[current]["name"]
            parent = self._props[current].get("parent")
            current = _id(parent) if parent is not None else None
        return ""


class _FolderPaths:
    """A folder's inventory path as govc writes it (``/DC0/vm/prod``): the names up from it to the
    root folder, which is left out. Each folder's path is worked out once."""

    def __init__(self, props: Mapping[str, PropertyMap]) -> None:
        self._props = props
        self._paths: dict[str, str] = {}

    def __call__(self, ref: str | None) -> str | None:
        if ref is None or ref not in self._props:
            return None
        if ref not in self._paths:
            parent = self._props[ref].get("parent")
            above = self(_id(parent)) if parent is not None else None
            # The root folder (no parent) is not part of a path.
            self._paths[ref] = "" if parent is None else f"{above or ''}/{self._props[ref]['name']}"
        return self._paths[ref] or "/"


def _field_names(p: PropertyMap) -> dict[int, str]:
    """Custom attribute key -> name, for the attributes defined for VMs (or for every type)."""
    return {f.key: f.name for f in p.get("field") or ()
            if f.managedObjectType in (None, vim.VirtualMachine)}


def _attributes(values: Iterable[Any] | None, names: dict[int, str]) -> tuple[tuple[str, str], ...]:
    """A VM's custom attributes by name (one value per key; the last one given wins)."""
    found = {names[v.key]: str(getattr(v, "value", "")) for v in values or () if v.key in names}
    return tuple(sorted(found.items()))


def _compute_resource(ref: str, p: PropertyMap, kind: type, datacenter: str) -> ComputeResourceRecord:
    pool = p.get("resourcePool")
    return ComputeResourceRecord(
        moref=ref, name=p["name"], datacenter=datacenter, is_cluster=issubclass(kind, vim.ClusterComputeResource),
        hosts=_ids(p.get("host")), resource_pool=_id(pool) if pool is not None else None,
        ha_restarts_vms=bool(p.get("configurationEx.dasConfig.enabled"))
        and p.get("configurationEx.dasConfig.hostMonitoring", "enabled") == "enabled",
    )


def _host(ref: str, p: PropertyMap, resources: dict[str, ComputeResourceRecord], datacenter: str) -> HostRecord:
    parent = p.get("parent")
    resource = resources.get(_id(parent)) if parent is not None else None
    cores = p.get("summary.hardware.numCpuCores") or 0
    return HostRecord(
        moref=ref, name=p["name"], datacenter=datacenter,
        compute_resource=resource.moref if resource else None,
        cluster=resource.name if resource and resource.is_cluster else None,
        address=_management_address(p.get("config.network.vnic")) or p["name"],
        connection_state=str(p.get("runtime.connectionState", "disconnected")),
        in_maintenance=bool(p.get("runtime.inMaintenanceMode", False)),
        power_state=str(p.get("runtime.powerState", "unknown")),
        cpu_mhz_total=(p.get("summary.hardware.cpuMhz") or 0) * cores,
        cpu_mhz_used=p.get("summary.quickStats.overallCpuUsage") or 0,
        memory_mb_total=(p.get("summary.hardware.memorySize") or 0) // (1024 * 1024),
        memory_mb_used=p.get("summary.quickStats.overallMemoryUsage") or 0,
        datastores=_ids(p.get("datastore")),
        overall_status=str(p.get("overallStatus", "gray")),
        alarms=_alarms(p.get("triggeredAlarmState")),
    )


def _management_address(vnics: Iterable[Any] | None) -> str | None:
    """The IP of vmk0 (or of the first vmknic that has one)."""
    ordered = sorted(vnics or (), key=lambda nic: nic.device != "vmk0")
    return next((nic.spec.ip.ipAddress for nic in ordered if nic.spec and nic.spec.ip and nic.spec.ip.ipAddress), None)


def _datastore(ref: str, p: PropertyMap) -> DatastoreRecord:
    return DatastoreRecord(
        moref=ref, name=p["name"], accessible=bool(p.get("summary.accessible", False)),
        capacity_bytes=p.get("summary.capacity") or 0, free_bytes=p.get("summary.freeSpace") or 0,
        hosts=tuple(_id(mount.key) for mount in p.get("host") or ()),
    )


def _vm(ref: str, p: PropertyMap, fields: dict[int, str] | None = None,
        folder_path: Callable[[str | None], str | None] | None = None) -> VmRecord:
    """A VM's record; its custom attributes and folder path only where ``fields`` and
    ``folder_path`` are given (the whole-inventory read)."""
    host, pool, parent = p.get("runtime.host"), p.get("resourcePool"), p.get("parent")
    return VmRecord(
        moref=ref, name=p["name"], uuid=p.get("config.instanceUuid"), ip=p.get("guest.ipAddress") or None,
        power_state=str(p.get("runtime.powerState", "unknown")),
        connection_state=str(p.get("runtime.connectionState", "unknown")),
        host=_id(host) if host is not None else None, resource_pool=_id(pool) if pool is not None else None,
        datastores=_ids(p.get("datastore")), cpus=p.get("config.hardware.numCPU") or 0,
        memory_mb=p.get("config.hardware.memoryMB") or 0, template=bool(p.get("config.template", False)),
        annotation=p.get("config.annotation") or "",
        heartbeat=str(p.get("summary.quickStats.guestHeartbeatStatus", "gray")),
        overall_status=str(p.get("overallStatus", "gray")),
        snapshots=_snapshots(p.get("snapshot")), alarms=_alarms(p.get("triggeredAlarmState")),
        files_path=p.get("config.files.vmPathName") or None, replica=parse_mark(p.get("config.annotation") or ""),
        folder=_id(parent) if parent is not None else None,
        folder_path=folder_path(_id(parent)) if folder_path and parent is not None else None,
        attributes=_attributes(p.get("customValue"), fields or {}),
        drill=parse_drill_mark(p.get("config.annotation") or ""),
    )


def _snapshots(info: Any) -> tuple[SnapshotRecord, ...]:
    """Flatten the snapshot tree, each snapshot knowing its parent."""
    found: list[SnapshotRecord] = []
    stack = [(tree, None) for tree in (info.rootSnapshotList if info else ())]
    while stack:
        tree, parent = stack.pop()
        found.append(SnapshotRecord(moref=_id(tree.snapshot), name=tree.name, description=tree.description or "",
                                    created=tree.createTime, parent=parent))
        stack.extend((child, _id(tree.snapshot)) for child in tree.childSnapshotList or ())
    return tuple(sorted(found, key=lambda snap: snap.created))


def _alarms(states: Iterable[Any] | None) -> tuple[AlarmStateRecord, ...]:
    return tuple(
        AlarmStateRecord(alarm=_id(s.alarm), entity=_id(s.entity), status=str(s.overallStatus),
                         acknowledged=bool(s.acknowledged), time=s.time)
        for s in states or ()
    )
