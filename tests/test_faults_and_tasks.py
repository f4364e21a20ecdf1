"""Fault translation and task waits (small units: fakes for the task, real pyVmomi fault objects)."""

from __future__ import annotations

from typing import Any

import pytest
from pyVmomi import vim, vmodl

from vsphere_dr import errors
from vsphere_dr.gateway.alarms import alarm_faults
from vsphere_dr.gateway.faults import faults_translated, translate
from vsphere_dr.gateway.tasks import wait_for_task


@pytest.mark.parametrize(("fault", "ours", "name"), [
    (vim.fault.DuplicateName(name="web-01", msg="The name 'web-01' already exists."), errors.DuplicateName, "DuplicateName"),
    (vmodl.fault.ManagedObjectNotFound(msg="vm-9 has been deleted"), errors.ObjectNotFound, "ManagedObjectNotFound"),
    (vim.fault.InvalidPowerState(msg="powered off"), errors.InvalidState, "InvalidPowerState"),
    (vmodl.fault.MethodNotFound(msg="AlarmManager does not implement GetAlarm"), errors.NotSupported, "MethodNotFound"),
    (vim.fault.FileFault(msg="disk locked"), errors.VSphereFault, "FileFault"),
])
def test_fault_becomes_our_exception(fault: vmodl.MethodFault, ours: type, name: str) -> None:
    exc = translate(fault, "cloning web-01")
    assert type(exc) is ours and exc.fault_type == name
    assert str(exc) == f"vCenter fault {name} while cloning web-01: {fault.msg}"


def test_login_and_session_faults() -> None:
    assert isinstance(translate(vim.fault.InvalidLogin(), "x"), errors.AuthenticationError)
    assert isinstance(translate(vim.fault.NotAuthenticated(), "x"), errors.SessionExpired)


def test_fault_without_text_uses_its_localized_message_or_name() -> None:
    fault = vim.fault.InvalidState(faultMessage=[vmodl.LocalizableMessage(key="k", message="host in maintenance")])
    assert str(translate(fault, "powering on")).endswith(": host in maintenance")
    assert str(translate(vim.fault.NoDiskSpace(), "cloning")).endswith(": NoDiskSpace")


@pytest.mark.parametrize("fault", [
    vmodl.fault.MethodNotFound(msg="AlarmManager:AlarmManager does not implement: GetAlarm"),
    vmodl.fault.NotSupported(), vim.fault.NoPermission(privilegeId="Alarm.Create"),
])
def test_alarm_faults_that_mean_no_alarms(fault: vmodl.MethodFault) -> None:
    with pytest.raises(errors.AlarmsUnavailable, match="while finding alarms") as caught:
        with alarm_faults("finding alarms"):
            raise fault
    assert caught.value.__cause__ is fault


def test_other_alarm_faults_stay_what_they_are() -> None:
    with pytest.raises(errors.SessionExpired):  # the session logs in again and retries
        with alarm_faults("finding alarms"):
            raise vim.fault.NotAuthenticated()
    with pytest.raises(errors.VSphereFault) as fault:
        with alarm_faults("finding alarms"):
            raise vim.fault.InvalidName(name="")
    assert not isinstance(fault.value, errors.AlarmsUnavailable)


def test_faults_translated_block() -> None:
    fault = vim.fault.DuplicateName(msg="exists")
    with pytest.raises(errors.DuplicateName) as caught:
        with faults_translated("creating an alarm"):
            raise fault
    assert caught.value.__cause__ is fault  # kept for the traceback


def states(*infos: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A task reader reporting the given progress one read at a time, then staying at the last."""
    queue = list(infos)

    def read(_task: object) -> dict[str, Any]:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return read


def test_wait_returns_the_result() -> None:
    read = states({"key": "task-1", "state": "queued"}, {"key": "task-1", "state": "running"},
                  {"key": "task-1", "state": "success", "result": "vm-77"})
    assert wait_for_task(object(), timeout=5, doing="cloning", read=read) == "vm-77"


def test_wait_raises_the_tasks_fault() -> None:
    fault = vim.fault.InsufficientResourcesFault(msg="no memory")
    read = states({"key": "task-1", "state": "running"}, {"key": "task-1", "state": "error", "error": fault})
    with pytest.raises(errors.VSphereFault, match="InsufficientResourcesFault while powering on web-01: no memory") as caught:
        wait_for_task(object(), timeout=5, doing="powering on web-01", read=read)
    assert caught.value.__cause__ is fault


def test_wait_says_which_task_a_lost_connection_interrupted() -> None:
    reset = ConnectionResetError(104, "Connection reset by peer")

    def read(_task: object) -> dict[str, Any]:
        raise errors.VCenterUnreachable("lost the connection to vCenter at https://vc:443 during "
                                        "RetrievePropertiesEx: Connection reset by peer") from reset

    with pytest.raises(errors.VCenterUnreachable) as caught:
        wait_for_task(vim.Task("task-7"), timeout=5, doing="powering on web-01", read=read)
    assert str(caught.value) == ("lost the connection to vCenter at https://vc:443 during RetrievePropertiesEx: "
                                 "Connection reset by peer; task task-7 (powering on web-01) may still complete "
                                 "in vCenter")
    assert caught.value.__cause__ is reset


def test_wait_times_out() -> None:
    with pytest.raises(errors.TaskTimeout, match=r"task task-1 \(cloning\) still running after 0.2 s"):
        wait_for_task(object(), timeout=0.2, doing="cloning", read=states({"key": "task-1", "state": "running"}))
