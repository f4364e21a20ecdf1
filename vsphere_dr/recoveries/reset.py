"""A hard reset, as the power button: a hung VM that still runs (no snapshot to restore), or an
ill VM when ``[health] response = reset``."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Params, Recovery, Run, Step, guard
from vsphere_dr.recoveries.common import SAME_HOST, STILL_DOWN, answers, powered_on, read_vm


class ResetParams(Params):
    host: str | None  # the host it runs on
    ill: bool = False  # the health model's verdict: it answers, so "still down" is not a guard


def _stopped(run: Run[ResetParams, Any]) -> str | None:
    state = read_vm(run, run.target).power_state
    return None if state == "poweredOn" else f"{run.name} is {state} now: nothing to reset"


def _reset(run: Run[ResetParams, Any]) -> None:
    run.tools.gateway.vms.reset(run.target)


STILL_RUNNING = guard("still_running", "{name} is still powered on", _stopped)


class Reset(Recovery):
    kind = "reset"
    counts_as_restart = True
    params_type = ResetParams
    commit_step = "reset"

    @classmethod
    def steps(cls, params: ResetParams) -> tuple[Step, ...]:
        guards = (SAME_HOST, STILL_RUNNING) + (() if params.ill else (STILL_DOWN,))
        return guards + (Step("reset", _reset), powered_on(), answers())
