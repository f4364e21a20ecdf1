"""The vCenter gateway: the only code that speaks SOAP (pyVmomi).

Everything else in vsphere-dr calls the gateway and gets typed, immutable records back.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from pyVmomi import vim

from vsphere_dr.gateway.alarms import AlarmOperations
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.events import EventReader
from vsphere_dr.gateway.faults import faults_translated
from vsphere_dr.gateway.host_operations import HostOperations
from vsphere_dr.gateway.inventory_reader import read_host_runtimes, read_inventory, read_vms
from vsphere_dr.gateway.performance import PerformanceReader
from vsphere_dr.gateway.properties import retrieve
from vsphere_dr.gateway.tasks import TaskWaiter
from vsphere_dr.gateway.tagging import TagReader
from vsphere_dr.gateway.vm_operations import VmOperations
from vsphere_dr.records import HostRuntime, Inventory, VmRecord, with_tags
from vsphere_dr.settings import VCenterSettings

R = TypeVar("R")


class VCenterGateway:
    """Reads one vCenter's inventory and acts on it (``vms``: snapshots, power, clone, relocate;
    ``hosts``: add a spare host).

    ``alarms`` keeps this tool's per-VM alarms; ``events`` reads VM power events.

    ``performance.latest(vm_morefs)`` gives the VMs' latest performance samples.
    """

    def __init__(self, settings: VCenterSettings) -> None:
        self.reconfigure(settings)

    def reconfigure(self, settings: VCenterSettings) -> None:
        """Use new connection settings: the current session (if any) is closed, the next call reconnects."""
        if getattr(self, "session", None) is not None:
            self.close()
        self.settings = settings
        self.session = VCenterSession(settings)
        waiter = TaskWaiter(self.session)  # one for the session: its tasks are awaited together
        self.tag_reader = TagReader(settings)
        # Whether inventory() also reads the VMs' vCenter tags (a REST pass): the settings say when
        # a protection group needs them (protection.needs_tags).
        self.read_tags = getattr(self, "read_tags", False)
        self.last_inventory: Inventory | None = None  # the newest whole inventory read (for the metrics)
        self.vms = VmOperations(self.session, waiter, settings.task_timeout_seconds)
        self.hosts = HostOperations(self.session, waiter, settings.task_timeout_seconds)
        self.alarms = AlarmOperations(self.session)
        self.events = EventReader(self.session)
        self.performance = PerformanceReader(self.session)

    def __enter__(self) -> VCenterGateway:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def round_trips(self) -> int:
        """SOAP calls made so far on this gateway's session (and requests to the tagging service)."""
        return self.session.round_trips + self.tag_reader.round_trips

    def about(self) -> str:
        """vCenter's product name and version, e.g. 'VMware vCenter Server 6.5.0 build-5973321'."""
        return self.session.call(lambda content: content.about.fullName, "reading vCenter's version")

    def inventory(self) -> Inventory:
        """The whole inventory (hosts, clusters, datastores, VMs with snapshots and alarm state)."""
        inv = self._read("reading the inventory", read_inventory)
        if self.read_tags:
            inv = with_tags(inv, self.tag_reader.vm_tags(sorted(inv.vms)))
        self.last_inventory = inv
        return inv

    def vm_records(self, morefs: list[str]) -> dict[str, VmRecord]:
        """Fresh records of a few VMs (one round trip): for checking what a step did."""
        return self._read(f"reading {', '.join(morefs)}", lambda content: read_vms(content, morefs))

    def host_runtimes(self, morefs: list[str]) -> dict[str, HostRuntime]:
        """The connection and maintenance state of a few hosts (one round trip)."""
        return self._read(f"reading {', '.join(morefs)}", lambda content: read_host_runtimes(content, morefs))

    def host_named(self, name: str) -> str | None:
        """The moref of the host vCenter knows by ``name``, if any: only the hosts' names are read."""
        def find(content: Any) -> str | None:
            return next((obj._moId for obj, props in retrieve(content, {vim.HostSystem: ["name"]})
                         if props.get("name") == name), None)

        return self._read(f"looking for host {name}", find)

    def vm_at_path(self, path: str) -> str | None:
        """The moref of the VM registered from the .vmx at ``path`` (``[datastore] dir/name.vmx``), if
        any: SearchIndex.FindByDatastorePath in each datacenter (usually one)."""
        def find(content: Any) -> str | None:
            for datacenter in content.rootFolder.childEntity:
                if isinstance(datacenter, vim.Datacenter):
                    found = content.searchIndex.FindByDatastorePath(datacenter, path)
                    if found is not None:
                        return str(found._moId)
            return None

        return self._read(f"looking for the VM registered from {path}", find)

    def _read(self, doing: str, reader: Callable[[Any], R]) -> R:
        def read(content: Any) -> R:
            with faults_translated(doing):
                return reader(content)

        return self.session.call(read, doing)

    def close(self) -> None:
        self.session.close()
