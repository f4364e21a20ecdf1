"""The paper's scenario 3f: no live host sees the VM's datastore. The clone is made beside the
original's files, then cold-migrated to a live host and its own datastore."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Run, StepFailed
from vsphere_dr.recoveries.clone_to_host import TARGET_USABLE, CloneParams, CloneToHost, plan_target
from vsphere_dr.recoveries.common import read_vm
from vsphere_dr.recoveries.copies import HOST_STILL_DOWN, ORIGINAL_STILL_DOWN, Location, copy_steps


def beside_original(run: Run[CloneParams, Any]) -> Location:
    original = read_vm(run, run.target)
    if not (original.host and original.resource_pool and original.datastores):
        raise StepFailed("cloned", f"vCenter shows no host, pool or datastore for {run.name}")
    return original.host, original.resource_pool, original.datastores[0]


class CloneAndMigrate(CloneToHost):
    """As clone_to_host, but cloned where the original's files are, then moved."""

    kind = "clone_and_migrate"
    STEPS = (ORIGINAL_STILL_DOWN, HOST_STILL_DOWN, TARGET_USABLE) + copy_steps(beside_original, plan_target)
