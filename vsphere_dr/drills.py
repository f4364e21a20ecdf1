"""Drills (test failover, as SRM's test recovery or Veeam's SureBackup): prove that a VM would come
back, without touching it.

For each VM: a full clone of its newest replica (or, without one, of its newest snapshot) on the
replica site, its network adapters disconnected or on the drill port group ([drill] network),
marked as a drill copy (vsphere_dr/drill_marks.py); powered on; its guest's heartbeat (and the
[drill] probe, where set) waited for, the time measured; then powered off and deleted. Production
VMs, their snapshots and replicas are only read: the clone reads its source, and every change is
made to the copy, which is deleted only when vCenter shows its marks.

Steps are journaled (``drills`` table), the copy's moref as soon as it exists, so that a drill
killed half-way is cleaned up (``clean_up``) by the next `drill`, `run` or `once`, or by a `run`
that serves meanwhile, at its next sweep interval. A real
recovery wins: a VM with an unfinished recovery or an open incident is refused, and the guard is
checked again before every step and while the copy boots; once it fails the drill ends
``aborted`` and its copy is removed (docs/operations.md, "Drills").

A full clone, never a linked one: a linked clone's disks would hang on the production VM's
snapshot, which the Snapshot Creator (running beside a drill, under `run`) may remove meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Event

from vsphere_dr import drill_marks
from vsphere_dr.errors import NotADrillCopy, UsageError, VsphereDrError
from vsphere_dr.journal import DrillRow, Journal
from vsphere_dr.protection import group_vms, protected_vms, skip_reason
from vsphere_dr.recoveries.base import Interrupted, NoLongerNeeded, Step, StepFailed, guard
from vsphere_dr.recoveries.common import wait_for
from vsphere_dr.records import CopyState, Inventory, VmRecord
from vsphere_dr.replicas import Target, choose_target
from vsphere_dr.settings import Settings
from vsphere_dr.vcenter import Gateway

log = logging.getLogger(__name__)
_COPY_NOTE = "its copy "  # how the journal's error of a drill begins what it says of the drill's copy


@dataclass(frozen=True)
class Source:
    """What a drill copy is cloned from: a replica, or the VM itself at a snapshot."""

    kind: str  # replica or snapshot
    vm: str  # moref of the VM cloned
    snapshot: str | None
    name: str  # the replica's or the snapshot's name
    taken: float  # epoch seconds: the point in time the copy is of (its RPO)


def source_of(inv: Inventory, vm: VmRecord) -> Source | str:
    """The newest replica of ``vm``, else its newest snapshot; or why there is nothing to drill."""
    replicas = [r for r in inv.replicas_of(vm) if r.replica is not None]
    if replicas:
        newest = replicas[-1]
        assert newest.replica is not None
        return Source("replica", newest.moref, None, newest.name, newest.replica.taken.timestamp())
    snapshot = vm.newest_snapshot
    if snapshot is None:
        return "it has no replica and no snapshot to drill from"
    return Source("snapshot", vm.moref, snapshot.moref, snapshot.name, snapshot.created.timestamp())


def select_vms(inv: Inventory, settings: Settings, names: Sequence[str], everything: bool,
               group: str | None = None) -> list[VmRecord]:
    """The VMs a drill is asked for: named ones (``--vm``), every protected one (``--all``), or a
    protection group's (``--group``). An unknown name or group, or a VM that is not protected (a
    replica, a drill copy, a template, one without an IP, one no group takes), is a UsageError
    naming it."""
    protected = {vm.name: vm for vm in protected_vms(inv, settings)}
    if group is not None:
        try:
            chosen = [vm for vm in group_vms(inv, settings, group) if vm.name in protected]
        except KeyError as exc:
            raise UsageError(f"--group: {exc.args[0]}") from None
        if not chosen:
            raise UsageError(f"--group {group}: vCenter shows no protected VM in it")
        return chosen
    if everything:
        if not protected:
            raise UsageError("--all: vCenter shows no protected VM to drill")
        return list(protected.values())
    unknown = [name for name in names if inv.vm_by_name(name) is None]
    if unknown:
        raise UsageError(f"vCenter has no VM named {', '.join(unknown)}")
    unprotected = [name for name in names if name not in protected]
    if unprotected:
        raise UsageError(f"{', '.join(unprotected)}: not a protected VM (`vsphere-dr protection` says why): "
                         "nothing to drill")
    return [protected[name] for name in dict.fromkeys(names)]


@dataclass
class DrillTools:
    gateway: Gateway
    journal: Journal
    settings: Callable[[], Settings]
    probe: Callable[[str, int], bool]  # does this address answer TCP on this port now?
    stop: Event = field(default_factory=Event)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


@dataclass
class DrillRun:
    """One VM's drill under way (the steps' ``run``)."""

    tools: DrillTools
    id: int  # its drills row
    vm: VmRecord
    source: Source
    host: str
    host_name: str
    pool: str
    datastore: str
    copy_name: str
    prefix: str
    token: str
    network: str | None
    copy: str | None = None
    powered_on_at: float | None = None
    answered_at: float | None = None

    @property
    def name(self) -> str:
        return self.vm.name

    def state(self) -> CopyState | None:
        return None if self.copy is None else self.tools.gateway.vms.copy_state(self.copy)


def _recovery_began(run: DrillRun) -> str | None:
    if run.vm.moref in run.tools.journal.vms_under_recovery():
        return f"a recovery of {run.name} began (the journal shows an unfinished recovery or open incident)"
    return None


def _clone(run: DrillRun) -> None:
    mark = drill_marks.extra_value(run.id, run.token)
    run.copy = run.tools.gateway.vms.clone_for_drill(
        run.source.vm, run.source.snapshot, run.copy_name, run.host, run.pool, run.datastore,
        drill_marks.annotation(run.name, run.id, run.token), mark, run.network)
    run.tools.journal.update_drill(run.id, copy=run.copy)


def _cloned_problem(run: DrillRun) -> str | None:
    """The copy exists, powered off, with all its marks, and isolated: only then is it powered on."""
    found = run.state()
    if found is None:
        return f"{run.copy_name} is not in vCenter after the clone"
    problem = drill_marks.deletable(found, run.prefix, run.id, run.token) or drill_marks.isolated(found, run.network)
    if problem is None and found.power_state != "poweredOff":
        problem = f"{found.name} is {found.power_state} after the clone"
    return problem


def _power_on(run: DrillRun) -> None:
    run.powered_on_at = run.tools.clock()
    run.tools.journal.update_drill(run.id, powered_on_at=run.powered_on_at)
    run.tools.gateway.vms.power_on(run.copy or "")


def _on_problem(run: DrillRun) -> str | None:
    found = run.state()
    return None if found is not None and found.power_state == "poweredOn" else f"{run.copy_name} did not power on"


def _answers(run: DrillRun) -> None:
    timeout = run.tools.settings().drill.timeout_seconds
    port = run.tools.settings().drill.probe_port
    what = "its guest heartbeat" + (f" and tcp:{port}" if port else "")
    wait_for(run, lambda: _answered(run, port), timeout, f"{run.copy_name} did not answer ({what}) within {timeout:.0f} s")
    run.answered_at = run.tools.clock()
    run.tools.journal.update_drill(run.id, answered_at=run.answered_at)


def _answered(run: DrillRun, port: int | None) -> bool:
    """The guest runs and its tools beat green (and, with a probe, its address answers); checked
    with the recovery guard each time: a recovery that begins meanwhile ends the drill."""
    why = _recovery_began(run)
    if why is not None:
        raise NoLongerNeeded(why)
    found = run.state()
    if found is None or found.heartbeat != "green" or found.guest_state != "running":
        return False
    if port is None:
        return True
    if found.ip is None:
        return False
    if found.ip == run.vm.ip:
        raise StepFailed("answers", f"{run.copy_name} reports {found.ip}, its production VM's address: a probe "
                                    "cannot tell the copy from production (give the drill network its own addresses)")
    return run.tools.probe(found.ip, port)


NO_RECOVERY = guard("no_recovery", "{name} has no recovery under way and no open incident", _recovery_began)
STEPS: tuple[Step, ...] = (Step("cloned", _clone, _cloned_problem), Step("powered_on", _power_on, _on_problem),
                           Step("answered", _answers))


def remove_copy(tools: DrillTools, copy: str, prefix: str, drill: int, token: str) -> None:
    """Power off and delete drill ``drill``'s copy; NotADrillCopy, touching nothing, unless vCenter
    shows its marks (the gateway checks them again right before the deletion)."""
    found = tools.gateway.vms.copy_state(copy)
    if found is None:
        return
    why = drill_marks.deletable(found, prefix, drill, token)
    if why is not None:
        raise NotADrillCopy(f"not powering off or deleting {copy}: {why}")
    if found.power_state != "poweredOff":
        tools.gateway.vms.power_off(copy)
    tools.gateway.vms.destroy_drill_copy(copy, prefix, drill, token)
    if tools.gateway.vms.copy_state(copy) is not None:
        raise StepFailed("destroyed", f"{found.name} ({copy}) is still in vCenter after its deletion")


class DrillRunner:
    """Runs the drills of one `vsphere-dr drill` (the caller holds the drill lock)."""

    def __init__(self, tools: DrillTools) -> None:
        self.tools = tools

    def run(self, inv: Inventory, vms: Sequence[VmRecord], hosts: Sequence[str], datastores: Sequence[str],
            command: str) -> int:
        """Drill each VM in turn; the run's id (its report: ``journal.drills(run)``)."""
        journal = self.tools.journal
        run_id = journal.start_drill_run(command)
        for vm in vms:
            planned = self._plan(run_id, inv, vm, hosts, datastores)
            if planned is not None:
                self._drill(planned)
        rows = journal.drills(run_id)
        outcome = "passed" if rows and all(r.state == "passed" for r in rows) else "failed"
        journal.finish_drill_run(run_id, "interrupted" if self.tools.stop.is_set() else outcome)
        return run_id

    def _plan(self, run_id: int, inv: Inventory, vm: VmRecord, hosts: Sequence[str],
              datastores: Sequence[str]) -> DrillRun | None:
        """The VM's drill, journaled; or None when it is refused (journaled with the reason)."""
        planned = self._where(inv, vm, hosts, datastores)
        if isinstance(planned, str):
            log.warning("drill of %s refused: %s", vm.name, planned)
            self.tools.journal.intend_drill(run_id, vm.moref, vm.name, state="refused", error=planned, cleaned=1,
                                            finished_at=self.tools.clock())
            return None
        source, target = planned
        s = self.tools.settings()
        name, token = drill_marks.copy_name(s.drill.prefix, vm.name, self.tools.clock()), drill_marks.new_token()
        drill = self.tools.journal.intend_drill(
            run_id, vm.moref, vm.name, source_kind=source.kind, source_vm=source.vm, source_snapshot=source.snapshot,
            source_name=source.name, source_taken=source.taken, host=target.host.moref, host_name=target.host.name,
            datastore=target.datastore.moref, prefix=s.drill.prefix, copy_name=name, token=token)
        return DrillRun(self.tools, drill, vm, source, target.host.moref, target.host.name, target.pool,
                        target.datastore.moref, name, s.drill.prefix, token, s.drill.network)

    def _where(self, inv: Inventory, vm: VmRecord, hosts: Sequence[str],
               datastores: Sequence[str]) -> tuple[Source, Target] | str:
        """What the VM's copy is made from and where it goes; or why it gets no drill."""
        if self.tools.stop.is_set():
            return "vsphere-dr is stopping"
        busy = skip_reason(vm, inv, self.tools.journal.vms_under_recovery())
        if busy is not None:
            return busy
        source = source_of(inv, vm)
        if isinstance(source, str):
            return source
        target = choose_target(inv, vm, hosts, datastores)
        return target if isinstance(target, str) else (source, target)

    def _drill(self, run: DrillRun) -> None:
        journal = self.tools.journal
        log.info("drill of %s: a copy of %s %s on %s", run.name, run.source.kind, run.source.name, run.host_name)
        state, error = "passed", ""
        try:
            for step in STEPS:
                NO_RECOVERY.run(run)
                step.run(run)
                problem = step.check(run) if step.check else None
                if problem is not None:
                    raise StepFailed(step.name, problem)
                journal.update_drill(run.id, step=step.name)
        except NoLongerNeeded as exc:
            state, error = "aborted", str(exc)
        except Interrupted:
            state, error = "failed", "interrupted: vsphere-dr is stopping"
        except VsphereDrError as exc:
            state, error = "failed", str(exc)
        self._clean(run, state, error)

    def _clean(self, run: DrillRun, state: str, error: str) -> None:
        """Remove the copy whatever happened; a copy that cannot be removed fails the drill and
        stays journaled uncleaned, so the clean-up of interrupted drills tries again."""
        cleaned = 1
        try:
            run.copy = run.copy or _copy_by_mark(self.tools, run.id, run.token)
            if run.copy is not None:
                remove_copy(self.tools, run.copy, run.prefix, run.id, run.token)
                self.tools.journal.update_drill(run.id, step="destroyed")
        except VsphereDrError as exc:
            cleaned, state = 0, "failed"
            error = _copy_left(error, run.copy_name, run.copy, exc)
        outcome = f"{state}" + (f": {error}" if error else "")
        (log.info if state == "passed" else log.warning)("drill of %s %s", run.name, outcome)
        self.tools.journal.update_drill(run.id, state=state, error=error, cleaned=cleaned,
                                        finished_at=self.tools.clock())


