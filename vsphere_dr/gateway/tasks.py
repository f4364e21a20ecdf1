"""Wait for vCenter tasks with a timeout and report their faults as the project's exceptions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.errors import TaskTimeout, VCenterUnreachable
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated, translate

_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 2.0
# Only these fields are read: the whole TaskInfo also carries the task's entity, which some
# servers (vcsim for snapshot tasks) report with a type pyVmomi refuses to deserialize.
_PATHS = ("info.key", "info.state", "info.result", "info.error")


def task_progress(task: vim.Task) -> dict[str, Any]:
    """The task's key, state, result and error, in one round trip."""
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=task)],
                         propSet=[pc.PropertySpec(type=vim.Task, pathSet=list(_PATHS))])
    collector = pc("propertyCollector", task._stub)
    result = collector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
    return {prop.name.removeprefix("info."): prop.val for prop in result.objects[0].propSet}


def wait_for_task(task: vim.Task, timeout: float, doing: str,
                  read: Callable[[vim.Task], dict[str, Any]] = task_progress) -> Any:
    """Block until ``task`` succeeds and return its result.

    A task that ends in error raises the translated fault; one still running after ``timeout``
    seconds raises TaskTimeout, and a connection lost while waiting VCenterUnreachable: either way
    the task is left to vCenter (it may still finish there, which is why callers verify the
    post-condition rather than trust the wait).
    """
    deadline = time.monotonic() + timeout
    pause = _FIRST_POLL_SECONDS
    while True:
        with faults_translated(doing), _lost_while_waiting(task, doing):
            info = read(task)
        if info["state"] == vim.TaskInfo.State.success:
            return info.get("result")
        if info["state"] == vim.TaskInfo.State.error:
            raise translate(info["error"], doing) from info["error"]
        if time.monotonic() >= deadline:
            raise TaskTimeout(f"task {info['key']} ({doing}) still {info['state']} after {timeout:g} s; "
                              "it may still complete in vCenter")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, _MAX_POLL_SECONDS)


@contextmanager
def _lost_while_waiting(task: vim.Task, doing: str) -> Iterator[None]:
    """Say which task a lost connection interrupted the wait for; the cause stays the network error."""
    try:
        yield
    except VCenterUnreachable as lost:
        message = f"{lost}; task {task._moId} ({doing}) may still complete in vCenter"
        raise VCenterUnreachable(message) from lost.__cause__ or lost


def run_task(session: VCenterSession, start: Callable[[], vim.Task], timeout: float, doing: str) -> Any:
    """Start a task (logging in again first if the session expired) and wait for its result."""

    def started(_content: Any) -> vim.Task:
        with faults_translated(doing):
            return start()

    return wait_for_task(session.call(started, doing), timeout, doing)
