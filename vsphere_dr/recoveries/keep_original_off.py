"""Never two copies: an original that was replaced while its host was down, running again once
the host returned, is powered off (never deleted: a person does that)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vsphere_dr.recoveries.base import Params, Recovery, Run, Step, guard
from vsphere_dr.recoveries.common import read_vm
from vsphere_dr.recoveries.copies import MarkProgress, mark_original


class KeepOffParams(Params):
    copy_vm: str = Field(alias="copy")  # moref of the copy that replaced it


def _copy_gone(run: Run[KeepOffParams, Any]) -> str | None:
    if run.tools.gateway.vm_records([run.params.copy_vm]):
        return None
    return f"the copy {run.params.copy_vm} of {run.name} is gone: the original is left running"


def _off_already(run: Run[KeepOffParams, Any]) -> str | None:
    state = read_vm(run, run.target).power_state
    return None if state == "poweredOn" else f"{run.name} is {state} already"


def _power_off(run: Run[KeepOffParams, Any]) -> None:
    run.tools.gateway.vms.power_off(run.target)


def _still_runs(run: Run[KeepOffParams, Any]) -> str | None:
    return None if read_vm(run, run.target).power_state == "poweredOff" else "the original still runs"


class KeepOriginalOff(Recovery):
    kind = "keep_original_off"
    opens_incident = False  # the incident was the failure the copy recovered from
    params_type = KeepOffParams
    progress_type = MarkProgress
    commit_step = "original_off"
    runs_first = 0  # two copies run until it is done: before anything else
    STEPS = (guard("copy_exists", "the copy {copy_vm} still exists", _copy_gone),
             guard("original_runs", "{name} still runs", _off_already),
             Step("original_off", _power_off, _still_runs),
             Step("original_marked", lambda run: mark_original(run, run.params.copy_vm)))
