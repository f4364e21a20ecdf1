"""An in-memory vCenter for the fast tests of the recovery core (no Go, no simulator, no sockets).

It implements the ``Gateway`` protocol of vsphere_dr/vcenter.py: the inventory, a few VMs' or
hosts' records, and the VM and host operations the recoveries and the Snapshot Creator use. It
also answers probes (``probe(ip)``), so a test can hand it to ``Tools`` as the probe.

What it fakes, as a real vCenter does it:
- power on a powered-on VM, power off a powered-off one, reset one that is not powered on:
  ``InvalidState``; an unknown moref: ``ObjectNotFound``; a clone whose name exists: ``DuplicateName``;
- power operations, revert and snapshot of a VM whose host is not connected: ``InvalidState``
  (vCenter refuses them while the host is notResponding: ../shared/NOTES-vsphere.md);
- reverting to a snapshot taken without memory leaves the VM powered off;
- a VM answers its probe only while it is powered on, its host is connected and its guest is up;
  a power-on or reset boots the guest (unless the test marks it ``broken``);
- powering on a nested host's backing VM brings that host back (``backs``);
- adding a spare host takes one of ``spare_hosts`` into the given cluster;
- a clone lands on the host and datastore asked for, powered off; a datastore the host does not
  mount: ``InvalidDatastore``; deleting (Destroy) a VM that is not powered off: ``InvalidState``;
- a VM's files path (``[datastore] name/name.vmx``), its annotation's replica mark, custom attributes.

What it does not fake: sessions, round trips, task objects and their timing, alarms, events,
performance counters, DRS, admission control. And where the bundled simulator is lenient today,
so is this fake (docs/simulator.md, "Quirks"): a VM whose host is dead can still be cloned and
relocated, which a real vCenter refuses; a copy answers at its original's address.

``changes`` lists every operation that changed something, in order; ``fail_next(op, error)``
makes the next call of an operation raise ``error`` before it changes anything.

Thread-safe, as the parallel recoveries need: every read and operation holds one lock. Each VM or
host operation is a "task" that takes ``task_seconds`` (outside the lock, so tasks overlap) on
the host it runs on; ``tasks.peak`` and ``tasks.peak_on_host`` record the most in flight at once,
``tasks.started`` the order they started in.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import wraps
from typing import Any

from vsphere_dr.drill_marks import EXTRA_KEY, deletable
from vsphere_dr.drill_marks import parse_mark as parse_drill_mark
from vsphere_dr.errors import DuplicateName, FilesLocked, InvalidState, NotADrillCopy, ObjectNotFound, VSphereFault
from vsphere_dr.records import (ComputeResourceRecord, CopyState, DatastoreRecord, HostRecord, HostRuntime, Inventory,
                                NicState, SnapshotRecord, VmRecord)
from vsphere_dr.replicas import parse_mark


@dataclass
class FakeHost:
    moref: str
    name: str
    compute_resource: str
    datastores: tuple[str, ...]
    connection_state: str = "connected"
    in_maintenance: bool = False
    memory_mb_total: int = 65536
    address: str = ""
    isolated: bool = False  # management network lost: its VMs run on and hold their files' locks
    vm_network: bool = True  # while isolated: its VMs still answer on their own network

    @property
    def alive(self) -> bool:
        """Its VMs' processes run (and lock their files): connected, or isolated rather than dead."""
        return self.connection_state == "connected" or self.isolated


@dataclass
class FakeVm:
    moref: str
    name: str
    host: str
    datastores: tuple[str, ...]
    ip: str | None
    power_state: str = "poweredOn"
    guest_up: bool = True
    broken: bool = False  # its guest does not come up however often it is started
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    annotation: str = ""
    memory_mb: int = 1024
    custom: dict[str, str] = field(default_factory=dict)  # custom attributes by name
    uuid: str = ""  # instance UUID ("uuid-<moref>" unless given)
    path: str = ""  # its .vmx ("[datastore] name/name.vmx" unless given)
    moved_question: bool = False  # registered from files that last ran elsewhere: moved or copied?
    nics: list[NicState] = field(default_factory=lambda: [NicState("Network adapter 1", True, True, "VM Network")])
    extra: dict[str, str] = field(default_factory=dict)  # extraConfig

    def __post_init__(self) -> None:
        self.uuid = self.uuid or f"uuid-{self.moref}"
        self.path = self.path or (f"[{self.datastores[0]}] {self.name}/{self.name}.vmx" if self.datastores else "")


