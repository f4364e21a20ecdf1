"""Wait for vCenter tasks with a timeout and report their faults as the project's exceptions."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.errors import TaskTimeout, VCenterUnreachable
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated, translate

log = logging.getLogger(__name__)
_ENDED = (vim.TaskInfo.State.success, vim.TaskInfo.State.error)
_MAX_WAIT_SECONDS = 10  # each WaitForUpdatesEx returns at least this often (the listener ends when idle)
_RUNNING_CHECK_SECONDS = 1.0  # how often ``while_running`` is called while a task runs
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


class TaskWaiter:
    """Waits for many tasks at once, as govmomi's task.Wait does (property.WaitForUpdates): a
    PropertyCollector of its own (CreatePropertyCollector: the session's default one is shared),
    one filter per awaited task on ``info.state``/``result``/``error``, and one thread calling
    WaitForUpdatesEx while any task is awaited, waking each task's waiter when its state changes.
    No task is polled: each is read once after its filter exists (one that ended before is seen
    then) and once more at its timeout."""

    def __init__(self, session: VCenterSession, read: Callable[[vim.Task], dict[str, Any]] = task_progress) -> None:
        self._session, self._read = session, read
        self._lock = threading.Lock()
        self._collector: Any = None
        self._version = ""
        self._slots: dict[str, _Slot] = {}  # task moref -> its waiter
        self._ended: list[Any] = []  # filters of tasks no longer awaited, removed between two waits
        self._thread: threading.Thread | None = None

    def wait(self, task: vim.Task, timeout: float, doing: str,
             while_running: Callable[[], None] | None = None) -> Any:
        """Block until ``task`` succeeds and return its result.

        A task that ends in error raises the translated fault; one still running after ``timeout``
        seconds raises TaskTimeout, and a connection lost while waiting VCenterUnreachable: either way
        the task is left to vCenter (it may still finish there, which is why callers verify the
        post-condition rather than trust the wait). ``while_running`` is called while the task is seen
        running, once a second, the task read after each (power-on answers vCenter's question; the
        one task vcsim keeps running, whose end it may not report: docs/simulator.md).
        """
        deadline = time.monotonic() + timeout
        with faults_translated(doing), _lost_while_waiting(task, doing):
            slot = self._watch(task)
            try:
                info = self._read(task)
                while info["state"] not in _ENDED:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        info = self._read(task)  # the last word, in case an update was lost
                        if info["state"] in _ENDED:
                            break
                        raise TaskTimeout(f"task {info['key']} ({doing}) still {info['state']} after "
                                          f"{timeout:g} s; it may still complete in vCenter")
                    if while_running is not None and info["state"] == vim.TaskInfo.State.running:
                        while_running()
                        slot.wait(min(left, _RUNNING_CHECK_SECONDS))
                        info = self._read(task)  # vcsim may not report it to a filter made meanwhile
                    else:
                        slot.wait(left)
                        info = {**info, **slot.seen()}
            finally:
                self._forget(task, slot)
        if info["state"] == vim.TaskInfo.State.error:
            raise translate(info["error"], doing) from info["error"]
        return info.get("result")

    def _watch(self, task: vim.Task) -> _Slot:
        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=task)],
                             propSet=[pc.PropertySpec(type=vim.Task, pathSet=list(_PATHS))])
        with self._lock:
            if self._collector is None:
                self._collector = self._session.content().propertyCollector.CreatePropertyCollector()
                self._version = ""
            collector = self._collector
        try:
            slot = _Slot(collector.CreateFilter(spec, partialUpdates=True))
        except BaseException:
            with self._lock:  # a collector of an expired session, say: the next wait makes a new one
                if self._collector is collector and not self._slots:
                    self._collector = None
            raise
        with self._lock:
            self._slots[task._moId] = slot
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="task-waiter", daemon=True)
                self._thread.start()
        return slot

    def _forget(self, task: vim.Task, slot: _Slot) -> None:
        """The task's filter goes; by the listener between two waits while it listens (vcsim 0.24.2
        fails a WaitForUpdatesEx whose collector loses a filter meanwhile: docs/simulator.md)."""
        with self._lock:
            self._slots.pop(task._moId, None)
            if self._thread is not None:
                self._ended.append(slot.filter)
                return
        _destroy(slot.filter)

    def _listen(self) -> None:
        """The one thread that waits for every awaited task's updates."""
        options = vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=_MAX_WAIT_SECONDS)
        while True:
            with self._lock:
                ended, self._ended = self._ended, []
            for property_filter in ended:
                _destroy(property_filter)
            with self._lock:
                if self._ended:
                    continue
                if not self._slots:
                    self._thread = None
                    return
                collector, version = self._collector, self._version
            try:
                update = collector.WaitForUpdatesEx(version, options)
            except BaseException as exc:  # noqa: BLE001 - every waiter gets it; the next wait starts afresh
                self._fail_all(exc)
                return
            if update is not None:
                self._deliver(update)

    def _deliver(self, update: Any) -> None:
        with self._lock:
            self._version = update.version
            for filter_update in update.filterSet or ():
                for obj in filter_update.objectSet or ():
                    slot = self._slots.get(obj.obj._moId)
                    if slot is not None:
                        slot.changed({change.name.removeprefix("info."): change.val for change in obj.changeSet or ()})

    def _fail_all(self, exc: BaseException) -> None:
        """The listener failed (lost connection, expired session): every waiter gets its error, and
        the next wait starts with a new collector (this one goes, with its filters, if it can)."""
        with self._lock:
            for slot in self._slots.values():
                slot.failed(exc)
            self._slots.clear()
            collector = self._collector
            self._collector, self._version, self._thread, self._ended = None, "", None, []
        _destroy(collector, "DestroyPropertyCollector")


