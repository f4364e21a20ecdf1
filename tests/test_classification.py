"""classify(): the operator's rules, as a table and as properties over every combination of signals."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsphere_dr.classification import classify
from vsphere_dr.records import HostRecord, VmRecord
from vsphere_dr.signals import START_EVENTS, STOP_EVENTS, PowerEvent, VmCondition

T0 = datetime(2026, 11, 1, 10, 2, tzinfo=timezone.utc)
R, S, F, U = VmCondition.RESPONDING, VmCondition.STOPPED_BY_PERSON, VmCondition.FAILED, VmCondition.UNKNOWN

HOST = HostRecord(moref="host-1", name="esx-p1", datacenter="dc", compute_resource="domain-c1", cluster="cl",
                  address="127.0.1.11", connection_state="connected", in_maintenance=False, power_state="poweredOn",
                  cpu_mhz_total=0, cpu_mhz_used=0, memory_mb_total=0, memory_mb_used=0, datastores=(),
                  overall_status="green")
VM = VmRecord(moref="vm-1", name="web-01", uuid=None, ip="127.0.2.1", power_state="poweredOn",
              connection_state="connected", host="host-1", resource_pool=None, datastores=(), cpus=1, memory_mb=512,
              template=False, annotation="", heartbeat="green", overall_status="green")


def vm(**changes: object) -> VmRecord:
    return dataclasses.replace(VM, **changes)


def host(state: str) -> HostRecord:
    return dataclasses.replace(HOST, connection_state=state)


def event(kind: str, user: str = "", minutes: int = 0, vm: str = "vm-1") -> PowerEvent:
    return PowerEvent(vm=vm, kind=kind, user=user, time=T0 + timedelta(minutes=minutes))


OFF, ON = "VmPoweredOffEvent", "VmPoweredOnEvent"
ALICE_OFF = [event(OFF, "alice")]

TABLE = [
    # (what, vm, host, answered, events, our alarm red, condition, words in the reason)
    ("answers", vm(), HOST, True, [], False, R, ["answers its probe at 127.0.2.1"]),
    ("answers, hung guest", vm(heartbeat="red"), HOST, True, [], True, R, ["heartbeat is red"]),
    ("answers, host says down", vm(connection_state="disconnected"), host("notResponding"), True, [], None, R, []),
    ("off by alice", vm(power_state="poweredOff", heartbeat="gray"), HOST, False, ALICE_OFF, True, S,
     ["powered off by alice at 2026-11-01 10:02 UTC"]),
    ("shut down by bob", vm(power_state="poweredOff"), HOST, False,
     [event(ON, "carol", -60), event("VmGuestShutdownEvent", "bob")], None, S, ["shut down by bob"]),
    ("suspended by alice", vm(power_state="suspended"), HOST, False, [event("VmSuspendedEvent", "alice")], True, S,
     ["suspended by alice"]),
    ("off by alice, host down since", vm(power_state="poweredOff", connection_state="disconnected"),
     host("notResponding"), False, ALICE_OFF, None, S, ["alice"]),
    ("crashed: heartbeat red", vm(heartbeat="red"), HOST, False, [], False, F, ["heartbeat", "red", "127.0.2.1"]),
    ("crashed: our alarm red", vm(heartbeat="gray"), HOST, False, [], True, F, ["this tool's alarm is red"]),
    ("crashed: no alarm API", vm(heartbeat="red"), HOST, False, [], None, F, ["heartbeat is red"]),
    ("off, no event", vm(power_state="poweredOff", heartbeat="gray"), HOST, False, [], True, F, ["not a person"]),
    ("off by vCenter itself", vm(power_state="poweredOff"), HOST, False, [event(OFF)], None, F,
     ["with no person named"]),
    ("off after alice started it", vm(power_state="poweredOff"), HOST, False,
     [event(OFF, "alice", -10), event(ON, "alice")], True, F, ["since VmPoweredOnEvent"]),
    ("host notResponding", vm(connection_state="disconnected", heartbeat="gray"), host("notResponding"), False,
     [], None, U, ["its host esx-p1 is notResponding: the host decision applies"]),
    ("host disconnected by a person", vm(connection_state="disconnected"), host("disconnected"), False, [], True, U,
     ["esx-p1 is disconnected"]),
    ("no host", vm(), None, False, [], False, U, ["no host"]),
    ("VM inaccessible", vm(connection_state="inaccessible", heartbeat="red"), HOST, False, [], True, U,
     ["inaccessible"]),
    ("network?", vm(), HOST, False, [], False, U, ["heartbeat is green", "alarm is not red", "network"]),
    ("tools not running", vm(heartbeat="gray"), HOST, False, [], False, U, ["gray"]),
    ("no alarm API, heartbeat green", vm(), HOST, False, [], None, U, ["no alarm of this tool"]),
    ("suspended by nobody known", vm(power_state="suspended"), HOST, False, [], True, U, ["suspended"]),
    ("alice's event is another VM's", vm(power_state="poweredOff"), HOST, False, [event(OFF, "alice", vm="vm-2")],
     None, F, []),
]


@pytest.mark.parametrize(("vm_", "host_", "answered", "events", "alarm", "condition", "words"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_rules(vm_: VmRecord, host_: HostRecord | None, answered: bool, events: list[PowerEvent], alarm: bool | None,
               condition: VmCondition, words: list[str]) -> None:
    result = classify(vm_, host_, answered, events, alarm)
    assert (result.vm, result.condition) == (vm_.moref, condition), result.reason
    for word in words:
        assert word in result.reason


def test_events_at_the_same_time_count_in_the_order_given() -> None:
    off = vm(power_state="poweredOff")
    assert classify(off, HOST, False, [event(ON, "alice"), event(OFF, "alice")], None).condition == S
    assert classify(off, HOST, False, [event(OFF, "alice"), event(ON, "alice")], None).condition == F


# Every combination of signals, for the properties the rules promise.
power_states = st.sampled_from(["poweredOn", "poweredOff", "suspended"])
connection_states = st.sampled_from(["connected", "disconnected", "notResponding", "inaccessible", "orphaned"])
heartbeats = st.sampled_from(["green", "gray", "yellow", "red"])
users = st.sampled_from(["", "alice", "VSPHERE.LOCAL\\bob"])
kinds = st.sampled_from(sorted(STOP_EVENTS | START_EVENTS))
events_strategy = st.lists(st.builds(event, kinds, users, st.integers(-600, 0), st.sampled_from(["vm-1", "vm-2"])),
                           max_size=6)
vms = st.builds(vm, power_state=power_states, connection_state=connection_states, heartbeat=heartbeats)
hosts = st.one_of(st.none(), st.builds(host, connection_states))
alarms = st.sampled_from([True, False, None])


@given(vms, hosts, st.booleans(), events_strategy, alarms)
def test_properties(vm_: VmRecord, host_: HostRecord | None, answered: bool, events: list[PowerEvent],
                    alarm: bool | None) -> None:
    result = classify(vm_, host_, answered, events, alarm)
    assert result.vm == vm_.moref and result.reason
    assert (result.condition == R) == answered
    others = [e for e in events if e.vm != vm_.moref]
    assert classify(vm_, host_, answered, [e for e in events if e.vm == vm_.moref], alarm) == result
    assert classify(vm_, host_, answered, events + others, alarm) == result
    if result.condition == S:
        latest = sorted((e for e in events if e.vm == vm_.moref), key=lambda e: e.time)[-1]
        assert vm_.power_state != "poweredOn" and latest.kind in STOP_EVENTS and latest.user in result.reason
    if result.condition == F:
        # A destructive answer needs vCenter's current view: a connected VM on a connected host.
        assert host_ is not None and host_.connection_state == vm_.connection_state == "connected"
        assert vm_.power_state == "poweredOff" or vm_.heartbeat == "red" or alarm is True


@given(vms, hosts, events_strategy, alarms)
def test_a_person_s_stop_is_never_failed(vm_: VmRecord, host_: HostRecord | None, events: list[PowerEvent],
                                         alarm: bool | None) -> None:
    stop = event("VmPoweredOffEvent", "alice", 1)
    off = dataclasses.replace(vm_, power_state="poweredOff")
    assert classify(off, host_, False, [*events, stop], alarm).condition == S
