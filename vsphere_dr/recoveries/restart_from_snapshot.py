"""Step 6 of the paper's workflow: the vHost lives, the VM is restored from its snapshot."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import FromSnapshot, Recovery, Run, Step
from vsphere_dr.recoveries.common import SAME_HOST, STILL_DOWN, answers, powered_on


class RestartParams(FromSnapshot):
    snapshot: str  # moref of the snapshot to revert to
    host: str | None  # the host it failed on, where it is restarted


def _revert(run: Run[RestartParams, Any]) -> None:
    run.tools.gateway.vms.revert_to_snapshot(run.params.snapshot)


class RestartFromSnapshot(Recovery):
    """Revert to the newest snapshot and power on, on the same host."""

    kind = "restart_from_snapshot"
    counts_as_restart = True
    params_type = RestartParams
    commit_step = "powered_on"
    STEPS = (SAME_HOST, STILL_DOWN, Step("reverted", _revert), powered_on(), answers())