@dataclass
class FakeResource:
    moref: str
    name: str
    is_cluster: bool
    pool: str


@dataclass
class TaskRecord:
    """The concurrency of the fake's tasks: what a real vCenter would have had in flight."""

    in_flight: int = 0
    peak: int = 0
    on_host: Counter[str] = field(default_factory=Counter)
    peak_on_host: Counter[str] = field(default_factory=Counter)
    started: list[tuple[str, str]] = field(default_factory=list)  # (operation, its first argument)


class FakeVCenter:
    def __init__(self, datacenter: str = "dc") -> None:
        self.lock = threading.RLock()
        self.task_seconds = 0.0
        self.tasks = TaskRecord()
        self.datacenter = datacenter
        self.resources: dict[str, FakeResource] = {}
        self.hosts: dict[str, FakeHost] = {}
        self.datastores: dict[str, str] = {}  # moref -> name
        self.vms: dict[str, FakeVm] = {}
        self.spare_hosts: dict[str, FakeHost] = {}  # by name: hosts vCenter does not manage yet
        self.thumbprints_given: dict[str, str] = {}  # host name -> the sslThumbprint it was added with
        self.backs: dict[str, str] = {}  # backing VM moref -> the nested host it runs
        self.removed_hosts: dict[str, FakeHost] = {}
        self.files: dict[str, FakeVm] = {}  # .vmx path -> what a removed VM left on its datastore
        self.orphans: list[FakeVm] = []  # VMs of a removed host that still ran there (isolated)
        self.changes: list[tuple[str, ...]] = []
        self.drill_network_address: str | None = None  # the address a copy's guest gets on a drill port group
        self._faults: dict[str, Exception] = {}
        self._ids = 100
        self.gateway = FakeGateway(self)

    # --- what the Gateway protocol reads ------------------------------------------------

    def inventory(self) -> Inventory:
        self._maybe_fail("inventory")
        return Inventory(
            read_at=datetime.now(timezone.utc), datacenters=(self.datacenter,),
            compute_resources={r.moref: self._resource(r) for r in self.resources.values()},
            hosts={h.moref: self._host(h) for h in self.hosts.values()},
            datastores={d: self._datastore(d) for d in self.datastores},
            vms={v.moref: self._vm(v) for v in self.vms.values()})

    def vm_records(self, morefs: list[str]) -> dict[str, VmRecord]:
        self._maybe_fail("vm_records")
        return {m: self._vm(self.vms[m]) for m in morefs if m in self.vms}

    def host_runtimes(self, morefs: list[str]) -> dict[str, HostRuntime]:
        self._maybe_fail("host_runtimes")
        return {m: HostRuntime(m, self.hosts[m].connection_state, self.hosts[m].in_maintenance)
                for m in morefs if m in self.hosts}

    # --- building a world ----------------------------------------------------------------

    def add_resource(self, moref: str, name: str, is_cluster: bool = True) -> FakeResource:
        self.resources[moref] = FakeResource(moref, name, is_cluster, f"resgroup-{moref}")
        return self.resources[moref]

    def add_host(self, moref: str, name: str, resource: str, datastores: tuple[str, ...], **kw: object) -> FakeHost:
        for store in datastores:
            self.datastores.setdefault(store, store)
        self.hosts[moref] = FakeHost(moref, name, resource, datastores, address=f"{name}.mgmt", **kw)  # type: ignore[arg-type]
        return self.hosts[moref]

    def add_vm(self, moref: str, name: str, host: str, ip: str | None, **kw: object) -> FakeVm:
        datastores = tuple(kw.pop("datastores", self.hosts[host].datastores[:1]))  # type: ignore[arg-type]
        self.vms[moref] = FakeVm(moref, name, host, datastores, ip, **kw)  # type: ignore[arg-type]
        return self.vms[moref]

    def add_snapshot(self, vm: str, moref: str, name: str, created: datetime, memory: bool = False) -> None:
        self.vms[vm].snapshots.append(SnapshotRecord(moref, name, "memory" if memory else "", created))

    def fail_next(self, operation: str, error: Exception) -> None:
        self._faults[operation] = error

    def probe(self, address: str) -> bool:
        with self.lock:
            return any(vm.ip == address and self.answers(vm) for vm in [*self.vms.values(), *self.orphans])

    def locked(self, path: str, by_other_than: str) -> bool:
        """The files at ``path`` are locked by a running VM other than ``by_other_than``."""
        running = [v for v in self.vms.values() if v.moref != by_other_than and v.path == path
                   and v.power_state == "poweredOn" and self.hosts[v.host].alive]
        return bool(running) or any(v.path == path for v in self.orphans)

    def running_with_ip(self, ip: str) -> list[str]:
        return sorted(vm.name for vm in self.vms.values() if vm.ip == ip and vm.power_state == "poweredOn")

    def kinds_of_change(self) -> list[str]:
        return [change[0] for change in self.changes]

    # --- used by the operations ----------------------------------------------------------

    @contextmanager
    def task(self, operation: str, first: str, host: str | None) -> Iterator[None]:
        """One task on ``host``: counted in flight while it takes ``task_seconds``, then carried out."""
        with self.lock:
            record = self.tasks
            record.started.append((operation, first))
            record.in_flight += 1
            record.peak = max(record.peak, record.in_flight)
            if host is not None:
                record.on_host[host] += 1
                record.peak_on_host[host] = max(record.peak_on_host[host], record.on_host[host])
        try:
            time.sleep(self.task_seconds)
            with self.lock:
                yield
        finally:
            with self.lock:
                record.in_flight -= 1
                if host is not None:
                    record.on_host[host] -= 1

    def host_of(self, operation: str, args: tuple[Any, ...]) -> str | None:
        """The host an operation's task runs on (as vCenter would count it)."""
        first = str(args[0]) if args else ""
        if operation == "register":
            return str(args[4])
        if operation == "remove":
            return first
        owner = self.vms.get(first) or next((v for v in self.vms.values() if any(s.moref == first for s in v.snapshots)), None)
        return owner.host if owner is not None else None

    def vm(self, moref: str) -> FakeVm:
        if moref not in self.vms:
            raise ObjectNotFound(f"vCenter fault ManagedObjectNotFound: {moref}", "ManagedObjectNotFound")
        return self.vms[moref]

    def live_vm(self, moref: str, doing: str) -> FakeVm:
        vm = self.vm(moref)
        if self.hosts[vm.host].connection_state != "connected":
            raise InvalidState(f"vCenter fault InvalidHostState while {doing} {moref}: the host is "
                               f"{self.hosts[vm.host].connection_state}", "InvalidHostState")
        return vm

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def record(self, *change: str) -> None:
        self.changes.append(change)

    def _maybe_fail(self, operation: str) -> None:
        error = self._faults.pop(operation, None)
        if error is not None:
            raise error

    def answers(self, vm: FakeVm) -> bool:
        host = self.hosts.get(vm.host) or self.removed_hosts[vm.host]
        reachable = host.connection_state == "connected" or (host.isolated and host.vm_network)
        return self.beats(vm) and reachable and any(nic.connected for nic in vm.nics)

    def beats(self, vm: FakeVm) -> bool:
        """Its guest's tools heartbeat: it runs and vCenter hears from its host."""
        host = self.hosts.get(vm.host) or self.removed_hosts[vm.host]
        return vm.power_state == "poweredOn" and vm.guest_up and (host.connection_state == "connected" or host.isolated)

    def _resource(self, r: FakeResource) -> ComputeResourceRecord:
        hosts = tuple(h.moref for h in self.hosts.values() if h.compute_resource == r.moref)
        return ComputeResourceRecord(r.moref, r.name, self.datacenter, r.is_cluster, hosts, r.pool)

    def _host(self, h: FakeHost) -> HostRecord:
        used = sum(v.memory_mb for v in self.vms.values() if v.host == h.moref and v.power_state == "poweredOn")
        resource = self.resources[h.compute_resource]
        return HostRecord(h.moref, h.name, self.datacenter, h.compute_resource,
                          resource.name if resource.is_cluster else None, h.address, h.connection_state,
                          h.in_maintenance, "poweredOn", 40000, 0, h.memory_mb_total, used, h.datastores, "green")

    def _datastore(self, moref: str) -> DatastoreRecord:
        mounted = tuple(h.moref for h in self.hosts.values() if moref in h.datastores)
        return DatastoreRecord(moref, self.datastores[moref], True, 10 * 2**40, 5 * 2**40, mounted)

    def _vm(self, v: FakeVm) -> VmRecord:
        pool = self.resources[self.hosts[v.host].compute_resource].pool
        return VmRecord(v.moref, v.name, v.uuid, v.ip, v.power_state, "connected", v.host, pool,
                        v.datastores, 1, v.memory_mb, False, v.annotation,
                        "green" if self.answers(v) else "gray", "green", tuple(v.snapshots),
                        files_path=v.path or None, replica=parse_mark(v.annotation), folder="group-v1",
                        drill=parse_drill_mark(v.annotation))

    def copy_state(self, v: FakeVm) -> CopyState:
        beats = self.beats(v)
        return CopyState(v.moref, v.name, v.annotation, v.extra.get(EXTRA_KEY), v.power_state,
                         "green" if beats else "gray", "running" if beats else "notRunning", v.ip, tuple(v.nics))


