"""Every kind of action against the fake vCenter: uninterrupted, and resumed from every step.

A controller killed after step k leaves the journal showing step k reached; the next one resumes
the action. If its precondition no longer holds by then (the VM answers again, the host is back,
the copy is gone) and the kind's commit step was not reached, the action ends abandoned with no
change in vCenter; otherwise it completes, and every change is made exactly once: the changes
of the interrupted and the resumed run together are those of an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import (CASES, SPARE_PASSWORD_ENV, SPARE_THUMBPRINT, Case, Clock, action, answering,
                                journal, lab, registration, tools)
from vsphere_dr.executor import Executor, Outcome
from vsphere_dr.journal import Journal
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.recoveries.remove_failed_host import RemoveHostParams
from vsphere_dr.recoveries.register_elsewhere import RegisterAndStartParams


class Crash(BaseException):
    """The controller dies (SIGKILL): nothing after this line of the journal is written."""


class CrashingJournal(Journal):
    """A journal whose process dies right after it records ``after`` ("" = the intent)."""

    def __init__(self, path: Path, clock: Clock, after: str) -> None:
        super().__init__(path, clock=clock)
        self.after = after

    def intend(self, *args: object, **kwargs: object) -> int:
        action_id = super().intend(*args, **kwargs)  # type: ignore[arg-type]
        if self.after == "":
            raise Crash
        return action_id

    def progress(self, action: int, step: str, result: dict[str, object] | None = None) -> None:
        super().progress(action, step, result)
        if step == self.after:
            raise Crash


@pytest.fixture(autouse=True)
def spare_password() -> Iterator[None]:
    os.environ[SPARE_PASSWORD_ENV] = "spare-secret"
    yield
    os.environ.pop(SPARE_PASSWORD_ENV, None)


def step_names(act: Action) -> list[str]:
    return [step.name for step in act.kind.recovery.steps(act.params)]


def committed(act: Action, reached: str) -> bool:
    names = step_names(act)
    return act.kind.recovery.commit_step in names[:names.index(reached) + 1] if reached else False


def resume_points() -> list[tuple[Case, str]]:
    return [(case, reached) for case in CASES for reached in ["", *step_names(case.build()[1])]]


def label(point: tuple[Case, str]) -> str:
    return f"{point[0].name}@{point[1] or 'intent'}"


def run_uninterrupted(case: Case, directory: Path) -> tuple[FakeVCenter, Outcome]:
    vc, act = case.build()
    clock = Clock()
    outcome = Executor(tools(vc, clock), journal(directory, clock)).execute(act, clock())
    return vc, outcome


def crash_after(case: Case, reached: str, directory: Path) -> tuple[FakeVCenter, Clock]:
    vc, act = case.build()
    clock = Clock()
    with pytest.raises(Crash):
        Executor(tools(vc, clock), CrashingJournal(directory / "journal.sqlite", clock, reached)).execute(act, clock())
    return vc, clock


def resume(vc: FakeVCenter, clock: Clock, directory: Path) -> tuple[Outcome | None, Journal]:
    j = journal(directory, clock)
    (row,) = j.unfinished_recoveries()
    return Executor(tools(vc, clock), j).resume(row), j


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_uninterrupted_action_does_its_job(case: Case, tmp_path: Path) -> None:
    vc, outcome = run_uninterrupted(case, tmp_path)
    assert outcome.state == "done", outcome.detail
    case.check_done(vc)


@pytest.mark.parametrize("point", resume_points(), ids=label)
def test_resumed_with_its_precondition_intact_completes_exactly_once(point: tuple[Case, str], tmp_path: Path) -> None:
    case, reached = point
    reference, _ = run_uninterrupted(case, tmp_path / "reference")
    vc, clock = crash_after(case, reached, tmp_path)
    outcome, j = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "done", outcome
    assert vc.changes == reference.changes, "each change made once, in the same order"
    case.check_done(vc)
    assert j.unfinished_actions() == []


def before_commit() -> list[tuple[Case, str]]:
    return [(case, reached) for case, reached in resume_points() if not committed(case.build()[1], reached)]


@pytest.mark.parametrize("point", before_commit(), ids=label)
def test_resumed_after_its_precondition_went_is_abandoned_changing_nothing(point: tuple[Case, str],
                                                                          tmp_path: Path) -> None:
    case, reached = point
    vc, clock = crash_after(case, reached, tmp_path)
    case.withdraw(vc)
    before = list(vc.changes)
    outcome, j = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "abandoned", outcome
    assert vc.changes == before, "no change in vCenter once the precondition is gone"
    (row,) = j.actions()
    assert row.state == "abandoned" and row.error == outcome.detail


def test_restart_resumed_after_the_vm_answers_again_does_not_revert_it(tmp_path: Path) -> None:
    """The reproduced case: journaled at still_down, the VM answers again before the resume."""
    case = next(c for c in CASES if c.name == "restart_from_snapshot")
    vc, clock = crash_after(case, "still_down", tmp_path)
    case.withdraw(vc)
    outcome, _ = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "abandoned"
    assert "revert_to_snapshot" not in vc.kinds_of_change() and answering(vc) == ["web-01"]


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def test_a_replica_powered_on_by_a_dead_controller_is_finished_when_the_host_returns(tmp_path: Path) -> None:
    """vCenter carried out a power-on the killed controller had asked for; the failed host comes
    back before the resume. The replica runs: the action is finished (never abandoned), so that
    the journal records the copy and the next sweep keeps the original off."""
    vc, clock = crash_after(case("start_replica"), "unmarked", tmp_path)
    vc.vms["vm-7"].power_state, vc.vms["vm-7"].guest_up = "poweredOn", True
    case("start_replica").withdraw(vc)
    outcome, j = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "done", outcome
    assert "power_on" not in vc.kinds_of_change(), "the replica was running already"
    assert j.recovery_history(clock(), 3600).replaced == {"vm-1": "vm-7"}


def test_a_registration_vcenter_finished_after_the_controller_died_is_adopted_not_made_again(tmp_path: Path) -> None:
    """Killed while RegisterVM_Task ran: vCenter finished it, the journal never heard. The resumed
    action finds the VM by its files' path."""
    vc, act = case("register_elsewhere").build()
    clock = Clock()
    register = vc.gateway.vms.register

    def register_then_die(*args: object) -> str:
        register(*args)  # type: ignore[arg-type]
        raise Crash

    vc.gateway.vms.register = register_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        Executor(tools(vc, clock), journal(tmp_path, clock)).execute(act, clock())
    vc.gateway.vms.register = register  # type: ignore[method-assign]
    outcome, _ = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "done"
    assert vc.kinds_of_change().count("register") == 1
    case("register_elsewhere").check_done(vc)


