"""The journal, without the simulator: nothing lost, nothing done twice, the right RTO and RPO.

Every action is written as intended before it starts and updated after each step, so that a
controller killed in the middle leaves a record the next one can finish from. These tests hold
the journal to that: what one Journal wrote, a new one on the same file (the restarted
controller) reads back; the step and the results reached survive; the history the decision
engine plans from counts what it must and nothing else. Time is the test's ``Clock``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.recovery_lab import CASES, COPY_NAME, NOW, SNAPSHOT_TIME, Clock, journal, tools
from vsphere_dr.executor import Executor
from vsphere_dr.journal import Journal, ProbeState, RunRow

HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def j(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    opened = journal(tmp_path, clock)
    yield opened
    opened.close()


def reopen(old: Journal, clock: Clock) -> Journal:
    """The restarted controller's journal: a new connection to the same file. The old one is not
    closed first, as a process killed with SIGKILL does not close its file."""
    return Journal(old.path, clock=clock)


def at(clock: Clock, when: float) -> Clock:
    clock.now = when
    return clock


# --- actions: intended before the start, then step by step ------------------------------------


def test_an_action_is_recorded_as_intended_before_anything_is_done(j: Journal) -> None:
    action = j.intend("reset", "vm-1", "web-01", {"host": "host-1", "ill": False}, "no answer for 90 s",
                      incident=7)
    row = j.action(action)
    assert (row.state, row.step, row.result, row.error) == ("intended", "", {}, "")
    assert (row.kind, row.vm, row.vm_name, row.incident) == ("reset", "vm-1", "web-01", 7)
    assert row.params == {"host": "host-1", "ill": False} and row.reason == "no answer for 90 s"
    assert row.created_at == row.updated_at == NOW


def test_progress_records_the_step_reached_and_merges_the_results_step_by_step(j: Journal, clock: Clock) -> None:
    action = j.intend("start_replica", "vm-1", "web-01", {}, "host down")
    clock.sleep(5)
    j.progress(action, "cloned", {"copy": "vm-5"})
    clock.sleep(5)
    j.progress(action, "placed", {"host": "host-2"})
    row = j.action(action)
    assert (row.state, row.step) == ("running", "placed")
    assert row.result == {"copy": "vm-5", "host": "host-2"}, "an earlier step's result is not lost"
    assert (row.created_at, row.updated_at) == (NOW, NOW + 10)
    j.progress(action, "powered_on", {"host": "host-3"})
    assert j.action(action).result == {"copy": "vm-5", "host": "host-3"}, "a later value of a key wins"
    j.progress(action, "marked")
    assert j.action(action).result == {"copy": "vm-5", "host": "host-3"}, "a step without results keeps them"


def test_finish_keeps_the_last_step_and_the_results(j: Journal, clock: Clock) -> None:
    action = j.intend("power_on", "vm-1", "web-01", {}, "powered off")
    j.progress(action, "powered_on", {"answered_at": NOW})
    clock.sleep(30)
    j.finish(action, {"address": "10.0.0.1"})
    row = j.action(action)
    assert (row.state, row.step, row.error) == ("done", "powered_on", "")
    assert row.result == {"answered_at": NOW, "address": "10.0.0.1"}
    assert row.updated_at == NOW + 30
    assert j.unfinished_actions() == []


@pytest.mark.parametrize("state", ["failed", "abandoned"])
def test_a_failed_or_abandoned_action_keeps_its_error_step_and_results(j: Journal, state: str) -> None:
    action = j.intend("start_replica", "vm-1", "web-01", {}, "host down")
    j.progress(action, "cloned", {"copy": "vm-5"})
    j.fail(action, "step placed: no host left", state=state)
    row = j.action(action)
    assert (row.state, row.step, row.result, row.error) == (state, "cloned", {"copy": "vm-5"},
                                                          "step placed: no host left")
    assert j.unfinished_actions() == []


def test_fail_defaults_to_failed(j: Journal) -> None:
    action = j.intend("reset", "vm-1", "web-01", {}, "hung")
    j.fail(action, "vCenter fault InvalidState")
    assert j.action(action).state == "failed"


def test_a_write_the_journal_refuses_changes_nothing_and_the_journal_goes_on(j: Journal) -> None:
    """A state outside the schema's list is refused and rolled back: the row is as it was."""
    action = j.intend("reset", "vm-1", "web-01", {}, "hung")
    j.progress(action, "still_down", {"answered_at": None})
    before = j.action(action)
    with pytest.raises(sqlite3.IntegrityError):
        j.fail(action, "oops", state="gone")
    assert j.action(action) == before
    j.finish(action)
    assert j.action(action).state == "done", "the journal is usable after the refused write"


