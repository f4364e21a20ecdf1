"""The decision engine: from one snapshot of the world to a plan. Pure: no I/O, no clock.

It follows the paper's workflow (section V) and adds the safety a vSphere operator expects:

- no vCenter, no action: a controller that cannot see the world does not change it;
- a host is failed only when its probe and vCenter (notResponding) have agreed for longer than
  the isolation timeout; a host that answers probes but not vCenter (or the reverse) is isolated
  or partitioned, and its VMs are not cloned: never two live copies of a VM;
- a VM a person stopped stays stopped; VMs of a host in maintenance mode are not failures;
- a target host must be connected, out of maintenance and have room (placement.py);
- at most max_restarts recoveries per VM per window, then a person decides;
- restart priority orders the work.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from functools import cached_property
from typing import Any

from vsphere_dr.placement import Ledger, choose_host
from vsphere_dr.protection import verdicts
from vsphere_dr.plan import Action, ActionKind, Plan
from vsphere_dr.recoveries.base import NoParams, Params
from vsphere_dr.recoveries.keep_original_off import KeepOffParams
from vsphere_dr.recoveries.power_on import PowerOnParams
from vsphere_dr.recoveries.add_spare_host import SpareHostParams
from vsphere_dr.recoveries.register_elsewhere import RegisterAndStartParams
from vsphere_dr.recoveries.registration import RegisterParams, Registration
from vsphere_dr.recoveries.remove_failed_host import RemoveHostParams
from vsphere_dr.recoveries.start_replica import StartReplicaParams
from vsphere_dr.recoveries.reset import ResetParams
from vsphere_dr.recoveries.restart_from_snapshot import RestartParams
from vsphere_dr.recoveries.revive_host import ReviveParams
from vsphere_dr.records import HostRecord, Inventory, SnapshotRecord, VmRecord
from vsphere_dr.settings import MonitoringSettings, RecoverySettings, Settings
from vsphere_dr.signals import VmCondition
from vsphere_dr.timefmt import utc_minutes
from vsphere_dr.world import HostView, VmView, World

PRIORITIES = {"high": 0, "medium": 1, "low": 2}


def _default(section: type[Any], key: str) -> Any:
    return section.model_fields[key].default


@dataclass(frozen=True)
class Policy:
    """The settings the engine decides by (defaults: the settings' own)."""

    failures_before_action: int = _default(MonitoringSettings, "failures_before_action")
    isolation_timeout: float = _default(MonitoringSettings, "isolation_timeout_seconds")
    max_restarts: int = _default(RecoverySettings, "max_restarts")
    host_boot_timeout: float = _default(RecoverySettings, "host_boot_timeout_seconds")
    priorities: tuple[tuple[str, str], ...] = ()  # (name pattern, high|medium|low), first match wins
    spare_hosts: tuple[str, ...] = ()
    ill_response: str = "incident"  # incident, reset or recover
    with_vsphere_ha: str = _default(RecoverySettings, "with_vsphere_ha")  # observe or act
    registered_vm: str = _default(RecoverySettings, "registered_vm")  # as_is or revert
    # The settings that choose the protected VMs and their groups' priorities (protection.py);
    # None: every monitored VM is recovered, with [recovery] restart_priority.
    scope: Settings | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(failures_before_action=settings.monitoring.failures_before_action,
                   isolation_timeout=settings.monitoring.isolation_timeout_seconds,
                   max_restarts=settings.recovery.max_restarts,
                   host_boot_timeout=settings.recovery.host_boot_timeout_seconds,
                   priorities=tuple(settings.recovery.restart_priority.items()),
                   spare_hosts=tuple(settings.inventory.spare_hosts), ill_response=settings.health.response,
                   with_vsphere_ha=settings.recovery.with_vsphere_ha,
                   registered_vm=settings.recovery.registered_vm, scope=settings)

    def priority(self, vm_name: str) -> int:
        return next((PRIORITIES[p] for pattern, p in self.priorities if fnmatch.fnmatchcase(vm_name, pattern)),
                    PRIORITIES["medium"])


class HostState(StrEnum):
    HEALTHY = "healthy"
    FAILED = "failed"
    SUSPECT = "suspect"  # down by probe and vCenter, not yet for the isolation timeout
    ISOLATED = "isolated"  # notResponding in vCenter but answers probes
    UNREACHABLE = "unreachable"  # connected in vCenter but silent to probes
    DISCONNECTED = "disconnected"  # disconnected on purpose by a person
    MAINTENANCE = "maintenance"


def host_state(host: HostRecord, view: HostView | None, now: float, policy: Policy) -> tuple[HostState, str]:
    """How the engine sees a host, and the words that explain it."""
    answered = view.answered if view else True
    name, state = host.name, host.connection_state
    if host.in_maintenance:
        return HostState.MAINTENANCE, f"host {name} is in maintenance mode"
    if state == "disconnected":
        return HostState.DISCONNECTED, f"host {name} was disconnected in vCenter (not a failure)"
    if state == "connected":
        if answered:
            return HostState.HEALTHY, f"host {name} is connected and answers"
        return HostState.UNREACHABLE, f"host {name} does not answer probes but vCenter shows it connected"
    if answered:
        return HostState.ISOLATED, f"host {name} answers probes but vCenter shows it {state}: isolated, not failed"
    since = view.down_since if view and view.down_since is not None else now
    waited = now - since
    if waited < policy.isolation_timeout:
        return HostState.SUSPECT, (f"host {name} is {state} and silent for {waited:.0f} s; failed after "
                                   f"{policy.isolation_timeout:.0f} s (isolation timeout)")
    return HostState.FAILED, f"host {name} is {state} and silent to probes for {waited:.0f} s"


def decide(world: World, policy: Policy) -> Plan:
    """The plan for this sweep: every action with its reason, every deliberate inaction noted."""
    if world.inventory is None:
        return Plan(notes=(f"vCenter cannot be read ({world.unreachable_reason or 'no answer'}): "
                           "no action until it answers",))
    return _Decider(world, world.inventory, policy).plan()


class _Decider:
    def __init__(self, world: World, inv: Inventory, policy: Policy) -> None:
        self.world, self.inv, self.policy = world, inv, policy
        self.ledger = Ledger.of(inv)
        self.actions: list[Action] = []
        self.notes: list[str] = []
        self.reviving: set[str] = set()  # hosts with a revive action in this plan
        self.removing: set[str] = set()  # failed hosts whose removal this plan holds
        self.removable: dict[str, bool] = {}  # failed host -> whether its VMs can all be registered elsewhere
        self.adding: set[str] = set()  # failed hosts for whose VMs this plan adds a spare host
        self.handled: set[str] = set()  # VMs of those hosts, planned with the removal
        self.verdicts = verdicts(inv, policy.scope) if policy.scope is not None else {}

    def plan(self) -> Plan:
        self._keep_replaced_originals_off()
        self._register_removed()
        for vm in self.inv.monitored_vms():
            verdict = self.verdicts.get(vm.moref)
            if verdict is not None and not verdict.protected:
                self.notes.append(f"{vm.name}: not protected ({verdict.reason}): no automatic recovery")
            elif vm.moref not in self.handled:
                self._vm(vm)
        return Plan(tuple(sorted(self.actions, key=_order)), tuple(self.notes))

    # --- what each VM needs --------------------------------------------------------------

    def _vm(self, vm: VmRecord) -> None:
        view, history = self.world.vms.get(vm.moref), self.world.history
        if view is None or vm.moref in history.replaced:
            return
        if vm.moref in history.busy:
            self.notes.append(f"{vm.name}: a recovery is under way (journal): not planned again")
            return
        if vm.moref in history.needs_person:
            self.notes.append(f"{vm.name}: waits for a person (too many recoveries or nothing safe to try)")
            return
        condition = view.classification.condition
        if condition == VmCondition.STOPPED_BY_PERSON:
            self.notes.append(f"{vm.name}: {view.classification.reason}: left as the person wanted")
        elif condition == VmCondition.RESPONDING:
            if view.ill:
                self._ill(vm)
        else:
            self._not_responding(vm, view)

    def _not_responding(self, vm: VmRecord, view: VmView) -> None:
        host = self.inv.hosts.get(vm.host or "")
        if host is None:
            self.notes.append(f"{vm.name}: does not answer and vCenter names no host for it: no action")
            return
        state, why = host_state(host, self.world.hosts.get(host.moref), self.world.now, self.policy)
        if state in (HostState.HEALTHY, HostState.UNREACHABLE):
            self._on_live_host(vm, view, why)
        elif state == HostState.FAILED:
            self._on_failed_host(vm, host, why)
        else:
            self.notes.append(f"{vm.name}: does not answer, but {why}: no clone, no action")

    def _on_live_host(self, vm: VmRecord, view: VmView, host_why: str) -> None:
        cls = view.classification
        if cls.condition != VmCondition.FAILED:
            self.notes.append(f"{vm.name}: does not answer, {cls.reason}: nothing destructive")
        elif vm.power_state != "poweredOn" and not view.seen_running:
            # As vSphere HA restarts only what ran: an old power-off whose event has expired is
            # not a failure vsphere-dr saw happen.
            self.notes.append(f"{vm.name}: {vm.power_state} and never seen running by vsphere-dr: left as it is")
        elif view.consecutive_failures < self.policy.failures_before_action:
            self.notes.append(f"{vm.name}: {cls.reason}; {view.consecutive_failures} of "
                              f"{self.policy.failures_before_action} failed probes before action")
        elif self._within_restart_budget(vm, cls.reason):
            self._restart(vm, "step 6: vHost alive, VM restored from its snapshot",
                          (cls.reason, host_why, f"{view.consecutive_failures} failed probes in a row"))

    def _restart(self, vm: VmRecord, step: str, signals: tuple[str, ...]) -> None:
        snap = vm.newest_snapshot
        if snap is not None:
            self._add(ActionKind.RESTART_FROM_SNAPSHOT, vm, step,
                      f"{signals[0]}; revert to snapshot {snap.name!r} ({utc_minutes(snap.created)}) and power on",
                      signals, RestartParams(host=vm.host, **_snapshot(snap)))
        elif vm.power_state == "poweredOn":
            self._add(ActionKind.RESET, vm, step, f"{signals[0]}; it has no snapshot: reset it",
                      signals, ResetParams(host=vm.host))
        else:
            self._add(ActionKind.POWER_ON, vm, step, f"{signals[0]}; it has no snapshot: power it on",
                      signals, PowerOnParams(host=vm.host))

    def _ill(self, vm: VmRecord) -> None:
        why = "answers probes but its performance counters are anomalous (health model)"
        response = self.policy.ill_response
        if response == "incident":
            self._add(ActionKind.REPORT_ILL, vm, "health model", f"{why}: incident opened, no change", (why,))
        elif self._within_restart_budget(vm, why):
            if response == "reset":
                self._add(ActionKind.RESET, vm, "health model", f"{why}: reset ([health] response = reset)",
                          (why,), ResetParams(host=vm.host, ill=True))
            else:  # recover: on its own host only; never a clone of a VM that answers
                self._restart(vm, "health model", (why,))

    # --- VMs of a failed host ------------------------------------------------------------

    def _on_failed_host(self, vm: VmRecord, host: HostRecord, host_why: str) -> None:
        if vm.power_state != "poweredOn":
            self.notes.append(f"{vm.name}: was {vm.power_state} before {host_why}: left as it was")
            return
        cluster = self.inv.compute_resources.get(host.compute_resource or "")
        if cluster is not None and left_to_ha(self.inv, vm, self.policy):
            self._add(ActionKind.LEFT_TO_HA, vm, "vSphere HA",
                      f"{host_why}; cluster {cluster.name} has vSphere HA with host monitoring on: HA restarts "
                      "it, vsphere-dr only observes ([recovery] with_vsphere_ha = observe)", (host_why,))
            return
        backing = self.world.backing.get(host.moref)
        if backing is not None and not self._tried_since_down(ActionKind.REVIVE_HOST, host):
            self._revive(host, vm, host_why)
        elif self._within_restart_budget(vm, host_why):
            self._fail_over(vm, host, host_why)

    def _tried_since_down(self, kind: ActionKind, host: HostRecord) -> bool:
        """A once-per-outage action of ``kind`` about ``host`` (its revive, a spare host for its VMs)
        was tried since it went down, and the host is still down: it is not tried again."""
        view, history = self.world.hosts.get(host.moref), self.world.history
        started = history.once_tried.get((kind.value, host.moref))
        down_since = view.down_since if view and view.down_since is not None else self.world.now
        return started is not None and started >= down_since and host.moref not in history.busy

    def _revive(self, host: HostRecord, vm: VmRecord, host_why: str) -> None:
        backing = self.world.backing[host.moref]
        self.notes.append(f"{vm.name}: waits for {host.name} to come back from {backing.name}'s snapshot")
        if host.moref in self.reviving or host.moref in self.world.history.busy:
            return
        self.reviving.add(host.moref)
        how = (f"revert {backing.name} to {backing.snapshot_name!r} and power it on" if backing.snapshot
               else f"power on {backing.name} (it has no snapshot)")
        self.actions.append(Action(
            ActionKind.REVIVE_HOST, host.moref, host.name, "step 7: vHost dead, revived from the vHost snapshot",
            f"{host_why}; {how}, then wait for the host", (host_why,),
            ReviveParams(backing_vm=backing.vm, backing_name=backing.name, snapshot=backing.snapshot),
            self._priority(vm)))

    def _fail_over(self, vm: VmRecord, host: HostRecord, host_why: str) -> None:
        """The strategies in order: register its files on a live host, start its replica, add a
        spare host (the next sweep registers or starts there), or a person decides."""
        if self._removable(host) and self._remove_and_register(host, host_why):
            return
        replica = usable_replica(self.inv, vm)
        if replica is not None and replica.replica is not None:
            self._add(ActionKind.START_REPLICA, vm, "step 8: replication mode, the replica is started",
                      f"{host_why}; its files are out of reach: start its replica {replica.name} "
                      f"(snapshot of {utc_minutes(replica.replica.taken)})", (host_why,),
                      StartReplicaParams(replica=replica.moref, replica_name=replica.name, failed_host=host.moref,
                                         failed_host_name=host.name, snapshot_name=replica.replica.snapshot_name,
                                         snapshot_created=replica.replica.taken.timestamp(), replica_host=replica.host))
            return
        spare = next((name for name in self.policy.spare_hosts if self.inv.host_by_name(name) is None), None)
        if host.moref in self.adding:
            return
        if spare is None or self._tried_since_down(ActionKind.ADD_SPARE_HOST, host):
            left = "no spare host is left" if spare is None else "adding a spare host did not help (see the journal)"
            self._add(ActionKind.NEEDS_PERSON, vm, "step 9: no vHost left",
                      f"{host_why}; no live host with room mounts its datastore, it has no replica on a live host "
                      f"and {left}", (host_why,))
            return
        self.adding.add(host.moref)
        self.actions.append(Action(
            ActionKind.ADD_SPARE_HOST, host.moref, host.name, "step 9: no vHost left, a new vHost is added",
            f"{host_why}; no live host with room mounts its VMs' datastores and they have no replica on a live "
            f"host: add spare host {spare}, then register or start them there", (host_why,),
            SpareHostParams(spare_host=spare, cluster=self._cluster_of(host), datacenter=host.datacenter,
                            failed_host=host.moref, failed_host_name=host.name), self._priority(vm)))

    def _cluster_of(self, host: HostRecord) -> str | None:
        resource = self.inv.compute_resources.get(host.compute_resource or "")
        return resource.moref if resource is not None and resource.is_cluster else None

    @cached_property
    def _vms_on(self) -> dict[str, list[VmRecord]]:
        """Every host's VMs, by name."""
        found: dict[str, list[VmRecord]] = {}
        for vm in sorted(self.inv.vms.values(), key=lambda v: v.name):
            found.setdefault(vm.host or "", []).append(vm)
        return found

    def _removable(self, host: HostRecord) -> bool:
        """Its VMs can all be registered again elsewhere, and none of them answers (an isolated
        host's VMs may; their files' locks fence the rest). Asked once per host and plan: it does
        not depend on the room this plan has taken (registration as it was needs none)."""
        if host.moref not in self.removable:
            on_it = self._vms_on.get(host.moref, [])
            answering = any(self.world.vms[vm.moref].classification.condition == VmCondition.RESPONDING
                            for vm in on_it if vm.moref in self.world.vms)
            self.removable[host.moref] = not answering and all(
                can_register_elsewhere(self.inv, vm, self.ledger) for vm in on_it)
        return self.removable[host.moref]

    def _remove_and_register(self, host: HostRecord, host_why: str) -> bool:
        """Plan the failed host's removal and every one of its VMs' registration elsewhere: started
        if it ran and is to be recovered, as it was otherwise. False if some VM has nowhere to go."""
        if host.moref in self.removing:
            return True
        on_it = self._vms_on.get(host.moref, [])
        registrations = tuple(_registration(vm, host) for vm in on_it)
        planned = [self._registration_action(vm, reg, host_why, self._to_start(vm, host_why))
                   for vm, reg in zip(on_it, registrations)]
        if any(action is None for action in planned):
            return False
        self.removing.add(host.moref)
        resource = self.inv.compute_resources.get(host.compute_resource or "")
        self.actions.append(Action(
            ActionKind.REMOVE_FAILED_HOST, host.moref, host.name, "step 8: vHost dead, its VMs registered elsewhere",
            f"{host_why}; remove it from vCenter with its {len(on_it)} VMs (their files stay) to register them on "
            "live hosts", (host_why,),
            RemoveHostParams(host_name=host.name, vms=registrations,
                             standalone_resource=resource.moref if resource and not resource.is_cluster else None),
            0))
        self.actions.extend(a for a in planned if a is not None)
        self.handled.update(vm.moref for vm in on_it)
        return True

    def _to_start(self, vm: VmRecord, host_why: str) -> bool:
        """A VM of a removed host is started elsewhere if it ran, is watched, and nothing says not to."""
        view = self.world.vms.get(vm.moref)
        return (view is not None and vm.power_state == "poweredOn" and vm.moref not in self.world.history.busy
                and view.classification.condition != VmCondition.STOPPED_BY_PERSON
                and vm.moref not in self.world.history.needs_person and self._protected(vm)
                and self._within_restart_budget(vm, host_why))

    def _registration_action(self, vm: VmRecord, reg: Registration, host_why: str, start: bool) -> Action | None:
        target = choose_host(self.inv, vm, self.ledger, need_room=start)
        if target is None and start:
            start, target = False, choose_host(self.inv, vm, self.ledger, need_room=False)
        if target is None:
            return None
        pool = self.inv.compute_resources[target.compute_resource].resource_pool if target.compute_resource else None
        common: dict[str, Any] = dict(registration=reg, failed_host=reg.host, failed_host_name=reg.host_name,
                                      host=target.moref, host_name=target.name, pool=pool or "")
        if not start:
            return Action(ActionKind.REREGISTER_AS_WAS, vm.moref, vm.name, "nothing disappears",
                          f"{host_why}; register it again on {target.name}, left powered off (it was "
                          f"{vm.power_state} and is not to be started)",
                          (host_why,), RegisterParams(**common), self._priority(vm))
        self.ledger.place(target.moref, vm)
        snap = vm.newest_snapshot
        mode = self.policy.registered_vm if snap is not None else "as_is"
        how = f"revert to snapshot {snap.name!r} and power on" if mode == "revert" and snap else \
            "power on from its disks as the crash left them"
        return Action(ActionKind.REGISTER_ELSEWHERE, vm.moref, vm.name, "step 8: vHost dead, the VM registered elsewhere",
                      f"{host_why}; register its files on {target.name}, {how}", (host_why,),
                      # As it is, the disks lose nothing (RPO 0); reverted, the snapshot's age is the RPO.
                      RegisterAndStartParams(mode=mode, **(_snapshot(snap) if snap and mode == "revert" else {}),
                                             **common),
                      self._priority(vm))

    def _register_removed(self) -> None:
        """VMs the journal took out of vCenter with their failed host and has not registered again."""
        for old, reg in sorted(self.world.history.removed.items()):
            if old in self.world.history.busy:
                continue
            why = f"host {reg.host_name} was removed from vCenter"
            start = reg.power_state == "poweredOn" and bool(reg.ip) and old not in self.world.history.needs_person
            action = self._registration_action(_as_record(reg), reg, why, start)
            if action is None:
                self.notes.append(f"{reg.name}: removed with {reg.host_name}; no live host mounts its datastore yet")
            else:
                self.actions.append(action)

    # --- safety --------------------------------------------------------------------------

    def _within_restart_budget(self, vm: VmRecord, why: str) -> bool:
        done = self.world.history.recoveries.get(vm.moref, 0)
        if done < self.policy.max_restarts:
            return True
        self._add(ActionKind.NEEDS_PERSON, vm, "restart limit",
                  f"{why}; recovered {done} times within the window (max_restarts = "
                  f"{self.policy.max_restarts}): a person decides now", (why,))
        return False

    def _keep_replaced_originals_off(self) -> None:
        for original, copy in self.world.history.replaced.items():
            vm = self.inv.vms.get(original)
            if vm is None or vm.power_state != "poweredOn" or original in self.world.history.busy:
                continue
            host = self.inv.hosts.get(vm.host or "")
            if host is None or host.connection_state != "connected":
                self.notes.append(f"{vm.name}: replaced by {copy}; its host is not connected, it is powered "
                                  "off as soon as it is")
                continue
            self._add(ActionKind.KEEP_ORIGINAL_OFF, vm, "never two copies",
                      f"replaced by {copy} while its host was down and running again on {host.name}: "
                      "power it off", (f"host {host.name} is connected again",), KeepOffParams(copy_vm=copy))

    def _protected(self, vm: VmRecord) -> bool:
        verdict = self.verdicts.get(vm.moref)
        return verdict is None or verdict.protected

    def _priority(self, vm: VmRecord) -> int:
        """Its group's restart_priority, else [recovery] restart_priority's first matching pattern."""
        verdict = self.verdicts.get(vm.moref)
        own = self.policy.scope.protection_groups.get(verdict.group or "") if verdict and self.policy.scope else None
        return PRIORITIES[own.restart_priority] if own and own.restart_priority else self.policy.priority(vm.name)

    def _add(self, kind: ActionKind, vm: VmRecord, step: str, reason: str, signals: Iterable[str],
             params: Params = NoParams()) -> None:
        self.actions.append(Action(kind, vm.moref, vm.name, step, reason, tuple(signals), params,
                                   self._priority(vm)))


# --- what a failed host's VM would get: shared by the planner and `vsphere-dr protection` ------

class Strategy(StrEnum):
    REGISTER = "register"  # its files registered on a live host (remove_failed_host + register_elsewhere)
    REPLICA = "replica"  # its newest replica started (start_replica)
    VSPHERE_HA = "vsphere_ha"  # its cluster's vSphere HA restarts it; vsphere-dr observes
    NONE = "none"  # a spare host, if one is left, or a person


def left_to_ha(inv: Inventory, vm: VmRecord, policy: Policy) -> bool:
    """Its host's cluster has vSphere HA restarting VMs, and [recovery] with_vsphere_ha = observe."""
    host = inv.hosts.get(vm.host or "")
    cluster = inv.compute_resources.get(host.compute_resource or "") if host else None
    return cluster is not None and cluster.ha_restarts_vms and policy.with_vsphere_ha == "observe"


def can_register_elsewhere(inv: Inventory, vm: VmRecord, ledger: Ledger) -> bool:
    """Its files can be registered on another live host (it need not have room: as it was)."""
    return bool(vm.files_path and vm.folder and choose_host(inv, vm, ledger, need_room=False))


def usable_replica(inv: Inventory, vm: VmRecord) -> VmRecord | None:
    """Its newest replica that is powered off on a usable host, or None."""
    usable = [r for r in inv.replicas_of(vm) if r.power_state == "poweredOff"
              and (host := inv.hosts.get(r.host or "")) is not None and host.usable]
    return usable[-1] if usable else None


def failover_strategy(inv: Inventory, vm: VmRecord, policy: Policy) -> tuple[Strategy, str]:
    """What the planner would do for ``vm`` if its host failed now, with the words that explain it
    (for the VM alone: the planner registers a host's VMs only if every one of them can be)."""
    if left_to_ha(inv, vm, policy):
        return Strategy.VSPHERE_HA, "its cluster's vSphere HA restarts it ([recovery] with_vsphere_ha = observe)"
    if can_register_elsewhere(inv, vm, Ledger.of(inv)):
        return Strategy.REGISTER, "another live host mounts its datastores: its files are registered there"
    replica = usable_replica(inv, vm)
    if replica is not None:
        return Strategy.REPLICA, f"no other host mounts its datastores: its replica {replica.name} is started"
    return Strategy.NONE, "no other host mounts its datastores and it has no usable replica"


def _order(action: Action) -> tuple[int, int, str]:
    """Originals kept off first, then host removals (their VMs' registrations need them), then by
    priority (the kinds' ``runs_first``: Action.tier)."""
    return *action.tier, action.name


def _registration(vm: VmRecord, host: HostRecord) -> Registration:
    snap = vm.newest_snapshot
    return Registration(vm=vm.moref, host=host.moref, host_name=host.name, name=vm.name, uuid=vm.uuid,
                        path=vm.files_path or "", folder=vm.folder or "", pool=vm.resource_pool,
                        power_state=vm.power_state, ip=vm.ip, datastores=vm.datastores, memory_mb=vm.memory_mb,
                        cpus=vm.cpus, snapshot_name=snap.name if snap else None,
                        snapshot_created=snap.created.timestamp() if snap else None)


def _as_record(reg: Registration) -> VmRecord:
    """A removed VM as the engine needs it to place and start it: where its files are, how big it
    is, its newest snapshot (its moref died with the registration: the revert finds it by name)."""
    snapshots = () if reg.snapshot_name is None or reg.snapshot_created is None else (
        SnapshotRecord("", reg.snapshot_name, "", datetime.fromtimestamp(reg.snapshot_created, timezone.utc)),)
    return VmRecord(reg.vm, reg.name, reg.uuid, reg.ip, reg.power_state, "disconnected", reg.host, reg.pool,
                    reg.datastores, reg.cpus, reg.memory_mb, False, "", "gray", "gray", files_path=reg.path,
                    folder=reg.folder, snapshots=snapshots)


def _snapshot(snap: SnapshotRecord) -> dict[str, Any]:
    return dict(snapshot=snap.moref or None, snapshot_name=snap.name, snapshot_created=snap.created.timestamp())
