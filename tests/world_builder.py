"""Plain-value worlds for the decision engine's unit tests: a small lab, and ways to break it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from vsphere_dr.records import (ComputeResourceRecord, DatastoreRecord, HostRecord, Inventory, ReplicaMark,
                                SnapshotRecord, VmRecord)
from vsphere_dr.signals import Classification, VmCondition
from vsphere_dr.world import BackingVm, History, HostView, VmView, World

NOW = 1_800_000_000.0
SNAP_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def host(n: int, cluster: str = "c1", stores: tuple[str, ...] = ("ds-shared",), state: str = "connected",
         maintenance: bool = False, free_mb: int = 60000) -> HostRecord:
    return HostRecord(moref=f"host-{n}", name=f"esx{n}", datacenter="dc", compute_resource=cluster,
                      cluster=cluster, address=f"10.0.0.{n}", connection_state=state, in_maintenance=maintenance,
                      power_state="poweredOn", cpu_mhz_total=20000, cpu_mhz_used=2000,
                      memory_mb_total=65536, memory_mb_used=65536 - free_mb, datastores=stores,
                      overall_status="green")


def vm(n: int, on_host: int, power: str = "poweredOn", snapshot: bool = True, store: str = "ds-shared",
       memory_mb: int = 2048) -> VmRecord:
    snaps = (SnapshotRecord(f"snap-{n}", "vsphere-dr-1", "", SNAP_TIME),) if snapshot else ()
    return VmRecord(moref=f"vm-{n}", name=f"app-{n:02d}", uuid=f"uuid-{n}", ip=f"10.1.0.{n}", power_state=power,
                    connection_state="connected", host=f"host-{on_host}", resource_pool="pool-c1",
                    datastores=(store,), cpus=2, memory_mb=memory_mb, template=False, annotation="",
                    heartbeat="green", overall_status="green", snapshots=snaps,
                    files_path=f"[{store}] app-{n:02d}/app-{n:02d}.vmx", folder="group-v1")


def replica(of: VmRecord, n: int, on_host: int, store: str = "ds-other") -> VmRecord:
    """A powered-off replica of ``of``, made from its snapshot (vsphere_dr/replicas.py)."""
    mark = ReplicaMark(of.uuid or "", of.name, "vsphere-dr-1", SNAP_TIME)
    return replace(vm(n, on_host, power="poweredOff", snapshot=False, store=store),
                   name=f"{of.name}-replica-1", ip=of.ip, replica=mark)


def inventory(hosts: list[HostRecord], vms: list[VmRecord]) -> Inventory:
    clusters = {h.compute_resource for h in hosts if h.compute_resource}
    stores = {d for h in hosts for d in h.datastores} | {d for v in vms for d in v.datastores}
    return Inventory(
        read_at=SNAP_TIME, datacenters=("dc",),
        compute_resources={c: ComputeResourceRecord(c, c, "dc", True, tuple(h.moref for h in hosts
                                                                             if h.compute_resource == c), f"pool-{c}")
                           for c in clusters},
        hosts={h.moref: h for h in hosts},
        datastores={d: DatastoreRecord(d, d, True, 10**12, 8 * 10**11,
                                       tuple(h.moref for h in hosts if d in h.datastores)) for d in stores},
        vms={v.moref: v for v in vms})


def classified(v: VmRecord, condition: VmCondition, reason: str = "") -> Classification:
    return Classification(v.moref, condition, reason or condition.value)


def world(inv: Inventory, down_vms: dict[str, VmCondition] | None = None, silent_hosts: dict[str, float] | None = None,
          failures: int = 5, history: History = History(), backing: dict[str, BackingVm] | None = None,
          ill: frozenset[str] = frozenset()) -> World:
    """``down_vms``: moref -> condition of VMs that do not answer (the rest answer).
    ``silent_hosts``: host moref -> seconds they have been silent (down_since = NOW - that)."""
    down_vms, silent_hosts = down_vms or {}, silent_hosts or {}
    views = {}
    for v in inv.monitored_vms():
        condition = down_vms.get(v.moref, VmCondition.RESPONDING)
        views[v.moref] = VmView(classified(v, condition), 0 if condition == VmCondition.RESPONDING else failures,
                                ill=v.moref in ill)
    hosts = {h: HostView(answered=h not in silent_hosts,
                         down_since=NOW - silent_hosts[h] if h in silent_hosts else None) for h in inv.hosts}
    return World(NOW, inv, hosts, views, history, backing or {})


def failed_host(h: HostRecord) -> HostRecord:
    return replace(h, connection_state="notResponding")
