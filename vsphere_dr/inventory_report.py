"""What `vsphere-dr inventory` shows: hosts and monitored VMs, as text or JSON."""

from __future__ import annotations

from typing import Any

from vsphere_dr.records import Inventory, SnapshotRecord, VmRecord
from vsphere_dr.table import render_table
from vsphere_dr.timefmt import iso_utc


def inventory_as_dict(inv: Inventory) -> dict[str, Any]:
    hosts = sorted(inv.hosts.values(), key=lambda h: h.name)
    return {
        "read_at": iso_utc(inv.read_at),
        "hosts": [
            {"moref": h.moref, "name": h.name, "datacenter": h.datacenter, "cluster": h.cluster, "address": h.address,
             "connection_state": h.connection_state, "in_maintenance": h.in_maintenance,
             "vms": sum(1 for vm in inv.vms.values() if vm.host == h.moref)}
            for h in hosts
        ],
        "vms": [_vm_dict(inv, vm) for vm in inv.monitored_vms()],
        "not_monitored": [vm.name for vm in inv.unmonitored_vms()],
        "not_monitored_morefs": [vm.moref for vm in inv.unmonitored_vms()],
    }


def _vm_dict(inv: Inventory, vm: VmRecord) -> dict[str, Any]:
    snap, replica = vm.newest_snapshot, _newest_replica(inv, vm)
    return {"moref": vm.moref, "name": vm.name, "ip": vm.ip, "power_state": vm.power_state,
            "host": _host_name(inv, vm), "host_moref": vm.host,
            "newest_snapshot": {"moref": snap.moref, "name": snap.name, "created": iso_utc(snap.created)}
            if snap else None,
            "newest_replica": {"moref": replica.moref, "name": replica.name, "host": _host_name(inv, replica),
                               "taken": iso_utc(replica.replica.taken)} if replica and replica.replica else None}


def inventory_as_text(inv: Inventory) -> str:
    data = inventory_as_dict(inv)
    host_rows = [(h["name"], h["datacenter"], h["cluster"] or "(standalone)", h["address"], h["connection_state"],
                  "yes" if h["in_maintenance"] else "no", h["vms"]) for h in data["hosts"]]
    vm_rows = [(vm.name, vm.ip, vm.power_state, _host_name(inv, vm) or "-", _snapshot_text(vm.newest_snapshot),
                _replica_text(inv, _newest_replica(inv, vm))) for vm in inv.monitored_vms()]
    skipped = len(data["not_monitored"])
    return "\n".join([
        f"Hosts ({len(host_rows)})",
        render_table(("NAME", "DATACENTER", "CLUSTER", "ADDRESS", "CONNECTION", "MAINTENANCE", "VMS"), host_rows),
        "",
        f"Monitored VMs ({len(vm_rows)}; {skipped} without an IP not monitored)",
        render_table(("NAME", "IP", "POWER", "HOST", "NEWEST SNAPSHOT", "NEWEST REPLICA"), vm_rows),
    ])


def _host_name(inv: Inventory, vm: VmRecord) -> str | None:
    host = inv.hosts.get(vm.host or "")
    return host.name if host else None


def _newest_replica(inv: Inventory, vm: VmRecord) -> VmRecord | None:
    found = inv.replicas_of(vm)
    return found[-1] if found else None


def _replica_text(inv: Inventory, replica: VmRecord | None) -> str:
    if replica is None or replica.replica is None:
        return "none"
    return f"{replica.replica.taken:%Y-%m-%d %H:%M:%S %Z} on {_host_name(inv, replica)}"


def _snapshot_text(snap: SnapshotRecord | None) -> str:
    return f"{snap.name} ({snap.created:%Y-%m-%d %H:%M:%S %Z})" if snap else "none"
