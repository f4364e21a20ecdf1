"""The executor: carries out a plan's actions step by step, journaling each step.

An action is written to the journal as intended before its first step and updated after every
step, so a controller that dies mid-recovery continues it (``resume``) from what the journal and
vCenter show, instead of doing it again. What an action is made of (its steps, guards and
rules) comes from its kind in vsphere_dr/recoveries/; nothing here names a kind.

Resuming at step k: every guard is run again before any later step, until the journal shows
the kind's commit step (recoveries/base.py says why); a step the journal shows as reached is
skipped when it has no post-condition or its post-condition still holds, and run again otherwise.
Incidents are closed here with their RTO (detection to answering again) and RPO (age of the
snapshot used).

``execute_all`` and ``resume_all`` run many actions at once (parallel.py): bounded by
``[recovery] max_parallel`` and ``max_parallel_per_host``, tier by tier, each after the actions it
needs (its kind's ``needs``/``provides``). Every action still runs its own steps one after another,
journaled after each, so each one resumes as it would alone; a stop starts no new step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from vsphere_dr.errors import VCenterUnreachable, VsphereDrError
from vsphere_dr.journal import ActionRow, Journal
from vsphere_dr.parallel import Job, Limits, run_jobs
from vsphere_dr.logging_setup import fields
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.recoveries.base import FromSnapshot, Interrupted, NeedsAPerson, NoLongerNeeded, Recovery, Run, \
    Step, StepFailed, Tools

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: Action
    state: str  # done, failed, abandoned, interrupted, noted, skipped (what it needed did not succeed)
    detail: str = ""


class Executor:
    def __init__(self, tools: Tools, journal: Journal) -> None:
        self.tools, self.journal = tools, journal

    def execute_all(self, actions: Sequence[Action], detected_at: Callable[[Action], float]) -> list[Outcome]:
        """Carry out a plan's actions concurrently (the module's docstring says how); the outcomes
        of those started (a stop leaves the rest to the next sweep), in the plan's order."""
        return self._all(actions, lambda i: self._begin(actions[i], detected_at(actions[i])))

    def resume_all(self, rows: Sequence[ActionRow], priority: Callable[[str], int]) -> list[Outcome]:
        """Continue unfinished actions concurrently, as ``execute_all`` runs a plan's; ``priority``
        gives a VM's (by name) for the tiers. Rows that cannot be continued are marked failed."""
        actions = [(row, self._action_of(row, priority)) for row in rows]
        resumable = sorted(((row, a) for row, a in actions if a is not None), key=lambda pair: pair[1].tier)
        return self._all([a for _, a in resumable], lambda i: lambda: self._resume(*resumable[i]))

    def _all(self, actions: Sequence[Action], start: Callable[[int], Callable[[], Outcome]]) -> list[Outcome]:
        recovery = self.tools.settings().recovery
        jobs = [_job(action) for action in actions]
        outcomes = run_jobs(jobs, start, lambda o: o.state in ("done", "noted"),
                            lambda i, why: Outcome(actions[i], "skipped", why),
                            Limits(recovery.max_parallel, recovery.max_parallel_per_host), self.tools.stop)
        return [o for o in outcomes if o is not None]

    def execute(self, action: Action, detected_at: float) -> Outcome:
        """Carry out one action of a plan; never raises for a vCenter fault (the outcome says it)."""
        return self._begin(action, detected_at)()

    def _begin(self, action: Action, detected_at: float) -> Callable[[], Outcome]:
        """Journal the action's incident and intent now; its steps are the work returned."""
        kind = action.kind.recovery
        if not kind.changes_vcenter:
            return lambda: self._note(action, detected_at)
        incident = None
        if kind.opens_incident:
            incident = self.journal.open_incident(action.target, action.name, action.reason, detected_at)
        log.warning("recovering %s: %s", action.name, action.line(), extra=_about(action, incident))
        action_id = self.journal.intend(kind.kind, action.target, action.name, action.params.as_json(),
                                        action.reason, incident)
        return lambda: self._carry_out(action_id, action, incident, reached="", result={})

    def _action_of(self, row: ActionRow, priority: Callable[[str], int]) -> Action | None:
        """The action a journal row records; None (and the row marked failed) for one written by
        another version that this one cannot continue."""
        try:
            kind = ActionKind(row.kind)
            return Action(kind, row.vm, row.vm_name, "resumed", row.reason,
                          params=kind.recovery.params_type.model_validate(row.params), priority=priority(row.vm_name))
        except (ValueError, ValidationError) as exc:
            error = f"cannot be continued: its journal entry is not one this version understands ({exc})"
            self.journal.fail(row.id, error)
            log.error("%s of %s %s", row.kind, row.vm_name, error,
                      extra=fields(vm=row.vm_name, moref=row.vm, action=row.kind, incident=row.incident))
            return None

    def resume(self, row: ActionRow, priority: Callable[[str], int] = lambda _name: 1) -> Outcome | None:
        """Continue one action the journal shows unfinished; None for a row that cannot be continued."""
        action = self._action_of(row, priority)
        return None if action is None else self._resume(row, action)

    def _resume(self, row: ActionRow, action: Action) -> Outcome:
        log.warning("continuing %s of %s from step %r (interrupted by a stop)", row.kind, row.vm_name,
                    row.step or "start", extra=_about(action, row.incident))
        return self._carry_out(row.id, action, row.incident, row.step, row.result)

    def _carry_out(self, action_id: int, action: Action, incident: int | None, reached: str,
                   result: dict[str, Any]) -> Outcome:
        kind = action.kind.recovery
        run = Run(self.tools, action.target, action.name, action.params, kind.progress_type.model_validate(result))
        try:
            for step in self._steps_left(kind, run, reached):
                if self.tools.stop.is_set():
                    raise Interrupted(f"stopping before step {step.name}: the action is continued on restart")
                self._step(action_id, step, run)
        except NoLongerNeeded as exc:
            # Nothing was changed: the incident stays open until the sweep sees the VM answer.
            self.journal.fail(action_id, str(exc), state="abandoned")
            log.info("%s: %s", action.name, exc, extra=_about(action, incident))
            return Outcome(action, "abandoned", str(exc))
        except (Interrupted, VCenterUnreachable) as exc:
            # The journal keeps the step reached: the next sweep (or start) continues from there.
            log.warning("%s of %s interrupted, continued on the next sweep: %s", kind.kind, action.name, exc,
                        extra=_about(action, incident))
            return Outcome(action, "interrupted", str(exc))
        except NeedsAPerson as exc:
            self.journal.fail(action_id, str(exc))
            if incident is not None:
                self.journal.close_incident(incident, "needs_person", str(exc))
            log.error("%s needs a person: %s", action.name, exc, extra=_about(action, incident))
            return Outcome(action, "failed", str(exc))
        except VsphereDrError as exc:
            self.journal.fail(action_id, str(exc))
            log.error("recovery of %s failed: %s", action.name, exc, extra=_about(action, incident))
            return Outcome(action, "failed", str(exc))
        except Exception as exc:
            # A defect, not a fault of vCenter's: fail the action rather than retry it every sweep.
            self.journal.fail(action_id, f"internal error: {type(exc).__name__}: {exc}")
            raise
        self.journal.finish(action_id)
        summary = _summary(kind, run)
        snapshot = action.params.snapshot_created if isinstance(action.params, FromSnapshot) else None
        if kind.loses_nothing(action.params) and incident is not None:
            snapshot = self.journal.incident(incident).detected_at  # RPO 0
        self._close(incident, action.line(), snapshot)
        log.warning("recovered %s: %s", action.name, summary, extra=_about(action, incident))
        return Outcome(action, "done", summary)

    @staticmethod
    def _steps_left(kind: type[Recovery], run: Run[Any, Any], reached: str) -> Iterator[Step]:
        """The steps to run now: all of them for a new action; on resume, the guards (until the
        commit step was reached), the reached steps whose post-condition no longer holds, and the
        rest. Lazily, so that a reached step's post-condition is read only after the guards before it."""
        steps = kind.steps(run.params)
        names = [step.name for step in steps]
        done = names.index(reached) + 1 if reached in names else 0
        committed = kind.commit_step in names[:done]
        for index, step in enumerate(steps):
            if index >= done or (step.guard and not committed):
                yield step
            elif not step.guard and step.check is not None and step.check(run) is not None:
                yield step

    def _step(self, action_id: int, step: Step, run: Run[Any, Any]) -> None:
        step.run(run)
        problem = step.check(run) if step.check else None
        if problem is not None:
            raise StepFailed(step.name, problem)
        self.journal.progress(action_id, step.name, run.progress.as_json())

    def _close(self, incident: int | None, note: str, snapshot_created: float | None) -> None:
        if incident is not None:
            self.journal.close_incident(incident, "recovered", note, recovered_at=self.tools.clock(),
                                        snapshot_created_at=snapshot_created)

    def _note(self, action: Action, detected_at: float) -> Outcome:
        """Actions that change nothing in vCenter: an incident for a person, and a log line the
        first time (an ill VM stays ill for many sweeps; its incident stays open meanwhile)."""
        known = any(i.vm == action.target for i in self.journal.unresolved_incidents())
        incident = self.journal.open_incident(action.target, action.name, action.reason, detected_at)
        if action.kind.recovery.needs_person:
            self.journal.close_incident(incident, "needs_person", action.reason)
            log.error("%s needs a person: %s", action.name, action.reason, extra=_about(action, incident))
        elif not known:
            log.warning("%s: %s", action.name, action.reason, extra=_about(action, incident))
        return Outcome(action, "noted", action.reason)


def _job(action: Action) -> Job:
    kind = action.kind.recovery
    return Job(action.name, action.tier, kind.host(action.target, action.params), kind.needs(action.params),
               kind.provides(action.target, action.params))


def _about(action: Action, incident: int | None) -> dict[str, Any]:
    """The log fields of a line about ``action``."""
    return fields(vm=action.name, moref=action.target, action=action.kind.value, incident=incident)


def _summary(kind: type[Recovery], run: Run[Any, Any]) -> str:
    copy = run.progress.copy_made
    where = f" as {copy}" if copy else ""
    answered = f"; answers at {run.progress.address}" if run.progress.address else ""
    return f"{kind.kind}{where} done{answered}"
