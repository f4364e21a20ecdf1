"""A running VM of a failed host whose files cannot be reached (local storage of the dead host):
its newest replica (modules/replica_creator.py) is started instead; RPO = the replica's age.

No file lock fences this path (the replica has files of its own), so it needs stronger evidence
than registration: the host is silent and notResponding past the isolation timeout (the plan's
condition) and the VM's own address is silent (the guard). The original stays registered and is
powered off when its host returns (keep_original_off); the replica, unmarked, is the protected
VM from then on (snapshots, alarms, its own replicas)."""

from __future__ import annotations

from vsphere_dr.recoveries.base import FromSnapshot, Params, Recovery, Run, Step, guard
from vsphere_dr.recoveries.common import answers, powered_on
from vsphere_dr.recoveries.copies import HOST_STILL_DOWN, ORIGINAL_STILL_DOWN, CopyProgress, the_copy
from vsphere_dr.timefmt import utc_seconds


class StartReplicaParams(FromSnapshot):
    """``snapshot_created``: when the snapshot the replica was made from was taken (the RPO)."""

    replica: str
    replica_name: str
    failed_host: str
    failed_host_name: str
    replica_host: str | None = None  # where the replica is registered (its power-on queues there)


def _not_ready(run: Run[StartReplicaParams, CopyProgress]) -> str | None:
    found = run.tools.gateway.vm_records([run.params.replica]).get(run.params.replica)
    if found is None:
        return f"replica {run.params.replica_name} is gone"
    if found.power_state != "poweredOff" and run.progress.copy_vm is None:
        return f"replica {run.params.replica_name} is {found.power_state}: someone else started it"
    return None


def _unmark(run: Run[StartReplicaParams, CopyProgress]) -> None:
    """Its replica mark goes: from now on it is a VM of its own (monitored, snapshotted)."""
    note = (f"vsphere-dr: started {utc_seconds(run.tools.clock())} from a replica of {run.name} "
            f"({run.params.replica_name}) after its host {run.params.failed_host_name} failed")
    run.tools.gateway.vms.set_annotation(run.params.replica, note)
    run.progress.copy_vm = run.params.replica


class StartReplica(Recovery):
    kind = "start_replica"
    counts_as_restart = True
    creates_copy = True
    params_type = StartReplicaParams
    progress_type = CopyProgress
    commit_step = "powered_on"

    @classmethod
    def host(cls, target: str, params: Params) -> str | None:
        assert isinstance(params, StartReplicaParams)
        return params.replica_host

    STEPS: tuple[Step, ...] = (ORIGINAL_STILL_DOWN, HOST_STILL_DOWN,
                               guard("replica_ready", "replica {replica_name} is in vCenter and powered off", _not_ready),
                               Step("unmarked", _unmark), powered_on(the_copy), answers(the_copy))