@pytest.mark.parametrize("trouble, words", [("in_maintenance", "can no longer take it"), ("gone", "can no longer"),
                                            ("notResponding", "can no longer take it")])
def test_a_target_host_that_can_no_longer_take_the_vm_abandons_before_registering(trouble: str, words: str,
                                                                                 tmp_path: Path) -> None:
    vc, clock = crash_after(case("register_elsewhere"), "still_down", tmp_path)
    if trouble == "in_maintenance":
        vc.hosts["host-2"].in_maintenance = True
    elif trouble == "gone":
        del vc.hosts["host-2"]
    else:
        vc.hosts["host-2"].connection_state = trouble
    outcome, _ = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "abandoned" and words in outcome.detail
    assert "register" not in vc.kinds_of_change()


def test_files_locked_by_an_isolated_host_stop_the_recovery_for_a_person(tmp_path: Path) -> None:
    """The host was isolated, not dead: it runs web-01 on and holds its files' lock. The
    registration elsewhere cannot power on; vsphere-dr never forces it and never retries."""
    vc = lab()
    reg = registration(vc)
    vc.hosts["host-1"].connection_state, vc.hosts["host-1"].isolated = "notResponding", True
    vc.hosts["host-1"].vm_network = False
    vc.gateway.hosts.remove("host-1", None)
    act = action(ActionKind.REGISTER_ELSEWHERE, RegisterAndStartParams(
        registration=reg, failed_host="host-1", failed_host_name="esx-1", host="host-2", host_name="esx-2",
        pool="resgroup-domain-c1"))
    clock = Clock()
    j = journal(tmp_path, clock)
    removal = RemoveHostParams(host_name="esx-1", standalone_resource=None, vms=(reg,))
    j.finish(j.intend("remove_failed_host", "host-1", "esx-1", removal.as_json(), "host failed", None))
    assert reg.vm in j.recovery_history(clock(), 3600).removed
    outcome = Executor(tools(vc, clock), j).execute(act, clock())
    assert outcome.state == "failed" and "files are locked" in outcome.detail and "isolated, not failed" in outcome.detail
    (incident,) = j.incidents()
    assert incident.state == "needs_person"
    assert [v.name for v in vc.vms.values() if v.power_state == "poweredOn" and v.name == "web-01"] == []
    assert len(vc.orphans) == 1, "the one running copy is the isolated host's"
    # Its files are registered on esx-2 now (powered off, for the person): the next sweep must not
    # plan to register them again, which vCenter would refuse (AlreadyExists) every sweep.
    assert reg.vm not in j.recovery_history(clock(), 3600).removed


