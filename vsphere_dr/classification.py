"""Classify a monitored VM from one sweep's signals, by an experienced vSphere operator's rules.

Pure: no I/O, records in, a Classification out. The rules, first match wins:

1. It answers its probe: RESPONDING, whatever vCenter says.
2. Powered off or suspended, and its latest power event is a stop by a named user:
   STOPPED_BY_PERSON. A person's decision stands, even if its host failed since.
3. Its host is not connected (or unknown), or the VM itself is not connected: UNKNOWN. vCenter
   then shows only the last known state of the VM; the host decision applies.
4. Powered on, and its guest heartbeat or this tool's alarm is red: FAILED.
5. Powered off, and no person's stop is its latest power event (a crash, its host, vCenter, or
   a stop before the events searched): FAILED.
6. Anything else (powered on with a green or gray heartbeat and the alarm not red; suspended by
   nobody on record): UNKNOWN. The network may be at fault: nothing destructive.
"""

from __future__ import annotations

from collections.abc import Sequence

from vsphere_dr.records import HostRecord, VmRecord
from vsphere_dr.signals import STOP_EVENTS, Classification, PowerEvent, VmCondition
from vsphere_dr.timefmt import utc_minutes

_VERBS = {"VmPoweredOffEvent": "powered off", "VmGuestShutdownEvent": "shut down", "VmSuspendedEvent": "suspended"}
_HEARTBEATS = {
    "green": "its guest heartbeat is green",
    "gray": "its guest heartbeat is gray (VMware Tools not running)",
    "yellow": "its guest heartbeat is yellow (intermittent)",
}


def classify(vm: VmRecord, host: HostRecord | None, answered: bool, events: Sequence[PowerEvent],
             our_alarm_red: bool | None) -> Classification:
    """Classify ``vm`` (on ``host``) from its probe answer, its power events and this tool's alarm.

    ``events`` are power events from vCenter, oldest first; events of other VMs are ignored.
    ``our_alarm_red`` is None when there is no alarm of this tool to consult (no alarm API, or
    its alarm is not in place yet): the other signals decide.
    """
    if answered:
        return responding(vm)
    last = _latest(vm.moref, events)
    stopped = vm.power_state in ("poweredOff", "suspended")
    if stopped and last is not None and last.kind in STOP_EVENTS and last.user:
        return Classification(vm.moref, VmCondition.STOPPED_BY_PERSON,
                              f"{_VERBS[last.kind]} by {last.user} at {utc_minutes(last.time)}: a person's decision, "
                              "left alone")
    cut_off = _cut_off(vm, host)
    if cut_off:
        return Classification(vm.moref, VmCondition.UNKNOWN, cut_off)
    if vm.power_state == "poweredOn":
        return _powered_on(vm, our_alarm_red)
    if vm.power_state == "poweredOff":
        return Classification(vm.moref, VmCondition.FAILED, _stopped_by_nobody(last))
    if vm.power_state == "suspended":
        return Classification(vm.moref, VmCondition.UNKNOWN,
                              "suspended, with no person on record suspending it; a crash never suspends a VM: "
                              "left to a person")
    return Classification(vm.moref, VmCondition.UNKNOWN,
                          f"no answer at {vm.ip} and vCenter shows its power state as {vm.power_state}")


def _latest(vm: str, events: Sequence[PowerEvent]) -> PowerEvent | None:
    """The VM's latest event; of events at the same time, the one that comes last."""
    mine = sorted((event for event in events if event.vm == vm), key=lambda event: event.time)
    return mine[-1] if mine else None


def responding(vm: VmRecord) -> Classification:
    """Rule 1, a VM that answered its probe: it depends on nothing but the VM's record."""
    reason = f"answers its probe at {vm.ip}"
    if vm.heartbeat == "red":
        reason += ", though its guest heartbeat is red: services in the guest may hang"
    return Classification(vm.moref, VmCondition.RESPONDING, reason)


def _cut_off(vm: VmRecord, host: HostRecord | None) -> str:
    """Why vCenter's view of the VM is not current, or "" if it is."""
    if host is None:
        return f"no answer at {vm.ip}, and vCenter shows no host for it: the VM's state is not known"
    if host.connection_state != "connected":
        return f"no answer at {vm.ip}; its host {host.name} is {host.connection_state}: the host decision applies"
    if vm.connection_state != "connected":
        return (f"no answer at {vm.ip}, and vCenter shows the VM {vm.connection_state}: its state is not known, "
                "nothing destructive")
    return ""


def _powered_on(vm: VmRecord, our_alarm_red: bool | None) -> Classification:
    reds = [signal for signal, red in (("its guest heartbeat", vm.heartbeat == "red"),
                                       ("this tool's alarm", our_alarm_red is True)) if red]
    if reds:
        return Classification(vm.moref, VmCondition.FAILED,
                              f"powered on but no answer at {vm.ip}, and {' and '.join(reds)} "
                              f"{'is' if len(reds) == 1 else 'are'} red: the guest is down")
    heartbeat = _HEARTBEATS.get(vm.heartbeat, f"its guest heartbeat is {vm.heartbeat}")
    alarm = "there is no alarm of this tool to consult" if our_alarm_red is None else "this tool's alarm is not red"
    return Classification(vm.moref, VmCondition.UNKNOWN,
                          f"powered on but no answer at {vm.ip}, while {heartbeat} and {alarm}: "
                          "the network may be at fault, nothing destructive")


def _stopped_by_nobody(last: PowerEvent | None) -> str:
    cause = "a crash, its host, vCenter or vsphere-dr itself stopped it, not a person"
    if last is None:
        return f"powered off, with no person's power-off on record: {cause}"
    if last.kind in STOP_EVENTS:
        return f"{_VERBS[last.kind]} at {utc_minutes(last.time)} with no person named: {cause}"
    return f"powered off since {last.kind} at {utc_minutes(last.time)}, with no power-off on record: {cause}"