class _VmOps:
    def __init__(self, vc: FakeVCenter) -> None:
        self.vc = vc

    def create_snapshot(self, vm: str, name: str, description: str, memory: bool, quiesce: bool) -> str:
        self.vc._maybe_fail("create_snapshot")
        target = self.vc.live_vm(vm, "snapshotting")
        moref = self.vc.next_id("snapshot")
        target.snapshots.append(SnapshotRecord(moref, name, description, datetime.now(timezone.utc)))
        self.vc.record("create_snapshot", vm, name)
        return moref

    def remove_snapshot(self, snapshot: str) -> None:
        self.vc._maybe_fail("remove_snapshot")
        vm = self._owner(snapshot)
        vm.snapshots = [s for s in vm.snapshots if s.moref != snapshot]
        self.vc.record("remove_snapshot", snapshot)

    def revert_to_snapshot(self, snapshot: str) -> None:
        self.vc._maybe_fail("revert_to_snapshot")
        vm = self._owner(snapshot)
        self.vc.live_vm(vm.moref, "reverting")
        memory = next(s for s in vm.snapshots if s.moref == snapshot).description == "memory"
        vm.power_state = "poweredOn" if memory else "poweredOff"
        vm.guest_up = memory and not vm.broken
        self.vc.record("revert_to_snapshot", snapshot)

    def power_on(self, vm: str, moved: bool = False) -> None:
        self.vc._maybe_fail("power_on")
        target = self.vc.live_vm(vm, "powering on")
        if target.power_state == "poweredOn":
            raise InvalidState(f"vCenter fault InvalidPowerState: {vm} is powered on", "InvalidPowerState")
        if self.vc.locked(target.path, vm):
            raise FilesLocked(f"vCenter fault GenericVmConfigFault while powering on {vm}: Failed to lock the "
                              "file", "GenericVmConfigFault")
        if target.moved_question and not moved:
            raise VSphereFault(f"{vm} waits for an answer: moved or copied?", "VmQuestion")
        target.moved_question = False
        target.power_state, target.guest_up = "poweredOn", not target.broken
        if vm in self.vc.backs:
            self.vc.hosts[self.vc.backs[vm]].connection_state = "connected"
        self.vc.record("power_on", vm)

    def power_off(self, vm: str) -> None:
        self.vc._maybe_fail("power_off")
        target = self.vc.live_vm(vm, "powering off")
        if target.power_state == "poweredOff":
            raise InvalidState(f"vCenter fault InvalidPowerState: {vm} is powered off", "InvalidPowerState")
        target.power_state, target.guest_up = "poweredOff", False
        self.vc.record("power_off", vm)

    def reset(self, vm: str) -> None:
        self.vc._maybe_fail("reset")
        target = self.vc.live_vm(vm, "resetting")
        if target.power_state != "poweredOn":
            raise InvalidState(f"vCenter fault InvalidPowerState: {vm} is {target.power_state}", "InvalidPowerState")
        target.guest_up = not target.broken
        self.vc.record("reset", vm)

    def clone_from_snapshot(self, vm: str, snapshot: str | None, name: str, host: str, pool: str,
                            datastore: str, annotation: str) -> str:
        self.vc._maybe_fail("clone_from_snapshot")
        moref = self._clone(self.vc.vm(vm), name, host, datastore, annotation)
        self.vc.record("clone_from_snapshot", vm, name, host, datastore)
        return moref

    def _clone(self, source: FakeVm, name: str, host: str, datastore: str, annotation: str) -> str:
        # lenient as vcsim: a real vCenter refuses when the source's host is dead
        if any(v.name == name for v in self.vc.vms.values()):
            raise DuplicateName(f"vCenter fault DuplicateName: {name} exists", "DuplicateName")
        if datastore not in self.vc.hosts[host].datastores:
            raise VSphereFault(f"vCenter fault InvalidDatastore: {host} does not mount {datastore}", "InvalidDatastore")
        moref = self.vc.next_id("vm")
        self.vc.vms[moref] = FakeVm(moref, name, host, (datastore,), source.ip, "poweredOff", False,
                                    annotation=annotation, memory_mb=source.memory_mb, nics=list(source.nics))
        return moref

    def relocate(self, vm: str, host: str, pool: str, datastore: str | None) -> None:
        self.vc._maybe_fail("relocate")
        target = self.vc.vm(vm)
        target.host = host
        target.datastores = (datastore,) if datastore else target.datastores
        self.vc.record("relocate", vm, host, datastore or "")

    def set_annotation(self, vm: str, text: str) -> None:
        self.vc._maybe_fail("set_annotation")
        self.vc.vm(vm).annotation = text
        self.vc.record("set_annotation", vm)

    def register(self, path: str, name: str, folder: str, pool: str, host: str) -> str:
        self.vc._maybe_fail("register")
        if any(v.path == path for v in self.vc.vms.values()):
            raise VSphereFault(f"vCenter fault AlreadyExists: {path} is registered", "AlreadyExists")
        if self.vc.hosts[host].connection_state != "connected":
            raise InvalidState(f"vCenter fault InvalidHostState: {host} is not connected", "InvalidHostState")
        store = path[1:].split("]", 1)[0]
        if store not in self.vc.hosts[host].datastores:
            raise VSphereFault(f"vCenter fault InvalidDatastore: {host} does not mount {store}", "InvalidDatastore")
        left = self.vc.files.pop(path, None)
        if left is None:
            raise ObjectNotFound(f"vCenter fault NotFound: {path}", "NotFound")
        moref = self.vc.next_id("vm")
        self.vc.vms[moref] = replace(left, moref=moref, name=name, host=host, power_state="poweredOff",
                                     guest_up=False, moved_question=True, snapshots=list(left.snapshots))
        self.vc.record("register", path, host)
        return moref

    def destroy(self, vm: str) -> None:
        self.vc._maybe_fail("destroy")
        if self.vc.vm(vm).power_state != "poweredOff":
            raise InvalidState(f"vCenter fault InvalidPowerState: {vm} is powered on", "InvalidPowerState")
        del self.vc.vms[vm]
        self.vc.record("destroy", vm)

    def clone_for_drill(self, vm: str, snapshot: str | None, name: str, host: str, pool: str, datastore: str,
                        annotation: str, mark: str, network: str | None) -> str:
        self.vc._maybe_fail("clone_for_drill")
        source = self.vc.vm(vm)
        if snapshot is not None and not any(s.moref == snapshot for s in source.snapshots):
            raise ObjectNotFound(f"vCenter fault ManagedObjectNotFound: {snapshot}", "ManagedObjectNotFound")
        moref = self._clone(source, name, host, datastore, annotation)
        copy = self.vc.vms[moref]
        copy.extra = {EXTRA_KEY: mark}
        on = network is not None
        copy.nics = [replace(nic, connected=on, start_connected=on, network=network or nic.network)
                     for nic in source.nics]
        if on and self.vc.drill_network_address:
            copy.ip = self.vc.drill_network_address
        self.vc.record("clone_for_drill", vm, name, host, datastore)
        return moref

    def copy_state(self, vm: str) -> CopyState | None:
        self.vc._maybe_fail("copy_state")
        found = self.vc.vms.get(vm)
        return None if found is None else self.vc.copy_state(found)

    def destroy_drill_copy(self, vm: str, prefix: str, drill: int, token: str) -> None:
        self.vc._maybe_fail("destroy_drill_copy")
        found = self.vc.vms.get(vm)
        if found is None:
            return
        why = deletable(self.vc.copy_state(found), prefix, drill, token)
        if why is not None:
            raise NotADrillCopy(f"not deleting {vm}: {why}")
        self.destroy(vm)

    def set_custom_field(self, vm: str, name: str, value: str) -> None:
        self.vc._maybe_fail("set_custom_field")
        self.vc.vm(vm).custom[name] = value
        self.vc.record("set_custom_field", vm, name)

    def _owner(self, snapshot: str) -> FakeVm:
        for vm in self.vc.vms.values():
            if any(s.moref == snapshot for s in vm.snapshots):
                return vm
        raise ObjectNotFound(f"vCenter fault ManagedObjectNotFound: {snapshot}", "ManagedObjectNotFound")