def test_a_registration_powered_on_by_a_dead_controller_answers_for_itself_not_for_an_isolated_host(
        tmp_path: Path) -> None:
    """Killed after the registration, its power-on carried out by vCenter: the VM answering at its
    address is this action's own registration, not a sign of isolation. The action finishes."""
    vc, clock = crash_after(case("register_elsewhere"), "registered", tmp_path)
    (vm,) = [v for v in vc.vms.values() if v.name == "web-01"]
    vm.power_state, vm.guest_up, vm.moved_question = "poweredOn", True, False
    outcome, _ = resume(vc, clock, tmp_path)
    assert outcome is not None and outcome.state == "done", outcome
    assert "power_on" not in vc.kinds_of_change()


def test_a_spare_host_is_added_trusting_only_its_configured_thumbprint(tmp_path: Path) -> None:
    """settings.ini may write the thumbprint in lower case without ':'; vCenter gets it as
    HostConnectSpec.sslThumbprint writes it."""
    vc, outcome = run_uninterrupted(next(c for c in CASES if c.name == "add_spare_host"), tmp_path)
    assert outcome.state == "done"
    expected = ":".join(SPARE_THUMBPRINT[i:i + 2] for i in range(0, 40, 2)).upper()
    assert vc.thumbprints_given == {"esx-spare": expected}


@pytest.mark.parametrize("snapshot_kept", [True, False])
def test_registered_vm_reverted_first_when_registered_vm_is_revert(snapshot_kept: bool, tmp_path: Path) -> None:
    """[recovery] registered_vm = revert: back to the newest vsphere-dr snapshot before the power-on;
    a registration that came back without it fails rather than start from the wrong disks."""
    vc, act = case("register_elsewhere").build()
    if not snapshot_kept:
        for left in vc.files.values():
            left.snapshots.clear()
    act = replace(act, params=act.params.model_copy(update={"mode": "revert",
                                                            "snapshot_name": "vsphere-dr-20270115T070000Z"}))
    clock = Clock()
    outcome = Executor(tools(vc, clock), journal(tmp_path, clock)).execute(act, clock())
    if snapshot_kept:
        assert outcome.state == "done" and vc.kinds_of_change()[:2] == ["register", "revert_to_snapshot"]
    else:
        assert outcome.state == "failed" and "is not on the registered VM" in outcome.detail
        assert "power_on" not in vc.kinds_of_change()
