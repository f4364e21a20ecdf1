"""Helpers for tests that change the simulator's world: a private simulator, pyVmomi access, probes.

A test that changes the world starts its own simulator from a copy of a topology with a free
probe port of its own, so that simulators of other tests (or a `make demo` running meanwhile)
never answer its probes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from tests.conftest import EXAMPLE_TOPOLOGY
from vsphere_dr.simulator.launcher import Simulator, free_port

T = TypeVar("T")


def example_topology_data() -> dict[str, Any]:
    return json.loads(EXAMPLE_TOPOLOGY.read_text(encoding="utf-8"))


def write_topology(directory: Path, data: dict[str, Any], name: str = "topology.json") -> Path:
    """Write ``data`` with a free probe port of its own; returns the file."""
    data = {**data, "probe_port": free_port()}
    path = directory / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


@contextmanager
def own_simulator(binary: Path, topology: Path, extra_args: Sequence[str] = ()) -> Iterator[Simulator]:
    with Simulator(topology, binary=binary, extra_args=extra_args) as sim:
        yield sim


def probe_port(topology: Path) -> int:
    return int(json.loads(topology.read_text(encoding="utf-8"))["probe_port"])


def answers(address: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to address:port (loopback only) is accepted."""
    assert address.startswith("127."), address
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class Client:
    """A pyVmomi session on a simulator, as any vSphere client would have."""

    def __init__(self, sim: Simulator, user: str = "admin") -> None:
        self.si = SmartConnect(host=sim.host, port=sim.port, user=user, pwd="test-password",
                               protocol=sim.scheme, disableSslCertValidation=True)
        self.content = self.si.RetrieveContent()

    def close(self) -> None:
        Disconnect(self.si)

    def every(self, kind: type) -> list[Any]:
        """Every object of ``kind`` in the inventory, through one container view."""
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            view.DestroyView()

    def find(self, kind: type, name: str) -> Any:
        matches = [obj for obj in self.every(kind) if obj.name == name]
        assert len(matches) == 1, f"{len(matches)} {kind.__name__} named {name}"
        return matches[0]

    def vm(self, name: str) -> vim.VirtualMachine:
        return self.find(vim.VirtualMachine, name)

    def host(self, name: str) -> vim.HostSystem:
        return self.find(vim.HostSystem, name)

    def events(self, *type_ids: str, entity: Any = None) -> list[Any]:
        """Events of the given types, newest first (optionally about one entity)."""
        spec = vim.event.EventFilterSpec(eventTypeId=list(type_ids))
        if entity is not None:
            spec.entity = vim.event.EventFilterSpec.ByEntity(entity=entity, recursion="self")
        return list(self.content.eventManager.QueryEvents(spec))


@contextmanager
def client(sim: Simulator, user: str = "admin") -> Iterator[Client]:
    c = Client(sim, user)
    try:
        yield c
    finally:
        c.close()


def run_task(task: Any) -> Any:
    """Wait for a task; raises its fault if it fails."""
    WaitForTask(task)
    return task.info.result


def wait_until(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a true value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still false after {timeout} s"
            return value
        time.sleep(interval)


def snapshot_trees(vm: vim.VirtualMachine) -> list[Any]:
    """Every snapshot of a VM (its VirtualMachineSnapshotTree), oldest first."""

    def walk(trees: Sequence[Any]) -> Iterator[Any]:
        for tree in trees:
            yield tree
            yield from walk(tree.childSnapshotList)

    roots = vm.snapshot.rootSnapshotList if vm.snapshot else []
    return sorted(walk(roots), key=lambda tree: tree.createTime)


def snapshot_names(vm: vim.VirtualMachine) -> list[str]:
    """Every snapshot's name, oldest first."""
    return [tree.name for tree in snapshot_trees(vm)]


def clone_vm(vc: Client, source: str, name: str, ip: str) -> vim.VirtualMachine:
    """Clone ``source`` as a new VM whose guest reports ``ip``, and power it on, as a person would."""
    vm = vc.vm(source)
    config = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="SET.guest.ipAddress", value=ip)])
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), config=config, powerOn=False, template=False)
    clone = run_task(vm.CloneVM_Task(folder=vm.parent, name=name, spec=spec))
    run_task(clone.PowerOnVM_Task())
    return clone