def _copy_by_mark(tools: DrillTools, drill: int, token: str) -> str | None:
    """The copy of a drill whose moref was never journaled (the clone failed, or the process died
    while it ran): found in the inventory by its annotation's mark."""
    inv = tools.gateway.inventory()
    return next((vm.moref for vm in inv.vms.values()
                 if vm.drill is not None and (vm.drill.drill, vm.drill.token) == (drill, token)), None)


def clean_up(tools: DrillTools, scan: bool) -> list[str]:
    """Remove the copies of drills that did not finish (a process killed half-way); with ``scan``,
    also marked copies the inventory shows whose drill the journal says is over (a clone that
    completed after its process died). The caller holds the drill lock: no drill runs. What was
    removed, for the log; a copy that cannot be removed stays journaled, with why, for the next try."""
    journal = tools.journal
    journal.interrupted_drill_runs()
    pending = journal.uncleaned_drills()
    if not pending and not scan:
        return []
    inv = tools.gateway.inventory()
    marked = {vm.drill.drill: vm for vm in inv.vms.values() if vm.drill is not None}
    removed: list[str] = []
    for row in pending:
        _clean_row(tools, row, row.copy or _marked_copy(marked, row), removed)
    if scan:
        handled = {row.id for row in pending}
        for mark_id, vm in marked.items():
            row = journal.drill(mark_id)
            if row is None or vm.drill is None or row.token != vm.drill.token:
                log.warning("drill copy %s (%s) was not made by this journal's drills: left alone", vm.name, vm.moref)
            elif row.id not in handled:
                _clean_row(tools, row, vm.moref, removed)
    return removed


