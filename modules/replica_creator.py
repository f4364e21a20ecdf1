"""Replica Creator: the paper's replication mode ("the virtual machines and the secondary sites are
creating the replicas of primary site"), made safe.

For each protected VM, on its schedule: clone it from its newest vsphere-dr snapshot, powered
off, onto a host and datastore of the secondary site that do not share its fate
(vsphere_dr/replicas.py says where); mark the clone as its replica (annotation, and a custom
attribute where vCenter has them); verify it (it exists, is powered off, on the intended host,
its files on the intended datastore); only then remove its older replicas beyond ``keep``.
Create, verify, prune: a VM never has zero replicas because of a round. A replica is named after
its snapshot's time, so a round that runs again (or resumes after a crash) finds the replica it
made instead of making another. A fault on one VM is journaled and the others go on; the round
then ends failed, naming them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vsphere_dr.errors import SettingsError, VsphereDrError
from vsphere_dr.journal import Journal
from vsphere_dr.logging_setup import fields
from vsphere_dr.protection import end_round, in_groups, not_due, replica_interval, replica_round_seconds, skip_reason
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.replicas import Target, choose_target, mark_text, replica_name, to_prune
from vsphere_dr.settings import ReplicationSettings, Settings
from vsphere_dr.snapshot_rotation import newest_ours
from vsphere_dr.vcenter import Gateway

log = logging.getLogger(__name__)
KIND = "replica"
FIELD = "vsphere-dr.replica-of"  # custom attribute: the instance UUID of the VM replicated


@dataclass
class ReplicaRunReport:
    created: dict[str, str] = field(default_factory=dict)  # VM name -> replica's name
    kept: dict[str, str] = field(default_factory=dict)  # VM name -> replica already made from its newest snapshot
    pruned: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # VM name -> why
    failed: dict[str, str] = field(default_factory=dict)  # VM name -> error

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.kept)} up to date, {len(self.pruned)} pruned, "
                f"{len(self.skipped)} skipped, {len(self.failed)} failed")


@dataclass(frozen=True)
class Targets:
    hosts: tuple[str, ...]  # morefs
    datastores: tuple[str, ...]


class ReplicaCreator:
    name = "replica_creator"

    def __init__(self, gateway: Gateway, journal: Journal, settings: Callable[[], Settings],
                 stop: threading.Event | None = None, clock: Callable[[], float] = time.time) -> None:
        self.gateway, self.journal, self.settings, self.clock = gateway, journal, settings, clock
        self.stop = stop or threading.Event()

    def run(self) -> ReplicaRunReport:
        report = ReplicaRunReport()
        s = self.settings()
        if not s.replication.enabled:
            log.info("%s: replication is not enabled ([replication] enabled = false)", self.name)
            return report
        inv = self.gateway.inventory()
        self._reconcile(inv)
        targets = resolve_targets(inv, s.replication)
        busy = self.journal.vms_under_recovery()
        slack, now = replica_round_seconds(s) / 2, self.clock()
        for vm, group in in_groups(inv, s):
            if self.stop.is_set():
                report.skipped[vm.name] = "controller stopping"
            elif (reason := skip_reason(vm, inv, busy) or _no_uuid(vm)
                  or not_due(_newest(inv.replicas_of(vm)), replica_interval(s, group), now, slack)) is not None:
                report.skipped[vm.name] = reason
            else:
                self._replicate(inv, vm, targets, report)
        end_round(self.name, report)
        return report

    def _replicate(self, inv: Inventory, vm: VmRecord, targets: Targets, report: ReplicaRunReport) -> None:
        s = self.settings()
        snap = newest_ours(vm.snapshots, s.snapshots.prefix)
        if snap is None:
            report.skipped[vm.name] = "no vsphere-dr snapshot yet"
            return
        name = replica_name(vm.name, s.replication.suffix, snap.created)
        replicas, existing = inv.replicas_of(vm), inv.vm_by_name(name)
        if existing is not None:
            report.kept[vm.name] = name
            self._prune(vm, replicas, existing.moref, None, report)
            return
        target = choose_target(inv, vm, targets.hosts, targets.datastores)
        if isinstance(target, str):
            self._failed(vm, None, target, report, _newest(replicas))
            return
        action = self.journal.intend(KIND, vm.moref, vm.name, {"name": name, "snapshot": snap.moref,
                                                               "host": target.host.moref,
                                                               "datastore": target.datastore.moref},
                                     "scheduled replica rotation")
        try:
            replica = self.gateway.vms.clone_from_snapshot(vm.moref, snap.moref, name, target.host.moref,
                                                           target.pool, target.datastore.moref,
                                                           mark_text(vm, snap.name, snap.created))
        except VsphereDrError as exc:
            self._failed(vm, action, f"cloning {name}: {exc}", report, _newest(replicas))
            return
        self.journal.progress(action, "created", {"replica": replica})
        self._mark(vm, replica)
        found = self.gateway.vm_records([replica]).get(replica)
        problem = _problem(found, target, inv)
        if found is None or problem is not None:
            self._failed(vm, action, f"replica {name} {problem}", report, _newest(replicas))
            return
        report.created[vm.name] = name
        self._prune(vm, replicas + [found], replica, action, report)

    def _mark(self, vm: VmRecord, replica: str) -> None:
        """The custom attribute, where vCenter has them; the annotation alone marks it otherwise."""
        try:
            self.gateway.vms.set_custom_field(replica, FIELD, vm.uuid or "")
        except VsphereDrError as exc:
            log.info("%s: custom attribute %s not set on %s (%s): the annotation marks it", self.name, FIELD,
                     replica, exc)

    def _prune(self, vm: VmRecord, replicas: list[VmRecord], new: str, action: int | None,
               report: ReplicaRunReport) -> None:
        """Remove the VM's replicas beyond keep, the new one verified; journal the outcome.
        ``replicas``: the VM's replicas as this round read them, the new one included."""
        newest = _newest(replicas)
        try:
            for old in to_prune(replicas, self.settings().replication.keep, new):
                self.gateway.vms.destroy(old.moref)
                report.pruned.append(f"{vm.name}: {old.name}")
        except VsphereDrError as exc:
            self._failed(vm, action, f"pruning old replicas: {exc}", report, newest)
            return
        if action is not None:
            self.journal.finish(action)
        self.journal.record_replica_status(vm.moref, vm.name, newest)

    def _failed(self, vm: VmRecord, action: int | None, error: str, report: ReplicaRunReport,
                newest: float | None) -> None:
        """Journal a VM's failure; ``newest``: the time of its newest replica in vCenter (its RPO goes on)."""
        log.error("%s: %s: %s", self.name, vm.name, error, extra=fields(vm=vm.name, moref=vm.moref, module=self.name))
        report.failed[vm.name] = error
        if action is not None:
            self.journal.fail(action, error)
        self.journal.record_replica_status(vm.moref, vm.name, newest, error)

    def _reconcile(self, inv: Inventory) -> None:
        """Settle replica actions a previous round left unfinished: the replica is there (the next
        check and prune of this round handle it) or it is not (abandoned; this round makes it)."""
        for action in self.journal.unfinished_actions():
            if action.kind != KIND:
                continue
            if inv.vm_by_name(action.params["name"]) is not None:
                self.journal.finish(action.id, {"reconciled": "replica found after restart"})
            else:
                self.journal.fail(action.id, "controller stopped before the replica was made", "abandoned")


