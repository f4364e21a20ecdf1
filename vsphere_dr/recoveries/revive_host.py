"""Step 7 of the paper's workflow: a dead nested vHost is revived from its backing VM's snapshot."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Params, Progress, Recovery, Run, Step, guard
from vsphere_dr.recoveries.common import host_connected, host_runtime, powered_on, wait_for


class ReviveParams(Params):
    backing_vm: str  # moref of the VM that runs the vHost, in the admin vCenter
    backing_name: str
    snapshot: str | None = None  # its newest snapshot; None: only powered on


class ReviveProgress(Progress):
    host_back_at: float | None = None


def _back(run: Run[ReviveParams, Any]) -> str | None:
    return f"{run.name} is connected again: no revive needed" if host_connected(run, run.target) else None


def _revert(run: Run[ReviveParams, Any]) -> None:
    assert run.params.snapshot is not None
    run.tools.admin_gateway.vms.revert_to_snapshot(run.params.snapshot)


def _wait_for_host(run: Run[ReviveParams, ReviveProgress]) -> None:
    timeout = run.tools.settings().recovery.host_boot_timeout_seconds
    wait_for(run, lambda: host_connected(run, run.target), timeout,
             f"{run.name} did not come back within {timeout:.0f} s (host_boot_timeout_seconds)")
    run.progress.host_back_at = run.tools.clock()


def _host_problem(run: Run[ReviveParams, Any]) -> str | None:
    host = host_runtime(run, run.target)
    state = host.connection_state if host else "gone"
    return None if state == "connected" else f"{run.name} is {state}"


HOST_STILL_DOWN = guard("host_still_down", "host {name} is still not connected", _back)
REVERTED = Step("backing_reverted", _revert)
BACKING_ON = powered_on(lambda run: run.params.backing_vm, "backing_powered_on", admin=True)
HOST_BACK = Step("host_connected", _wait_for_host, _host_problem)


class ReviveHost(Recovery):
    """Revert the backing VM (when it has a snapshot), power it on, wait for the host."""

    kind = "revive_host"
    opens_incident = False  # the incidents are its VMs'
    once_per_outage = True  # a revive that did not bring the host back is not tried again: its VMs are cloned
    params_type = ReviveParams
    progress_type = ReviveProgress
    commit_step = "backing_powered_on"

    @classmethod
    def steps(cls, params: ReviveParams) -> tuple[Step, ...]:
        return (HOST_STILL_DOWN,) + ((REVERTED,) if params.snapshot else ()) + (BACKING_ON, HOST_BACK)
