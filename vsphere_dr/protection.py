"""Which VMs vsphere-dr protects (snapshots, replicas, automatic recovery), in which group, and why
one is not; how old its newest snapshot is; when a protected VM is due for its next snapshot or
replica. Pure: no I/O.

Without any ``[protection.NAME]`` section every monitored VM (one with a guest IP, not a template,
not a replica) is protected, as before groups existed, in the group ``default``. With groups, a VM
is protected by the first group (in file order) that takes it, and one that no group takes is not
protected. ``[protection] exclude*`` take a VM out whatever group would take it. The backing VMs of
nested vHosts are protected by a module of their own (snapshot_creator_vhost).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vsphere_dr.errors import RoundIncomplete
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import ProtectionGroup, Selection, Settings

log = logging.getLogger(__name__)
DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class Verdict:
    """Whether one VM is protected, why, and by which group (None: by no group)."""

    vm: str  # moref
    protected: bool
    reason: str
    group: str | None = None
    backing_of: str | None = None  # the nested vHost it backs (its snapshots are snapshot_creator_vhost's)


def verdicts(inv: Inventory, settings: Settings) -> dict[str, Verdict]:
    """Every VM of the inventory's verdict, by moref."""
    backing = {vm: host for host, vm in settings.inventory.vhost_backing.items()}
    groups = settings.protection_groups or {DEFAULT_GROUP: ProtectionGroup()}
    excluded = settings.protection.excluded
    return {vm.moref: _verdict(vm, inv, excluded, groups, backing) for vm in inv.vms.values()}


def _verdict(vm: VmRecord, inv: Inventory, excluded: Selection, groups: Mapping[str, ProtectionGroup],
             backing: Mapping[str, str]) -> Verdict:
    unmonitored = _unmonitored(vm)
    if unmonitored:
        return Verdict(vm.moref, False, unmonitored)
    if vm.name in backing:
        return Verdict(vm.moref, True, f"backing VM of nested host {backing[vm.name]} (snapshot_creator_vhost)",
                       backing_of=backing[vm.name])
    exclusion = _matching_criterion(vm, inv, excluded)
    if exclusion:
        return Verdict(vm.moref, False, f"excluded by [protection] {exclusion}")
    for name, group in groups.items():
        if _takes(group, vm, inv):
            return Verdict(vm.moref, True, f"in group {name}", name)
    return Verdict(vm.moref, False, "in no protection group")


def _unmonitored(vm: VmRecord) -> str | None:
    if vm.template:
        return "a template"
    if vm.replica is not None:
        return f"a vsphere-dr replica of {vm.replica.source_name}"
    if vm.drill is not None:
        return f"a vsphere-dr drill copy of {vm.drill.source_name} (deleted when its drill ends)"
    if not vm.ip:
        return "no IP address (VMware Tools reports none)"
    return None


def _takes(group: ProtectionGroup, vm: VmRecord, inv: Inventory) -> bool:
    """Every criterion the group gives matches (an empty group takes every VM), and no exclude does."""
    if any(fnmatch.fnmatchcase(vm.name, pattern) for pattern in group.exclude):
        return False
    checks = [(group.vms, _names), (group.folders, _folders), (group.clusters, _clusters)]
    return (all(_any_match(items, matcher(vm, inv)) for items, matcher in checks if items)
            and all(_attribute_matches(vm, name, pattern) for name, pattern in group.attributes.items())
            and all(_tag_matches(vm, category, pattern) for category, pattern in group.tags.items()))


def _matching_criterion(vm: VmRecord, inv: Inventory, selection: Selection) -> str | None:
    """The exclusion that takes ``vm`` (``exclude = scratch-*``), if one does: any one is enough."""
    for key, items, matcher in (("exclude", selection.vms, _names), ("exclude_folders", selection.folders, _folders),
                                ("exclude_clusters", selection.clusters, _clusters)):
        hit = next((item for item in items if _any_match([item], matcher(vm, inv))), None)
        if hit is not None:
            return f"{key} = {hit}"
    hit = next((name for name, pattern in selection.attributes.items() if _attribute_matches(vm, name, pattern)), None)
    if hit is not None:
        return f"exclude_attributes = {hit}={selection.attributes[hit]}"
    hit = next((name for name, pattern in selection.tags.items() if _tag_matches(vm, name, pattern)), None)
    return f"exclude_tags = {hit}={selection.tags[hit]}" if hit is not None else None


def _names(vm: VmRecord, inv: Inventory) -> list[str]:
    return [vm.name]


def _folders(vm: VmRecord, inv: Inventory) -> list[str]:
    """The VM's folder path and those of the folders above it: a VM below a folder is in it."""
    parts = (vm.folder_path or "").strip("/").split("/")
    return ["/" + "/".join(parts[:n]) for n in range(len(parts), 0, -1)] if vm.folder_path else []


def _clusters(vm: VmRecord, inv: Inventory) -> list[str]:
    host = inv.hosts.get(vm.host or "")
    return [host.cluster] if host is not None and host.cluster else []


def _any_match(patterns: Iterable[str], values: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns for value in values)


