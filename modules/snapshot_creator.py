"""Snapshot Creator: keeps a fresh snapshot of every monitored VM (the paper's SC, made safe).

Create, verify, then prune this tool's older snapshots beyond ``keep``: a VM is never left with
none, and a person's snapshots are never touched. VMs under recovery and VMs whose host is down
are skipped; a fault on one VM is logged and the others go on. Each snapshot is journaled as an
action so that a stop in the middle leaves a consistent record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from vsphere_dr.errors import VsphereDrError
from vsphere_dr.journal import Journal
from vsphere_dr.logging_setup import fields
from vsphere_dr.protection import (end_round, in_groups, not_due, skip_reason, snapshot_interval,
                                   snapshot_round_seconds)
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import ProtectionGroup, Settings
from vsphere_dr.snapshot_rotation import newest_ours, snapshot_name, to_prune
from vsphere_dr.vcenter import Gateway

log = logging.getLogger(__name__)
KIND = "snapshot"


@dataclass
class SnapshotRunReport:
    created: dict[str, str] = field(default_factory=dict)  # VM name -> new snapshot's name
    pruned: list[str] = field(default_factory=list)  # "vm: snapshot" removed
    skipped: dict[str, str] = field(default_factory=dict)  # VM name -> why
    failed: dict[str, str] = field(default_factory=dict)  # VM name -> error

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.pruned)} pruned, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed")


class SnapshotCreator:
    """Rotates the snapshots of the monitored VMs (not the ones behind nested vHosts)."""

    name = "snapshot_creator"

    def __init__(self, gateway: Gateway, journal: Journal, settings: Callable[[], Settings],
                 stop: threading.Event | None = None, clock: Callable[[], float] = time.time) -> None:
        self.gateway, self.journal, self.settings, self.clock = gateway, journal, settings, clock
        self.stop = stop or threading.Event()

    def targets(self, inv: Inventory) -> list[tuple[VmRecord, ProtectionGroup]]:
        """The protected VMs (not the backing VMs of nested vHosts), each with its group."""
        return in_groups(inv, self.settings())

    def run(self) -> SnapshotRunReport:
        inv = self.gateway.inventory()
        self._reconcile(inv)
        report = SnapshotRunReport()
        busy = self.journal.vms_under_recovery()
        made: dict[str, tuple[int, str]] = {}  # VM moref -> (action id, snapshot moref)
        slack, now = snapshot_round_seconds(self.settings()) / 2, self.clock()
        for vm, group in self.targets(inv):
            if self.stop.is_set():
                report.skipped[vm.name] = "controller stopping"
                continue
            newest = newest_ours(vm.snapshots, self.settings().snapshots.prefix)
            reason = skip_reason(vm, inv, busy) or not_due(newest.created.timestamp() if newest else None,
                                                            snapshot_interval(self.settings(), group), now, slack)
            if reason:
                report.skipped[vm.name] = reason
                continue
            created = self._create(vm, report)
            if created:
                made[vm.moref] = created
        if made:
            self._verify_and_prune(self.gateway.inventory(), made, report)
        end_round(self.name, report)
        return report

    def _create(self, vm: VmRecord, report: SnapshotRunReport) -> tuple[int, str] | None:
        s = self.settings().snapshots
        name = snapshot_name(s.prefix, datetime.now(timezone.utc))
        action = self.journal.intend(KIND, vm.moref, vm.name, {"name": name, "module": self.name},
                                     "scheduled snapshot rotation")
        try:
            snapshot = self.gateway.vms.create_snapshot(vm.moref, name, "vsphere-dr scheduled snapshot",
                                                        s.memory, s.quiesce)
        except VsphereDrError as exc:
            self._failed(vm.moref, vm.name, action, f"creating snapshot: {exc}", report, _newest_time(vm))
            return None
        self.journal.progress(action, "created", {"snapshot": snapshot})
        report.created[vm.name] = name
        return action, snapshot

    def _verify_and_prune(self, inv: Inventory, made: dict[str, tuple[int, str]], report: SnapshotRunReport) -> None:
        for moref, (action, snapshot) in made.items():
            vm = inv.vms.get(moref)
            if vm is None or not any(snap.moref == snapshot for snap in vm.snapshots):
                name = self.journal.action(action).vm_name
                report.created.pop(name, None)
                self._failed(moref, name, action, f"snapshot {snapshot} not found after creation", report,
                             _newest_time(vm))
                continue
            if self.stop.is_set():
                # The next run prunes everything beyond keep: a stop need not wait for removals.
                self.journal.finish(action, {"pruning": "deferred: controller stopping"})
            elif self._prune(vm, action, snapshot, report):
                self.journal.finish(action)
            else:
                continue
            self.journal.record_snapshot_status(vm.moref, vm.name, _newest_time(vm))

    def _prune(self, vm: VmRecord, action: int, snapshot: str, report: SnapshotRunReport) -> bool:
        """Remove this tool's snapshots of ``vm`` beyond keep; False (and journaled) on a fault."""
        s = self.settings().snapshots
        try:
            for old in to_prune(vm.snapshots, s.prefix, s.keep, snapshot):
                self.gateway.vms.remove_snapshot(old.moref)
                report.pruned.append(f"{vm.name}: {old.name}")
        except VsphereDrError as exc:
            self._failed(vm.moref, vm.name, action, f"pruning old snapshots: {exc}", report, _newest_time(vm))
            return False
        return True

    def _failed(self, moref: str, name: str, action: int, error: str, report: SnapshotRunReport,
                newest: float | None) -> None:
        log.error("%s: %s: %s", self.name, name, error, extra=fields(vm=name, moref=moref, module=self.name))
        report.failed[name] = error
        self.journal.fail(action, error)
        self.journal.record_snapshot_status(moref, name, newest, error)

    def _reconcile(self, inv: Inventory) -> None:
        """Settle snapshot actions a previous run of this module left unfinished (stopped or crashed).

        Only this module's: the other Snapshot Creator's may be under way right now, or be about
        VMs of another vCenter (``[admin_vcenter]``), whose morefs mean nothing here.
        """
        for action in self.journal.unfinished_actions():
            if action.kind != KIND or action.params.get("module") != self.name:
                continue
            vm = inv.vms.get(action.vm)
            exists = vm is not None and any(snap.name == action.params["name"] for snap in vm.snapshots)
            if exists:
                self.journal.finish(action.id, {"reconciled": "snapshot found after restart"})
            else:
                self.journal.fail(action.id, "controller stopped before the snapshot was created", "abandoned")


def _newest_time(vm: VmRecord | None) -> float | None:
    newest = vm.newest_snapshot if vm else None
    return newest.created.timestamp() if newest else None
