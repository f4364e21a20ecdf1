"""The executor's rules against the fake vCenter: what happens to an action, its journal entry and
its incident when a step fails, vCenter is lost, the controller stops, or the code is wrong."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from modules.health_administrator import HealthSweep
from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import CASES, COPY_NAME, NOW, Clock, action, journal, settings, tools
from vsphere_dr.errors import VCenterUnreachable
from vsphere_dr.executor import Executor, Outcome
from vsphere_dr.journal import Journal
from vsphere_dr.plan import ActionKind
from vsphere_dr.recoveries.base import NoParams
from vsphere_dr.settings import Settings

REGISTER = next(c for c in CASES if c.name == "register_elsewhere")
REPLICA = next(c for c in CASES if c.name == "start_replica")
RESTART = next(c for c in CASES if c.name == "restart_from_snapshot")


def lost_connection() -> VCenterUnreachable:
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError as exc:
        try:
            raise VCenterUnreachable("lost the connection to vCenter during CloneVM_Task") from exc
        except VCenterUnreachable as unreachable:
            return unreachable


def next_sweep(executor: Executor, j: Journal, chosen: Settings | None = None) -> None:
    """What the Health Administrator's next sweep does first: continue what the journal shows unfinished."""
    sweep = HealthSweep(executor.tools.gateway, executor.tools.gateway, j, lambda: chosen or settings(),  # type: ignore[arg-type]
                        None, None, executor)  # type: ignore[arg-type]
    sweep._continue_unfinished()


def register_cut_off(directory: Path) -> tuple[FakeVCenter, Journal, Executor, Outcome]:
    """A register_elsewhere whose connection to vCenter is reset while it registers the VM."""
    vc, act = REGISTER.build()
    clock = Clock()
    j = journal(directory, clock)
    executor = Executor(tools(vc, clock), j)
    vc.fail_next("register", lost_connection())
    return vc, j, executor, executor.execute(act, NOW)


def test_connection_reset_mid_action_is_continued_on_the_next_sweep(tmp_path: Path) -> None:
    vc, j, executor, outcome = register_cut_off(tmp_path)
    assert outcome.state == "interrupted" and "lost the connection" in outcome.detail
    (row,) = j.unfinished_recoveries()
    assert (row.state, row.step) == ("running", "target_usable"), "resumable from the step reached"
    next_sweep(executor, j)
    assert j.unfinished_actions() == [] and j.action(row.id).state == "done"
    REGISTER.check_done(vc)
    assert vc.kinds_of_change().count("register") == 1


def test_recovery_disabled_leaves_unfinished_actions_alone(tmp_path: Path) -> None:
    vc, j, executor, _ = register_cut_off(tmp_path)
    disabled = Settings.model_validate({**settings().model_dump(), "recovery": {"enabled": False}})
    next_sweep(executor, j, disabled)
    assert len(j.unfinished_recoveries()) == 1 and "register" not in vc.kinds_of_change()


def test_a_vm_that_never_answers_fails_the_action_and_keeps_the_incident_open(tmp_path: Path) -> None:
    vc, act = REGISTER.build()
    for left in vc.files.values():
        left.broken = True  # its guest does not boot from what the crash left on disk
    clock = Clock()
    j = journal(tmp_path, clock)
    outcome = Executor(tools(vc, clock), j).execute(act, NOW)
    assert outcome.state == "failed" and "did not answer its probe within 30 s" in outcome.detail
    (row,) = j.actions()
    assert row.state == "failed" and row.step == "powered_on"
    (incident,) = j.unresolved_incidents()
    assert incident.state == "open" and incident.recovered_at is None


def test_a_defect_in_a_step_fails_the_action_instead_of_leaving_it_running(tmp_path: Path) -> None:
    vc, act = RESTART.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    vc.fail_next("revert_to_snapshot", KeyError("snapshot tree"))
    with pytest.raises(KeyError):
        Executor(tools(vc, clock), j).execute(act, NOW)
    (row,) = j.actions()
    assert row.state == "failed" and row.error.startswith("internal error: KeyError")


def test_stop_during_a_wait_interrupts_and_the_next_start_finishes(tmp_path: Path) -> None:
    vc, act = RESTART.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    t = tools(vc, clock)
    vc.vms["vm-1"].broken = True
    t.sleep = lambda _s: t.stop.set()
    outcome = Executor(t, j).execute(act, NOW)
    assert outcome.state == "interrupted"
    vc.vms["vm-1"].guest_up = True  # it boots after all
    next_sweep(Executor(tools(vc, clock), j), j)
    assert j.actions()[0].state == "done" and vc.kinds_of_change() == ["revert_to_snapshot", "power_on"]


@pytest.mark.parametrize("case, rpo", [(RESTART, 3600), (REGISTER, 0)], ids=["from its snapshot", "as it was"])
def test_done_closes_the_incident_with_rto_and_rpo(case: Any, rpo: float, tmp_path: Path) -> None:
    """The snapshot's age is what a restart from it loses; a VM registered as the crash left it loses nothing."""
    vc, act = case.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    clock.now = NOW + 40
    assert Executor(tools(vc, clock), j).execute(act, detected_at=NOW).state == "done"
    (incident,) = j.incidents()
    assert incident.state == "recovered" and incident.rto_seconds == 40 and incident.rpo_seconds == rpo


def test_a_started_replica_is_recorded_so_the_original_is_kept_off(tmp_path: Path) -> None:
    vc, act = REPLICA.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    outcome = Executor(tools(vc, clock), j).execute(act, NOW)
    (copy,) = [vm.moref for vm in vc.vms.values() if vm.name == COPY_NAME]
    assert outcome.detail == f"start_replica as {copy} done; answers at 10.0.0.1"
    assert j.recovery_history(clock(), 3600).replaced == {"vm-1": copy}
    assert j.recovery_history(clock(), 3600).recoveries == {"vm-1": 1}


def test_needs_person_and_report_ill_change_nothing_and_open_an_incident(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    vc, _ = RESTART.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    executor = Executor(tools(vc, clock), j)
    with caplog.at_level(logging.WARNING):
        assert executor.execute(action(ActionKind.NEEDS_PERSON, NoParams()), NOW).state == "noted"
        for _ in range(3):
            executor.execute(action(ActionKind.REPORT_ILL, NoParams(), target="vm-2", name="db-01"), NOW)
    assert vc.changes == [] and j.actions() == []
    states = {i.vm_name: i.state for i in j.incidents()}
    assert states == {"web-01": "needs_person", "db-01": "open"}
    assert caplog.text.count("db-01: test of report_ill") == 1, "an ill VM is logged once, not every sweep"
    assert "web-01 needs a person" in caplog.text


def test_an_entry_this_version_cannot_read_is_failed_not_retried(tmp_path: Path) -> None:
    vc, _ = RESTART.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    old = j.intend("restart_from_snapshot", "vm-1", "web-01", {"snapshot": "snap-1", "colour": "red"}, "old")
    unknown = j.intend("teleport", "vm-1", "web-01", {}, "from the future")
    executor = Executor(tools(vc, clock), j)
    assert executor.resume(j.action(old)) is None and executor.resume(j.action(unknown)) is None
    assert [j.action(i).state for i in (old, unknown)] == ["failed", "failed"] and vc.changes == []
    assert "not one this version understands" in j.action(old).error

