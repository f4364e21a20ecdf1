"""The daemon's picture of the inventory, kept up to date with WaitForUpdatesEx.

A session and a PropertyCollector of its own (``CreatePropertyCollector``), one filter over a
ContainerView of the root folder asking for the same properties as a full read (``WANTED``, and
the custom attributes' definitions),
and a thread that waits for updates (``WaitForUpdatesEx``, bounded by ``maxWaitSeconds``) and
applies each one to the objects' property maps: only what changed crosses the wire. A sweep asks
``inventory()`` for the latest consistent picture and never waits for the watcher.

The picture is read whole (the first WaitForUpdatesEx, version "") at start, after a new login
(the collector belongs to the old session) and when vCenter answers InvalidCollectorVersion (it
lost the version). Until that read is complete, and while vCenter cannot be reached,
``inventory()`` returns None and the sweep reads the inventory itself, as ``once`` always does.

Records are built by ``build_inventory``, the full read's own code, from property maps kept as a
full read leaves them; only VMs whose properties changed are rebuilt.

The watcher also notes the first evidence vCenter shows of a failure, as it arrives: a host
going notResponding, a VM powered off, disconnected, or its heartbeat red. ``on_evidence`` is
called once per update that brings new evidence (the daemon runs a health sweep at once) and ``evidence_since(moref)`` says when
it was seen, so that a failure's clock starts then, not at the sweep that happened to look.
docs/simulator.md says what vCenter and vcsim do with WaitForUpdatesEx.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.errors import AuthenticationError, VCenterError
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated
from vsphere_dr.gateway.inventory_reader import FIELDS, WANTED, build_inventory, outside_the_tree
from vsphere_dr.gateway.properties import PropertyMap, filter_spec, path_key, retrieve_objects
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import VCenterSettings

log = logging.getLogger(__name__)
PC = vmodl.query.PropertyCollector
Clock = Callable[[], float]

# What vCenter shows of a failure, as (type, property) -> the values that are evidence of one.
EVIDENCE: dict[tuple[type, str], frozenset[str]] = {
    (vim.HostSystem, "runtime.connectionState"): frozenset({"notResponding"}),
    (vim.VirtualMachine, "runtime.powerState"): frozenset({"poweredOff", "suspended"}),
    (vim.VirtualMachine, "runtime.connectionState"): frozenset({"disconnected", "orphaned", "inaccessible"}),
    (vim.VirtualMachine, "summary.quickStats.guestHeartbeatStatus"): frozenset({"red"}),
}


# Objects whose change can change every VM's record (its folder path, its custom attributes' names).
VM_CONTEXT = (vim.Folder, vim.Datacenter, FIELDS[0])


def paths_of(kind: type) -> tuple[str, ...]:
    """The properties a full read asks of an object of ``kind`` (a cluster's include a compute
    resource's)."""
    return tuple(path for wanted, paths in (*WANTED.items(), FIELDS) if issubclass(kind, wanted) for path in paths)


class InventoryWatcher:
    """Keeps one vCenter's inventory up to date on a thread of its own (``start``/``stop``), or
    one round at a time (``step``: the tests drive it so)."""

    def __init__(self, settings: VCenterSettings, on_evidence: Callable[[str], None] = lambda _: None,
                 clock: Clock = time.time,
                 on_whole_read: Callable[[InventoryWatcher], None] = lambda _: None) -> None:
        self._session = VCenterSession(settings)
        self._on_whole_read = on_whole_read  # after each whole read (the daemon settles its heap then)
        # A wait must return before the HTTP connection's own timeout gives up on it.
        self._max_wait = max(1, int(settings.connect_timeout_seconds) // 2)
        # A wait that has not returned after this long is lost in the network: no picture then.
        self._trusted_for = 2 * self._max_wait + settings.connect_timeout_seconds
        self._retry_after = settings.retry_backoff_seconds
        self._on_evidence, self._clock = on_evidence, clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._collector: Any = None  # PropertyCollector of the current session; None: read whole next
        self._login = -1  # the session's login the collector belongs to
        self._version = ""
        self._props: dict[str, PropertyMap] = {}
        self._kinds: dict[str, type] = {}
        self._vm_cache: dict[str, VmRecord] = {}
        self._built: Inventory | None = None
        self._current_at: float | None = None  # when the picture was last known true; None: it is not
        self._evidence: dict[str, float] = {}  # moref -> when vCenter first showed it failing
        self._stale: set[str] = set()  # objects to read again whole (see _reread)
        self._lost = False  # the last round failed (said once, until the picture is read again)
        self.full_reads = 0

    # --- what a sweep asks ---------------------------------------------------------------

    def inventory(self) -> Inventory | None:
        """The latest consistent picture, or None while there is none (not read yet, vCenter lost,
        or no answer from it for longer than a wait and a timeout)."""
        with self._lock:
            if self._current_at is None or self._clock() - self._current_at > self._trusted_for:
                return None
            if self._built is None:
                self._built = build_inventory(self._props, self._kinds,
                                              datetime.fromtimestamp(self._current_at, timezone.utc), self._vm_cache)
            return self._built

    def evidence_since(self, moref: str) -> float | None:
        """When vCenter first showed this host or VM failing (and has shown it since), if it did."""
        with self._lock:
            return self._evidence.get(moref)

    # --- the thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="inventory-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Cancel the wait in flight (CancelWaitForUpdates, as govmomi does), let the thread end,
        and log out (which ends the collector)."""
        self._stopping.set()
        collector = self._collector
        if collector is not None:
            try:
                with faults_translated("cancelling the inventory watcher's wait"):
                    collector.CancelWaitForUpdates()
            except VCenterError as exc:  # the wait ends within maxWaitSeconds anyway
                log.debug("inventory watcher: %s", exc)
        if self._thread is not None:
            self._thread.join(self._max_wait + 5)
        self._session.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self.step():
                self._stopping.wait(self._retry_after)

    def step(self) -> bool:
        """One round: the whole picture when it must be read again, else one WaitForUpdatesEx.
        False when vCenter could not be read (the picture is then not current)."""
        try:
            with faults_translated("watching the inventory"):
                content = self._session.content()
                if self._collector is None or self._login != self._session.logins:
                    self._read_whole(content)
                else:
                    self._wait(content)
            return True
        except VCenterError as exc:
            self._report(exc)
        # A new login next time, and with it a new collector: the old one ends with its session.
        self._session.close()
        self._forget()
        return False

    def _report(self, exc: VCenterError) -> None:
        """Say why the picture is lost: once, not at every retry. A refused login ends the
        watcher: retried every few seconds, it could lock the account."""
        if self._stopping.is_set():  # the wait that stop() cancelled
            return
        if isinstance(exc, AuthenticationError):
            log.error("inventory watcher stopped: %s; sweeps read the inventory themselves", exc)
            self._stopping.set()
        elif isinstance(exc.__cause__, vmodl.query.InvalidCollectorVersion):
            log.warning("vCenter lost the inventory watcher's version: reading the inventory whole again")
        elif not self._lost:
            log.warning("inventory watcher: %s; sweeps read the inventory themselves until it is back", exc)
        self._lost = True

    def _forget(self) -> None:
        with self._lock:
            self._collector, self._current_at, self._built, self._stale = None, None, None, set()

    def _read_whole(self, content: vim.ServiceInstanceContent) -> None:
        """A new collector and filter; the first WaitForUpdatesEx (version "") gives every object."""
        collector = content.propertyCollector.CreatePropertyCollector()
        view = content.viewManager.CreateContainerView(content.rootFolder, list(WANTED), True)
        collector.CreateFilter(filter_spec(view, WANTED, outside_the_tree(content)), partialUpdates=False)
        with self._lock:
            self._props, self._kinds, self._vm_cache, self._evidence = {}, {}, {}, {}
            self._collector, self._login, self._version = collector, self._session.logins, ""
        updates = collector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0))
        while updates is not None and self._apply(updates, initial=True):
            updates = collector.WaitForUpdatesEx(self._version, PC.WaitOptions(maxWaitSeconds=0))
        self._reread(content)
        self.full_reads += 1
        self._lost = False
        log.info("inventory watcher: %d objects read whole", len(self._props))
        self._on_whole_read(self)

    def _wait(self, content: vim.ServiceInstanceContent) -> None:
        updates = self._collector.WaitForUpdatesEx(self._version, PC.WaitOptions(maxWaitSeconds=self._max_wait))
        if updates is None:  # nothing changed within maxWaitSeconds: the picture is still true
            with self._lock:
                self._current_at = self._clock()
            return
        while self._apply(updates):  # truncated: the rest follows at once
            updates = self._collector.WaitForUpdatesEx(self._version, PC.WaitOptions(maxWaitSeconds=0))
            if updates is None:
                break
        self._reread(content)

    # --- applying updates ----------------------------------------------------------------

    def _apply(self, updates: Any, initial: bool = False) -> bool:
        """Apply one UpdateSet; True if it was truncated (more follows). The picture counts as
        consistent again only after the last part of a truncated series."""
        woken: list[str] = []
        now = self._clock()
        with self._lock:
            for part in updates.filterSet or ():
                for update in part.objectSet or ():
                    woken.extend(self._object_update(update, now, initial))
            self._version, self._built = updates.version, None
            truncated = bool(updates.truncated)
            self._current_at = None if truncated or self._stale else now
        if woken:  # hosts first: a host's VMs show disconnected with it
            first = sorted(woken, key=lambda what: not what.endswith("notResponding"))[0]
            self._on_evidence(first + (f" (and {len(woken) - 1} more)" if len(woken) > 1 else ""))
        return truncated

    def _object_update(self, update: Any, now: float, initial: bool) -> list[str]:
        moref, kind = update.obj._moId, type(update.obj)
        if issubclass(kind, VM_CONTEXT):
            self._vm_cache.clear()
        if update.kind == "leave":
            for table in (self._props, self._kinds, self._vm_cache, self._evidence):
                table.pop(moref, None)
            return []
        if update.kind == "enter":
            self._props[moref], self._kinds[moref] = {}, kind
        elif moref not in self._props:  # a change to an object never entered: read it whole
            self._stale.add(moref)
        props = self._props.setdefault(moref, {})
        self._kinds.setdefault(moref, kind)
        self._vm_cache.pop(moref, None)
        wanted = paths_of(kind)
        names = set()
        for change in update.changeSet or ():
            name = path_key(change.name)
            names.add(name)
            if name not in wanted or change.op not in ("assign", "indirectRemove"):
                # An array element added or removed (name[key]): read the object again.
                self._stale.add(moref)
            elif change.op == "assign" and change.val is not None:
                props[name] = change.val
            else:
                props.pop(name, None)
        if initial or not names & {path for k, path in EVIDENCE if issubclass(kind, k)}:
            return []
        return self._note_evidence(moref, kind, props, now)

    def _note_evidence(self, moref: str, kind: type, props: PropertyMap, now: float) -> list[str]:
        """Start or end this object's evidence of a failure; the evidence that is new."""
        shown = [f"{props.get('name', moref)}: {path} {props.get(path)}" for (k, path), bad in EVIDENCE.items()
                 if issubclass(kind, k) and str(props.get(path)) in bad]
        if not shown:
            self._evidence.pop(moref, None)
            return []
        if moref in self._evidence:
            return []
        self._evidence[moref] = now
        return shown[:1]

    def _reread(self, content: vim.ServiceInstanceContent) -> None:
        """Read again, whole, the objects whose changes could not be applied (array element
        operations, a change to an object never entered); one that is gone is dropped."""
        with self._lock:
            stale, self._stale = self._stale, set()
            kinds = {moref: self._kinds[moref] for moref in stale if moref in self._kinds}
        if not stale:
            return
        found: dict[str, PropertyMap] = {}
        for kind in set(kinds.values()):
            objects = [kind(moref, content.rootFolder._stub) for moref, k in kinds.items() if k is kind]
            found.update((obj._moId, p) for obj, p in retrieve_objects(content, objects, kind, paths_of(kind)))
        with self._lock:
            for moref in kinds:
                self._vm_cache.pop(moref, None)
                if moref in found:
                    self._props[moref] = found[moref]
                else:
                    self._props.pop(moref, None)
                    self._kinds.pop(moref, None)
            self._built, self._current_at = None, self._clock()

