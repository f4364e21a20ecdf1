"""vCenter alarms in the bundled simulator: AlarmManager, Alarm, and state alarm evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim

from tests.chaos import chaos
from tests.sim_world import Client, client, example_topology_data, own_simulator, run_task, write_topology
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1 = "esx-p1.lab.local"


@pytest.fixture
def own(vcsim_binary: Path, tmp_path: Path) -> Iterator[Simulator]:
    with own_simulator(vcsim_binary, write_topology(tmp_path, example_topology_data())) as sim:
        yield sim


@pytest.fixture
def vc(own: Simulator) -> Iterator[Client]:
    with client(own, user="carol") as c:
        yield c


def state(path: str, kind: type, operator: str = "isEqual", red: str | None = None,
          yellow: str | None = None) -> vim.alarm.StateAlarmExpression:
    return vim.alarm.StateAlarmExpression(operator=operator, type=kind, statePath=path, red=red, yellow=yellow)


def powered_off(red: str = "poweredOff") -> vim.alarm.StateAlarmExpression:
    return state("runtime.powerState", vim.VirtualMachine, red=red)


def spec(name: str, expression: vim.alarm.AlarmExpression) -> vim.alarm.AlarmSpec:
    return vim.alarm.AlarmSpec(name=name, description=f"test alarm {name}", enabled=True, expression=expression)


def triggered(entity: vim.ManagedEntity) -> list[tuple[str, str, str]]:
    return sorted((s.alarm.info.name, s.entity.name, s.overallStatus) for s in entity.triggeredAlarmState)


def status_changes(vc: Client) -> list[tuple[str, str, str, str]]:
    """AlarmStatusChangedEvents, oldest first, as (alarm, entity, from, to)."""
    events = vc.events("AlarmStatusChangedEvent")
    return [(e.alarm.name, e.entity.name, getattr(e, "from"), e.to) for e in reversed(events)]


def test_alarm_on_a_vm_turns_red_on_power_off_and_clears_on_power_on(vc: Client) -> None:
    web = vc.vm("web-01")
    alarm = vc.content.alarmManager.CreateAlarm(web, spec("web-01 off", powered_off()))
    assert web.triggeredAlarmState == [] and web.overallStatus == "green"

    run_task(web.PowerOffVM_Task())
    [s] = web.triggeredAlarmState
    assert (s.alarm, s.entity, s.overallStatus, s.acknowledged) == (alarm, web, "red", False)
    assert s.key and s.time
    assert web.overallStatus == web.summary.overallStatus == "red"
    assert triggered(vc.content.rootFolder) == [("web-01 off", "web-01", "red")]  # parents list it too
    [event] = vc.events("AlarmStatusChangedEvent")
    assert (event.alarm.alarm, event.entity.entity, event.source.entity) == (alarm, web, web)
    assert (getattr(event, "from"), event.to, event.userName) == ("green", "red", "")

    run_task(web.PowerOnVM_Task())
    assert web.triggeredAlarmState == [] and web.overallStatus == "green"
    assert vc.content.rootFolder.triggeredAlarmState == []
    assert status_changes(vc) == [("web-01 off", "web-01", "green", "red"), ("web-01 off", "web-01", "red", "green")]


def test_create_get_info_and_remove(vc: Client) -> None:
    manager, web, db = vc.content.alarmManager, vc.vm("web-01"), vc.vm("db-01")
    alarm = manager.CreateAlarm(web, spec("off", powered_off()))
    other = manager.CreateAlarm(db, spec("off", powered_off()))  # the same name on another entity is fine
    with pytest.raises(vim.fault.DuplicateName) as dup:
        manager.CreateAlarm(web, spec("off", powered_off()))
    assert dup.value.name == "off" and dup.value.object == web
    with pytest.raises(vim.fault.InvalidName):
        manager.CreateAlarm(web, spec("", powered_off()))

    assert manager.GetAlarm(web) == [alarm]
    assert set(manager.GetAlarm()) == {alarm, other}
    info = alarm.info
    assert (info.name, info.entity, info.enabled, info.alarm, info.key) == ("off", web, True, alarm, alarm._moId)
    assert (info.expression.statePath, info.expression.red, info.lastModifiedUser) == ("runtime.powerState", "poweredOff", "carol")
    assert [e.alarm.name for e in vc.events("AlarmCreatedEvent")] == ["off", "off"]
    assert [(s.alarm, s.overallStatus) for s in manager.GetAlarmState(web)] == [(alarm, "green")]

    run_task(web.PowerOffVM_Task())
    assert triggered(web) == [("off", "web-01", "red")]
    alarm.RemoveAlarm()
    assert manager.GetAlarm(web) == [] and manager.GetAlarm() == [other]
    assert web.triggeredAlarmState == [] and web.overallStatus == "green"


def test_alarm_on_a_powered_off_vm_triggers_at_once_and_can_be_acknowledged(vc: Client) -> None:
    manager, batch = vc.content.alarmManager, vc.vm("batch-01")
    alarm = manager.CreateAlarm(batch, spec("off", powered_off()))
    assert triggered(batch) == [("off", "batch-01", "red")]
    manager.AcknowledgeAlarm(alarm, batch)
    [s] = batch.triggeredAlarmState
    assert s.acknowledged is True and s.acknowledgedByUser == "carol"


def test_alarm_on_a_datacenter_covers_its_hosts(own: Simulator, vc: Client) -> None:
    dc = vc.find(vim.Datacenter, "dc-lab")
    expression = state("runtime.connectionState", vim.HostSystem, red="notResponding", yellow="disconnected")
    vc.content.alarmManager.CreateAlarm(dc, spec("host lost", expression))
    p1 = vc.host(P1)
    chaos(own, "host_down", P1)
    assert triggered(p1) == [("host lost", P1, "red")] and p1.overallStatus == "red"
    assert triggered(dc) == [("host lost", P1, "red")]
    assert vc.vm("web-01").triggeredAlarmState == []  # a host alarm does not apply to VMs
    chaos(own, "host_up", P1)
    assert p1.triggeredAlarmState == [] and p1.overallStatus == "green"
    run_task(p1.DisconnectHost_Task())
    assert triggered(p1) == [("host lost", P1, "yellow")] and p1.overallStatus == "yellow"


def test_alarm_on_a_vm_folder_covers_its_vms_heartbeat(own: Simulator, vc: Client) -> None:
    folder = vc.find(vim.Datacenter, "dc-lab").vmFolder
    heartbeat = state("summary.quickStats.guestHeartbeatStatus", vim.VirtualMachine, red="red")
    vc.content.alarmManager.CreateAlarm(folder, spec("no heartbeat", heartbeat))
    chaos(own, "vm_crash", "web-01")
    chaos(own, "vm_hang", "db-02")
    assert triggered(folder) == [("no heartbeat", "db-02", "red"), ("no heartbeat", "web-01", "red")]
    chaos(own, "vm_recover", "web-01")
    assert triggered(folder) == [("no heartbeat", "db-02", "red")]
    assert vc.vm("web-01").overallStatus == "green" and vc.vm("db-02").overallStatus == "red"


def test_or_and_and_expressions(own: Simulator, vc: Client) -> None:
    web = vc.vm("web-01")
    beat_red = state("guestHeartbeatStatus", vim.VirtualMachine, yellow="red")
    either = vim.alarm.OrAlarmExpression(expression=[powered_off(), beat_red])
    on = state("runtime.powerState", vim.VirtualMachine, red="poweredOn")
    both = vim.alarm.AndAlarmExpression(expression=[on, state("guestHeartbeatStatus", vim.VirtualMachine, red="red")])
    manager = vc.content.alarmManager
    manager.CreateAlarm(web, spec("either", either))
    manager.CreateAlarm(web, spec("both", both))
    assert triggered(web) == []

    chaos(own, "vm_crash", "web-01")  # running with a red heartbeat: both hold
    assert triggered(web) == [("both", "web-01", "red"), ("either", "web-01", "yellow")]
    assert web.overallStatus == "red"
    run_task(web.PowerOffVM_Task())  # off: heartbeat gray, power state off
    assert triggered(web) == [("either", "web-01", "red")]


def test_unequal_operator_and_disabled_alarms(vc: Client) -> None:
    web, manager = vc.vm("web-01"), vc.content.alarmManager
    manager.CreateAlarm(web, spec("not on", state("runtime.powerState", vim.VirtualMachine, "isUnequal", red="poweredOn")))
    off = spec("disabled", powered_off())
    off.enabled = False
    disabled = manager.CreateAlarm(web, off)
    run_task(web.PowerOffVM_Task())
    assert triggered(web) == [("not on", "web-01", "red")]
    off.enabled = True
    disabled.ReconfigureAlarm(off)
    assert triggered(web) == [("disabled", "web-01", "red"), ("not on", "web-01", "red")]
