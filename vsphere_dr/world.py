"""One snapshot of the world, as the decision engine sees it.

A health sweep builds it from one inventory read, one concurrent probe round, the Ping/Alarm
Administrator's classifications, the health model's verdicts and the journal. The engine needs
nothing else, so it can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vsphere_dr.records import Inventory
from vsphere_dr.recoveries.registration import Registration
from vsphere_dr.signals import Classification


@dataclass(frozen=True)
class HostView:
    """What the sweep saw of a host besides vCenter's record."""

    answered: bool  # its management address answered the probe
    down_since: float | None = None  # since when probe and vCenter (notResponding) both said down


@dataclass(frozen=True)
class VmView:
    classification: Classification
    consecutive_failures: int = 0  # sweeps in a row without an answer
    seen_running: bool = True  # vsphere-dr has seen it answer at some time (probe history)
    ill: bool = False  # the health model's verdict: reachable but not behaving normally


@dataclass(frozen=True)
class BackingVm:
    """The VM that runs a nested vHost (in the admin vCenter or this one)."""

    host: str  # moref of the vHost it backs
    vm: str  # moref of the backing VM, in the vCenter that holds it
    name: str
    power_state: str
    snapshot: str | None  # moref of its newest snapshot
    snapshot_name: str | None = None


@dataclass(frozen=True)
class History:
    """What the journal remembers."""

    recoveries: Mapping[str, int] = field(default_factory=dict)  # VM -> recoveries in the restart window
    busy: frozenset[str] = frozenset()  # VMs and hosts with an unfinished action
    replaced: Mapping[str, str] = field(default_factory=dict)  # original VM -> the copy that replaced it
    # (kind, host) -> the last try of a once-per-outage kind (a revive, a spare host) about that host
    once_tried: Mapping[tuple[str, str], float] = field(default_factory=dict)
    needs_person: frozenset[str] = frozenset()  # VMs whose incident waits for a person
    # VMs taken out of vCenter with their failed host and not yet registered again (old moref ->).
    removed: Mapping[str, Registration] = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    now: float  # epoch seconds
    inventory: Inventory | None  # None: vCenter could not be read this sweep
    hosts: Mapping[str, HostView] = field(default_factory=dict)
    vms: Mapping[str, VmView] = field(default_factory=dict)  # monitored VMs only
    history: History = History()
    backing: Mapping[str, BackingVm] = field(default_factory=dict)  # host moref -> its backing VM
    unreachable_reason: str = ""  # why vCenter could not be read
