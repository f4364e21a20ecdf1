"""A running VM of a failed host, its files on shared storage: registered again on a live host
that mounts its datastore, vCenter's "moved or copied" question answered "moved" (it keeps its
instance UUID), powered on from its disks as the crash left them (RPO 0, as vSphere HA does) or,
with ``[recovery] registered_vm = revert``, from its newest vsphere-dr snapshot. A power-on
refused because the files are locked means the VM still runs on its isolated host: a person
decides, nothing is forced or retried (registration.py)."""

from __future__ import annotations

from typing import Any, Literal

from vsphere_dr.errors import FilesLocked
from vsphere_dr.recoveries.base import NeedsAPerson, Run, Step, StepFailed, guard
from vsphere_dr.recoveries.common import answers, power_problem, read_vm
from vsphere_dr.recoveries.registration import REGISTERED, REGISTRATION_GONE, TARGET_USABLE, RegisterParams, \
    RegisterProgress, Registering, registered


class RegisterAndStartParams(RegisterParams):
    mode: Literal["as_is", "revert"] = "as_is"


def _revert(run: Run[RegisterAndStartParams, RegisterProgress]) -> None:
    new = read_vm(run, registered(run))
    snap = next((s for s in new.snapshots if s.name == run.params.snapshot_name), None)
    if snap is None:
        raise StepFailed("reverted", f"snapshot {run.params.snapshot_name!r} is not on the registered VM")
    run.tools.gateway.vms.revert_to_snapshot(snap.moref)


def _power_on(run: Run[RegisterAndStartParams, RegisterProgress]) -> None:
    moref = registered(run)
    if read_vm(run, moref).power_state == "poweredOn":
        return
    try:
        run.tools.gateway.vms.power_on(moref, moved=True)
    except FilesLocked as exc:
        raise NeedsAPerson(f"{run.name}'s files are locked: it still runs on {run.params.failed_host_name}, "
                           f"which is isolated, not failed ({exc}); not forced, not retried") from exc


POWERED_ON = Step("powered_on", _power_on, lambda run: power_problem(run.tools.gateway, registered(run), run))


def _answers_at_address(run: Run[RegisterAndStartParams, RegisterProgress]) -> str | None:
    """Violated when something answers at the VM's address, unless it is this action's own
    registration, started by a power-on a killed controller had asked for."""
    ip, ours = run.params.registration.ip, run.progress.registered
    if ours is not None and read_vm(run, ours).power_state == "poweredOn":
        return None
    if ip and run.tools.probe(ip):
        return f"{run.name} answers at {ip}: its host is isolated, not failed; not registered elsewhere"
    return None


STILL_DOWN_AT_ADDRESS = guard("still_down", "{name} still does not answer", _answers_at_address)


class RegisterElsewhere(Registering):
    kind = "register_elsewhere"
    counts_as_restart = True
    params_type = RegisterAndStartParams
    progress_type = RegisterProgress
    commit_step = "powered_on"

    @classmethod
    def loses_nothing(cls, params: Any) -> bool:
        return params.mode == "as_is"  # its disks as the crash left them

    @classmethod
    def steps(cls, params: Any) -> tuple[Step, ...]:
        revert = (Step("reverted", _revert),) if params.mode == "revert" else ()
        return (REGISTRATION_GONE, STILL_DOWN_AT_ADDRESS, TARGET_USABLE, REGISTERED, *revert, POWERED_ON,
                answers(registered))