def _marked_copy(marked: dict[int, VmRecord], row: DrillRow) -> str | None:
    found = marked.get(row.id)
    return found.moref if found is not None and found.drill is not None and found.drill.token == row.token else None


def _clean_row(tools: DrillTools, row: DrillRow, copy: str | None, removed: list[str]) -> None:
    """Remove an unfinished drill's copy and journal what became of it. A copy that stays (vCenter
    unreachable, its marks not all there) stays journaled uncleaned with why; logged when the
    reason is new, so that a clean-up tried at every sweep does not repeat it."""
    account = _own_account(row)
    try:
        if copy is not None:
            remove_copy(tools, copy, row.prefix, row.id, row.token)
            removed.append(f"{row.copy_name} ({copy})")
    except VsphereDrError as exc:
        error = _copy_left(account, row.copy_name, copy, exc)
        if error != row.error:
            log.error("drill copy %s (%s) of %s not removed: %s", row.copy_name, copy, row.vm_name, exc)
        _settle(tools, row, cleaned=0, error=error)
        return
    _settle(tools, row, cleaned=1, error=_with_note(
        account, "was removed by the clean-up of interrupted drills" if copy else "is not in vCenter"))


def _settle(tools: DrillTools, row: DrillRow, cleaned: int, error: str) -> None:
    """Journal a clean-up's outcome; a drill whose process died ends ``failed`` (nobody finished it)."""
    state = "failed" if row.state == "running" else row.state
    tools.journal.update_drill(row.id, cleaned=cleaned, error=error, state=state,
                               finished_at=row.finished_at or tools.clock())


def _own_account(row: DrillRow) -> str:
    """What the journal says of the drill itself, without what it said of its copy (every note on
    the copy starts with ``its copy``); for a drill whose process died, the step it reached."""
    if row.finished_at is None:
        return f"interrupted after step {row.step or 'none'}"
    return row.error.partition(_COPY_NOTE)[0].removesuffix("; ")


def _with_note(account: str, note: str) -> str:
    return f"{account}; {_COPY_NOTE}{note}" if account else _COPY_NOTE + note


def _copy_left(account: str, copy_name: str, copy: str | None, why: object) -> str:
    """A drill's error once its copy could not be removed: its own account, then why the copy stays."""
    return _with_note(account, f"{copy_name} ({copy or 'moref not known'}) was not removed: {why}")
