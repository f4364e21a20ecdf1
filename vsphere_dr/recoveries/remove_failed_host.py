"""Remove a failed host from vCenter with its VMs (their files stay), so that each VM can be
registered again on a live host: the one way vCenter allows to bring a dead host's VMs back
(registration.py). Every VM's registration is in the params, journaled before the host goes."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Params, Recovery, Run, Step, guard
from vsphere_dr.recoveries.common import host_connected, host_removed, host_runtime
from vsphere_dr.recoveries.registration import Registration


class RemoveHostParams(Params):
    host_name: str
    standalone_resource: str | None  # a standalone host goes with its ComputeResource
    vms: tuple[Registration, ...]  # every VM registered on it, to be registered again


def _back(run: Run[RemoveHostParams, Any]) -> str | None:
    return f"host {run.params.host_name} is connected again: not removed" if host_connected(run, run.target) else None


def _vm_answers(run: Run[RemoveHostParams, Any]) -> str | None:
    for vm in run.params.vms:
        if vm.ip and run.tools.probe(vm.ip):
            return f"{vm.name} answers at {vm.ip}: host {run.params.host_name} is isolated, not failed"
    return None


def _remove(run: Run[RemoveHostParams, Any]) -> None:
    if host_runtime(run, run.target) is not None:
        run.tools.gateway.hosts.remove(run.target, run.params.standalone_resource)


def _still_there(run: Run[RemoveHostParams, Any]) -> str | None:
    return f"{run.params.host_name} is still in vCenter" if host_runtime(run, run.target) is not None else None


class RemoveFailedHost(Recovery):
    kind = "remove_failed_host"
    opens_incident = False  # the incidents are its VMs'
    unregisters_vms = True
    params_type = RemoveHostParams
    commit_step = "host_removed"
    runs_first = 1  # its VMs' registrations wait for it
    STEPS = (guard("host_still_down", "host {host_name} is still not connected", _back),
             guard("vms_silent", "none of its VMs answers (an isolated host's would)", _vm_answers),
             Step("host_removed", _remove, _still_there))

    @classmethod
    def host(cls, target: str, params: Params) -> str | None:
        return target

    @classmethod
    def provides(cls, target: str, params: Params) -> frozenset[str]:
        return frozenset({host_removed(target)})

    @classmethod
    def unregistered(cls, params: Params) -> tuple[Registration, ...]:
        assert isinstance(params, RemoveHostParams)
        return params.vms