class _HostOps:
    def __init__(self, vc: FakeVCenter) -> None:
        self.vc = vc

    def remove(self, host: str, standalone_resource: str | None) -> None:
        self.vc._maybe_fail("remove")
        gone = self.vc.hosts.get(host)
        if gone is None:
            raise ObjectNotFound(f"vCenter fault ManagedObjectNotFound: {host}", "ManagedObjectNotFound")
        if gone.connection_state == "connected" and not gone.in_maintenance:
            raise InvalidState(f"vCenter fault InvalidState: {host} is connected and not in maintenance", "InvalidState")
        for vm in [v for v in self.vc.vms.values() if v.host == host]:
            del self.vc.vms[vm.moref]
            self.vc.files[vm.path] = vm
            if gone.isolated and vm.power_state == "poweredOn":
                self.vc.orphans.append(vm)
        self.vc.removed_hosts[host] = self.vc.hosts.pop(host)
        self.vc.record("remove_host", host)

    def add_host(self, name: str, user: str, password: str, cluster: str | None, datacenter: str,
                 thumbprint: str) -> str:
        self.vc._maybe_fail("add_host")
        self.vc.thumbprints_given[name] = thumbprint
        spare = self.vc.spare_hosts.pop(name, None)
        if spare is None:
            raise ObjectNotFound(f"vCenter fault HostConnectFault: {name} cannot be reached", "HostConnectFault")
        resource = cluster or self.vc.add_resource(self.vc.next_id("domain-s"), name, is_cluster=False).moref
        self.vc.hosts[spare.moref] = replace(spare, compute_resource=resource)
        self.vc.record("add_host", name)
        return spare.moref


