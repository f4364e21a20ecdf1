"""PingAlarmAdministrator with a stand-in gateway: which alarms it ensures, and how it classifies."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import pytest

from modules.ping_alarm_administrator import PingAlarmAdministrator, same_user
from tests.test_classification import HOST, VM, event
from vsphere_dr.errors import AlarmsUnavailable
from vsphere_dr.gateway.alarms import VmAlarms
from vsphere_dr.records import AlarmStateRecord, Inventory, VmRecord
from vsphere_dr.settings import Settings, VCenterSettings
from vsphere_dr.signals import PowerEvent, VmCondition

ME = "svc-dr@vsphere.local"
SETTINGS = Settings(vcenter=VCenterSettings(host="127.0.0.1", user=ME, password="unused"))
NOW = datetime.now(timezone.utc)


def inventory(*vms: VmRecord, read_at: datetime = NOW) -> Inventory:
    return Inventory(read_at=read_at, datacenters=("dc",), hosts={HOST.moref: HOST}, vms={vm.moref: vm for vm in vms})


def vm(moref: str, **changes: object) -> VmRecord:
    return dataclasses.replace(VM, moref=moref, name=f"name-of-{moref}", **changes)


def red(alarm: str, entity: str) -> AlarmStateRecord:
    return AlarmStateRecord(alarm=alarm, entity=entity, status="red", acknowledged=False, time=NOW)


class FakeAlarms:
    """vCenter's alarms: an alarm per VM once ensured; ``fault`` makes every call fail."""

    def __init__(self) -> None:
        self.existing: dict[str, str] = {}
        self.asked: list[list[str]] = []
        self.fault: AlarmsUnavailable | None = None

    def ensure_vm_alarms(self, vms: Iterable[VmRecord]) -> VmAlarms:
        morefs = [vm.moref for vm in vms]
        self.asked.append(morefs)
        if self.fault:
            raise self.fault
        created = tuple(m for m in morefs if m not in self.existing)
        self.existing.update({m: f"alarm-of-{m}" for m in created})
        return VmAlarms(dict(self.existing), created)


class FakeEvents:
    def __init__(self) -> None:
        self.events: list[PowerEvent] = []
        self.reads = 0

    def power_events(self, since: datetime) -> list[PowerEvent]:
        self.reads += 1
        return [e for e in self.events if e.time >= since]


class FakeGateway:
    def __init__(self, inv: Inventory) -> None:
        self.inv, self.alarms, self.events = inv, FakeAlarms(), FakeEvents()

    def inventory(self) -> Inventory:
        return self.inv


def administrator(inv: Inventory) -> tuple[PingAlarmAdministrator, FakeGateway]:
    gateway = FakeGateway(inv)
    return PingAlarmAdministrator(gateway, lambda: SETTINGS), gateway  # type: ignore[arg-type]


def test_prepare_ensures_only_vms_not_seen_before() -> None:
    inv = inventory(vm("vm-1"), vm("vm-2"), vm("vm-3", ip=None))
    admin, gateway = administrator(inv)
    admin.prepare(inv)
    admin.prepare(inv)
    admin.prepare(inventory(vm("vm-1"), vm("vm-2"), vm("vm-4")))
    assert gateway.alarms.asked == [["vm-1", "vm-2"], ["vm-4"]]  # vm-3 has no IP: not monitored


def test_run_checks_every_vm_again_and_reports() -> None:
    inv = inventory(vm("vm-1"), vm("vm-2"))
    admin, gateway = administrator(inv)
    admin.prepare(inv)
    report = admin.run()
    assert gateway.alarms.asked == [["vm-1", "vm-2"], ["vm-1", "vm-2"]]
    assert report.summary() == "2 VM alarms in place, 0 created"