def _destroy(managed: Any, method: str = "DestroyPropertyFilter") -> None:
    """Best effort: the session's end removes it too."""
    try:
        getattr(managed, method)()
    except Exception as exc:  # noqa: BLE001 - a filter or collector left behind costs nothing lasting
        log.debug("%s failed (ignored): %s", method, exc)


class _Slot:
    """One awaited task: what the listener has seen of it."""

    def __init__(self, property_filter: Any) -> None:
        self.filter = property_filter
        self._event = threading.Event()
        self._seen: dict[str, Any] = {}
        self._error: BaseException | None = None

    def changed(self, values: dict[str, Any]) -> None:
        self._seen.update(values)
        self._event.set()

    def failed(self, exc: BaseException) -> None:
        self._error = exc
        self._event.set()

    def wait(self, seconds: float) -> None:
        """Until the task's next update (or the listener's error, raised here), at most ``seconds``."""
        if self._event.wait(seconds):
            self._event.clear()
        if self._error is not None:
            raise self._error

    def seen(self) -> dict[str, Any]:
        return dict(self._seen)


@contextmanager
def _lost_while_waiting(task: vim.Task, doing: str) -> Iterator[None]:
    """Say which task a lost connection interrupted the wait for; the cause stays the network error."""
    try:
        yield
    except VCenterUnreachable as lost:
        message = f"{lost}; task {task._moId} ({doing}) may still complete in vCenter"
        raise VCenterUnreachable(message) from lost.__cause__ or lost


def start_task(session: VCenterSession, start: Callable[[], vim.Task], doing: str) -> vim.Task:
    """Start a task, logging in again first if the session expired."""

    def started(_content: Any) -> vim.Task:
        with faults_translated(doing):
            return start()

    return session.call(started, doing)


def run_task(session: VCenterSession, waiter: TaskWaiter, start: Callable[[], vim.Task], timeout: float,
             doing: str) -> Any:
    """Start a task and wait for its result."""
    return waiter.wait(start_task(session, start, doing), timeout, doing)
