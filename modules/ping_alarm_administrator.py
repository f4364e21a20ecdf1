"""Ping/Alarm Administrator (the paper's Ping Administrator): per-VM alarms, and what each VM's state is.

``prepare(inv)`` keeps this tool's alarm on every monitored VM (creating only the missing ones;
after a restart they are found by name). ``classify(inv, answered, since)`` turns one sweep's
probe answers, the VMs' power events and the state of their alarms into a Classification per VM
(vsphere_dr.classification has the rules). Where vCenter's alarms cannot be used, it says so
once and classifies from events and runtime state alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from vsphere_dr.classification import classify
from vsphere_dr.errors import AlarmsUnavailable
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.logging_setup import in_brief
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings
from vsphere_dr.signals import Classification, PowerEvent

log = logging.getLogger(__name__)
_LONG_AGO = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class AlarmReport:
    alarms: int  # VMs with this tool's alarm
    created: tuple[str, ...] = ()  # names of the VMs whose alarm was created
    unavailable: str = ""  # why vCenter's alarms cannot be used; "" when they can

    def summary(self) -> str:
        if self.unavailable:
            return f"alarms unavailable in this vCenter ({self.unavailable})"
        return f"{self.alarms} VM alarms in place, {len(self.created)} created"


@dataclass(frozen=True)
class _Alarm:
    moref: str
    since: datetime  # inventories read before this cannot show its state


class PingAlarmAdministrator:
    name = "ping_alarm_administrator"

    def __init__(self, gateway: VCenterGateway, settings: Callable[[], Settings]) -> None:
        self.gateway, self.settings = gateway, settings
        self._alarms: dict[str, _Alarm] = {}  # VM moref -> this tool's alarm on it
        self._available = True
        self._warned = False

    def run(self) -> AlarmReport:
        """Check every monitored VM's alarm (one deleted by hand comes back), creating the missing."""
        inv = self.gateway.inventory()
        return self._ensure(inv, inv.monitored_vms())

    def prepare(self, inv: Inventory) -> None:
        """Ensure the alarms of the monitored VMs not seen yet by this process.

        Does nothing once alarms proved unavailable: ``run()`` tries them again.
        """
        self._alarms = {vm: alarm for vm, alarm in self._alarms.items() if vm in inv.vms}
        new = [vm for vm in inv.monitored_vms() if vm.moref not in self._alarms]
        if new and self._available:
            self._ensure(inv, new)

    def classify(self, inv: Inventory, answered: Mapping[str, bool], since: datetime) -> dict[str, Classification]:
        """Classify the VMs of ``answered`` (VM moref -> answered its probe) that ``inv`` holds.

        Power events are read from ``since`` on: it must reach back past the VMs' last power-off,
        for a VM a person stopped before ``since`` counts as failed.
        """
        events = self._power_events(since)
        return {moref: classify(vm, inv.hosts.get(vm.host or ""), ok, events.get(moref, ()),
                                self._alarm_red(vm, inv.read_at))
                for moref, ok in answered.items() if (vm := inv.vms.get(moref)) is not None}

    def _ensure(self, inv: Inventory, vms: Iterable[VmRecord]) -> AlarmReport:
        try:
            result = self.gateway.alarms.ensure_vm_alarms(vms)
        except AlarmsUnavailable as exc:
            self._unavailable(exc)
            return AlarmReport(alarms=0, unavailable=str(exc))
        if not self._available:
            log.info("alarms available again in this vCenter")
        self._available = True
        now = datetime.now(timezone.utc)
        known = self._alarms
        self._alarms = {vm: known[vm] if vm in known and known[vm].moref == alarm
                        else _Alarm(alarm, now if vm in result.created else _LONG_AGO)
                        for vm, alarm in result.alarms.items()}
        created = tuple(sorted(inv.vms[vm].name for vm in result.created))
        if created:
            log.info("%s: created the alarms of %d VMs: %s", self.name, len(created), in_brief(created))
        return AlarmReport(alarms=len(self._alarms), created=created)

    def _unavailable(self, exc: AlarmsUnavailable) -> None:
        self._available = False
        if not self._warned:
            log.warning("alarms unavailable in this vCenter: classifying from events and runtime state (%s)", exc)
            self._warned = True

    def _alarm_red(self, vm: VmRecord, read_at: datetime) -> bool | None:
        """Whether this tool's alarm on ``vm`` was red when ``read_at``; None if that is not known."""
        alarm = self._alarms.get(vm.moref)
        if not self._available or alarm is None or alarm.since > read_at:
            return None
        return any(state.alarm == alarm.moref and state.entity == vm.moref and state.status == "red"
                   for state in vm.alarms)

    def _power_events(self, since: datetime) -> dict[str, list[PowerEvent]]:
        """Each VM's power events. This tool's own power operations are not a person's."""
        me = self.settings().vcenter.user
        by_vm: dict[str, list[PowerEvent]] = defaultdict(list)
        for event in self.gateway.events.power_events(since):
            by_vm[event.vm].append(replace(event, user="") if same_user(event.user, me) else event)
        return by_vm


def same_user(a: str, b: str) -> bool:
    """Whether two vCenter user names are one account: 'VSPHERE.LOCAL\\\\svc', 'svc@vsphere.local', 'svc'."""
    (name_a, domain_a), (name_b, domain_b) = _account(a), _account(b)
    return bool(name_a) and name_a == name_b and (not domain_a or not domain_b or domain_a == domain_b)


def _account(user: str) -> tuple[str, str]:
    """(name, domain) in lower case; the domain is "" when the name has none."""
    if "\\" in user:
        domain, _, name = user.partition("\\")
    else:
        name, _, domain = user.partition("@")
    return name.lower(), domain.lower()
