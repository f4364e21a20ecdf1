"""The executor: carries out a plan's actions step by step, journaling each step.

An action is written to the journal as intended before its first step and updated after every
step, so a controller that dies mid-recovery continues it on restart (``resume``) from what the
journal and vCenter show, instead of doing it again. Incidents are closed here with their RTO
(detection to answering again) and RPO (age of the snapshot used).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from vsphere_dr.errors import VsphereDrError
from vsphere_dr.journal import ActionRow, Journal
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.recovery_steps import Flows, Interrupted, NoLongerNeeded, Step, StepFailed, Tools

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: Action
    state: str  # done, failed, abandoned, interrupted, noted
    detail: str = ""


class Executor:
    def __init__(self, tools: Tools, journal: Journal) -> None:
        self.tools, self.journal = tools, journal

    def execute(self, action: Action, detected_at: float) -> Outcome:
        """Carry out one action of a plan; never raises for a vCenter fault (the outcome says it)."""
        if not action.kind.changes_vcenter:
            return self._note(action, detected_at)
        incident = None
        if action.kind != ActionKind.REVIVE_HOST and action.kind != ActionKind.KEEP_ORIGINAL_OFF:
            incident = self.journal.open_incident(action.target, action.name, action.reason, detected_at)
        log.warning("recovering %s: %s", action.name, action.line())
        action_id = self.journal.intend(action.kind.value, action.target, action.name, dict(action.params),
                                        action.reason, incident)
        return self._carry_out(action_id, action, incident, reached="", result={})

    def resume(self, row: ActionRow) -> Outcome:
        """Continue an action the journal shows unfinished (the controller stopped in the middle)."""
        action = Action(ActionKind(row.kind), row.vm, row.vm_name, "resumed", row.reason, params=row.params)
        log.warning("continuing %s of %s from step %r (interrupted by a stop)", row.kind, row.vm_name,
                    row.step or "start")
        return self._carry_out(row.id, action, row.incident, row.step, dict(row.result))

    def _carry_out(self, action_id: int, action: Action, incident: int | None, reached: str,
                   result: dict[str, Any]) -> Outcome:
        steps = Flows(self.tools, action, result).steps()
        done_before = [s.name for s in steps].index(reached) + 1 if reached in [s.name for s in steps] else 0
        try:
            for index, step in enumerate(steps):
                if index < done_before and step.check() is None:
                    continue
                self._step(action_id, step, result)
        except NoLongerNeeded as exc:
            self.journal.fail(action_id, str(exc), state="abandoned")
            self._close(incident, "recovered", str(exc), None)
            log.info("%s: %s", action.name, exc)
            return Outcome(action, "abandoned", str(exc))
        except Interrupted as exc:
            log.warning("%s: %s", action.name, exc)
            return Outcome(action, "interrupted", str(exc))
        except VsphereDrError as exc:
            self.journal.fail(action_id, str(exc))
            log.error("recovery of %s failed: %s", action.name, exc)
            return Outcome(action, "failed", str(exc))
        self.journal.finish(action_id)
        self._close(incident, "recovered", action.line(), action.params.get("snapshot_created"))
        log.warning("recovered %s: %s", action.name, _summary(action, result))
        return Outcome(action, "done", _summary(action, result))

    def _step(self, action_id: int, step: Step, result: dict[str, Any]) -> None:
        produced = step.run() or {}
        result.update(produced)
        problem = step.check()
        if problem is not None:
            raise StepFailed(step.name, problem)
        self.journal.progress(action_id, step.name, produced)

    def _close(self, incident: int | None, state: str, note: str, snapshot_created: float | None) -> None:
        if incident is not None:
            self.journal.close_incident(incident, state, note, recovered_at=self.tools.clock(),
                                        snapshot_created_at=snapshot_created)

    def _note(self, action: Action, detected_at: float) -> Outcome:
        """Actions that change nothing in vCenter: an incident for a person, and a log line the
        first time (an ill VM stays ill for many sweeps; its incident stays open meanwhile)."""
        known = any(i.vm == action.target for i in self.journal.unresolved_incidents())
        incident = self.journal.open_incident(action.target, action.name, action.reason, detected_at)
        if action.kind == ActionKind.NEEDS_PERSON:
            self.journal.close_incident(incident, "needs_person", action.reason)
            log.error("%s needs a person: %s", action.name, action.reason)
        elif not known:
            log.warning("%s: %s", action.name, action.reason)
        return Outcome(action, "noted", action.reason)


def _summary(action: Action, result: dict[str, Any]) -> str:
    where = f" as {result['copy']}" if "copy" in result else ""
    return f"{action.kind.value}{where} done; answers at {result['address']}" if "address" in result \
        else f"{action.kind.value}{where} done"
