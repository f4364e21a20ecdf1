"""Availability Administrator: keeps one Health Administrator per monitored VM.

On its interval it reads the inventory, starts a Health Administrator for each new VM that has an
IP, retires those of VMs that are gone (or lost their IP), and notices hosts that were added or
removed. The paper keeps this map in a distributed hash map; one controller keeps it in memory
and rebuilds it from vCenter on start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vsphere_dr.logging_setup import in_brief
from vsphere_dr.records import Inventory, VmRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class AvailabilityReport:
    new_vms: list[str] = field(default_factory=list)
    retired_vms: list[str] = field(default_factory=list)
    new_hosts: list[str] = field(default_factory=list)
    removed_hosts: list[str] = field(default_factory=list)
    monitored: int = 0

    def summary(self) -> str:
        return (f"{self.monitored} VMs monitored; {len(self.new_vms)} new, {len(self.retired_vms)} retired; "
                f"{len(self.new_hosts)} hosts added, {len(self.removed_hosts)} removed")

    def changes(self) -> str:
        """What changed, for the log, a few names each: e.g.
        ``3 new: web-04, web-05, web-06; 1 host removed: esx-p3``."""
        parts = [(f"{len(self.new_vms)} new", self.new_vms), (f"{len(self.retired_vms)} retired", self.retired_vms),
                 (f"{_hosts_text(len(self.new_hosts))} added", self.new_hosts),
                 (f"{_hosts_text(len(self.removed_hosts))} removed", self.removed_hosts)]
        return "; ".join(f"{what}: {in_brief(names)}" for what, names in parts if names)


def _hosts_text(count: int) -> str:
    return f"{count} host{'' if count == 1 else 's'}"


class AvailabilityAdministrator(Generic[T]):
    """Tracks hosts and monitored VMs; ``start(vm)`` builds the per-VM administrator."""

    name = "availability_administrator"

    def __init__(self, read_inventory: Callable[[], Inventory], start: Callable[[VmRecord], T]) -> None:
        self._read = read_inventory
        self._start = start
        self.administrators: dict[str, T] = {}  # VM moref -> its Health Administrator
        self.names: dict[str, str] = {}  # VM moref -> name, for the log of retired VMs
        self.hosts: dict[str, str] = {}  # host moref -> name

    def run(self) -> AvailabilityReport:
        return self.update(self._read())

    def update(self, inv: Inventory) -> AvailabilityReport:
        """Bring the set of administrators in line with ``inv``."""
        report = AvailabilityReport()
        monitored = {vm.moref: vm for vm in inv.monitored_vms()}
        for moref in self.administrators.keys() - monitored.keys():
            report.retired_vms.append(self.names.pop(moref, moref))
            del self.administrators[moref]
        for moref in monitored.keys() - self.administrators.keys():
            self.administrators[moref] = self._start(monitored[moref])
            report.new_vms.append(monitored[moref].name)
        self.names = {moref: vm.name for moref, vm in monitored.items()}
        hosts = {h.moref: h.name for h in inv.hosts.values()}
        report.new_hosts = sorted(hosts[m] for m in hosts.keys() - self.hosts.keys())
        report.removed_hosts = sorted(self.hosts[m] for m in self.hosts.keys() - hosts.keys())
        self.hosts = hosts
        report.monitored = len(self.administrators)
        unmonitored = [vm.name for vm in inv.unmonitored_vms()]
        if unmonitored:
            log.debug("%d VMs not monitored (no IP): %s", len(unmonitored), in_brief(unmonitored))
        if report.changes():
            log.info("%s, %d VMs monitored (%s)", _hosts_text(len(self.hosts)), report.monitored, report.changes())
        return report
