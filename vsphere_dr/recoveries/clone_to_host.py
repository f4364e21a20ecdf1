"""Step 8 of the paper's workflow: the VM's host is dead and another live host sees its datastore:
clone the VM from its newest snapshot onto that host."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Recovery, Run, guard
from vsphere_dr.recoveries.copies import HOST_STILL_DOWN, ORIGINAL_STILL_DOWN, CopyParams, CopyProgress, \
    Location, copy_steps, default_pool, usable_target


class CloneParams(CopyParams):
    host: str  # the target host
    host_name: str
    pool: str | None  # its resource pool; None: the root pool of its compute resource
    datastore: str


def plan_target(run: Run[CloneParams, Any]) -> Location:
    return run.params.host, run.params.pool or default_pool(run, run.params.host), run.params.datastore


TARGET_USABLE = guard("target_usable", "{host_name} is connected and out of maintenance", usable_target)


class CloneToHost(Recovery):
    kind = "clone_to_host"
    counts_as_restart = True
    creates_copy = True
    params_type = CloneParams
    progress_type = CopyProgress
    commit_step = "powered_on"
    STEPS = (ORIGINAL_STILL_DOWN, HOST_STILL_DOWN, TARGET_USABLE) + copy_steps(plan_target, plan_target)