@pytest.mark.parametrize("call", [
    lambda j: j.action(99),
    lambda j: j.progress(99, "step"),
    lambda j: j.finish(99),
    lambda j: j.fail(99, "error"),
], ids=["action", "progress", "finish", "fail"])
def test_an_unknown_action_id_is_a_key_error_not_a_silent_no_op(j: Journal, call: Callable[[Journal], object]) -> None:
    with pytest.raises(KeyError, match="no action 99"):
        call(j)
    assert j.actions() == [], "nothing was written"
    j.intend("reset", "vm-1", "web-01", {}, "hung")  # and the journal is not left inside a transaction


def test_unfinished_actions_are_the_intended_and_running_ones_in_order(j: Journal) -> None:
    intended = j.intend("reset", "vm-1", "web-01", {}, "hung")
    running = j.intend("power_on", "vm-2", "db-01", {}, "off")
    j.progress(running, "powered_on")
    j.finish(j.intend("reset", "vm-4", "app-04", {}, "hung"))
    for state in ("failed", "abandoned"):
        j.fail(j.intend("reset", f"vm-{state}", state, {}, "hung"), "error", state=state)
    snapshot = j.intend("snapshot", "vm-3", "app-03", {"name": "vsphere-dr-x", "module": "snapshot_creator"},
                        "scheduled snapshot rotation")
    assert [row.id for row in j.unfinished_actions()] == [intended, running, snapshot]
    assert [row.id for row in j.unfinished_recoveries()] == [intended, running], "a snapshot is not a recovery"


def test_a_row_of_a_kind_no_recovery_knows_is_not_a_recovery(j: Journal) -> None:
    j.intend("defragment", "vm-1", "web-01", {}, "written by some other tool")
    assert len(j.unfinished_actions()) == 1
    assert j.unfinished_recoveries() == [] and j.vms_under_recovery() == set()
    assert j.recovery_history(NOW, HOUR).busy == frozenset()


def test_actions_by_vm_and_since(j: Journal, clock: Clock) -> None:
    old = j.intend("reset", "vm-1", "web-01", {}, "hung")
    at(clock, NOW + 100)
    other = j.intend("reset", "vm-2", "db-01", {}, "hung")
    new = j.intend("power_on", "vm-1", "web-01", {}, "off")
    assert [row.id for row in j.actions()] == [old, other, new]
    assert [row.id for row in j.actions(vm="vm-1")] == [old, new]
    assert [row.id for row in j.actions(since=NOW + 100)] == [other, new]
    assert [row.id for row in j.actions(vm="vm-1", since=NOW + 1)] == [new]


# --- the crash case: a new Journal on the same file ---------------------------------------------


