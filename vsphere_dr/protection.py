"""Which VMs vsphere-dr protects with snapshots and replicas, and when one is left out this round."""

from __future__ import annotations

import logging
from typing import Protocol

from vsphere_dr.errors import RoundIncomplete
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings

log = logging.getLogger(__name__)


def protected_vms(inv: Inventory, settings: Settings) -> list[VmRecord]:
    """The monitored VMs, but the backing VMs of nested vHosts (they have a module of their own)."""
    backing = set(settings.inventory.vhost_backing.values())
    return [vm for vm in inv.monitored_vms() if vm.name not in backing]


def skip_reason(vm: VmRecord, inv: Inventory, busy: set[str]) -> str | None:
    """Why a VM gets no snapshot or replica this round (None: it does). ``busy``: VMs under recovery."""
    if vm.moref in busy:
        return "under recovery"
    host = inv.hosts.get(vm.host or "")
    if host is None or host.connection_state != "connected":
        return "its host is not connected"
    if vm.connection_state != "connected":
        return f"VM is {vm.connection_state}"
    return None


class RoundReport(Protocol):
    failed: dict[str, str]  # VM name -> error

    def summary(self) -> str: ...


def end_round(module: str, report: RoundReport) -> None:
    """Log a snapshot or replica round's summary; a round in which some VMs failed ends failed
    (RoundIncomplete naming them), so that `status` and `once`'s exit status show it."""
    log.info("%s: %s", module, report.summary())
    if report.failed:
        failures = "; ".join(f"{name}: {error}" for name, error in report.failed.items())
        raise RoundIncomplete(f"{report.summary()}: {failures}", report)