def _as_tasks(ops: type) -> type:
    """Every public method of ``ops`` runs as one task of the fake (FakeVCenter.task)."""

    def wrapped(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self.vc.lock:
                host = self.vc.host_of(name, args)
            with self.vc.task(name, str(args[0]) if args else "", host):
                return method(self, *args, **kwargs)

        return run

    for name, method in list(vars(ops).items()):
        if callable(method) and not name.startswith("_"):
            setattr(ops, name, wrapped(name, method))
    return ops


_as_tasks(_VmOps)
_as_tasks(_HostOps)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def run(self: FakeGateway, *args: Any) -> Any:
        with self.vc.lock:
            return method(self, *args)

    return run


class FakeGateway:
    """The ``Gateway`` protocol over a FakeVCenter."""

    def __init__(self, vc: FakeVCenter) -> None:
        self.vc = vc
        self.vms = _VmOps(vc)
        self.hosts = _HostOps(vc)

    @_locked
    def inventory(self) -> Inventory:
        return self.vc.inventory()

    @_locked
    def vm_records(self, morefs: list[str]) -> dict[str, VmRecord]:
        return self.vc.vm_records(morefs)

    @_locked
    def host_runtimes(self, morefs: list[str]) -> dict[str, HostRuntime]:
        return self.vc.host_runtimes(morefs)

    @_locked
    def host_named(self, name: str) -> str | None:
        return next((h.moref for h in self.vc.hosts.values() if h.name == name), None)

    @_locked
    def vm_at_path(self, path: str) -> str | None:
        return next((v.moref for v in self.vc.vms.values() if v.path == path), None)
