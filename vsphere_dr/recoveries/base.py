"""The parts every kind of action is made of: typed params and progress, steps, guards.

As OpenStack Masakari splits a host failure into named tasks, every action here is a list of
small named steps. A step's ``run`` does one thing in vCenter and its ``check`` (the
post-condition) reads vCenter again and says what is wrong, if anything. A *guard* is a step that
changes nothing: it checks a precondition of the action (the VM still does not answer, the host is
still down) and ends the action as abandoned when it no longer holds. The plan's precondition
text is the guards' own text, so what ``vsphere-dr plan`` promises is what the executor checks.

On resume (the journal shows step k reached) the executor re-runs every guard before any later
step, until the journal shows the kind's ``commit_step``: from there on the action has made a
change that must be finished (a copy was started), and abandoning it would be the unsafe choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Event
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from vsphere_dr.errors import VsphereDrError
from vsphere_dr.settings import Settings
from vsphere_dr.vcenter import Gateway


class NoLongerNeeded(VsphereDrError):
    """A guard no longer holds (the VM answers again, the host is back): nothing more is done."""


class StepFailed(VsphereDrError):
    def __init__(self, step: str, problem: str) -> None:
        super().__init__(f"step {step}: {problem}")
        self.step = step


class NeedsAPerson(VsphereDrError):
    """A step found what only a person may decide (the files are locked: the VM still runs on an
    isolated host): the action ends failed, its incident waits for a person, nothing is retried."""


class Interrupted(VsphereDrError):
    """The controller is stopping: the action stays in the journal and is continued on restart."""


class Params(BaseModel):
    """What the plan decided, journaled before the first step: frozen, JSON round-trip."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class NoParams(Params):
    pass


class FromSnapshot(Params):
    """Params of an action that restores a snapshot: its age is the incident's RPO."""

    snapshot: str | None = None
    snapshot_name: str | None = None
    snapshot_created: float | None = None  # epoch seconds


class Progress(BaseModel):
    """What the steps produced so far; journaled after every step."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    answered_at: float | None = None
    address: str | None = None  # the address that answered the probe at the end

    @property
    def copy_made(self) -> str | None:
        """The moref of a copy this action created, if any."""
        return None

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


@dataclass
class Tools:
    """What the steps act with."""

    gateway: Gateway
    admin_gateway: Gateway  # holds the VMs behind nested vHosts (may be ``gateway``)
    settings: Callable[[], Settings]  # the settings in force now (hot reload)
    probe: Callable[[str], bool]  # does this address answer its probe now?
    stop: Event = field(default_factory=Event)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


P = TypeVar("P", bound=Params)
S = TypeVar("S", bound=Progress)


@dataclass
class Run(Generic[P, S]):
    """One action under way: its target, its params, what its steps produced, and the tools."""

    tools: Tools
    target: str  # moref of the VM (or host) the action is about
    name: str  # the target's name, for people
    params: P
    progress: S


StepFn = Callable[[Any], None]
CheckFn = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Step:
    name: str  # as the journal records it
    run: StepFn
    check: CheckFn | None = None  # the post-condition: None when it holds, else what is wrong
    precondition: str = ""  # a guard's text for the plan: a template over the params' fields and {name}

    @property
    def guard(self) -> bool:
        return bool(self.precondition)


def guard(name: str, precondition: str, violated: CheckFn) -> Step:
    """A step that changes nothing: ``violated(run)`` says why the action is no longer needed."""

    def enforce(run: Run[Any, Any]) -> None:
        why = violated(run)
        if why is not None:
            raise NoLongerNeeded(why)

    return Step(name, enforce, precondition=precondition)


class Recovery:
    """One kind of action: what it is, what it needs, and its steps. Subclasses set the ClassVars."""

    kind: ClassVar[str]  # the journal's and the plan's name for it
    changes_vcenter: ClassVar[bool] = True
    counts_as_restart: ClassVar[bool] = False  # counts against [recovery] max_restarts
    opens_incident: ClassVar[bool] = True
    creates_copy: ClassVar[bool] = False  # after it, a second VM exists for the same workload
    needs_person: ClassVar[bool] = False  # its incident waits for a person (changes nothing itself)
    once_per_outage: ClassVar[bool] = False  # tried once per outage of its target (History.once_tried)
    unregisters_vms: ClassVar[bool] = False  # takes VMs out of vCenter (``unregistered``) to be registered again
    registers_vm: ClassVar[bool] = False  # registers one of those again (``params.registration``)
    params_type: ClassVar[type[Params]] = NoParams
    progress_type: ClassVar[type[Progress]] = Progress
    commit_step: ClassVar[str | None] = None  # once reached, guards are not re-run on resume
    runs_first: ClassVar[int] = 2  # its tier before priority: 0 before 1 before 2 (keep_original_off first)
    STEPS: ClassVar[tuple[Step, ...]] = ()  # the steps, in order, when they do not depend on the params

    @classmethod
    def steps(cls, params: Any) -> tuple[Step, ...]:
        return cls.STEPS

    @classmethod
    def preconditions(cls, params: Params, name: str) -> tuple[str, ...]:
        """The guards' text, filled in from the params and the target's name: what the plan says
        the executor will check."""
        values = {**params.model_dump(), "name": name}
        return tuple(step.precondition.format(**values) for step in cls.steps(params) if step.guard)

    @classmethod
    def host(cls, target: str, params: Params) -> str | None:
        """The host whose provisioning queue its tasks go to (``[recovery] max_parallel_per_host``
        counts the actions in flight per host); None for actions that occupy no host's queue."""
        return getattr(params, "host", None)

    @classmethod
    def needs(cls, params: Params) -> frozenset[str]:
        """What must be done before it starts: the ``provides`` of earlier actions of the same run."""
        return frozenset()

    @classmethod
    def provides(cls, target: str, params: Params) -> frozenset[str]:
        """What it makes true when it is done, for the ``needs`` of later actions."""
        return frozenset()

    @classmethod
    def loses_nothing(cls, params: Params) -> bool:
        """True when the VM comes back with all its data (RPO 0), not from a snapshot or replica."""
        return False

    @classmethod
    def unregistered(cls, params: Params) -> tuple[Any, ...]:
        """The registrations this action took out of vCenter (kinds with ``unregisters_vms``)."""
        return ()

    @classmethod
    def registered_again(cls, params: Params, result: dict[str, Any], done: bool) -> str | None:
        """The removed VM (its old moref) this action registered again (kinds with ``registers_vm``)."""
        return None

    @classmethod
    def copy_in(cls, result: dict[str, Any]) -> str | None:
        """The copy a journaled result names, for kinds that create one."""
        return cls.progress_type.model_validate(result).copy_made if cls.creates_copy else None