def test_classify_reads_events_once_and_matches_its_own_alarm() -> None:
    before = NOW - timedelta(minutes=5)
    crashed = vm("vm-1", heartbeat="gray", alarms=(red("alarm-of-vm-1", "vm-1"),))
    other_alarm = vm("vm-2", alarms=(red("alarm-someone-else", "vm-2"),))
    admin, gateway = administrator(inventory(crashed, other_alarm))
    gateway.alarms.existing = {"vm-1": "alarm-of-vm-1", "vm-2": "alarm-of-vm-2"}  # from an earlier run
    admin.prepare(gateway.inv)
    result = admin.classify(gateway.inv, {"vm-1": False, "vm-2": False, "vm-9": False}, before)
    assert gateway.events.reads == 1
    assert set(result) == {"vm-1", "vm-2"}  # vm-9 is not in the inventory
    assert result["vm-1"].condition == VmCondition.FAILED and "alarm" in result["vm-1"].reason
    assert result["vm-2"].condition == VmCondition.UNKNOWN and "alarm is not red" in result["vm-2"].reason


def test_an_alarm_created_after_the_inventory_was_read_is_not_consulted() -> None:
    inv = inventory(vm("vm-1"), read_at=NOW - timedelta(seconds=1))
    admin, _ = administrator(inv)
    admin.prepare(inv)  # creates the alarm now, after inv was read
    result = admin.classify(inv, {"vm-1": False}, NOW)
    assert "no alarm of this tool" in result["vm-1"].reason


def test_power_operations_of_this_tool_are_not_a_person_s() -> None:
    off = [vm("vm-1", power_state="poweredOff"), vm("vm-2", power_state="poweredOff")]
    admin, gateway = administrator(inventory(*off))
    gateway.events.events = [event("VmPoweredOffEvent", "VSPHERE.LOCAL\\svc-dr", vm="vm-1"),
                             event("VmPoweredOffEvent", "VSPHERE.LOCAL\\alice", vm="vm-2")]
    result = admin.classify(gateway.inv, {"vm-1": False, "vm-2": False}, event("x").time)
    assert result["vm-1"].condition == VmCondition.FAILED
    assert result["vm-2"].condition == VmCondition.STOPPED_BY_PERSON and "alice" in result["vm-2"].reason


def test_without_alarms_it_warns_once_and_classifies_from_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    inv = inventory(vm("vm-1"), vm("vm-2", heartbeat="red"))
    admin, gateway = administrator(inv)
    gateway.alarms.fault = AlarmsUnavailable("vCenter fault MethodNotFound while ...")
    with caplog.at_level(logging.WARNING):
        admin.prepare(inv)
        admin.prepare(inventory(vm("vm-1"), vm("vm-2"), vm("vm-3")))  # not tried again: run() does
        report = admin.run()
        result = admin.classify(inv, {"vm-1": False, "vm-2": False}, NOW)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(
        "alarms unavailable in this vCenter: classifying from events and runtime state")
    assert len(gateway.alarms.asked) == 2
    assert report.summary().startswith("alarms unavailable in this vCenter")
    assert "no alarm of this tool" in result["vm-1"].reason
    assert result["vm-2"].condition == VmCondition.FAILED  # a red heartbeat is enough

    gateway.alarms.fault = None  # the alarms work again (a permission was granted, say)
    assert admin.run().summary() == "2 VM alarms in place, 2 created"
    later = inventory(vm("vm-1"), read_at=datetime.now(timezone.utc))  # read after the alarms were created
    assert "this tool's alarm is not red" in admin.classify(later, {"vm-1": False}, NOW)["vm-1"].reason


@pytest.mark.parametrize(("a", "b", "same"), [
    ("svc-dr@vsphere.local", "VSPHERE.LOCAL\\svc-dr", True),
    ("svc-dr", "VSPHERE.LOCAL\\SVC-DR", True),
    ("svc-dr@vsphere.local", "svc-dr@corp.example", False),
    ("svc-dr@vsphere.local", "alice@vsphere.local", False),
    ("", "svc-dr", False),
])
def test_same_user(a: str, b: str, same: bool) -> None:
    assert same_user(a, b) is same and same_user(b, a) is same


def test_creating_many_alarms_is_one_short_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    inv = inventory(*(vm(f"vm-{n:02d}") for n in range(1, 31)))
    admin, _ = administrator(inv)
    admin.prepare(inv)
    (line,) = [r.getMessage() for r in caplog.records if "created the alarms" in r.getMessage()]
    assert line == ("ping_alarm_administrator: created the alarms of 30 VMs: "
                    "name-of-vm-01, name-of-vm-02, name-of-vm-03, name-of-vm-04, name-of-vm-05 and 25 more")
