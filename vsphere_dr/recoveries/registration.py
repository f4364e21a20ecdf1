"""What the kinds that bring a failed host's VMs back from their own files share.

A real vCenter refuses every operation on a VM whose host is not connected (clone, relocate,
power off, unregister while it shows powered on), but the VM's files are still on shared storage.
So the failed host is removed from vCenter with its VMs (remove_failed_host; every VM's path,
name, folder, pool and instance UUID journaled first), and each VM is registered again from its
files on a live host that mounts its datastore: started (register_elsewhere) if it was running,
left as it was (reregister_as_was) otherwise, so that nothing disappears from the inventory.
The fence against two running copies is the files' lock: an isolated host that still runs the VM
keeps it, the power-on fails, and vsphere-dr stops there (a person decides); it never forces.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from vsphere_dr.errors import VSphereFault
from vsphere_dr.recoveries.base import FromSnapshot, Params, Progress, Recovery, Run, Step, StepFailed, guard
from vsphere_dr.recoveries.common import host_added, host_removed, host_runtime, read_vm


class Registration(BaseModel):
    """A VM as the failed host had it registered: all it takes to register it again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vm: str  # its moref while registered on the failed host
    host: str  # that host
    host_name: str
    name: str
    uuid: str | None
    path: str  # config.files.vmPathName
    folder: str
    pool: str | None
    power_state: str
    ip: str | None = None
    datastores: tuple[str, ...] = ()  # morefs of the datastores its files are on
    memory_mb: int = 0
    cpus: int = 1
    # Its newest snapshot when it was removed: a registration planned later, from the journal,
    # reverts to it as one planned with the removal does ([recovery] registered_vm = revert).
    snapshot_name: str | None = None
    snapshot_created: float | None = None  # epoch seconds


class RegisterParams(FromSnapshot):
    registration: Registration
    failed_host: str
    failed_host_name: str
    host: str  # where it is registered again
    host_name: str
    pool: str  # the target's resource pool


class RegisterProgress(Progress):
    registered: str | None = None  # moref of the new registration


def _still_registered(run: Run[RegisterParams, Any]) -> str | None:
    if run.tools.gateway.vm_records([run.params.registration.vm]):
        return f"{run.name} is still registered on {run.params.failed_host_name}: the host was not removed"
    return None


def _usable(run: Run[RegisterParams, Any]) -> str | None:
    host = host_runtime(run, run.params.host)
    if host is None or not host.usable:
        return f"target host {run.params.host_name} can no longer take it: the next sweep chooses again"
    return None


REGISTRATION_GONE = guard("registration_gone", "{name} is no longer registered on {failed_host_name}",
                          _still_registered)
TARGET_USABLE = guard("target_usable", "{host_name} is connected and out of maintenance", _usable)


def _register(run: Run[RegisterParams, RegisterProgress]) -> None:
    """Register from the VM's files, or adopt the registration an interrupted run made: vCenter
    answers AlreadyExists for files registered already, and only then is that registration looked
    up by its files' path (SearchIndex.FindByDatastorePath)."""
    r = run.params.registration
    try:
        run.progress.registered = run.tools.gateway.vms.register(r.path, r.name, r.folder, run.params.pool,
                                                                 run.params.host)
    except VSphereFault as exc:
        existing = run.tools.gateway.vm_at_path(r.path) if exc.fault_type == "AlreadyExists" else None
        if existing is None:
            raise
        run.progress.registered = existing


def _not_registered(run: Run[RegisterParams, RegisterProgress]) -> str | None:
    moref = run.progress.registered
    if moref is None:
        return "no registration was made"
    found = read_vm(run, moref)
    return None if found.host == run.params.host else f"{moref} is registered on {found.host}"


REGISTERED = Step("registered", _register, _not_registered)


def registered(run: Run[Any, RegisterProgress]) -> str:
    if run.progress.registered is None:
        raise StepFailed("registered", "the VM has not been registered yet")
    return run.progress.registered


class Registering(Recovery):
    """The registration kinds: each waits for its failed host's removal (and, onto a spare host,
    for that host's addition) when the same run holds those actions."""

    registers_vm = True

    @classmethod
    def needs(cls, params: Params) -> frozenset[str]:
        assert isinstance(params, RegisterParams)
        return frozenset({host_removed(params.failed_host), host_added(params.host_name)})

    @classmethod
    def registered_again(cls, params: Params, result: dict[str, Any], done: bool) -> str | None:
        """Once the registration exists, even if a later step failed (a power-on refused for locked
        files): registering those files again would only meet AlreadyExists, sweep after sweep."""
        assert isinstance(params, RegisterParams)
        made = done or RegisterProgress.model_validate(result).registered is not None
        return params.registration.vm if made else None