def resolve_targets(inv: Inventory, s: ReplicationSettings) -> Targets:
    """The configured target hosts (by name, or a cluster's) and datastores, as morefs."""
    hosts = [inv.host_by_name(name) for name in s.hosts]
    missing = [name for name, host in zip(s.hosts, hosts) if host is None]
    chosen = [h.moref for h in hosts if h is not None]
    if s.cluster:
        cluster = next((r for r in inv.compute_resources.values() if r.is_cluster and r.name == s.cluster), None)
        if cluster is None:
            missing.append(f"cluster {s.cluster}")
        else:
            chosen += [h for h in cluster.hosts if h not in chosen]
    stores = {d.name: d.moref for d in inv.datastores.values()}
    missing += [f"datastore {name}" for name in s.datastores if name not in stores]
    if missing:
        raise SettingsError(f"[replication] names what vCenter does not have: {', '.join(missing)}")
    return Targets(tuple(chosen), tuple(stores[name] for name in s.datastores))


def _problem(found: VmRecord | None, target: Target, inv: Inventory) -> str | None:
    """What is wrong with a new replica, if anything: it must exist, be powered off, be on the
    intended host and have its files on the intended datastore."""
    if found is None:
        return "is not in vCenter after the clone"
    if found.power_state != "poweredOff":
        return f"is {found.power_state}, not poweredOff"
    if found.host != target.host.moref:
        landed = inv.hosts.get(found.host or "")
        return f"landed on {landed.name if landed else found.host}, not on {target.host.name}"
    if found.files_datastore != target.datastore.name or target.datastore.moref not in found.datastores:
        return f"has its files on {found.files_path or found.datastores}, not on {target.datastore.name}"
    return None


def _no_uuid(vm: VmRecord) -> str | None:
    return None if vm.uuid else "vCenter shows no instance UUID for it (a replica is marked with it)"


def _newest(replicas: list[VmRecord]) -> float | None:
    times = [r.replica.taken.timestamp() for r in replicas if r.replica is not None]
    return max(times, default=None)
