"""Fault translation and task waits (small units: fakes for the task, real pyVmomi fault objects)."""

from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from vsphere_dr import errors
from vsphere_dr.gateway.alarms import alarm_faults
from vsphere_dr.gateway.faults import faults_translated, translate
from vsphere_dr.gateway.tasks import TaskWaiter


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


class FakeCollector:
    """A PropertyCollector of the waiter's: hands out the updates a test queues, one per wait."""

    def __init__(self) -> None:
        self.updates: queue.Queue[Any] = queue.Queue()
        self.filters: list[Any] = []
        self.destroyed = 0
        self.waits = 0

    def CreatePropertyCollector(self) -> FakeCollector:  # noqa: N802 - pyVmomi's name
        return self

    def DestroyPropertyCollector(self) -> None:  # noqa: N802
        pass

    def CreateFilter(self, spec: Any, partialUpdates: bool) -> Any:  # noqa: N802,N803
        collector = self

        class Filter:
            def DestroyPropertyFilter(self) -> None:  # noqa: N802
                collector.destroyed += 1

        self.filters.append(spec)
        return Filter()

    def WaitForUpdatesEx(self, version: str, options: Any) -> Any:  # noqa: N802
        self.waits += 1
        try:
            update = self.updates.get(timeout=0.2)
        except queue.Empty:
            return None
        if isinstance(update, BaseException):
            raise update
        return update

    def task_done(self, task: str, state: str, **values: Any) -> None:
        changes = [SimpleNamespace(name=f"info.{k}", val=v) for k, v in {"state": state, **values}.items()]
        obj = SimpleNamespace(obj=vim.Task(task), changeSet=changes)
        self.updates.put(SimpleNamespace(version=str(self.waits), filterSet=[SimpleNamespace(objectSet=[obj])]))


def waiter(collector: FakeCollector, first: dict[str, Any]) -> TaskWaiter:
    session = SimpleNamespace(content=lambda: SimpleNamespace(propertyCollector=collector))
    reads = [first]
    return TaskWaiter(session, read=lambda _task: reads[-1])  # type: ignore[arg-type]


def test_tasks_are_awaited_together_through_one_collector_and_each_gets_its_result() -> None:
    collector = FakeCollector()
    w = waiter(collector, {"key": "task", "state": "running"})
    results: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda t=t: results.update({t: w.wait(vim.Task(t), 5, f"task {t}")}))
               for t in ("task-1", "task-2", "task-3")]
    for thread in threads:
        thread.start()
    while len(collector.filters) < 3:
        time.sleep(0.01)
    for t in ("task-2", "task-1", "task-3"):
        collector.task_done(t, "success", result=f"vm-{t}")
    for thread in threads:
        thread.join(5)
    assert results == {t: f"vm-{t}" for t in ("task-1", "task-2", "task-3")}
    deadline = time.monotonic() + 5
    while collector.destroyed < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert collector.destroyed == 3, "each task's filter removed once it ended"


def test_wait_raises_the_tasks_fault() -> None:
    fault = vim.fault.InsufficientResourcesFault(msg="no memory")
    collector = FakeCollector()
    collector.task_done("task-1", "error", error=fault)
    with pytest.raises(errors.VSphereFault, match="InsufficientResourcesFault while powering on web-01: no memory") as caught:
        waiter(collector, {"key": "task-1", "state": "running"}).wait(vim.Task("task-1"), 5, "powering on web-01")
    assert caught.value.__cause__ is fault


def test_a_task_that_ended_before_its_filter_existed_is_seen_at_once() -> None:
    collector = FakeCollector()
    w = waiter(collector, {"key": "task-1", "state": "success", "result": "vm-77"})
    assert w.wait(vim.Task("task-1"), 5, "cloning") == "vm-77" and collector.waits <= 1


def test_wait_says_which_task_a_lost_connection_interrupted() -> None:
    reset = ConnectionResetError(104, "Connection reset by peer")
    try:
        raise errors.VCenterUnreachable("lost the connection to vCenter at https://vc:443 during "
                                        "WaitForUpdatesEx: Connection reset by peer") from reset
    except errors.VCenterUnreachable as lost:
        collector = FakeCollector()
        collector.updates.put(lost)
    with pytest.raises(errors.VCenterUnreachable) as caught:
        waiter(collector, {"key": "task-7", "state": "running"}).wait(vim.Task("task-7"), 5, "powering on web-01")
    assert str(caught.value) == ("lost the connection to vCenter at https://vc:443 during WaitForUpdatesEx: "
                                 "Connection reset by peer; task task-7 (powering on web-01) may still complete "
                                 "in vCenter")
    assert caught.value.__cause__ is reset


def test_wait_times_out() -> None:
    with pytest.raises(errors.TaskTimeout, match=r"task task-1 \(cloning\) still running after 0.2 s"):
        waiter(FakeCollector(), {"key": "task-1", "state": "running"}).wait(vim.Task("task-1"), 0.2, "cloning")
