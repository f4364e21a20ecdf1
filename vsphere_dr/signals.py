"""What a health sweep observes besides the inventory: probe answers, power events, VM conditions,
performance samples.

These records are what the Ping/Alarm Administrator hands to the decision engine; like the
inventory records they are plain, immutable data (no pyVmomi objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Sample:
    """One performance sample of a VM: counter name (e.g. ``cpu.usage.average``) -> value.

    The health model judges them (``vsphere_dr.health_model`` re-exports it).
    """

    timestamp: datetime
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class PowerEvent:
    """A power change vCenter recorded for a VM (VmPoweredOffEvent, VmGuestShutdownEvent, ...)."""

    vm: str  # moref
    kind: str  # the event's type name, e.g. "VmPoweredOffEvent"
    user: str  # who did it, "" when vCenter names nobody (a crash, HA, the host)
    time: datetime


# The PowerEvent kinds that stop a VM and those that (re)start it: what the gateway asks vCenter for.
STOP_EVENTS = frozenset({"VmPoweredOffEvent", "VmGuestShutdownEvent", "VmSuspendedEvent"})
START_EVENTS = frozenset({"VmPoweredOnEvent", "VmGuestRebootEvent", "VmResettingEvent"})


class VmCondition(StrEnum):
    """How the Ping/Alarm Administrator classifies a monitored VM."""

    RESPONDING = "responding"  # answers its probes
    STOPPED_BY_PERSON = "stopped_by_person"  # powered off or shut down by a named user: leave it
    FAILED = "failed"  # does not answer and vCenter shows why (heartbeat, alarm, power, host)
    UNKNOWN = "unknown"  # does not answer and the signals disagree: nothing destructive


@dataclass(frozen=True, slots=True)
class Classification:
    vm: str  # moref
    condition: VmCondition
    reason: str  # one line a person understands, naming the signals behind it
