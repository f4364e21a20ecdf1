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
from vsphere_dr.recoveries.add_spare_host import SpareHostParams
from vsphere_dr.recoveries.keep_original_off import KeepOffParams
from vsphere_dr.recoveries.power_on import PowerOnParams
from vsphere_dr.recoveries.register_elsewhere import RegisterAndStartParams
from vsphere_dr.recoveries.registration import RegisterParams, Registration
from vsphere_dr.recoveries.remove_failed_host import RemoveHostParams
from vsphere_dr.recoveries.reset import ResetParams
from vsphere_dr.recoveries.restart_from_snapshot import RestartParams
from vsphere_dr.recoveries.revive_host import ReviveParams
from vsphere_dr.recoveries.start_replica import StartReplicaParams
from vsphere_dr.replicas import mark_text, parse_mark
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


COPY_NAME = "web-01-replica-20270115T070000Z"


def _host_1_dead(vc: FakeVCenter) -> FakeVCenter:
    vc.hosts["host-1"].connection_state = "notResponding"
    return vc


def registration(vc: FakeVCenter, vm: str = "vm-1") -> Registration:
    """What the decision engine journals of a failed host's VM before the host is removed."""
    record = vc.inventory().vms[vm]
    host = vc.hosts[record.host or ""]
    return Registration(vm=vm, host=host.moref, host_name=host.name, name=record.name, uuid=record.uuid,
                        path=record.files_path or "", folder=record.folder or "", pool=record.resource_pool,
                        power_state=record.power_state, ip=record.ip, datastores=record.datastores,
                        memory_mb=record.memory_mb, cpus=record.cpus)


def _remove_host() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    return vc, action(ActionKind.REMOVE_FAILED_HOST, RemoveHostParams(
        host_name="esx-1", standalone_resource=None, vms=(registration(vc),)), target="host-1", name="esx-1")


def _removed(vc: FakeVCenter) -> None:
    assert "host-1" not in vc.hosts and "vm-1" not in vc.vms and IP in {v.ip for v in vc.files.values()}


def _removed_with_web_01(power: str = "poweredOn") -> tuple[FakeVCenter, Registration]:
    vc = lab()
    vc.vms["vm-1"].power_state = power
    reg = registration(vc)
    _host_1_dead(vc).gateway.hosts.remove("host-1", None)
    vc.changes.clear()
    return vc, reg


def _register_params(reg: Registration) -> dict[str, object]:
    return dict(registration=reg, failed_host="host-1", failed_host_name="esx-1", host="host-2", host_name="esx-2",
                pool="resgroup-domain-c1")


def _register() -> tuple[FakeVCenter, Action]:
    vc, reg = _removed_with_web_01()
    return vc, action(ActionKind.REGISTER_ELSEWHERE, RegisterAndStartParams(**_register_params(reg)))


def _reregister() -> tuple[FakeVCenter, Action]:
    vc, reg = _removed_with_web_01("poweredOff")
    return vc, action(ActionKind.REREGISTER_AS_WAS, RegisterParams(**_register_params(reg)))


def _esx_2_in_maintenance(vc: FakeVCenter) -> None:
    vc.hosts["host-2"].in_maintenance = True


def _registered(power: str) -> Callable[[FakeVCenter], None]:
    def check(vc: FakeVCenter) -> None:
        (vm,) = [v for v in vc.vms.values() if v.name == "web-01"]
        assert (vm.host, vm.power_state, vm.uuid) == ("host-2", power, "uuid-vm-1"), "the same VM, not a copy"
        assert answering(vc) == (["web-01"] if power == "poweredOn" else [])

    return check


def _replica() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    source = vc.inventory().vms["vm-1"]
    vc.add_vm("vm-7", COPY_NAME, "host-3", IP, power_state="poweredOff", guest_up=False,
              annotation=mark_text(source, "vsphere-dr-20270115T070000Z", SNAPSHOT_TIME))
    return vc, action(ActionKind.START_REPLICA, StartReplicaParams(
        replica="vm-7", replica_name=COPY_NAME, failed_host="host-1", failed_host_name="esx-1",
        snapshot_name="vsphere-dr-20270115T070000Z", snapshot_created=SNAPSHOT_TIME.timestamp()))


def _host_1_back(vc: FakeVCenter) -> None:
    vc.hosts["host-1"].connection_state = "connected"


def _replica_runs(vc: FakeVCenter) -> None:
    assert answering(vc) == [COPY_NAME], "exactly one running copy answers"
    assert parse_mark(vc.vms["vm-7"].annotation) is None, "no longer a replica: the protected VM now"


def _spare() -> tuple[FakeVCenter, Action]:
    vc = _host_1_dead(lab())
    vc.spare_hosts["esx-spare"] = vc.add_host("host-9", "esx-spare", "domain-c1", ("ds-shared",))
    del vc.hosts["host-9"]  # not in vCenter until added
    return vc, action(ActionKind.ADD_SPARE_HOST, SpareHostParams(
        spare_host="esx-spare", cluster="domain-c1", datacenter="dc", failed_host="host-1",
        failed_host_name="esx-1"), target="host-1", name="esx-1")


def _spare_added(vc: FakeVCenter) -> None:
    assert vc.hosts["host-9"].connection_state == "connected" and vc.hosts["host-9"].compute_resource == "domain-c1"


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
    Case("remove_failed_host", _remove_host, _host_1_back, _removed),
    Case("register_elsewhere", _register, _esx_2_in_maintenance, _registered("poweredOn")),
    Case("reregister_as_was", _reregister, _esx_2_in_maintenance, _registered("poweredOff")),
    Case("start_replica", _replica, _host_1_back, _replica_runs),
    Case("add_spare_host", _spare, _host_1_back, _spare_added),
    Case("keep_original_off", _keep_off, _copy_deleted, _original_off),
)
