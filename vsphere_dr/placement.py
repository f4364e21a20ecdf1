"""Where a recovered VM may run: the admission check and the choice of a target host.

A target must be connected, out of maintenance mode, in the VM's datacenter, and have the free
memory the VM is configured with and CPU for its vCPUs, counting what earlier actions of the same
plan already placed there (a ledger), so that one sweep never overfills a host.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsphere_dr.records import HostRecord, Inventory, VmRecord

# CPU a restarted vCPU is expected to need. vSphere HA's default slot is 32 MHz; we ask for more,
# since a VM restarted onto a saturated host is not recovered in any useful sense.
CPU_MHZ_PER_VCPU = 250


@dataclass
class Ledger:
    """Free capacity per host, decreased as a plan places VMs."""

    free_mb: dict[str, int]
    free_mhz: dict[str, int]

    @classmethod
    def of(cls, inv: Inventory) -> Ledger:
        return cls({h.moref: h.memory_mb_total - h.memory_mb_used for h in inv.hosts.values()},
                   {h.moref: h.cpu_mhz_total - h.cpu_mhz_used for h in inv.hosts.values()})

    def admits(self, host: HostRecord, vm: VmRecord) -> bool:
        return (self.free_mb.get(host.moref, 0) >= vm.memory_mb
                and self.free_mhz.get(host.moref, 0) >= vm.cpus * CPU_MHZ_PER_VCPU)

    def place(self, host: str, vm: VmRecord) -> None:
        self.free_mb[host] = self.free_mb.get(host, 0) - vm.memory_mb
        self.free_mhz[host] = self.free_mhz.get(host, 0) - vm.cpus * CPU_MHZ_PER_VCPU


def sees_datastores(host: HostRecord, vm: VmRecord) -> bool:
    return bool(vm.datastores) and set(vm.datastores) <= set(host.datastores)


def choose_host(inv: Inventory, vm: VmRecord, ledger: Ledger, need_room: bool = True) -> HostRecord | None:
    """The best live host other than its own to register ``vm`` on, or None: it mounts every
    datastore of the VM and they are accessible; with ``need_room``, it admits the VM (it is to run).
    Same cluster first, then the most free memory."""
    origin = inv.hosts.get(vm.host or "")
    candidates = [h for h in inv.hosts.values()
                  if h.usable and h.moref != vm.host and (not need_room or ledger.admits(h, vm))
                  and sees_datastores(h, vm) and all(_accessible(inv, d) for d in vm.datastores)
                  and (origin is None or h.datacenter == origin.datacenter)]
    if not candidates:
        return None
    cluster = origin.compute_resource if origin else None
    return min(candidates, key=lambda h: (h.compute_resource != cluster or cluster is None,
                                          -ledger.free_mb.get(h.moref, 0), h.name))


def _accessible(inv: Inventory, datastore: str) -> bool:
    return datastore in inv.datastores and inv.datastores[datastore].accessible
