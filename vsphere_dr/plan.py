"""A plan: what the decision engine wants done, and why, before anything is done.

Each action names its target, the step of the paper's workflow it carries out, the signals that
led to it and the preconditions it relies on (the executor checks them again before acting).
Notes record what was seen and deliberately left alone, so that `vsphere-dr plan` explains the
silence as well as the actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class ActionKind(StrEnum):
    RESTART_FROM_SNAPSHOT = "restart_from_snapshot"  # revert to the newest snapshot, power on, same host
    POWER_ON = "power_on"  # a failed VM with no snapshot: power it on where it is
    RESET = "reset"  # an ill but reachable VM, when [health] response = reset
    REVIVE_HOST = "revive_host"  # revert a nested host's backing VM and wait for the host
    CLONE_TO_HOST = "clone_to_host"  # clone from the snapshot onto a live host that sees the datastore
    CLONE_AND_MIGRATE = "clone_and_migrate"  # clone, then cold-migrate to a host without that datastore
    RECOVER_ON_SPARE_HOST = "recover_on_spare_host"  # add a spare host to vCenter, clone onto it
    KEEP_ORIGINAL_OFF = "keep_original_off"  # a replaced original came back running: power it off
    NEEDS_PERSON = "needs_person"  # too many recoveries, or nothing safe left to try
    REPORT_ILL = "report_ill"  # an ill but reachable VM: incident and log line only

    @property
    def changes_vcenter(self) -> bool:
        return self not in (ActionKind.NEEDS_PERSON, ActionKind.REPORT_ILL)

    @property
    def creates_copy(self) -> bool:
        """Actions after which a second VM exists for the same workload."""
        return self in (ActionKind.CLONE_TO_HOST, ActionKind.CLONE_AND_MIGRATE, ActionKind.RECOVER_ON_SPARE_HOST)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str  # moref of the VM (or, for revive_host, of the host)
    name: str  # the target's name, for people
    step: str  # the workflow step, e.g. "step 6: vHost alive, VM restored from its snapshot"
    reason: str  # one line a person understands
    signals: tuple[str, ...] = ()  # what was observed
    preconditions: tuple[str, ...] = ()  # what must still hold when the executor starts
    params: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 1  # 0 high, 1 medium, 2 low ([recovery] restart_priority)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def line(self) -> str:
        """The action in one line: what, on what, and why."""
        return f"{self.kind.value} {self.name}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()  # what was seen and left alone, and why

    def text(self) -> str:
        """The plan as `vsphere-dr plan` prints it."""
        if not self.actions and not self.notes:
            return "nothing to do: every monitored VM and host is healthy"
        lines = [f"{i}. {a.line()}" for i, a in enumerate(self.actions, 1)] or ["no action"]
        return "\n".join(lines + [f"- {note}" for note in self.notes])

    def as_dict(self) -> dict[str, Any]:
        return {"actions": [{"kind": a.kind.value, "target": a.target, "name": a.name, "step": a.step,
                             "reason": a.reason, "signals": list(a.signals),
                             "preconditions": list(a.preconditions), "params": dict(a.params)}
                            for a in self.actions],
                "notes": list(self.notes)}