def test_what_a_killed_controller_wrote_is_there_for_the_next_one(j: Journal, clock: Clock) -> None:
    action = j.intend("start_replica", "vm-1", "web-01", {"replica_name": COPY_NAME}, "host down", incident=1)
    j.progress(action, "cloned", {"copy": "vm-5"})
    incident = j.open_incident("vm-1", "web-01", "host down", NOW - 60)
    j.save_probe_states({"vm-1": ProbeState(3, NOW - 60, NOW - 120)})
    j.run_started("availability_administrator")
    j.record_snapshot_status("vm-1", "web-01", NOW - HOUR)

    restarted = reopen(j, clock)  # j is not closed: the process died
    try:
        (row,) = restarted.unfinished_recoveries()
        assert (row.id, row.kind, row.step, row.result) == (action, "start_replica", "cloned", {"copy": "vm-5"})
        assert row.params == {"replica_name": COPY_NAME} and row.incident == 1
        assert [i.id for i in restarted.unresolved_incidents()] == [incident]
        assert restarted.probe_states() == {"vm-1": ProbeState(3, NOW - 60, NOW - 120)}
        assert restarted.runs()["availability_administrator"].outcome == "running", "the run never finished"
        assert [s.newest_at for s in restarted.snapshot_status()] == [NOW - HOUR]
        assert restarted.recovery_history(NOW, HOUR).busy == {"vm-1"}, "not planned a second time"
        assert restarted.vms_under_recovery() == {"vm-1"}

        restarted.progress(action, "placed", {"host": "host-2"})
        restarted.finish(action)
    finally:
        restarted.close()
    after_clean_stop = reopen(j, clock)
    try:
        row = after_clean_stop.action(action)
        assert (row.state, row.step, row.result) == ("done", "placed", {"copy": "vm-5", "host": "host-2"})
    finally:
        after_clean_stop.close()


