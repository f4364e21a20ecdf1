"""What the core asks of vCenter: the ``Gateway`` protocol.

The recoveries, the executor and the Snapshot Creators are written against these protocols, not
against pyVmomi. ``vsphere_dr.gateway.VCenterGateway`` implements them over SOAP; the tests'
in-memory fake (tests/fake_vcenter.py) implements them in memory, so the recovery flows and every
resume point can be tested in seconds without the simulator.

Every method reports a vCenter fault as a ``VCenterError`` subclass (vsphere_dr/errors.py) and a
lost connection as ``VCenterUnreachable``; nothing else escapes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from vsphere_dr.records import CopyState, HostRuntime, Inventory, VmRecord


class VmOperations(Protocol):
    """Each call starts one vCenter task and waits for it (``[vcenter] task_timeout_seconds``)."""

    def create_snapshot(self, vm: str, name: str, description: str, memory: bool, quiesce: bool) -> str: ...

    def remove_snapshot(self, snapshot: str) -> None: ...

    def revert_to_snapshot(self, snapshot: str) -> None: ...

    def power_on(self, vm: str, moved: bool = False) -> None: ...

    def power_off(self, vm: str) -> None: ...

    def reset(self, vm: str) -> None: ...

    def clone_from_snapshot(self, vm: str, snapshot: str | None, name: str, host: str, pool: str,
                            datastore: str, annotation: str) -> str: ...

    def relocate(self, vm: str, host: str, pool: str, datastore: str | None) -> None: ...

    def set_annotation(self, vm: str, text: str) -> None: ...

    def destroy(self, vm: str) -> None: ...

    def set_custom_field(self, vm: str, name: str, value: str) -> None: ...

    def register(self, path: str, name: str, folder: str, pool: str, host: str) -> str: ...

    # Drills (vsphere_dr/drills.py): a marked copy with its adapters disconnected or on a drill
    # port group; its state in one read; its deletion, refused unless vCenter shows the marks.
    def clone_for_drill(self, vm: str, snapshot: str | None, name: str, host: str, pool: str, datastore: str,
                        annotation: str, mark: str, network: str | None) -> str: ...

    def copy_state(self, vm: str) -> CopyState | None: ...

    def destroy_drill_copy(self, vm: str, prefix: str, drill: int, token: str) -> None: ...


class HostOperations(Protocol):
    def add_host(self, name: str, user: str, password: str, cluster: str | None, datacenter: str,
                 thumbprint: str) -> str: ...

    def remove(self, host: str, standalone_resource: str | None) -> None: ...


@runtime_checkable
class Gateway(Protocol):
    vms: VmOperations
    hosts: HostOperations

    def inventory(self) -> Inventory:
        """The whole inventory in a few round trips."""
        ...

    def vm_records(self, morefs: list[str]) -> dict[str, VmRecord]:
        """Fresh records of a few VMs in one round trip; VMs that no longer exist are left out."""
        ...

    def host_runtimes(self, morefs: list[str]) -> dict[str, HostRuntime]:
        """The connection and maintenance state of a few hosts in one round trip."""
        ...

    def host_named(self, name: str) -> str | None:
        """The moref of the host named ``name``, if vCenter has one (only hosts' names are read)."""
        ...

    def vm_at_path(self, path: str) -> str | None:
        """The moref of the VM registered from the .vmx at ``path``, if any."""
        ...

class LiveInventory(Protocol):
    """The daemon's picture of the inventory, kept up to date as vCenter reports changes
    (``vsphere_dr.gateway.watcher.InventoryWatcher``)."""

    def inventory(self) -> Inventory | None:
        """The latest consistent picture; None while there is none (a sweep then reads it whole)."""
        ...

    def evidence_since(self, moref: str) -> float | None:
        """When vCenter first showed this host or VM failing, if it has shown it since."""
        ...

