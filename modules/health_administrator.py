"""Health Administrator: one per monitored VM, run in batched sweeps (the paper's HA, made safe).

Each administrator holds its VM's state between sweeps: consecutive failed probes, when it last
answered, when it stopped answering. A sweep shares one inventory read and one concurrent probe
round among all of them (no thread per VM), asks the Ping/Alarm Administrator to classify the
VMs that do not answer, builds one snapshot of the world, lets the decision engine plan, and
has the executor carry the plan out. ``plan()`` is the same sweep without the last part.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from modules.availability_administrator import AvailabilityAdministrator
from modules.ping_alarm_administrator import PingAlarmAdministrator
from vsphere_dr.decision_engine import Policy, decide
from vsphere_dr.errors import VCenterError
from vsphere_dr.executor import Executor, Outcome
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.health_config import HealthState
from vsphere_dr.journal import Journal, ProbeState
from vsphere_dr.plan import Plan
from vsphere_dr.probes import Prober
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings
from vsphere_dr.vcenter import LiveInventory
from vsphere_dr.world import BackingVm, HostView, VmView, World

if TYPE_CHECKING:
    from vsphere_dr.health_watch import HealthWatch

log = logging.getLogger(__name__)
YOUNG_GENERATION = 10_000  # allocations; a young collection of that many takes about a millisecond
_THRESHOLDS = gc.get_threshold()  # the process's (CPython's default: 700, 10, 10)
# vCenter keeps events 30 days by default: a VM a person powered off within that time is known.
EVENT_LOOKBACK = timedelta(days=30)


@contextmanager
def _young_objects_die_young() -> Iterator[None]:
    """The garbage collector's youngest generation at ``YOUNG_GENERATION`` allocations while a
    sweep probes, classifies and decides (the process's own, CPython's 700 by default, after it).

    The fleet's picture lives as long as the process (about 200,000 objects at 10,000 VMs with
    the watcher's property maps). With the default, the objects a sweep makes and drops (probe
    sockets, classifications, views) live long enough to reach the old generation and set off a
    full collection of that picture in most sweeps: 0.1 to 0.3 s of a 10,000-VM sweep that
    otherwise takes 0.5 s (bench/detection.py). Only while the sweep runs: a whole inventory read
    with the larger generation leaves pyVmomi's garbage cycles longer and raised the peak RSS at
    10,000 VMs from 186 to 243 MB."""
    young, middle, old = _THRESHOLDS
    gc.set_threshold(max(young, YOUNG_GENERATION), middle, old)
    try:
        yield
    finally:  # the process's own, not the one found on entry: two sweeps at once cannot leave it raised
        gc.set_threshold(*_THRESHOLDS)


@dataclass
class HealthAdministrator:
    vm: str  # moref
    name: str
    probes: ProbeState = ProbeState()  # consecutive failed probes, since when, last answer

    @classmethod
    def for_vm(cls, vm: VmRecord) -> HealthAdministrator:
        return cls(vm=vm.moref, name=vm.name)


@dataclass
class SweepReport:
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    monitored: int = 0

    def summary(self) -> str:
        counts = Counter(o.state for o in self.outcomes)
        done = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no action"
        return f"{self.monitored} VMs checked; {len(self.plan.actions)} actions planned ({done})"


class HealthSweep:
    """The health administrators' batched sweep, as a scheduled module."""

    name = "health_administrator"

    def __init__(self, gateway: VCenterGateway, admin_gateway: VCenterGateway, journal: Journal,
                 settings: Callable[[], Settings], availability: AvailabilityAdministrator[HealthAdministrator],
                 ping_alarm: PingAlarmAdministrator, executor: Executor, clock: Callable[[], float] = time.time) -> None:
        self.gateway, self.admin_gateway, self.journal, self.settings = gateway, admin_gateway, journal, settings
        self.availability, self.ping_alarm, self.executor, self.clock = availability, ping_alarm, executor, clock
        self.watch: HealthWatch | None = None  # loaded at the first counter collection
        self.unsaved = False  # a sweep (not a dry run) changed the models since they were saved
        self.counters_read_at = 0.0
        self.ill: frozenset[str] = frozenset()  # VMs the health model called ill at its last verdict
        # Under `run`: the inventory kept up to date by the watcher (None: each sweep reads it whole).
        self.live: LiveInventory | None = None
        # When the last sweep's suspects should be looked at again (None: nothing is suspect).
        self.recheck_at: float | None = None

    def run(self) -> SweepReport:
        """One sweep: continue what is unfinished, then detect, decide, act (the plan's actions
        concurrently, tier by tier: Executor.execute_all)."""
        self._continue_unfinished()
        report = self._sweep(dry_run=False)
        if self.executor.tools.stop.is_set():
            return report
        actions = list(report.plan.actions)
        if not self.settings().recovery.enabled:
            for action in (a for a in actions if a.kind.changes_vcenter):
                log.warning("recovery disabled ([recovery] enabled = false): would %s", action.line())
            actions = [a for a in actions if not a.kind.changes_vcenter]
        saved = self.journal.probe_states()  # read once: each action's failure started when its target's did
        report.outcomes.extend(self.executor.execute_all(actions, lambda a: self._detected_at(saved, a.target)))
        return report

    def plan(self) -> SweepReport:
        """The same sweep as a dry run: nothing is changed in vCenter or the journal (no alarm is
        created either); this sweep's probes count as if it were a real one."""
        return self._sweep(dry_run=True)

    # --- the sweep -----------------------------------------------------------------------

    def _sweep(self, dry_run: bool) -> SweepReport:
        now = self.clock()
        self.recheck_at = None  # a sweep that fails leaves nothing to recheck: the regular cadence
        try:
            inv = self._inventory()
        except VCenterError as exc:
            world = World(now, None, unreachable_reason=str(exc))
            log.error("%s", decide(world, Policy.from_settings(self.settings())).notes[0])
            raise
        self.availability.update(inv)
        with _young_objects_die_young():
            world = self._world(inv, now, dry_run)
            plan = decide(world, Policy.from_settings(self.settings()))
        for note in plan.notes:
            log.info("%s", note)
        self.recheck_at = self._recheck_at(world)
        return SweepReport(plan, monitored=len(world.vms))

    def _inventory(self) -> Inventory:
        """The watcher's latest picture under `run`; a full read when there is none (``once``, plan,
        or the watcher has not read it yet or lost vCenter)."""
        live = self.live.inventory() if self.live is not None else None
        return live if live is not None else self.gateway.inventory()

    def _recheck_at(self, world: World) -> float | None:
        """When evidence that is not complete yet should be looked at again: a VM failing fewer than
        ``failures_before_action`` times, probed again after ``confirm_interval_seconds``; a host
        down for less than the isolation timeout, probed again on that cadence too and looked at
        when its timeout ends. None when nothing is suspect."""
        monitoring = self.settings().monitoring
        soon = world.now + monitoring.confirm_interval_seconds
        times = [soon for view in world.vms.values() if 0 < view.consecutive_failures < monitoring.failures_before_action]
        times += [min(soon, view.down_since + monitoring.isolation_timeout_seconds) for view in world.hosts.values()
                  if view.down_since is not None and world.now - view.down_since < monitoring.isolation_timeout_seconds]
        return min(times, default=None)

    def _world(self, inv: Inventory, now: float, dry_run: bool) -> World:
        settings = self.settings()
        monitored = {vm.moref: vm for vm in inv.monitored_vms()
                     if vm.name not in settings.inventory.vhost_backing.values()}
        answers = Prober(settings.monitoring).probe([vm.ip for vm in monitored.values() if vm.ip]
                                                    + [h.address for h in inv.hosts.values()])
        answered = {moref: answers.get(vm.ip or "", False) for moref, vm in monitored.items()}
        if not dry_run:
            self.ping_alarm.prepare(inv)
        since = datetime.fromtimestamp(now, timezone.utc) - EVENT_LOOKBACK
        classes = self.ping_alarm.classify(inv, answered, since)
        probes = self._probe_history(inv, answered, answers, now, dry_run)
        ill = self._ill(inv, monitored, now, dry_run)
        views = {moref: VmView(classes[moref], probes[moref].failures, probes[moref].last_healthy is not None,
                               ill=moref in ill) for moref in answered}
        if not dry_run:
            self._close_answered_incidents({m: ok and m not in ill for m, ok in answered.items()}, now)
        history = self.journal.recovery_history(now, settings.recovery.restart_window_seconds)
        hosts = {h: HostView(answers.get(inv.hosts[h].address, False), probes[h].failing_since) for h in inv.hosts}
        return World(now, inv, hosts, views, history, self._backing(inv))

    def _ill(self, inv: Inventory, monitored: Mapping[str, VmRecord], now: float, dry_run: bool) -> frozenset[str]:
        """The VMs the health model calls ill: counters read every [health] interval_seconds (one
        QueryPerf for the fleet), fed to each VM's model; verdicts last until the next read."""
        health = self.settings().health
        if not health.enabled or now - self.counters_read_at < health.interval_seconds:
            return self.ill
        watch = self._watch(dry_run)
        running = [m for m, vm in monitored.items() if vm.power_state == "poweredOn"]
        verdicts = watch.observe(self.gateway.performance.latest(running))
        self.counters_read_at = now
        self.ill = frozenset(m for m, v in verdicts.items() if v.state == HealthState.ILL)
        for vm in watch.vms - inv.vms.keys():
            watch.forget(vm)
        if not dry_run:
            self.unsaved = not watch.save_if_due()
        return self.ill

    def _watch(self, dry_run: bool) -> HealthWatch:
        """The health models for the current [health] settings: loaded at the first counter read, and
        again after a change of those settings (the old ones saved first, see close()). Loaded by a
        dry run (`plan`, perhaps beside a serving `run` that owns the files), they are read only:
        a real sweep after it loads them again."""
        settings = self.settings()
        if self.watch is not None and ((self.watch.settings, self.watch.path) != (
                settings.health, settings.health.model_file(settings.journal)) or (self.watch.read_only and not dry_run)):
            self.close()
            self.watch = None
        if self.watch is None:
            from vsphere_dr.health_watch import HealthWatch  # scikit-learn loads only for sweeps that use it

            self.watch = HealthWatch.from_settings(settings, self.clock, read_only=dry_run)
        return self.watch

    def close(self) -> None:
        """Save the health models if a sweep changed them since their last save (the controller stops,
        or the [health] settings changed). A dry run's changes are not saved, as in its sweep."""
        if self.watch is None or not self.unsaved:
            return
        try:
            self.watch.save()
        except OSError as exc:
            log.error("health models %s not saved: %s (the next start adopts the ring files' new rows)",
                      self.watch.path, exc.strerror or exc)
        self.unsaved = False

    def _probe_history(self, inv: Inventory, answered: Mapping[str, bool], answers: Mapping[str, bool],
                       now: float, dry_run: bool) -> dict[str, ProbeState]:
        """Each VM's run of failed probes, and each host's run of being silent *and* notResponding,
        continued from the journal so that runs from cron count as well as a daemon's sweeps. A run
        starts when vCenter first showed the failure, if the watcher saw it before this sweep."""
        saved = self.journal.probe_states()
        fine = dict(answered)
        for host in inv.hosts.values():
            fine[host.moref] = answers.get(host.address, False) or host.connection_state != "notResponding"
        answered_now = ProbeState().after(True, now)  # the same state for every target that answered
        probes = {target: answered_now if ok else
                  saved.get(target, ProbeState()).after(False, now, self._evidence_since(target))
                  for target, ok in fine.items()}
        for moref, admin in self.availability.administrators.items():
            admin.probes = probes.get(moref, admin.probes)
        if not dry_run:
            self.journal.save_probe_states(probes, round_at=now)
        return probes

    def _evidence_since(self, moref: str) -> float | None:
        return self.live.evidence_since(moref) if self.live is not None else None

    def _backing(self, inv: Inventory) -> dict[str, BackingVm]:
        """The backing VMs of nested vHosts that are down (read from the admin vCenter only then)."""
        wanted = {host.moref: name for host_name, name in self.settings().inventory.vhost_backing.items()
                  if (host := inv.host_by_name(host_name)) is not None and host.connection_state != "connected"}
        if not wanted:
            return {}
        admin_inv = inv if self.admin_gateway is self.gateway else self.admin_gateway.inventory()
        found = {}
        for host, name in wanted.items():
            vm = admin_inv.vm_by_name(name)
            if vm is None:
                log.warning("backing VM %s of host %s not found in the admin vCenter", name, inv.hosts[host].name)
                continue
            snap = vm.newest_snapshot
            found[host] = BackingVm(host, vm.moref, vm.name, vm.power_state, snap.moref if snap else None,
                                    snap.name if snap else None)
        return found

    def _close_answered_incidents(self, answered: Mapping[str, bool], now: float) -> None:
        """A VM that answers again ends its incident (the recovery worked, it came back by itself,
        or a person fixed what needed a person), unless an action on it is still under way."""
        under_way = {a.vm for a in self.journal.unfinished_actions()}
        for incident in self.journal.unresolved_incidents():
            if answered.get(incident.vm) and incident.vm not in under_way:
                self.journal.close_incident(incident.id, "recovered" if incident.state == "open" else "closed",
                                            "answers again", recovered_at=now,
                                            snapshot_created_at=incident.snapshot_created_at)

    def _detected_at(self, saved: Mapping[str, ProbeState], moref: str) -> float:
        """When the VM (or, for a revive, the host) was first seen failing."""
        state = saved.get(moref)
        return state.failing_since if state and state.failing_since else self.clock()

    def _continue_unfinished(self) -> None:
        """Continue the recoveries the journal shows unfinished (a previous controller stopped or
        died in the middle, or vCenter was lost during a step of this one's), concurrently as a
        plan's actions run; the sweep plans only once they have ended."""
        unfinished = self.journal.unfinished_recoveries()
        if unfinished and not self.settings().recovery.enabled:
            log.warning("recovery disabled ([recovery] enabled = false): %d unfinished recoveries wait",
                        len(unfinished))
            return
        self.executor.resume_all(unfinished, Policy.from_settings(self.settings()).priority)
