"""VM power events from vCenter's event history, for every VM at once.

One EventHistoryCollector, filtered by event type and time, read from its oldest event in pages
of ``PAGE``: four round trips (create, read, the empty read that ends it, destroy), one more per
further page, whatever the number of VMs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pyVmomi import vim

from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated
from vsphere_dr.signals import START_EVENTS, STOP_EVENTS, PowerEvent

PAGE = 1000  # vCenter's largest page of events


class EventReader:
    def __init__(self, session: VCenterSession) -> None:
        self._session = session

    def power_events(self, since: datetime) -> list[PowerEvent]:
        """Every VM's power events (stops and starts) from ``since`` on, oldest first.

        A naive ``since`` is taken as UTC.
        """
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        doing = "reading VM power events"

        def read(content: vim.ServiceInstanceContent) -> list[Any]:
            with faults_translated(doing):
                return _read_all(content.eventManager, since)

        events = self._session.call(read, doing)
        # The simulator ignores the filter's time, and pages in no particular order.
        ordered = sorted((e for e in events if e.vm is not None and e.createdTime >= since),
                         key=lambda e: (e.createdTime, e.key))
        return [PowerEvent(vm=e.vm.vm._moId, kind=type(e)._wsdlName, user=e.userName or "",
                           time=e.createdTime) for e in ordered]


def _read_all(manager: vim.event.EventManager, since: datetime) -> list[Any]:
    """Read a collector from its oldest event to its newest, then destroy it.

    ``maxCount`` sets the collector's latest page; the simulator's collector holds only that page.
    """
    spec = vim.event.EventFilterSpec(eventTypeId=sorted(STOP_EVENTS | START_EVENTS), maxCount=PAGE,
                                     time=vim.event.EventFilterSpec.ByTime(beginTime=since))
    collector = manager.CreateCollectorForEvents(spec)
    try:
        events: list[Any] = []
        while page := collector.ReadNextEvents(PAGE):
            events.extend(page)
        return events
    finally:
        collector.DestroyCollector()