def test_the_journal_file_and_its_directory_are_created(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "var" / "lib" / "journal.sqlite"
    first = Journal(path, clock=clock)
    first.intend("reset", "vm-1", "web-01", {}, "hung")
    first.close()
    second = Journal(path, clock=clock)
    try:
        assert [row.vm for row in second.actions()] == ["vm-1"], "opening an existing journal keeps its rows"
    finally:
        second.close()


# --- incidents: one per failure, with the times a user reads RTO and RPO from -----------------


def test_a_vm_has_one_open_incident_however_often_it_is_reported(j: Journal) -> None:
    first = j.open_incident("vm-1", "web-01", "no answer", NOW - 90)
    again = j.open_incident("vm-1", "web-01", "still no answer", NOW)
    other = j.open_incident("vm-2", "db-01", "no answer", NOW)
    assert again == first and other != first
    (incident, _) = j.incidents()
    assert (incident.cause, incident.detected_at, incident.state) == ("no answer", NOW - 90, "open"), \
        "the first detection time stays: the RTO is measured from it"


def test_a_vm_that_fails_again_after_its_recovery_gets_a_new_incident(j: Journal) -> None:
    first = j.open_incident("vm-1", "web-01", "no answer", NOW - 90)
    j.close_incident(first, "recovered", "reset done", recovered_at=NOW)
    second = j.open_incident("vm-1", "web-01", "no answer", NOW + HOUR)
    assert second != first
    assert [(i.id, i.state) for i in j.incidents()] == [(first, "recovered"), (second, "open")]


def test_unresolved_incidents_are_the_open_ones_and_those_waiting_for_a_person(j: Journal) -> None:
    opened = j.open_incident("vm-1", "web-01", "no answer", NOW)
    waiting = j.open_incident("vm-2", "db-01", "restart limit", NOW)
    j.close_incident(waiting, "needs_person", "restart limit")
    recovered = j.open_incident("vm-3", "app-03", "no answer", NOW)
    j.close_incident(recovered, "recovered", recovered_at=NOW + 60)
    closed = j.open_incident("vm-4", "app-04", "no answer", NOW)
    j.close_incident(closed, "closed", "answers again", recovered_at=NOW + 60)
    assert [(i.id, i.state) for i in j.unresolved_incidents()] == [(opened, "open"), (waiting, "needs_person")]
    assert [i.note for i in j.incidents()] == ["", "restart limit", "", "answers again"]


def test_rto_and_rpo_from_detection_recovery_and_snapshot_time(j: Journal) -> None:
    restarted = j.open_incident("vm-1", "web-01", "no answer", detected_at=NOW - 120)
    j.close_incident(restarted, "recovered", "restart_from_snapshot done", recovered_at=NOW,
                     snapshot_created_at=NOW - HOUR)
    powered_on = j.open_incident("vm-2", "db-01", "powered off", detected_at=NOW - 30)
    j.close_incident(powered_on, "recovered", "power_on done", recovered_at=NOW)
    j.open_incident("vm-3", "app-03", "no answer", detected_at=NOW - 10)
    by_vm = {i.vm: i for i in j.incidents()}
    assert (by_vm["vm-1"].rto_seconds, by_vm["vm-1"].rpo_seconds) == (120, HOUR - 120), \
        "RPO: the snapshot's age when the failure was detected"
    assert (by_vm["vm-2"].rto_seconds, by_vm["vm-2"].rpo_seconds) == (30, None), "no snapshot, no data lost to one"
    assert (by_vm["vm-3"].rto_seconds, by_vm["vm-3"].rpo_seconds) == (None, None), "not recovered yet"


def test_an_executed_restart_from_snapshot_journals_its_rto_and_rpo(tmp_path: Path, clock: Clock) -> None:
    """As a user reads them after a real run: RTO from the first failed probe to the VM
    answering again (the executor's clock), RPO from the snapshot restored to the detection."""
    case = next(c for c in CASES if c.name == "restart_from_snapshot")
    vc, act = case.build()
    j = journal(tmp_path, clock)
    try:
        detected = NOW - 90
        clock.sleep(7)  # the sweep that decides comes a little after
        outcome = Executor(tools(vc, clock), j).execute(act, detected)
        assert outcome.state == "done", outcome.detail
        (incident,) = j.incidents()
        assert incident.state == "recovered" and incident.recovered_at == clock()
        assert incident.rto_seconds == clock() - detected
        assert incident.rpo_seconds == detected - SNAPSHOT_TIME.timestamp() == HOUR - 90
        assert j.unresolved_incidents() == []
    finally:
        j.close()


# --- probe states: failures counted across sweeps and processes ------------------------------


def test_probe_state_counts_failures_and_keeps_when_the_failing_began() -> None:
    healthy = ProbeState().after(True, NOW)
    assert healthy == ProbeState(0, None, NOW)
    first = healthy.after(False, NOW + 30)
    second = first.after(False, NOW + 60)
    third = second.after(False, NOW + 90)
    assert third == ProbeState(3, NOW + 30, NOW), "failing since the first failure; last healthy kept"
    assert third.after(True, NOW + 120) == ProbeState(0, None, NOW + 120), "one answer ends the run"


def test_probe_states_saved_replace_the_old_ones(j: Journal, clock: Clock) -> None:
    j.save_probe_states({"vm-1": ProbeState(2, NOW - 30, NOW - 60), "host-1": ProbeState(0, None, NOW)})
    assert j.probe_states() == {"vm-1": ProbeState(2, NOW - 30, NOW - 60), "host-1": ProbeState(0, None, NOW)}
    j.save_probe_states({"vm-1": ProbeState(3, NOW - 30, NOW - 60)})
    assert j.probe_states() == {"vm-1": ProbeState(3, NOW - 30, NOW - 60)}, "a target gone from vCenter drops out"
    restarted = reopen(j, clock)
    try:
        assert restarted.probe_states() == {"vm-1": ProbeState(3, NOW - 30, NOW - 60)}, \
            "the next `once` from cron goes on counting"
    finally:
        restarted.close()
    j.save_probe_states({})
    assert j.probe_states() == {}


def test_a_round_in_which_only_the_time_changed_rewrites_one_row(j: Journal, clock: Clock) -> None:
    fleet = {f"vm-{n}": ProbeState(0, None, NOW) for n in range(100)}
    j.save_probe_states(fleet, round_at=NOW)
    before = j._db.total_changes
    later = {target: ProbeState(0, None, NOW + 30) for target in fleet} | {"vm-7": ProbeState(1, NOW + 30, NOW)}
    j.save_probe_states(later, round_at=NOW + 30)
    assert j._db.total_changes - before == 2, "the round's time and the VM that failed"
    assert j.probe_states() == later
    restarted = reopen(j, clock)
    try:
        assert restarted.probe_states() == later, "a `once` from cron continues the daemon's counts"
    finally:
        restarted.close()


def test_probe_states_another_process_saved_are_read_not_the_remembered_ones(j: Journal, clock: Clock) -> None:
    j.save_probe_states({"vm-1": ProbeState(0, None, NOW), "vm-2": ProbeState(0, None, NOW)}, round_at=NOW)
    assert j.probe_states()["vm-1"] == ProbeState(0, None, NOW)
    other = reopen(j, clock)  # a `once` run between two of the daemon's sweeps, say
    try:
        other.save_probe_states({"vm-1": ProbeState(1, NOW + 30, NOW), "vm-2": ProbeState(0, None, NOW + 30)},
                                round_at=NOW + 30)
    finally:
        other.close()
    assert j.probe_states() == {"vm-1": ProbeState(1, NOW + 30, NOW), "vm-2": ProbeState(0, None, NOW + 30)}
    j.save_probe_states({"vm-2": ProbeState(0, None, NOW + 60)}, round_at=NOW + 60)
    restarted = reopen(j, clock)
    try:
        assert restarted.probe_states() == {"vm-2": ProbeState(0, None, NOW + 60)}
    finally:
        restarted.close()


def test_a_journal_from_before_probe_rounds_keeps_its_probe_history(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE probe_state (target TEXT PRIMARY KEY, failures INTEGER NOT NULL, "
                   "failing_since REAL, last_healthy REAL)")
        db.execute("INSERT INTO probe_state VALUES ('vm-1', 2, ?, ?), ('vm-2', 0, NULL, ?)", (NOW - 30, NOW - 60, NOW))
    upgraded = Journal(path, clock=clock)
    try:
        assert upgraded.probe_states() == {"vm-1": ProbeState(2, NOW - 30, NOW - 60), "vm-2": ProbeState(0, None, NOW)}
        upgraded.save_probe_states({"vm-1": ProbeState(0, None, NOW + 30)}, round_at=NOW + 30)
        assert upgraded.probe_states() == {"vm-1": ProbeState(0, None, NOW + 30)}
    finally:
        upgraded.close()


_STATES = st.one_of(st.just("answered"), st.builds(ProbeState, st.integers(0, 3), st.sampled_from([None, NOW - 10.0]),
                                                   st.sampled_from([None, NOW - 20.0])))
_ROUND = st.tuples(st.dictionaries(st.sampled_from([f"vm-{n}" for n in range(6)]), _STATES, max_size=6),
                   st.booleans(), st.sampled_from(["same", "reopened", "other process"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROUND, min_size=1, max_size=6))
def test_the_states_read_back_are_always_the_states_saved(tmp_path_factory: pytest.TempPathFactory,
                                                           rounds: list[tuple[dict[str, object], bool, str]]) -> None:
    """Whatever the rounds (targets answering, failing, gone, a round time given or not) and
    whoever saved last (this connection, a restarted one, another process)."""
    clock = Clock()
    path = tmp_path_factory.mktemp("journal") / "journal.sqlite"
    daemon = Journal(path, clock=clock)
    try:
        for n, (drawn, with_round, who) in enumerate(rounds):
            at_ = NOW + 30 * n
            states = {t: ProbeState(0, None, at_) if s == "answered" else s for t, s in drawn.items()}
            writer = daemon if who == "same" else Journal(path, clock=clock)
            writer.save_probe_states(states, round_at=at_ if with_round else None)  # type: ignore[arg-type]
            if writer is not daemon:
                writer.close()
            if who == "reopened":
                daemon.close()
                daemon = Journal(path, clock=clock)
            assert daemon.probe_states() == states
    finally:
        daemon.close()


# --- module runs and snapshot status --------------------------------------------------------


def test_module_runs_record_start_finish_and_outcome(j: Journal, clock: Clock) -> None:
    assert j.runs() == {}
    j.run_started("snapshot_creator")
    assert j.runs() == {"snapshot_creator": RunRow("snapshot_creator", NOW, None, "running", "")}
    clock.sleep(42)
    j.run_finished("snapshot_creator", "ok", "2 created, 1 pruned, 0 skipped, 0 failed")
    j.run_started("inventory_administrator")
    assert j.runs() == {
        "snapshot_creator": RunRow("snapshot_creator", NOW, NOW + 42, "ok", "2 created, 1 pruned, 0 skipped, 0 failed",
                                   NOW + 42),
        "inventory_administrator": RunRow("inventory_administrator", NOW + 42, None, "running", ""),
    }
    clock.sleep(HOUR)
    j.run_started("snapshot_creator")
    assert j.runs()["snapshot_creator"] == RunRow("snapshot_creator", NOW + 42 + HOUR, None, "running", "",
                                                  NOW + 42), \
        "a new run replaces the last one's finish, outcome and message, not when it last succeeded"
    j.run_finished("snapshot_creator", "failed", "vCenter unreachable")
    assert j.runs()["snapshot_creator"].outcome == "failed"
    assert j.runs()["snapshot_creator"].last_ok_at == NOW + 42


def test_snapshot_status_is_one_row_per_vm_sorted_by_name(j: Journal, clock: Clock) -> None:
    j.record_snapshot_status("vm-2", "web-01", NOW - HOUR)
    j.record_snapshot_status("vm-1", "db-01", None, "creating snapshot: vCenter fault InvalidState")
    clock.sleep(HOUR)
    j.record_snapshot_status("vm-2", "web-01", NOW, "")
    rows = j.snapshot_status()
    assert [(r.vm, r.vm_name, r.newest_at, r.last_error, r.updated_at) for r in rows] == [
        ("vm-1", "db-01", None, "creating snapshot: vCenter fault InvalidState", NOW),
        ("vm-2", "web-01", NOW, "", NOW + HOUR),
    ]
    j.record_snapshot_status("vm-1", "db-renamed", NOW - 10)
    assert [(r.vm_name, r.newest_at, r.last_error) for r in j.snapshot_status()] == [
        ("db-renamed", NOW - 10, ""), ("web-01", NOW, "")], "the latest word replaces the error and the name"


# --- recovery history: what the decision engine remembers -----------------------------------


def journaled(j: Journal, clock: Clock, when: float, kind: str, vm: str, state: str,
              result: dict[str, object] | None = None) -> int:
    """An action of ``kind`` journaled at ``when`` and left in ``state``."""
    at(clock, when)
    action = j.intend(kind, vm, vm, {}, "test")
    if result is not None or state == "running":
        j.progress(action, "step", result)
    if state == "done":
        j.finish(action)
    elif state in ("failed", "abandoned"):
        j.fail(action, "error", state=state)
    return action


def test_restarts_are_counted_within_the_window_only(j: Journal, clock: Clock) -> None:
    journaled(j, clock, NOW - HOUR - 1, "reset", "vm-1", "done")  # before the window
    journaled(j, clock, NOW - HOUR + 1, "power_on", "vm-1", "done")
    journaled(j, clock, NOW - 10, "restart_from_snapshot", "vm-1", "failed")  # a failed try counts too
    journaled(j, clock, NOW - 5, "reset", "vm-2", "done")
    assert j.recovery_history(NOW, HOUR).recoveries == {"vm-1": 2, "vm-2": 1}
    assert j.recovery_history(NOW + HOUR - 20, HOUR).recoveries == {"vm-1": 1, "vm-2": 1}, "the window moves"
    assert j.recovery_history(NOW + HOUR, HOUR).recoveries == {}


def test_only_the_kinds_that_restart_a_vm_count_against_max_restarts(j: Journal, clock: Clock) -> None:
    for kind in ("restart_from_snapshot", "power_on", "reset", "start_replica"):
        journaled(j, clock, NOW - 60, kind, "vm-1", "done")
    journaled(j, clock, NOW - 60, "revive_host", "host-3", "done")
    journaled(j, clock, NOW - 60, "keep_original_off", "vm-2", "done")
    journaled(j, clock, NOW - 60, "add_spare_host", "vm-2", "done")
    journaled(j, clock, NOW - 60, "snapshot", "vm-3", "done")
    assert j.recovery_history(NOW, HOUR).recoveries == {"vm-1": 4}


def test_an_abandoned_action_is_not_counted_it_changed_nothing(j: Journal, clock: Clock) -> None:
    journaled(j, clock, NOW - 60, "reset", "vm-1", "abandoned")
    journaled(j, clock, NOW - 30, "restart_from_snapshot", "vm-1", "abandoned")
    history = j.recovery_history(NOW, HOUR)
    assert history.recoveries == {} and history.busy == frozenset()


def test_busy_are_the_targets_of_unfinished_recoveries(j: Journal, clock: Clock) -> None:
    journaled(j, clock, NOW - 60, "reset", "vm-1", "intended")
    journaled(j, clock, NOW - 60, "start_replica", "vm-2", "running")
    journaled(j, clock, NOW - 60, "revive_host", "host-3", "running")
    journaled(j, clock, NOW - 60, "power_on", "vm-4", "done")
    journaled(j, clock, NOW - 60, "reset", "vm-5", "failed")
    journaled(j, clock, NOW - 60, "snapshot", "vm-6", "running")
    history = j.recovery_history(NOW, HOUR)
    assert history.busy == {"vm-1", "vm-2", "host-3"}, "snapshots under way are not recoveries"
    assert history.recoveries == {"vm-1": 1, "vm-2": 1, "vm-4": 1, "vm-5": 1}, "an unfinished one counts"


def test_replaced_comes_from_a_started_replicas_journaled_copy(j: Journal, clock: Clock) -> None:
    journaled(j, clock, NOW - 2 * HOUR, "start_replica", "vm-1", "done", {"copy": "vm-10"})
    journaled(j, clock, NOW - 60, "start_replica", "vm-2", "running", {"copy": "vm-20"})
    journaled(j, clock, NOW - 60, "start_replica", "vm-3", "failed", {"copy": "vm-30"})
    journaled(j, clock, NOW - 60, "start_replica", "vm-4", "abandoned", {"copy": "vm-40"})
    journaled(j, clock, NOW - 60, "start_replica", "vm-5", "failed")  # nothing was started
    journaled(j, clock, NOW - 60, "restart_from_snapshot", "vm-6", "done", {"answered_at": NOW})
    history = j.recovery_history(NOW, HOUR)
    assert history.replaced == {"vm-1": "vm-10", "vm-2": "vm-20", "vm-3": "vm-30"}, \
        "a copy made long ago still replaces its original; an abandoned action's does not"
    assert "vm-1" not in history.recoveries, "outside the window it no longer counts as a restart"


def test_a_copy_the_executor_made_is_remembered_so_the_original_stays_off(tmp_path: Path, clock: Clock) -> None:
    """The key the real executor writes, not one a test chose: the copy's moref under "copy"."""
    case = next(c for c in CASES if c.name == "start_replica")
    vc, act = case.build()
    j = journal(tmp_path, clock)
    try:
        assert Executor(tools(vc, clock), j).execute(act, clock()).state == "done"
        (copy,) = [vm.moref for vm in vc.vms.values() if vm.name == COPY_NAME]
        history = j.recovery_history(clock(), HOUR)
        assert history.replaced == {"vm-1": copy}
        assert history.recoveries == {"vm-1": 1} and history.busy == frozenset()
    finally:
        j.close()


def test_once_tried_is_the_last_try_of_each_once_per_outage_kind_and_host(j: Journal, clock: Clock) -> None:
    journaled(j, clock, NOW - 3 * HOUR, "revive_host", "host-3", "failed")
    journaled(j, clock, NOW - 60, "revive_host", "host-3", "done")
    journaled(j, clock, NOW - 50, "add_spare_host", "host-3", "failed")
    journaled(j, clock, NOW - 30, "revive_host", "host-4", "abandoned")  # the host came back by itself
    journaled(j, clock, NOW - 30, "reset", "vm-1", "done")
    assert j.recovery_history(NOW, HOUR).once_tried == {("revive_host", "host-3"): NOW - 60,
                                                         ("add_spare_host", "host-3"): NOW - 50}


def test_needs_person_are_the_vms_whose_incident_waits_for_a_person(j: Journal) -> None:
    waiting = j.open_incident("vm-1", "web-01", "restart limit", NOW)
    j.close_incident(waiting, "needs_person", "restart limit")
    j.open_incident("vm-2", "db-01", "no answer", NOW)
    answered = j.open_incident("vm-3", "app-03", "restart limit", NOW)
    j.close_incident(answered, "needs_person", "restart limit")
    j.close_incident(answered, "closed", "answers again", recovered_at=NOW + 60)
    assert j.recovery_history(NOW, HOUR).needs_person == {"vm-1"}


def test_an_empty_journal_has_no_history(j: Journal) -> None:
    history = j.recovery_history(NOW, HOUR)
    assert (history.recoveries, history.busy, history.replaced, history.once_tried, history.needs_person) == \
        ({}, frozenset(), {}, {}, frozenset())


# --- vms_under_recovery: what the other modules leave alone ----------------------------------


def test_vms_under_recovery_have_an_open_incident_or_an_unfinished_recovery(j: Journal, clock: Clock) -> None:
    j.open_incident("vm-1", "web-01", "no answer", NOW)
    journaled(j, clock, NOW, "power_on", "vm-2", "running")
    recovered = j.open_incident("vm-3", "app-03", "no answer", NOW)
    journaled(j, clock, NOW, "reset", "vm-3", "done")
    j.close_incident(recovered, "recovered", recovered_at=NOW + 60)
    journaled(j, clock, NOW, "snapshot", "vm-4", "running")
    journaled(j, clock, NOW, "reset", "vm-5", "failed")
    assert j.vms_under_recovery() == {"vm-1", "vm-2"}


def test_vms_removed_with_their_host_are_remembered_until_registered_again(tmp_path: Path, clock: Clock) -> None:
    """After a failed host's removal the journal is the only place its VMs exist until each is
    registered again: a controller killed in between finds them there."""
    from tests.recovery_lab import registration
    from vsphere_dr.executor import Executor

    case = next(c for c in CASES if c.name == "remove_failed_host")
    vc, act = case.build()
    vc.add_vm("vm-2", "db-01", "host-1", None, power_state="poweredOff")
    act = replace(act, params=act.params.model_copy(update={"vms": (registration(vc), registration(vc, "vm-2"))}))
    j = journal(tmp_path, clock)
    try:
        assert Executor(tools(vc, clock), j).execute(act, clock()).state == "done"
        assert set(j.recovery_history(clock(), HOUR).removed) == {"vm-1", "vm-2"}
        params = next(c for c in CASES if c.name == "reregister_as_was").build()[1].params
        second = params.model_copy(update={"registration": act.params.vms[1]})  # type: ignore[attr-defined]
        j.finish(j.intend("reregister_as_was", "vm-2", "db-01", second.as_json(), "test"))
        assert set(j.recovery_history(clock(), HOUR).removed) == {"vm-1"}
    finally:
        j.close()


def test_actions_journaled_from_many_threads_at_once_are_all_kept_whole(tmp_path: Path) -> None:
    """The parallel recoveries write the journal from their threads: every intent and step survives,
    in a file another process (a restarted controller) reads the same."""
    j = Journal(tmp_path / "journal.sqlite")

    def recover(worker: int) -> None:
        for n in range(20):
            action = j.intend("power_on", f"vm-{worker}-{n}", f"app-{worker}-{n}", {"host": None}, "test")
            j.progress(action, "still_down")
            j.progress(action, "powered_on", {"address": f"127.0.{worker}.{n}"})
            if n % 2:
                j.finish(action)

    threads = [threading.Thread(target=recover, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reopened = Journal(tmp_path / "journal.sqlite")
    rows = reopened.actions()
    assert len(rows) == 160 and len({r.id for r in rows}) == 160
    assert {(r.state, r.step) for r in rows} == {("done", "powered_on"), ("running", "powered_on")}
    assert all(r.result == {"address": f"127.0.{r.vm.split('-')[1]}.{r.vm.split('-')[2]}"} for r in rows)
    assert len(reopened.unfinished_actions()) == 80


def test_a_journal_from_before_last_ok_at_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE module_runs (module TEXT PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,"
                   " outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT '')")
        db.execute("INSERT INTO module_runs VALUES ('snapshot_creator', 1.0, 2.0, 'ok', '')")
    journal = Journal(path)
    try:
        assert journal.runs()["snapshot_creator"].last_ok_at is None
        journal.run_started("snapshot_creator")
        journal.run_finished("snapshot_creator", "ok")
        assert journal.runs()["snapshot_creator"].last_ok_at is not None
    finally:
        journal.close()