def _attribute_matches(vm: VmRecord, name: str, pattern: str) -> bool:
    value = vm.attribute(name)
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def _tag_matches(vm: VmRecord, category: str, pattern: str) -> bool:
    return any(cat == category and fnmatch.fnmatchcase(tag, pattern) for cat, tag in vm.tags)


def needs_tags(settings: Settings) -> bool:
    """Whether some group or exclusion chooses VMs by vCenter tag: the inventory read must then
    read the tags too (a REST pass of its own, gateway/tagging.py)."""
    return bool(settings.protection.exclude_tags) or any(g.tags for g in settings.protection_groups.values())


def group_vms(inv: Inventory, settings: Settings, group: str | None = None) -> list[VmRecord]:
    """The protected VMs (``group`` None), or those of group ``group``, sorted by name; backing VMs
    of nested vHosts only when ``group`` is None. An unknown group is a KeyError naming it."""
    if group is not None and group not in (settings.protection_groups or {DEFAULT_GROUP: None}):
        raise KeyError(f"no protection group {group!r} ([protection.{group}] is not in the settings)")
    found = verdicts(inv, settings)
    return sorted((vm for vm in inv.vms.values() if found[vm.moref].protected
                   and (group is None or found[vm.moref].group == group)), key=lambda vm: vm.name)


def protected_vms(inv: Inventory, settings: Settings) -> list[VmRecord]:
    """The VMs the Snapshot and Replica Creators protect: every protected VM but the backing VMs of
    nested vHosts (they have a module of their own), sorted by name."""
    return [vm for vm, _ in in_groups(inv, settings)]


def in_groups(inv: Inventory, settings: Settings) -> list[tuple[VmRecord, ProtectionGroup]]:
    """``protected_vms`` with the settings of each one's group."""
    found = verdicts(inv, settings)
    return sorted(((vm, group_of(settings, found[vm.moref].group)) for vm in inv.vms.values()
                   if found[vm.moref].group is not None), key=lambda pair: pair[0].name)


def group_of(settings: Settings, name: str | None) -> ProtectionGroup:
    """The settings of a VM's group (the default group's: the sections' defaults)."""
    return settings.protection_groups.get(name or "", ProtectionGroup())


def rpo_target(settings: Settings, group: str | None) -> float:
    """A group's RPO target: its own, else ``[protection] rpo_target_seconds``."""
    return group_of(settings, group).rpo_target_seconds or settings.protection.rpo_target_seconds


def age_seconds(taken: datetime, now: float) -> float:
    """How old a point in time (a snapshot, a replica's source) is at ``now``: an RPO."""
    return max(0.0, now - taken.timestamp())


def snapshot_age(vm: VmRecord, now: float) -> float | None:
    """The age of the VM's newest snapshot (ours or a person's) in this inventory; None without
    one. The one reading `vsphere-dr protection` and the metric vsphere_dr_snapshot_age_seconds
    share: vCenter's snapshot tree is the truth, and a snapshot a person deleted there is gone
    whatever the journal recorded when it was made."""
    newest = vm.newest_snapshot
    return None if newest is None else age_seconds(newest.created, now)


# --- schedules ---------------------------------------------------------------------------------

def snapshot_round_seconds(settings: Settings) -> float:
    """How often a snapshot round runs: the [snapshots] interval, or a group's if one is shorter."""
    return min([settings.snapshots.interval_seconds,
                *(g.snapshot_interval_seconds for g in settings.protection_groups.values()
                  if g.snapshot_interval_seconds)])


def replica_round_seconds(settings: Settings) -> float:
    """How often a replica round runs: the [replication] interval, or a group's if one is shorter."""
    return min([settings.replication.interval_seconds,
                *(g.replica_interval_seconds for g in settings.protection_groups.values()
                  if g.replica_interval_seconds)])


def snapshot_interval(settings: Settings, group: ProtectionGroup) -> float | None:
    """The interval a VM of ``group`` is snapshotted at, when groups have intervals of their own
    (its group's, else [snapshots] interval_seconds); None when none has: every round takes it."""
    if snapshot_round_seconds(settings) == settings.snapshots.interval_seconds and not group.snapshot_interval_seconds:
        return None
    return group.snapshot_interval_seconds or settings.snapshots.interval_seconds


def replica_interval(settings: Settings, group: ProtectionGroup) -> float | None:
    """As ``snapshot_interval``, for replicas ([replication] interval_seconds)."""
    if replica_round_seconds(settings) == settings.replication.interval_seconds and not group.replica_interval_seconds:
        return None
    return group.replica_interval_seconds or settings.replication.interval_seconds


def not_due(newest: float | None, interval: float | None, now: float, slack: float) -> str | None:
    """Why a VM is not due for its next snapshot (or replica) this round; None when it is: it has
    none, its group has no interval of its own (the round's schedule is then its schedule), or its
    newest one is at least ``interval`` old, give or take ``slack`` (half the round's period: a VM
    is taken in the round nearest its time rather than one round late)."""
    if newest is None or interval is None or now - newest + slack >= interval:
        return None
    return f"not due (its group's interval is {interval:g} s)"


# --- rounds -----------------------------------------------------------------------------------

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
