"""Each kind of action as small named steps, each with a check of its post-condition.

As OpenStack Masakari splits a host failure into disable, prepare, evacuate and confirm, every
recovery here is a list of steps. A step's ``run`` does one thing in vCenter; its ``check`` then
reads vCenter again and says what is wrong, if anything. After a crash the executor skips the
steps the journal shows as reached whose post-condition still holds, and every step that
creates something first looks for what an interrupted run may have created already: a
recovery is continued, never done twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from threading import Event
from typing import Any

from vsphere_dr.errors import InvalidState, VCenterError, VsphereDrError
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.records import VmRecord
from vsphere_dr.settings import Settings

POLL_SECONDS = 1.0


class NoLongerNeeded(VsphereDrError):
    """A precondition of the action no longer holds (the VM answers again, the host is back)."""


class StepFailed(VsphereDrError):
    def __init__(self, step: str, problem: str) -> None:
        super().__init__(f"step {step}: {problem}")
        self.step = step


class Interrupted(VsphereDrError):
    """The controller is stopping: the action stays in the journal and is continued on restart."""


@dataclass
class Step:
    name: str
    run: Callable[[], dict[str, Any] | None]
    check: Callable[[], str | None] = lambda: None  # None when the post-condition holds


@dataclass
class Tools:
    """What the steps act with."""

    gateway: VCenterGateway
    admin_gateway: VCenterGateway  # holds the VMs behind nested vHosts (may be ``gateway``)
    settings: Settings
    probe: Callable[[str], bool]  # does this address answer its probe now?
    stop: Event = field(default_factory=Event)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


class Flows:
    """Builds the steps of one action; ``result`` carries what steps produced (the copy's moref...)."""

    def __init__(self, tools: Tools, action: Action, result: dict[str, Any]) -> None:
        self.t, self.a, self.p, self.result = tools, action, action.params, result

    def steps(self) -> list[Step]:
        return {
            ActionKind.RESTART_FROM_SNAPSHOT: self._restart,
            ActionKind.POWER_ON: self._power_on_in_place,
            ActionKind.RESET: self._reset,
            ActionKind.REVIVE_HOST: self._revive_host,
            ActionKind.CLONE_TO_HOST: self._clone,
            ActionKind.CLONE_AND_MIGRATE: self._clone,
            ActionKind.RECOVER_ON_SPARE_HOST: self._spare_host,
            ActionKind.KEEP_ORIGINAL_OFF: self._keep_off,
        }[self.a.kind]()

    # --- flows ---------------------------------------------------------------------------

    def _restart(self) -> list[Step]:
        vm = self.a.target
        return [self._still_down(), Step("reverted", lambda: self._do(self.t.gateway.vms.revert_to_snapshot,
                                                                      self.p["snapshot"])),
                self._powered_on(vm), self._answers(vm)]

    def _power_on_in_place(self) -> list[Step]:
        return [self._still_down(), self._powered_on(self.a.target), self._answers(self.a.target)]

    def _reset(self) -> list[Step]:
        vm = self.a.target
        return [Step("reset", lambda: self._do(self.t.gateway.vms.reset, vm)), self._powered_on(vm),
                self._answers(vm)]

    def _revive_host(self) -> list[Step]:
        backing, ops = self.p["backing_vm"], self.t.admin_gateway.vms
        steps = [Step("host_still_down", self._host_still_down)]
        if self.p.get("snapshot"):
            steps.append(Step("backing_reverted", lambda: self._do(ops.revert_to_snapshot, self.p["snapshot"])))
        steps.append(Step("backing_powered_on", lambda: self._power_on(self.t.admin_gateway, backing),
                          lambda: self._power_problem(self.t.admin_gateway, backing)))
        steps.append(Step("host_connected", self._wait_for_host, self._host_problem))
        return steps

    def _clone(self) -> list[Step]:
        return [self._still_down(), Step("host_still_down", self._failed_host_still_down),
                Step("original_fenced", self._fence_original),
                Step("cloned", self._clone_once, self._copy_exists),
                Step("placed", self._place_copy, self._placement_problem),
                self._powered_on(None), self._answers(None),
                Step("original_marked", self._mark_original)]

    def _spare_host(self) -> list[Step]:
        return [Step("spare_host_added", self._add_spare_host, self._spare_host_problem)] + self._clone()

    def _keep_off(self) -> list[Step]:
        vm = self.a.target
        return [Step("original_off", lambda: self._do(self.t.gateway.vms.power_off, vm),
                     lambda: None if self._vm(vm).power_state == "poweredOff" else "the original still runs"),
                Step("original_marked", self._mark_original)]

    # --- shared steps --------------------------------------------------------------------

    def _still_down(self) -> Step:
        def check_needed() -> dict[str, Any] | None:
            vm = self._vm(self.a.target)
            if vm.ip and vm.power_state == "poweredOn" and self.t.probe(vm.ip):
                raise NoLongerNeeded(f"{self.a.name} answers again: nothing to recover")
            return None

        return Step("still_down", check_needed)

    def _powered_on(self, vm: str | None) -> Step:
        moref = lambda: vm or self.result["copy"]  # noqa: E731 - the copy exists only once cloned
        return Step("powered_on", lambda: self._power_on(self.t.gateway, moref()),
                    lambda: self._power_problem(self.t.gateway, moref()))

    def _answers(self, vm: str | None) -> Step:
        return Step("answers", lambda: self._wait_until_answers(vm or self.result["copy"]))

    # --- step bodies ---------------------------------------------------------------------

    @staticmethod
    def _do(operation: Callable[[str], None], moref: str) -> None:
        operation(moref)

    def _vm(self, moref: str, gateway: VCenterGateway | None = None) -> VmRecord:
        found = (gateway or self.t.gateway).vm_records([moref]).get(moref)
        if found is None:
            raise StepFailed("read", f"{moref} is no longer in vCenter")
        return found

    def _power_on(self, gateway: VCenterGateway, moref: str) -> None:
        if self._vm(moref, gateway).power_state == "poweredOn":
            return
        try:
            gateway.vms.power_on(moref)
        except InvalidState:
            # A power-on a stopped controller had asked for may land between our read and ours
            # (vCenter carries out a task whose client died): the step's check decides.
            pass

    def _power_problem(self, gateway: VCenterGateway, moref: str) -> str | None:
        state = self._vm(moref, gateway).power_state
        return None if state == "poweredOn" else f"{moref} is {state} after power-on"

    def _wait_until_answers(self, moref: str) -> dict[str, Any]:
        timeout = self.t.settings.recovery.confirm_timeout_seconds
        address = self._wait(lambda: self._answering_address(moref), timeout,
                             f"{moref} did not answer its probe within {timeout:.0f} s")
        return {"answered_at": self.t.clock(), "address": address}

    def _answering_address(self, moref: str) -> str | None:
        vm = self._vm(moref)
        return vm.ip if vm.ip and self.t.probe(vm.ip) else None

    def _wait(self, ready: Callable[[], Any], timeout: float, failure: str) -> Any:
        deadline = self.t.clock() + timeout
        while True:
            found = ready()
            if found:
                return found
            if self.t.stop.is_set():
                raise Interrupted("stopping: the action is continued on restart")
            if self.t.clock() >= deadline:
                raise StepFailed("wait", failure)
            self.t.sleep(POLL_SECONDS)

    def _host_still_down(self) -> None:
        host = self.t.gateway.inventory().hosts.get(self.a.target)
        if host is not None and host.connection_state == "connected":
            raise NoLongerNeeded(f"{self.a.name} is connected again: no revive needed")

    def _failed_host_still_down(self) -> None:
        host = self.t.gateway.inventory().hosts.get(self.p["failed_host"])
        if host is not None and host.connection_state == "connected":
            raise NoLongerNeeded(f"the host of {self.a.name} is connected again: no copy is made")

    def _wait_for_host(self) -> dict[str, Any]:
        timeout = self.t.settings.recovery.host_boot_timeout_seconds
        self._wait(lambda: self._host_problem() is None, timeout,
                   f"{self.a.name} did not come back within {timeout:.0f} s (host_boot_timeout_seconds)")
        return {"host_back_at": self.t.clock()}

    def _host_problem(self) -> str | None:
        host = self.t.gateway.inventory().hosts.get(self.a.target)
        state = host.connection_state if host else "gone"
        return None if state == "connected" else f"{self.a.name} is {state}"

    def _fence_original(self) -> dict[str, Any]:
        """Power the original off if vCenter still can: with its host down it usually cannot, and
        the copy is made anyway; the original is then kept off when its host returns."""
        try:
            if self._vm(self.a.target).power_state == "poweredOn":
                self.t.gateway.vms.power_off(self.a.target)
            return {"original_fenced": True}
        except VCenterError as exc:
            return {"original_fenced": False, "fence_error": str(exc)}

    def _clone_once(self) -> dict[str, Any]:
        existing = self.t.gateway.inventory().vm_by_name(self.p["clone_name"])
        if existing is not None:  # an interrupted run made it already
            return {"copy": existing.moref}
        host, pool, datastore = self._clone_location()
        annotation = f"vsphere-dr: copy of {self.a.name} ({self.a.target}), made {_now_text(self.t.clock())}"
        copy = self.t.gateway.vms.clone_from_snapshot(self.a.target, self.p.get("snapshot"), self.p["clone_name"],
                                                      host, pool, datastore, annotation)
        return {"copy": copy}

    def _clone_location(self) -> tuple[str, str, str]:
        """Where the clone is made: on the target directly, or, for clone-and-migrate (the paper's
        scenario 3f), beside the original's files, from where the next step cold-migrates it."""
        if self.a.kind != ActionKind.CLONE_AND_MIGRATE:
            return (*self._target(), self._datastore())
        original = self._vm(self.a.target)
        if not (original.host and original.resource_pool and original.datastores):
            raise StepFailed("cloned", f"vCenter shows no host, pool or datastore for {self.a.name}")
        return original.host, original.resource_pool, original.datastores[0]

    def _copy_exists(self) -> str | None:
        return None if self.result.get("copy") and self._vm(self.result["copy"]) else "the copy is missing"

    def _target(self) -> tuple[str, str]:
        """The target host and resource pool: the plan's, or the spare host's once added."""
        host = self.result.get("host") or self.p["host"]
        pool = self.result.get("pool") or self.p.get("pool")
        if pool is None:
            inv = self.t.gateway.inventory()
            resource = inv.compute_resources[inv.hosts[host].compute_resource or ""]
            pool = resource.resource_pool
        return host, pool

    def _datastore(self) -> str:
        return self.result.get("datastore") or self.p["datastore"]

    def _place_copy(self) -> None:
        if self._placement_problem() is not None:
            host, pool = self._target()
            self.t.gateway.vms.relocate(self.result["copy"], host, pool, self._datastore())

    def _placement_problem(self) -> str | None:
        copy, (host, _) = self._vm(self.result["copy"]), self._target()
        if copy.host != host:
            return f"the copy is on {copy.host}, not on {host}"
        if self._datastore() not in copy.datastores:
            return f"the copy is on {', '.join(copy.datastores)}, not on {self._datastore()}"
        return None

    def _mark_original(self) -> dict[str, Any]:
        """Best effort: the journal, not the annotation, is what keeps the original off."""
        copy = self.result.get("copy") or self.p.get("copy")
        note = (f"vsphere-dr: replaced by {copy} at {_now_text(self.t.clock())} after its host failed. "
                "Keep this VM powered off; delete it once the copy is confirmed.")
        try:
            self.t.gateway.vms.set_annotation(self.a.target, note)
            return {"original_marked": True}
        except VCenterError as exc:
            return {"original_marked": False, "mark_error": str(exc)}

    def _add_spare_host(self) -> dict[str, Any]:
        inv = self.t.gateway.inventory()
        name = self.p["spare_host"]
        host = inv.host_by_name(name)
        if host is None:
            cluster = self.p.get("compute_resource")
            if cluster is not None and not inv.compute_resources[cluster].is_cluster:
                cluster = None
            secret = self.t.settings.inventory.spare_host_secret().get_secret_value()
            moref = self.t.gateway.hosts.add_host(name, self.t.settings.inventory.spare_host_user, secret,
                                                  cluster, self.p["datacenter"])
            inv = self.t.gateway.inventory()
            host = inv.hosts[moref]
        resource = inv.compute_resources.get(host.compute_resource or "")
        stores = [d for d in host.datastores if d in inv.datastores]
        return {"host": host.moref, "pool": resource.resource_pool if resource else None,
                "datastore": self.p["datastore"] if self.p["datastore"] in stores or not stores else stores[0]}

    def _spare_host_problem(self) -> str | None:
        host = self.t.gateway.inventory().hosts.get(self.result.get("host", ""))
        if host is None or host.connection_state != "connected":
            return f"spare host {self.p['spare_host']} is not connected in vCenter"
        return None


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
