"""A small lab in the fake vCenter, one case per kind of action, for the fast recovery tests.

Each ``Case`` builds a world where its action is needed, the action the decision engine would
plan for it, a way to take its precondition away (as a person or the world would: the VM answers
again, the host comes back, the copy was deleted), and the check of what a user cares about once
the action is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tests.fake_vcenter import FakeVCenter
from vsphere_dr.journal import Journal
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.recoveries.base import Params, Tools
from vsphere_dr.recoveries.clone_to_host import CloneParams
from vsphere_dr.recoveries.keep_original_off import KeepOffParams
from vsphere_dr.recoveries.power_on import PowerOnParams
from vsphere_dr.recoveries.recover_on_spare_host import SpareParams
from vsphere_dr.recoveries.reset import ResetParams
from vsphere_dr.recoveries.restart_from_snapshot import RestartParams
from vsphere_dr.recoveries.revive_host import ReviveParams
from vsphere_dr.settings import Settings

NOW = 1_800_000_000.0
IP = "10.0.0.1"
SNAPSHOT_TIME = datetime.fromtimestamp(NOW - 3600, timezone.utc)
SPARE_PASSWORD_ENV = "VSPHERE_DR_TEST_SPARE_PASSWORD"
# The spare host's certificate, as settings.ini may write it (lower case, no ':').
SPARE_THUMBPRINT = "5c0e5a1f7b2d9344a106c83ef219d7604b8ae511"


class Clock:
    """Time under the test's control: sleeping advances it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def settings() -> Settings:
    return Settings.model_validate({
        "vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
        "recovery": {"confirm_timeout_seconds": 30, "host_boot_timeout_seconds": 60},
        "inventory": {"spare_hosts": "esx-spare", "spare_host_password_env": SPARE_PASSWORD_ENV,
                      "spare_host_thumbprints": f"esx-spare = {SPARE_THUMBPRINT}"},
    })


def tools(vc: FakeVCenter, clock: Clock, fixed: Settings | None = None) -> Tools:
    chosen = fixed or settings()
    return Tools(vc.gateway, vc.gateway, lambda: chosen, vc.probe, sleep=clock.sleep, clock=clock)


def journal(directory: Path, clock: Clock) -> Journal:
    return Journal(directory / "journal.sqlite", clock=clock)


def lab() -> FakeVCenter:
    """Two hosts in a cluster sharing ds-shared, a standalone host with its own datastore, and
    web-01 on esx-1 with one snapshot."""
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "cluster-1")
    vc.add_resource("domain-s3", "esx-3", is_cluster=False)
    vc.add_host("host-1", "esx-1", "domain-c1", ("ds-shared",))
    vc.add_host("host-2", "esx-2", "domain-c1", ("ds-shared",))
    vc.add_host("host-3", "esx-3", "domain-s3", ("ds-local3",))
    vc.add_vm("vm-1", "web-01", "host-1", IP)
    vc.add_snapshot("vm-1", "snap-1", "vsphere-dr-20270115T070000Z", SNAPSHOT_TIME)
    return vc


def action(kind: ActionKind, params: Params, target: str = "vm-1", name: str = "web-01") -> Action:
    return Action(kind, target, name, "test", f"test of {kind.value}", params=params)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], tuple[FakeVCenter, Action]]
    withdraw: Callable[[FakeVCenter], None]  # the precondition no longer holds
    check_done: Callable[[FakeVCenter], None]  # what a user cares about once it is done


def answering(vc: FakeVCenter) -> list[str]:
    """The VMs that answer at web-01's address: exactly one once it is recovered."""
    return sorted(vm.name for vm in vc.vms.values() if vm.ip == IP and vc.answers(vm))


def _crashed(vc: FakeVCenter, power: str = "poweredOff") -> None:
    vc.vms["vm-1"].power_state, vc.vms["vm-1"].guest_up = power, False


def _person_started(vc: FakeVCenter) -> None:
    vc.vms["vm-1"].power_state, vc.vms["vm-1"].guest_up = "poweredOn", True


def _restart() -> tuple[FakeVCenter, Action]:
    vc = lab()
    _crashed(vc)
    return vc, action(ActionKind.RESTART_FROM_SNAPSHOT, RestartParams(
        host="host-1", snapshot="snap-1", snapshot_name="vsphere-dr-20270115T070000Z",
        snapshot_created=SNAPSHOT_TIME.timestamp()))


def _power_on() -> tuple[FakeVCenter, Action]:
    vc = lab()
    vc.vms["vm-1"].snapshots.clear()
    _crashed(vc)
    return vc, action(ActionKind.POWER_ON, PowerOnParams(host="host-1"))


def _reset_hung() -> tuple[FakeVCenter, Action]:
    vc = lab()
    vc.vms["vm-1"].snapshots.clear()
    _crashed(vc, power="poweredOn")
    return vc, action(ActionKind.RESET, ResetParams(host="host-1"))


def _reset_ill() -> tuple[FakeVCenter, Action]:
    return lab(), action(ActionKind.RESET, ResetParams(host="host-1", ill=True))


