"""What the kinds that make a copy of a VM share (steps 8 and 9 of the paper's workflow).

A copy is made only while its original's host is down; the guards say so and are re-run on
resume until the copy is powered on (``commit_step``). From then on the copy runs and must be
finished: its original is marked, and the journal's record of the copy keeps the original off
when its host returns (keep_original_off). A guard also holds when the copy is seen running
already (a power-on a killed controller had asked for): the answer at the address may be the
copy's, and the host's return is then handled by keep_original_off, never by abandoning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from vsphere_dr.recoveries.base import FromSnapshot, Progress, Run, Step, StepFailed, guard
from vsphere_dr.recoveries.common import answers, answers_again, best_effort, host_connected, host_runtime, \
    powered_on, read_vm
from vsphere_dr.timefmt import utc_seconds

Location = tuple[str, str, str]  # host, resource pool, datastore (morefs)


class CopyParams(FromSnapshot):
    clone_name: str  # chosen once per incident (from the first failed probe), journaled before the start
    failed_host: str
    failed_host_name: str
    datastore: str | None  # where the copy's files go


class MarkProgress(Progress):
    original_marked: bool | None = None
    mark_error: str | None = None


class CopyProgress(MarkProgress):
    copy_vm: str | None = Field(None, alias="copy")  # moref of the copy
    host: str | None = None  # where a spare host put it (the plan's host otherwise)
    pool: str | None = None
    datastore: str | None = None
    original_fenced: bool | None = None
    fence_error: str | None = None

    @property
    def copy_made(self) -> str | None:
        return self.copy_vm


def the_copy(run: Run[Any, CopyProgress]) -> str:
    if run.progress.copy_vm is None:
        raise StepFailed("copy", "no copy has been made yet")
    return run.progress.copy_vm


def _copy_running(run: Run[Any, CopyProgress]) -> bool:
    copy = run.progress.copy_vm
    return copy is not None and read_vm(run, copy).power_state == "poweredOn"


def _original_answers(run: Run[CopyParams, CopyProgress]) -> str | None:
    return None if _copy_running(run) else answers_again(run)


def _host_back(run: Run[CopyParams, CopyProgress]) -> str | None:
    if host_connected(run, run.params.failed_host) and not _copy_running(run):
        return f"the host of {run.name} ({run.params.failed_host_name}) is connected again: no copy is made"
    return None


ORIGINAL_STILL_DOWN = guard("still_down", "{name} still does not answer", _original_answers)
HOST_STILL_DOWN = guard("host_still_down", "host {failed_host_name} is still down", _host_back)


def _fence(run: Run[CopyParams, CopyProgress]) -> None:
    """Power the original off if vCenter still can: with its host down it usually cannot, and
    the copy is made anyway; the original is then kept off when its host returns."""

    def off() -> None:
        if read_vm(run, run.target).power_state == "poweredOn":
            run.tools.gateway.vms.power_off(run.target)

    run.progress.fence_error = best_effort(off)
    run.progress.original_fenced = run.progress.fence_error is None


def mark_original(run: Run[Any, MarkProgress], copy: str) -> None:
    """Best effort: the journal, not the annotation, is what keeps the original off."""
    note = (f"vsphere-dr: replaced by {copy} at {utc_seconds(run.tools.clock())} after its host failed. "
            "Keep this VM powered off; delete it once the copy is confirmed.")
    run.progress.mark_error = best_effort(lambda: run.tools.gateway.vms.set_annotation(run.target, note))
    run.progress.original_marked = run.progress.mark_error is None


def _cloner(location: Callable[[Run[Any, CopyProgress]], Location]) -> Callable[[Run[Any, CopyProgress]], None]:
    def clone_once(run: Run[CopyParams, CopyProgress]) -> None:
        existing = run.tools.gateway.inventory().vm_by_name(run.params.clone_name)
        if existing is not None:  # an interrupted run made it already
            run.progress.copy_vm = existing.moref
            return
        host, pool, datastore = location(run)
        annotation = f"vsphere-dr: copy of {run.name} ({run.target}), made {utc_seconds(run.tools.clock())}"
        run.progress.copy_vm = run.tools.gateway.vms.clone_from_snapshot(
            run.target, run.params.snapshot, run.params.clone_name, host, pool, datastore, annotation)

    return clone_once


def _copy_missing(run: Run[Any, CopyProgress]) -> str | None:
    copy = run.progress.copy_vm
    return None if copy and run.tools.gateway.vm_records([copy]) else "the copy is missing"


def _placer(target: Callable[[Run[Any, CopyProgress]], Location]) -> tuple[Callable[..., None], Callable[..., Any]]:
    def problem(run: Run[Any, CopyProgress]) -> str | None:
        copy, (host, _, datastore) = read_vm(run, the_copy(run)), target(run)
        if copy.host != host:
            return f"the copy is on {copy.host}, not on {host}"
        if datastore not in copy.datastores:
            return f"the copy is on {', '.join(copy.datastores)}, not on {datastore}"
        return None

    def place(run: Run[Any, CopyProgress]) -> None:
        if problem(run) is not None:
            host, pool, datastore = target(run)
            run.tools.gateway.vms.relocate(the_copy(run), host, pool, datastore)

    return place, problem


def copy_steps(location: Callable[[Run[Any, CopyProgress]], Location],
               target: Callable[[Run[Any, CopyProgress]], Location]) -> tuple[Step, ...]:
    """Fence, clone where ``location`` says, move to ``target`` if it is elsewhere, power on,
    wait for an answer, mark the original."""
    place, placement_problem = _placer(target)
    return (Step("original_fenced", _fence),
            Step("cloned", _cloner(location), _copy_missing),
            Step("placed", place, placement_problem),
            powered_on(the_copy), answers(the_copy),
            Step("original_marked", lambda run: mark_original(run, the_copy(run))))


def default_pool(run: Run[Any, Any], host: str) -> str:
    """The root resource pool of ``host``'s cluster or standalone compute resource."""
    inv = run.tools.gateway.inventory()
    record = inv.hosts.get(host)
    resource = inv.compute_resources.get(record.compute_resource or "") if record else None
    if resource is None or resource.resource_pool is None:
        raise StepFailed("pool", f"vCenter shows no resource pool for host {host}")
    return resource.resource_pool


def usable_target(run: Run[Any, Any]) -> str | None:
    """Violated when the plan's target host can no longer take the copy."""
    host = host_runtime(run, run.params.host)
    if host is None or not host.usable:
        state = "gone" if host is None else ("in maintenance" if host.in_maintenance else host.connection_state)
        return f"target host {run.params.host_name} is {state}: the next sweep chooses again"
    return None
