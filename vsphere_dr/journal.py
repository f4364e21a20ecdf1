"""The journal: an SQLite record of every action, incident, module run and snapshot age.

Every action is written as *intended* before it starts and updated after each step, so a
controller that dies in the middle can, on restart, see what was under way and reconcile it with
what vCenter shows instead of doing it again. Times are UTC epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsphere_dr.errors import SettingsError
from vsphere_dr.recoveries import recovery
from vsphere_dr.world import History

SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    incident INTEGER,
    kind TEXT NOT NULL,
    vm TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('intended', 'running', 'done', 'failed', 'abandoned')),
    step TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_vm ON actions (vm, created_at);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    vm TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    cause TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'recovered', 'needs_person', 'closed')),
    detected_at REAL NOT NULL,
    recovered_at REAL,
    snapshot_created_at REAL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS module_runs (
    module TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    last_ok_at REAL
);
CREATE TABLE IF NOT EXISTS probe_state (
    target TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    failing_since REAL,
    last_healthy REAL,
    in_round INTEGER NOT NULL DEFAULT 0  -- 1: answered in the latest probe round (probe_round.at)
);
-- The time of the latest probe round: the last answer of every target that answered in it, so
-- that a round rewrites only the rows of targets whose state changed otherwise.
CREATE TABLE IF NOT EXISTS probe_round (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_status (
    vm TEXT PRIMARY KEY,
    vm_name TEXT NOT NULL,
    newest_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS drill_runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'passed', 'failed', 'interrupted'))
);
CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES drill_runs (id),
    vm TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'passed', 'failed', 'aborted', 'refused')),
    step TEXT NOT NULL DEFAULT '',
    source_kind TEXT NOT NULL DEFAULT '',
    source_vm TEXT NOT NULL DEFAULT '',
    source_snapshot TEXT,
    source_name TEXT NOT NULL DEFAULT '',
    source_taken REAL,
    host TEXT NOT NULL DEFAULT '',
    host_name TEXT NOT NULL DEFAULT '',
    datastore TEXT NOT NULL DEFAULT '',
    prefix TEXT NOT NULL DEFAULT '',
    copy_name TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL DEFAULT '',
    copy TEXT,
    cleaned INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    powered_on_at REAL,
    answered_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS drills_by_run ON drills (run);
CREATE TABLE IF NOT EXISTS replica_status (
    vm TEXT PRIMARY KEY,
    vm_name TEXT NOT NULL,
    newest_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
"""

UNFINISHED = ("intended", "running")


@dataclass(frozen=True)
class ActionRow:
    id: int
    incident: int | None
    kind: str
    vm: str
    vm_name: str
    params: dict[str, Any]
    reason: str
    state: str
    step: str
    result: dict[str, Any]
    error: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class IncidentRow:
    id: int
    vm: str
    vm_name: str
    cause: str
    state: str
    detected_at: float
    recovered_at: float | None
    snapshot_created_at: float | None
    note: str

    @property
    def rto_seconds(self) -> float | None:
        """Time from detection to recovery."""
        return None if self.recovered_at is None else self.recovered_at - self.detected_at

    @property
    def rpo_seconds(self) -> float | None:
        """Data lost: age of the snapshot used, at the moment the failure was detected."""
        return None if self.snapshot_created_at is None else self.detected_at - self.snapshot_created_at


@dataclass(frozen=True)
class ProbeState:
    """A VM's or host's run of failed probes, kept between sweeps (and processes)."""

    failures: int = 0
    failing_since: float | None = None
    last_healthy: float | None = None

    def after(self, answered: bool, now: float, evidence_since: float | None = None) -> ProbeState:
        """The state after one more probe. A run of failures starts at ``evidence_since`` when
        vCenter showed the failure before this probe could, but never before the last answer nor
        after ``now``."""
        if answered:
            return ProbeState(0, None, now)
        shown = evidence_since is not None and (self.last_healthy is None or evidence_since > self.last_healthy)
        started = min(evidence_since, now) if shown and evidence_since is not None else now
        return ProbeState(self.failures + 1, self.failing_since or started, self.last_healthy)


@dataclass(frozen=True)
class _SavedProbes:
    """The probe history as this connection last saved or read it, at a data_version."""

    version: int
    states: dict[str, ProbeState]
    answered: frozenset[str]  # the targets saved as answering in the latest round


@dataclass(frozen=True)
class RunRow:
    module: str
    started_at: float
    finished_at: float | None
    outcome: str
    message: str
    last_ok_at: float | None = None  # when a run of it last ended ok


