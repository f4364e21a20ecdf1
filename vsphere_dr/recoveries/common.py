"""Steps and step bodies shared by several kinds of action.

Every read here is of the few objects a step is about (``vm_records``/``host_runtimes``: one
round trip each), never the whole inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from vsphere_dr.errors import InvalidState, VCenterError
from vsphere_dr.recoveries.base import Interrupted, Run, Step, StepFailed, guard
from vsphere_dr.records import HostRuntime, VmRecord
from vsphere_dr.vcenter import Gateway

POLL_SECONDS = 1.0
T = TypeVar("T")
Which = Callable[[Run[Any, Any]], str]  # which VM a step is about: the target, or the copy


def host_removed(host: str) -> str:
    """Done when failed host ``host`` is out of vCenter: its VMs' registrations need it."""
    return f"host removed:{host}"


def host_added(name: str) -> str:
    """Done when host ``name`` is in vCenter (a spare host): what is registered onto it needs it."""
    return f"host added:{name}"


def target(run: Run[Any, Any]) -> str:
    return run.target


def read_vm(run: Run[Any, Any], moref: str, gateway: Gateway | None = None) -> VmRecord:
    found = (gateway or run.tools.gateway).vm_records([moref]).get(moref)
    if found is None:
        raise StepFailed("read", f"{moref} is no longer in vCenter")
    return found


def host_runtime(run: Run[Any, Any], moref: str) -> HostRuntime | None:
    return run.tools.gateway.host_runtimes([moref]).get(moref)


def host_connected(run: Run[Any, Any], moref: str) -> bool:
    host = host_runtime(run, moref)
    return host is not None and host.connection_state == "connected"


def answering_address(run: Run[Any, Any], moref: str) -> str | None:
    vm = read_vm(run, moref)
    return vm.ip if vm.power_state == "poweredOn" and vm.ip and run.tools.probe(vm.ip) else None


def answers_again(run: Run[Any, Any]) -> str | None:
    if answering_address(run, run.target):
        return f"{run.name} answers again: nothing to recover"
    return None


def _moved(run: Run[Any, Any]) -> str | None:
    now = read_vm(run, run.target).host
    if now != run.params.host:
        return f"{run.name} is now on {now}, not on {run.params.host} where it failed: not touched"
    return None


STILL_DOWN = guard("still_down", "{name} still does not answer", answers_again)
SAME_HOST = guard("same_host", "the VM is still on host {host}", _moved)


def power_on(gateway: Gateway, moref: str, run: Run[Any, Any]) -> None:
    if read_vm(run, moref, gateway).power_state == "poweredOn":
        return
    try:
        gateway.vms.power_on(moref)
    except InvalidState:
        # A power-on a stopped controller had asked for may land between our read and ours
        # (vCenter carries out a task whose client died): the step's check decides.
        pass


def power_problem(gateway: Gateway, moref: str, run: Run[Any, Any]) -> str | None:
    state = read_vm(run, moref, gateway).power_state
    return None if state == "poweredOn" else f"{moref} is {state} after power-on"


def powered_on(which: Which = target, name: str = "powered_on", admin: bool = False) -> Step:
    """Power on the VM ``which`` names (in the admin vCenter when ``admin``), unless it runs."""

    def gateway(run: Run[Any, Any]) -> Gateway:
        return run.tools.admin_gateway if admin else run.tools.gateway

    return Step(name, lambda run: power_on(gateway(run), which(run), run),
                lambda run: power_problem(gateway(run), which(run), run))


def answers(which: Which = target) -> Step:
    """Wait until the VM answers its probe (``[recovery] confirm_timeout_seconds``)."""

    def wait(run: Run[Any, Any]) -> None:
        timeout = run.tools.settings().recovery.confirm_timeout_seconds
        moref = which(run)
        run.progress.address = wait_for(run, lambda: answering_address(run, moref), timeout,
                                        f"{moref} did not answer its probe within {timeout:.0f} s")
        run.progress.answered_at = run.tools.clock()

    return Step("answers", wait)


def wait_for(run: Run[Any, Any], ready: Callable[[], T | None], timeout: float, failure: str) -> T:
    deadline = run.tools.clock() + timeout
    while True:
        found = ready()
        if found:
            return found
        if run.tools.stop.is_set():
            raise Interrupted("stopping: the action is continued on restart")
        if run.tools.clock() >= deadline:
            raise StepFailed("wait", failure)
        run.tools.sleep(POLL_SECONDS)


def best_effort(operation: Callable[[], None]) -> str | None:
    """Run a step that may fail without failing the action; the error's text, if any."""
    try:
        operation()
    except VCenterError as exc:
        return str(exc)
    return None
