"""Health Administrator: one per monitored VM, holding what a health sweep needs between runs.

Sweeps are batched (one inventory read and one concurrent probe round for all VMs); each
administrator only keeps its VM's state: consecutive failed probes, when it was last healthy,
and the incident that is open for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsphere_dr.records import VmRecord


@dataclass
class HealthAdministrator:
    vm: str  # moref
    name: str
    consecutive_failures: int = 0
    last_healthy_at: float | None = None
    open_incident: int | None = None

    @classmethod
    def for_vm(cls, vm: VmRecord) -> HealthAdministrator:
        return cls(vm=vm.moref, name=vm.name)
