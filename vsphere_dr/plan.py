"""A plan: what the decision engine wants done, and why, before anything is done.

Each action names its target, the step of the paper's workflow it carries out, the signals that
led to it and the preconditions it relies on: the text of the guards the executor checks.
Notes record what was seen and deliberately left alone, so that `vsphere-dr plan` explains the
silence as well as the actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vsphere_dr.recoveries import REGISTRY
from vsphere_dr.recoveries.base import NoParams, Params, Recovery
from vsphere_dr.timefmt import iso_utc


class ActionKind(StrEnum):
    """The kinds the decision engine plans; each is a module of vsphere_dr/recoveries/ (REGISTRY)."""

    RESTART_FROM_SNAPSHOT = "restart_from_snapshot"  # revert to the newest snapshot, power on, same host
    POWER_ON = "power_on"  # a failed VM with no snapshot: power it on where it is
    RESET = "reset"  # a hung VM with no snapshot, or an ill one when [health] response = reset
    REVIVE_HOST = "revive_host"  # revert a nested host's backing VM and wait for the host
    ADD_SPARE_HOST = "add_spare_host"  # add a spare host to vCenter; the next sweep recovers onto it
    KEEP_ORIGINAL_OFF = "keep_original_off"  # a replaced original came back running: power it off
    NEEDS_PERSON = "needs_person"  # too many recoveries, or nothing safe left to try
    REPORT_ILL = "report_ill"  # an ill but reachable VM: incident and log line only
    LEFT_TO_HA = "left_to_ha"  # a failed host's VM in a cluster whose vSphere HA restarts it
    REMOVE_FAILED_HOST = "remove_failed_host"  # take a failed host and its VMs out of vCenter (files stay)
    REGISTER_ELSEWHERE = "register_elsewhere"  # register a removed host's VM on a live host, power it on
    REREGISTER_AS_WAS = "reregister_as_was"  # register a removed host's other VMs again, as they were
    START_REPLICA = "start_replica"  # power on the newest replica of a VM whose files are out of reach

    @property
    def recovery(self) -> type[Recovery]:
        return REGISTRY[self.value]

    @property
    def changes_vcenter(self) -> bool:
        return self.recovery.changes_vcenter

    @property
    def creates_copy(self) -> bool:
        """Actions after which a second VM exists for the same workload."""
        return self.recovery.creates_copy


_UNREGISTERED = set(ActionKind) ^ REGISTRY.keys()
if _UNREGISTERED:  # a kind the engine plans must have its module, and the other way round
    raise ImportError(f"action kinds and vsphere_dr/recoveries disagree on: {', '.join(sorted(_UNREGISTERED))}")


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str  # moref of the VM (or, for revive_host, of the host)
    name: str  # the target's name, for people
    step: str  # the workflow step, e.g. "step 6: vHost alive, VM restored from its snapshot"
    reason: str  # one line a person understands
    signals: tuple[str, ...] = ()  # what was observed
    params: Params = NoParams()  # of the kind's own params type
    priority: int = 1  # 0 high, 1 medium, 2 low ([recovery] restart_priority)

    def __post_init__(self) -> None:
        expected = self.kind.recovery.params_type
        if type(self.params) is not expected:
            raise TypeError(f"{self.kind.value} takes {expected.__name__}, not {type(self.params).__name__}")

    @property
    def preconditions(self) -> tuple[str, ...]:
        """What must still hold when the executor starts: the text of the kind's guards."""
        return self.kind.recovery.preconditions(self.params, self.name)

    @property
    def tier(self) -> tuple[int, int]:
        """Its place in the plan's order before its name: the kind's ``runs_first``, then the
        priority. Every action of a tier starts before any of a later tier (executor.py)."""
        return self.kind.recovery.runs_first, self.priority

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
                             "preconditions": list(a.preconditions), "params": _times_as_text(a.params.as_json())}
                            for a in self.actions],
                "notes": list(self.notes)}


def _times_as_text(params: dict[str, Any]) -> dict[str, Any]:
    """The params as `plan --json` shows them: their times (epoch seconds in the journal) as ISO-8601 UTC."""
    return {key: iso_utc(value) if (key == "snapshot_created" or key.endswith("_at")) and isinstance(value, float)
            else value for key, value in params.items()}