@dataclass(frozen=True)
class RecoveryTime:
    """How long a finished recovery action took, from its intent to its last step."""

    kind: str
    outcome: str  # done, failed or abandoned
    seconds: float


@dataclass(frozen=True)
class SnapshotStatusRow:
    """A VM's newest good snapshot (snapshot_status) or replica (replica_status), and the last error."""

    vm: str
    vm_name: str
    newest_at: float | None
    last_error: str
    updated_at: float


@dataclass(frozen=True)
class DrillRunRow:
    id: int
    command: str
    started_at: float
    finished_at: float | None
    outcome: str


@dataclass(frozen=True)
class DrillRow:
    """One VM's drill (vsphere_dr/drills.py): written before its copy is made, updated after each
    step; ``cleaned`` once vCenter no longer has its copy (or it never had one)."""

    id: int
    run: int
    vm: str
    vm_name: str
    state: str  # running, passed, failed, aborted (a recovery of the VM began), refused
    step: str  # the last step reached
    source_kind: str  # replica or snapshot
    source_vm: str  # moref of the VM cloned: the replica, or the VM itself (from its snapshot)
    source_snapshot: str | None
    source_name: str
    source_taken: float | None  # the point in time the copy is of: its RPO
    host: str
    host_name: str
    datastore: str
    prefix: str
    copy_name: str
    token: str
    copy: str | None  # the copy's moref, once made
    cleaned: int
    error: str
    started_at: float
    powered_on_at: float | None
    answered_at: float | None
    finished_at: float | None


DRILL_FIELDS = frozenset(DrillRow.__dataclass_fields__) - {"id", "run"}


