"""This tool's per-VM alarms (the paper's Ping Administrator): found by name, created when missing.

Each monitored VM gets one alarm defined on it, ``vsphere-dr: <VM name>``, red while the VM is
powered off or its guest heartbeat is red. An alarm is ours when its name starts with
``ALARM_PREFIX`` and it is defined on a VM: a renamed VM keeps its alarm, and a restarted
controller finds its alarms instead of creating them twice.

Finding costs two round trips whatever the number of alarms: ``GetAlarm()`` without an entity
(the alarms of every entity the session sees) and one PropertyCollector read of their names
and entities. Creating costs one round trip per missing alarm, which happens once per VM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.errors import AlarmsUnavailable, NotSupported, ObjectNotFound, SessionExpired, VCenterError
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import translate
from vsphere_dr.gateway.properties import retrieve_objects
from vsphere_dr.records import VmRecord

log = logging.getLogger(__name__)
ALARM_PREFIX = "vsphere-dr: "


@dataclass(frozen=True)
class VmAlarms:
    alarms: Mapping[str, str]  # VM moref -> moref of this tool's alarm on it
    created: tuple[str, ...] = ()  # morefs of the VMs whose alarm this call created


class AlarmOperations:
    def __init__(self, session: VCenterSession) -> None:
        self._session = session

    def ensure_vm_alarms(self, vms: Iterable[VmRecord]) -> VmAlarms:
        """Make sure each VM has this tool's alarm; return all of this tool's VM alarms.

        Raises AlarmsUnavailable if this vCenter's alarms cannot be used. A VM whose alarm cannot
        be created (it was just deleted, say) is logged and left out; the others go on.
        """
        wanted = list(vms)
        doing = "creating vsphere-dr's VM alarms"

        def ensure(content: vim.ServiceInstanceContent) -> VmAlarms:
            with alarm_faults(doing):
                manager = _manager(content)
                found = _ours(content, manager)
                created: dict[str, VmRecord] = {}  # new alarm's moref -> its VM
                raced = False
                for vm in (vm for vm in wanted if vm.moref not in found):
                    try:
                        ref = self._create(manager, vm)
                    except vim.fault.DuplicateName:  # created meanwhile (by another controller?)
                        raced = True
                        continue
                    if ref:
                        created[ref] = vm
                if raced:
                    found = _ours(content, manager)
            return VmAlarms({**found, **{vm.moref: ref for ref, vm in created.items()}},
                            tuple(vm.moref for vm in created.values()))

        return self._session.call(ensure, doing)

    def _create(self, manager: vim.alarm.AlarmManager, vm: VmRecord) -> str | None:
        """Create the VM's alarm and return its moref, or None if that failed for this VM only.

        vim.fault.DuplicateName goes to the caller: the alarm exists.
        """
        entity = self._session.managed(vim.VirtualMachine, vm.moref)
        try:
            return _moref(manager.CreateAlarm(entity, alarm_spec(vm.name)))
        except vim.fault.DuplicateName:
            raise
        except vmodl.MethodFault as fault:
            error = _translated(fault, f"creating the alarm of {vm.name}")
            if isinstance(error, (AlarmsUnavailable, SessionExpired)):
                raise error from fault
            if not isinstance(error, ObjectNotFound):  # a VM deleted meanwhile needs no alarm
                log.warning("no alarm for %s: %s", vm.name, error)
            return None


def alarm_spec(vm_name: str) -> vim.alarm.AlarmSpec:
    """Red while the VM is powered off or its guest heartbeat is red; no actions, no e-mail."""
    off = vim.alarm.StateAlarmExpression(type=vim.VirtualMachine, statePath="runtime.powerState",
                                         operator="isEqual", red="poweredOff")
    heartbeat = vim.alarm.StateAlarmExpression(type=vim.VirtualMachine,
                                               statePath="summary.quickStats.guestHeartbeatStatus",
                                               operator="isEqual", red="red")
    return vim.alarm.AlarmSpec(
        name=ALARM_PREFIX + vm_name, enabled=True,
        description="vsphere-dr: red while this VM is powered off or its guest heartbeat is red. "
                    "Created and read by vsphere-dr; keep its name prefix.",
        expression=vim.alarm.OrAlarmExpression(expression=[off, heartbeat]),
        setting=vim.alarm.AlarmSetting(reportingFrequency=0, toleranceRange=0))


def _manager(content: vim.ServiceInstanceContent) -> vim.alarm.AlarmManager:
    if content.alarmManager is None:
        raise AlarmsUnavailable("this vCenter has no AlarmManager")
    return content.alarmManager


def _ours(content: vim.ServiceInstanceContent, manager: vim.alarm.AlarmManager) -> dict[str, str]:
    """VM moref -> alarm moref of this tool's alarms, in two round trips."""
    alarms = manager.GetAlarm()  # no entity: the alarms of every entity the session sees
    infos = retrieve_objects(content, alarms, vim.alarm.Alarm, ("info.name", "info.entity"))
    return {_moref(info["info.entity"]): _moref(alarm) for alarm, info in infos
            if str(info.get("info.name", "")).startswith(ALARM_PREFIX)
            and isinstance(info.get("info.entity"), vim.VirtualMachine)}


def _moref(obj: Any) -> str:
    return obj._moId


@contextmanager
def alarm_faults(doing: str) -> Iterator[None]:
    """Re-raise a vSphere fault as ours; one saying alarms cannot be used as AlarmsUnavailable."""
    try:
        yield
    except vmodl.MethodFault as fault:
        raise _translated(fault, doing) from fault


def _translated(fault: vmodl.MethodFault, doing: str) -> VCenterError:
    error = translate(fault, doing)
    # NotAuthenticated is a NoPermission too, but it means an expired session, not a missing privilege.
    no_privilege = isinstance(fault, vim.fault.NoPermission) and not isinstance(error, SessionExpired)
    if isinstance(error, NotSupported) or no_privilege:
        return AlarmsUnavailable(str(error))
    return error