def _person_stopped(vc: FakeVCenter) -> None:
    vc.vms["vm-1"].power_state, vc.vms["vm-1"].guest_up = "poweredOff", False


def _web_answers_on_esx1(vc: FakeVCenter) -> None:
    assert answering(vc) == ["web-01"] and vc.vms["vm-1"].host == "host-1"


def _revive() -> tuple[FakeVCenter, Action]:
    vc = lab()
    vc.hosts["host-3"].connection_state = "notResponding"
    vc.add_vm("vm-9", "nested-esx-3", "host-2", None, power_state="poweredOff", guest_up=False)
    vc.add_snapshot("vm-9", "snap-9", "installed", SNAPSHOT_TIME)
    vc.backs["vm-9"] = "host-3"
    return vc, action(ActionKind.REVIVE_HOST, ReviveParams(backing_vm="vm-9", backing_name="nested-esx-3",
                                                           snapshot="snap-9"), target="host-3", name="esx-3")


def _host_3_back(vc: FakeVCenter) -> None:
    vc.hosts["host-3"].connection_state = "connected"


def _revived(vc: FakeVCenter) -> None:
    assert vc.hosts["host-3"].connection_state == "connected" and vc.vms["vm-9"].power_state == "poweredOn"


COPY_NAME = "web-01-dr270115073000"


def _copy_params(**extra: object) -> dict[str, object]:
    return dict(snapshot="snap-1", snapshot_name="vsphere-dr-20270115T070000Z",
                snapshot_created=SNAPSHOT_TIME.timestamp(), clone_name=COPY_NAME, failed_host="host-1",
                failed_host_name="esx-1", **extra)


def _host_1_dead(vc: FakeVCenter) -> FakeVCenter:
    vc.hosts["host-1"].connection_state = "notResponding"
    return vc


def _clone_to_host() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    return vc, action(ActionKind.CLONE_TO_HOST, CloneParams(
        host="host-2", host_name="esx-2", pool="resgroup-domain-c1", **_copy_params(datastore="ds-shared")))


def _clone_and_migrate() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    vc.hosts["host-2"].in_maintenance = True
    return vc, action(ActionKind.CLONE_AND_MIGRATE, CloneParams(
        host="host-3", host_name="esx-3", pool="resgroup-domain-s3", **_copy_params(datastore="ds-local3")))


def _spare_host() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    vc.hosts["host-2"].in_maintenance = vc.hosts["host-3"].in_maintenance = True
    vc.spare_hosts["esx-spare"] = vc.add_host("host-9", "esx-spare", "domain-c1", ("ds-shared",))
    del vc.hosts["host-9"]  # not in vCenter until added
    return vc, action(ActionKind.RECOVER_ON_SPARE_HOST, SpareParams(
        spare_host="esx-spare", compute_resource="domain-c1", datacenter="dc", **_copy_params(datastore="ds-shared")))


def _host_1_back(vc: FakeVCenter) -> None:
    vc.hosts["host-1"].connection_state = "connected"


def _copy_runs_on(host: str, datastore: str) -> Callable[[FakeVCenter], None]:
    def check(vc: FakeVCenter) -> None:
        (copy,) = [vm for vm in vc.vms.values() if vm.name == COPY_NAME]
        assert answering(vc) == [COPY_NAME], "exactly one running copy answers"
        assert (copy.host, copy.datastores) == (host, (datastore,))
        assert vc.vms["vm-1"].annotation.startswith("vsphere-dr: replaced by"), "the original is marked"

    return check


def _keep_off() -> tuple[FakeVCenter, Action]:
    vc = lab()
    vc.add_vm("vm-5", COPY_NAME, "host-2", IP)
    return vc, action(ActionKind.KEEP_ORIGINAL_OFF, KeepOffParams(copy_vm="vm-5"))


def _copy_deleted(vc: FakeVCenter) -> None:
    del vc.vms["vm-5"]


def _original_off(vc: FakeVCenter) -> None:
    assert vc.vms["vm-1"].power_state == "poweredOff" and vc.vms["vm-5"].power_state == "poweredOn"
    assert answering(vc) == [COPY_NAME]


CASES = (
    Case("restart_from_snapshot", _restart, _person_started, _web_answers_on_esx1),
    Case("power_on", _power_on, _person_started, _web_answers_on_esx1),
    Case("reset", _reset_hung, _person_started, _web_answers_on_esx1),
    Case("reset_ill", _reset_ill, _person_stopped, _web_answers_on_esx1),
    Case("revive_host", _revive, _host_3_back, _revived),
    Case("clone_to_host", _clone_to_host, _host_1_back, _copy_runs_on("host-2", "ds-shared")),
    Case("clone_and_migrate", _clone_and_migrate, _host_1_back, _copy_runs_on("host-3", "ds-local3")),
    Case("recover_on_spare_host", _spare_host, _host_1_back, _copy_runs_on("host-9", "ds-shared")),
    Case("keep_original_off", _keep_off, _copy_deleted, _original_off),
)