class Journal:
    """Thread-safe access to the journal file (the scheduler runs jobs in threads)."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._probes: _SavedProbes | None = None
        problem = self._open(path)
        if problem is not None:  # a settings problem: [journal] path names some other file
            raise SettingsError(f"[journal] path = {path}: cannot be used as the journal: {problem}")

    def _open(self, path: Path) -> str | None:
        """Open (or create) the database; return SQLite's reason if it cannot be used, else None."""
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an intent must survive a power cut
            self._db.executescript(SCHEMA)
            self._add_missing_columns()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None

    def _add_missing_columns(self) -> None:
        """Columns added since a journal may have been created: module_runs.last_ok_at, probe_state.in_round."""
        for table, column, definition in (("module_runs", "last_ok_at", "REAL"),
                                          ("probe_state", "in_round", "INTEGER NOT NULL DEFAULT 0")):
            if column not in {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- actions -------------------------------------------------------------------------

    def intend(self, kind: str, vm: str, vm_name: str, params: dict[str, Any], reason: str,
               incident: int | None = None) -> int:
        """Record an action before it starts; returns its id."""
        now = self._clock()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO actions (incident, kind, vm, vm_name, params, reason, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'intended', ?, ?)",
                (incident, kind, vm, vm_name, json.dumps(params, sort_keys=True), reason, now, now))
            return int(cursor.lastrowid or 0)

    def progress(self, action: int, step: str, result: dict[str, Any] | None = None) -> None:
        """Mark a step of an action as reached, merging what it produced into the result."""
        self._update(action, "running", step, result, "")

    def finish(self, action: int, result: dict[str, Any] | None = None) -> None:
        self._update(action, "done", None, result, "")

    def fail(self, action: int, error: str, state: str = "failed") -> None:
        self._update(action, state, None, None, error)

    def _update(self, action: int, state: str, step: str | None, result: dict[str, Any] | None,
                error: str) -> None:
        with self._write() as db:
            row = db.execute("SELECT step, result FROM actions WHERE id = ?", (action,)).fetchone()
            if row is None:
                raise KeyError(f"no action {action} in the journal")
            merged = {**json.loads(row["result"]), **(result or {})}
            db.execute("UPDATE actions SET state = ?, step = ?, result = ?, error = ?, updated_at = ? WHERE id = ?",
                       (state, row["step"] if step is None else step, json.dumps(merged, sort_keys=True),
                        error, self._clock(), action))

    def action(self, action: int) -> ActionRow:
        rows = self._rows("SELECT * FROM actions WHERE id = ?", action)
        if not rows:
            raise KeyError(f"no action {action} in the journal")
        return _action(rows[0])

    def unfinished_actions(self) -> list[ActionRow]:
        """Actions that were intended or under way when the controller last stopped."""
        return [_action(r) for r in self._rows(
            "SELECT * FROM actions WHERE state IN (?, ?) ORDER BY id", *UNFINISHED)]

    def actions(self, vm: str | None = None, since: float = 0.0) -> list[ActionRow]:
        if vm is None:
            rows = self._rows("SELECT * FROM actions WHERE created_at >= ? ORDER BY id", since)
        else:
            rows = self._rows("SELECT * FROM actions WHERE vm = ? AND created_at >= ? ORDER BY id", vm, since)
        return [_action(r) for r in rows]

    def recovery_times(self) -> list[RecoveryTime]:
        """Every finished action of a kind that changes vCenter (not snapshots, replicas or notices)."""
        rows = self._rows("SELECT kind, state, updated_at - created_at AS seconds FROM actions"
                          " WHERE state IN ('done', 'failed', 'abandoned')")
        return [RecoveryTime(r["kind"], r["state"], r["seconds"]) for r in rows
                if (kind := recovery(r["kind"])) is not None and kind.changes_vcenter]

    def vms_under_recovery(self) -> set[str]:
        """VMs with an unresolved incident (open, or waiting for a person) or an unfinished recovery:
        other modules leave them be (a snapshot of a broken VM would rotate its last good one out)."""
        opened = {r["vm"] for r in self._rows("SELECT vm FROM incidents WHERE state IN ('open', 'needs_person')")}
        return opened | {row.vm for row in self.unfinished_recoveries()}

    def unfinished_recoveries(self) -> list[ActionRow]:
        """Unfinished actions of the kinds in vsphere_dr/recoveries/ (not snapshots or other work)."""
        return [row for row in self.unfinished_actions() if recovery(row.kind) is not None]

    def recovery_history(self, now: float, window: float) -> History:
        """What the decision engine must remember: recent recoveries, work under way, copies made.

        Which kinds count against ``max_restarts`` and which make copies is the kinds' own word
        (vsphere_dr/recoveries/); rows of other work (snapshots) are not recoveries.
        """
        recoveries: dict[str, int] = {}
        busy: set[str] = set()
        replaced: dict[str, str] = {}
        once_tried: dict[tuple[str, str], float] = {}
        removed: dict[str, Any] = {}
        registered_again: set[str] = set()
        for row in self._rows("SELECT kind, vm, state, params, result, created_at FROM actions ORDER BY id"):
            kind = recovery(row["kind"])
            if kind is None:
                continue
            if row["state"] in UNFINISHED:
                busy.add(row["vm"])
            if row["state"] == "abandoned":
                continue
            if kind.counts_as_restart and row["created_at"] >= now - window:
                recoveries[row["vm"]] = recoveries.get(row["vm"], 0) + 1
            copy = kind.copy_in(json.loads(row["result"]))
            if copy is not None:
                replaced[row["vm"]] = copy
            if kind.once_per_outage:
                once_tried[(row["kind"], row["vm"])] = row["created_at"]
            if row["state"] == "done" and kind.unregisters_vms:
                params = kind.params_type.model_validate(json.loads(row["params"]))
                removed.update({r.vm: r for r in kind.unregistered(params)})
            if kind.registers_vm:
                params = kind.params_type.model_validate(json.loads(row["params"]))
                again = kind.registered_again(params, json.loads(row["result"]), row["state"] == "done")
                registered_again.update({again} if again else set())
        waiting = {r["vm"] for r in self._rows("SELECT vm FROM incidents WHERE state = 'needs_person'")}
        return History(recoveries=recoveries, busy=frozenset(busy), replaced=replaced,
                       once_tried=once_tried, needs_person=frozenset(waiting),
                       removed={vm: r for vm, r in removed.items() if vm not in registered_again})

    # --- incidents -----------------------------------------------------------------------

    def open_incident(self, vm: str, vm_name: str, cause: str, detected_at: float) -> int:
        """The VM's open incident, or a new one."""
        with self._write() as db:
            row = db.execute("SELECT id FROM incidents WHERE vm = ? AND state = 'open'", (vm,)).fetchone()
            if row is not None:
                return int(row["id"])
            cursor = db.execute(
                "INSERT INTO incidents (vm, vm_name, cause, state, detected_at) VALUES (?, ?, ?, 'open', ?)",
                (vm, vm_name, cause, detected_at))
            return int(cursor.lastrowid or 0)

    def incident(self, incident: int) -> IncidentRow:
        rows = self._rows("SELECT * FROM incidents WHERE id = ?", incident)
        if not rows:
            raise KeyError(f"no incident {incident} in the journal")
        return IncidentRow(**dict(rows[0]))

    def unresolved_incidents(self) -> list[IncidentRow]:
        """Incidents still open or waiting for a person."""
        rows = self._rows("SELECT * FROM incidents WHERE state IN ('open', 'needs_person') ORDER BY id")
        return [IncidentRow(**dict(r)) for r in rows]

    def close_incident(self, incident: int, state: str, note: str = "", recovered_at: float | None = None,
                       snapshot_created_at: float | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE incidents SET state = ?, note = ?, recovered_at = ?, snapshot_created_at = ?"
                       " WHERE id = ?", (state, note, recovered_at, snapshot_created_at, incident))

    def incidents(self) -> list[IncidentRow]:
        return [IncidentRow(**dict(r)) for r in self._rows("SELECT * FROM incidents ORDER BY id")]

    # --- probe history: so that `once` from cron counts failures across runs ------------

    def probe_states(self) -> dict[str, ProbeState]:
        """The saved probe history: what this connection last saved or read, unless another
        connection (another process) has written the journal since."""
        with self._lock:
            if self._probes is None or self._probes.version != self._data_version():
                self._probes = self._read_probes()
            return dict(self._probes.states)

    def save_probe_states(self, states: dict[str, ProbeState], round_at: float | None = None) -> None:
        """Replace the saved probe history with ``states`` (targets gone from vCenter drop out).

        ``round_at``: the time of the probe round, when it is the one the states come from. The
        targets that answered in it (state ``ProbeState(0, None, round_at)``) are then saved as
        answering in that round, so that a round in which nothing changed but the time rewrites
        one row, not one per target; the states read back are the same."""
        answered_now = ProbeState(0, None, round_at) if round_at is not None else None
        with self._write() as db:  # no other connection commits meanwhile: the data_version holds
            version = self._data_version()
            known = self._probes if self._probes is not None and self._probes.version == version else None
            self._probes = None  # until the commit
            if known is None:
                db.execute("DELETE FROM probe_state")
                known = _SavedProbes(version, {}, frozenset())
            rows, answered = [], set()
            for target, state in states.items():
                in_round = state is answered_now or (answered_now is not None and state == answered_now)
                if in_round:
                    answered.add(target)
                if (target in known.answered) != in_round or (not in_round and known.states.get(target) != state):
                    rows.append((target, state.failures, state.failing_since, state.last_healthy, int(in_round)))
            db.executemany("DELETE FROM probe_state WHERE target = ?", [(t,) for t in known.states.keys() - states.keys()])
            db.executemany("INSERT OR REPLACE INTO probe_state VALUES (?, ?, ?, ?, ?)", rows)
            if round_at is not None:
                db.execute("INSERT OR REPLACE INTO probe_round VALUES (1, ?)", (round_at,))
        with self._lock:
            self._probes = _SavedProbes(version, dict(states), frozenset(answered))

    def _read_probes(self) -> _SavedProbes:
        version = self._data_version()
        round_at = self._db.execute("SELECT at FROM probe_round WHERE id = 1").fetchone()
        answered_then = ProbeState(0, None, round_at[0]) if round_at is not None else ProbeState()
        states, answered = {}, set()
        for target, failures, failing_since, last_healthy, in_round in self._db.execute(
                "SELECT target, failures, failing_since, last_healthy, in_round FROM probe_state"):
            if in_round and round_at is not None:
                states[target] = answered_then
                answered.add(target)
            else:
                states[target] = ProbeState(failures, failing_since, last_healthy)
        return _SavedProbes(version, states, frozenset(answered))

    def _data_version(self) -> int:
        """Changes when another connection commits to the file (SQLite's PRAGMA data_version)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # --- module runs and snapshot ages ---------------------------------------------------

    def run_started(self, module: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO module_runs (module, started_at, finished_at, outcome) VALUES (?, ?, NULL, 'running')"
                       " ON CONFLICT (module) DO UPDATE SET started_at = excluded.started_at,"
                       " finished_at = NULL, outcome = 'running', message = ''", (module, self._clock()))

    def run_finished(self, module: str, outcome: str, message: str = "") -> None:
        with self._write() as db:
            now = self._clock()
            db.execute("UPDATE module_runs SET finished_at = ?, outcome = ?, message = ?,"
                       " last_ok_at = CASE WHEN ? = 'ok' THEN ? ELSE last_ok_at END WHERE module = ?",
                       (now, outcome, message, outcome, now, module))

    def runs(self) -> dict[str, RunRow]:
        return {r["module"]: RunRow(**dict(r)) for r in self._rows("SELECT * FROM module_runs")}

    def record_snapshot_status(self, vm: str, vm_name: str, newest_at: float | None, error: str = "") -> None:
        """A VM's newest good snapshot (its RPO) and the last snapshot error, if any."""
        self._record_status("snapshot_status", vm, vm_name, newest_at, error)

    def snapshot_status(self) -> list[SnapshotStatusRow]:
        return self._status("snapshot_status")

    def record_replica_status(self, vm: str, vm_name: str, newest_at: float | None, error: str = "") -> None:
        """The time of a VM's newest good replica (its replica RPO) and the last replica error, if any."""
        self._record_status("replica_status", vm, vm_name, newest_at, error)

    def replica_status(self) -> list[SnapshotStatusRow]:
        return self._status("replica_status")

    def _record_status(self, table: str, vm: str, vm_name: str, newest_at: float | None, error: str) -> None:
        with self._write() as db:
            db.execute(f"INSERT INTO {table} (vm, vm_name, newest_at, last_error, updated_at)"
                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (vm) DO UPDATE SET vm_name = excluded.vm_name,"
                       " newest_at = excluded.newest_at, last_error = excluded.last_error,"
                       " updated_at = excluded.updated_at", (vm, vm_name, newest_at, error, self._clock()))

    def _status(self, table: str) -> list[SnapshotStatusRow]:
        return [SnapshotStatusRow(**dict(r)) for r in self._rows(f"SELECT * FROM {table} ORDER BY vm_name")]


    # --- drills: each step journaled, so that a drill killed half-way is cleaned up ------------

    def start_drill_run(self, command: str) -> int:
        with self._write() as db:
            cursor = db.execute("INSERT INTO drill_runs (command, started_at, outcome) VALUES (?, ?, 'running')",
                                (command, self._clock()))
            return int(cursor.lastrowid or 0)

    def finish_drill_run(self, run: int, outcome: str) -> None:
        with self._write() as db:
            db.execute("UPDATE drill_runs SET finished_at = ?, outcome = ? WHERE id = ?", (self._clock(), outcome, run))

    def drill_runs(self) -> list[DrillRunRow]:
        return [DrillRunRow(**dict(r)) for r in self._rows("SELECT * FROM drill_runs ORDER BY id")]

    def interrupted_drill_runs(self) -> None:
        """Runs still shown running: their process died (the drill lock says none is alive)."""
        with self._write() as db:
            db.execute("UPDATE drill_runs SET outcome = 'interrupted', finished_at = ? WHERE outcome = 'running'",
                       (self._clock(),))

    def intend_drill(self, run: int, vm: str, vm_name: str, **fields: Any) -> int:
        """Record one VM's drill before anything is done in vCenter; returns its id."""
        fields = {"state": "running", **fields}
        self._drill_fields(fields)
        columns = ["run", "vm", "vm_name", "started_at", *fields]
        values = [run, vm, vm_name, self._clock(), *fields.values()]
        with self._write() as db:
            cursor = db.execute(f"INSERT INTO drills ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
                                values)
            return int(cursor.lastrowid or 0)

    def update_drill(self, drill: int, **fields: Any) -> None:
        self._drill_fields(fields)
        with self._write() as db:
            db.execute(f"UPDATE drills SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                       (*fields.values(), drill))

    def drill(self, drill: int) -> DrillRow | None:
        rows = self._rows("SELECT * FROM drills WHERE id = ?", drill)
        return DrillRow(**dict(rows[0])) if rows else None

    def drills(self, run: int | None = None) -> list[DrillRow]:
        if run is None:
            return [DrillRow(**dict(r)) for r in self._rows("SELECT * FROM drills ORDER BY id")]
        return [DrillRow(**dict(r)) for r in self._rows("SELECT * FROM drills WHERE run = ? ORDER BY id", run)]

    def drills_unfinished(self) -> bool:
        """A drill run shown running, or a drill whose copy may still be in vCenter: one query, so
        that `run` can look at every sweep interval without taking the drill lock."""
        rows = self._rows("SELECT EXISTS (SELECT 1 FROM drill_runs WHERE outcome = 'running') "
                          "OR EXISTS (SELECT 1 FROM drills WHERE cleaned = 0) AS unfinished")
        return bool(rows[0]["unfinished"])

    def uncleaned_drills(self) -> list[DrillRow]:
        """Drills whose copy may still be in vCenter."""
        return [DrillRow(**dict(r)) for r in self._rows("SELECT * FROM drills WHERE cleaned = 0 ORDER BY id")]

    @staticmethod
    def _drill_fields(fields: dict[str, Any]) -> None:
        unknown = set(fields) - DRILL_FIELDS
        if unknown:
            raise KeyError(f"not a column of drills: {', '.join(sorted(unknown))}")


def _action(row: sqlite3.Row) -> ActionRow:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["result"] = json.loads(data["result"])
    return ActionRow(**data)
