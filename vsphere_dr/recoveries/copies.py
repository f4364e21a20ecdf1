"""What the kinds that run a second VM for a workload share (start_replica, keep_original_off).

A replica is started only while its original's host is down; the guards say so and are re-run on
resume until the copy is powered on (``commit_step``). From then on the copy runs and must be
finished, and the journal's record of the copy keeps the original off when its host returns
(keep_original_off). A guard also holds when the copy is seen running already (a power-on a
killed controller had asked for): the answer at the address may be the copy's, and the host's
return is then handled by keep_original_off, never by abandoning.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vsphere_dr.recoveries.base import Progress, Run, StepFailed, guard
from vsphere_dr.recoveries.common import answers_again, best_effort, host_connected, read_vm
from vsphere_dr.timefmt import utc_seconds


class MarkProgress(Progress):
    original_marked: bool | None = None
    mark_error: str | None = None


class CopyProgress(MarkProgress):
    copy_vm: str | None = Field(None, alias="copy")  # moref of the copy

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


def _original_answers(run: Run[Any, CopyProgress]) -> str | None:
    return None if _copy_running(run) else answers_again(run)


def _host_back(run: Run[Any, CopyProgress]) -> str | None:
    if host_connected(run, run.params.failed_host) and not _copy_running(run):
        return f"the host of {run.name} ({run.params.failed_host_name}) is connected again: no copy is made"
    return None


ORIGINAL_STILL_DOWN = guard("still_down", "{name} still does not answer", _original_answers)
HOST_STILL_DOWN = guard("host_still_down", "host {failed_host_name} is still down", _host_back)


def mark_original(run: Run[Any, MarkProgress], copy: str) -> None:
    """Best effort: the journal, not the annotation, is what keeps the original off."""
    note = (f"vsphere-dr: replaced by {copy} at {utc_seconds(run.tools.clock())} after its host failed. "
            "Keep this VM powered off; delete it once the copy is confirmed.")
    run.progress.mark_error = best_effort(lambda: run.tools.gateway.vms.set_annotation(run.target, note))
    run.progress.original_marked = run.progress.mark_error is None
