"""`vsphere-dr run` as systemd runs it: a subprocess against a simulator, logging JSON lines.

While it runs, the tests act as people do: add a VM in vCenter, edit settings.ini, send SIGTERM.
They read what an operator reads: the log, `vsphere-dr status`, the journal, and vCenter itself.
The snapshot schedule is the crontab expression ``* * * * *``: the shortest the settings allow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_text
from tests.sim_world import client, clone_vm, example_topology_data, own_simulator, snapshot_names, wait_until, \
    write_topology
from tests.test_snapshots_live import ours, status_of
from vsphere_dr.journal import Journal
from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import generate, save

pytestmark = pytest.mark.live

Entry = dict[str, Any]
NEW_VM, NEW_VM_IP = "web-new", "127.0.2.99"


class RunningDaemon:
    """`vsphere-dr --config SETTINGS run`, its stderr (the log) going to a file."""

    def __init__(self, settings: Path) -> None:
        self.settings = settings
        self.log = settings.parent / "vsphere-dr.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), "run"],
                                            stdout=subprocess.DEVNULL, stderr=log)

    def entries(self) -> list[Entry]:
        """Every log line so far, each a JSON object (a line that is not fails the test)."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def wait_for(self, match: Callable[[Entry], bool], timeout: float) -> Entry:
        """The first log entry that ``match``es, waiting for it up to ``timeout`` seconds."""
        def found() -> Entry | None:
            assert self.process.poll() is None, f"vsphere-dr run exited: {self.log.read_text()[-2000:]}"
            return next((e for e in self.entries() if match(e)), None)
        return wait_until(found, timeout)

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def said(text: str, after: float = 0.0) -> Callable[[Entry], bool]:
    """Matches a log entry containing ``text``, logged after epoch ``after``."""
    return lambda e: text in e["message"] and logged_at(e) > after


def logged_at(entry: Entry) -> float:
    return datetime.fromisoformat(entry["time"]).timestamp()


def rewrite(path: Path, text: str) -> None:
    """Save settings.ini as an editor would, its modification time moving on."""
    old = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(old + 1_000_000_000, old + 1_000_000_000))


class Lab:
    """A simulator and `vsphere-dr run` on it, with the settings the tests edit."""

    def __init__(self, sim: Simulator, directory: Path, **overrides: dict[str, object]) -> None:
        self.sim = sim
        self.sections: dict[str, dict[str, object]] = {
            "inventory": {"interval_seconds": 1, "settings_check_seconds": 1,
                          "vhost_backing": "esx-d2.lab.local = nested-esx-d2"},
            "snapshots": {"cron": "* * * * *", "keep": 2},
            "logging": {"format": "json"},
        }
        self.settings = directory / "settings.ini"
        self.edit(**overrides)
        self.daemon = RunningDaemon(self.settings)

    def edit(self, **changes: dict[str, object]) -> None:
        for name, values in changes.items():
            self.sections.setdefault(name, {}).update(values)
        text = settings_text(self.sim.host, self.sim.port, **self.sections)
        if self.settings.exists():
            rewrite(self.settings, text)
        else:
            self.settings.write_text(text, encoding="utf-8")

    def journal(self) -> Journal:
        return Journal(self.settings.parent / "journal.sqlite")


@pytest.fixture(scope="module")
def lab(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("daemon")
    with own_simulator(vcsim_binary, write_topology(directory, example_topology_data()), ["-probes=false"]) as sim:
        running = Lab(sim, directory)
        try:
            running.daemon.wait_for(said("vsphere-dr running"), 30)
            yield running
        finally:
            signalled = time.time()
            assert running.daemon.terminate() == 0
        # The health models are saved at the stop (the sweeps within [health] save_interval_seconds did not).
        assert (directory / "health-models.pkl").stat().st_mtime >= signalled
        log = running.daemon.log.read_text()
        assert "test-password" not in log and " ERROR " not in log


@pytest.fixture(scope="module")
def new_vm(lab: Lab) -> float:
    """A VM a person adds to vCenter while `run` is going; returns when it was added."""
    lab.daemon.wait_for(said("snapshot_creator done"), 30)  # the first round, at start
    added = time.time()
    with client(lab.sim) as vc:
        clone_vm(vc, "web-01", NEW_VM, NEW_VM_IP)
    return added


def test_a_vm_added_to_vcenter_is_monitored(lab: Lab, new_vm: float) -> None:
    entry = lab.daemon.wait_for(said(f"1 new: {NEW_VM})", after=new_vm), 15)
    assert entry["logger"] == "modules.availability_administrator" and entry["level"] == "INFO"


def test_an_interval_edit_takes_effect_without_a_restart(lab: Lab) -> None:
    def runs_after(since: float) -> list[float]:
        return [logged_at(e) for e in lab.daemon.entries() if said("availability_administrator done", since)(e)]

    def gaps(times: list[float]) -> list[float]:
        return [b - a for a, b in zip(times, times[1:])]

    before = wait_until(lambda: len(runs_after(0)) >= 3 and runs_after(0), 15)[-3:]
    edited = time.time()
    lab.edit(inventory={"interval_seconds": 3})
    lab.daemon.wait_for(said("settings reloaded", after=edited), 10)
    changed = lab.daemon.wait_for(said("availability_administrator: schedule changed to 3 s; next run", edited), 5)
    after = wait_until(lambda: len(runs_after(logged_at(changed))) >= 3 and runs_after(logged_at(changed)), 15)
    assert max(gaps(before)) < 2 and 2.5 < min(gaps(after[:3])) < 4, (before, after)
    assert lab.daemon.process.poll() is None  # no restart


def test_pausing_and_resuming_a_module_by_editing_settings(lab: Lab) -> None:
    edited = time.time()
    lab.edit(scheduler={"paused": "snapshot_creator"})
    try:
        lab.daemon.wait_for(said("snapshot_creator: paused ([scheduler] paused)", edited), 10)
        row = next(line for line in status_of(lab.settings).splitlines() if line.startswith("snapshot_creator "))
        assert "paused" in row.split()
    finally:
        lab.edit(scheduler={"paused": ""})
    lab.daemon.wait_for(said("snapshot_creator: resumed; next run", edited), 10)


def test_sighup_reads_the_settings_now_and_does_not_stop_the_daemon(lab: Lab) -> None:
    """`systemctl reload`: SIGHUP used to kill `run` (exit 129, nothing logged)."""
    sent = time.time() - 1  # the log's times have whole seconds
    lab.daemon.process.send_signal(signal.SIGHUP)
    lab.daemon.wait_for(said("SIGHUP received: reading settings.ini again", sent), 10)
    lab.daemon.wait_for(said("SIGHUP: settings.ini unchanged", sent), 10)
    assert lab.daemon.process.poll() is None


def test_a_vm_added_to_vcenter_is_snapshotted(lab: Lab, new_vm: float) -> None:
    # The next minute's round (or the one after, if the pausing test paused it at that moment).
    lab.daemon.wait_for(said("snapshot_creator done", after=new_vm), 130)
    with client(lab.sim) as vc:
        assert len(ours(snapshot_names(vc.vm(NEW_VM)))) == 1
        assert all(1 <= len(ours(snapshot_names(vc.vm(n)))) <= 2 for n in ("web-01", "db-01", "edge-03"))
    journal = lab.journal()
    try:
        ages = {row.vm_name: time.time() - (row.newest_at or 0) for row in journal.snapshot_status()}
    finally:
        journal.close()
    assert ages[NEW_VM] < 75 and max(ages.values()) < 150  # every VM within its RPO (1 minute + a round)
    assert any(line.startswith(NEW_VM + " ") for line in status_of(lab.settings).splitlines())


def test_sigterm_in_the_middle_of_a_round_leaves_a_consistent_journal(vcsim_binary: Path, tmp_path: Path) -> None:
    """Many VMs make the first snapshot round last seconds; SIGTERM lands once it is under way."""
    topology = write_topology(tmp_path, json.loads(save(generate(1, 2, 60), tmp_path / "big.json").read_text()))
    with own_simulator(vcsim_binary, topology, ["-probes=false"]) as sim:
        lab = Lab(sim, tmp_path, inventory={"vhost_backing": ""}, snapshots={"cron": "", "interval_seconds": 3600})
        journal = lab.journal()
        try:
            wait_until(lambda: len(journal.actions()) >= 3, 60, interval=0.02)
            signalled = time.monotonic()
            assert lab.daemon.terminate(timeout=30) == 0
            stopped_in = time.monotonic() - signalled
            assert journal.unfinished_actions() == []
            done = {a.vm_name: a.params["name"] for a in journal.actions() if a.state == "done"}
            assert {a.state for a in journal.actions()} == {"done"}
            run = journal.runs()["snapshot_creator"]
        finally:
            journal.close()
        assert 3 <= len(done) < 120, "SIGTERM did not land in the middle of the round"
        assert run.outcome == "ok" and f"{120 - len(done)} skipped" in run.message
        assert stopped_in < 10
        with client(sim) as vc:
            for name, snapshot in done.items():
                assert snapshot_names(vc.vm(name)) == [snapshot]
        messages = [e["message"] for e in lab.daemon.entries()]
        assert "SIGTERM received: finishing the work in flight, then stopping" in messages
        assert messages[-1] == "vsphere-dr stopped"
        shown = status_of(lab.settings).splitlines()
        assert next(line for line in shown if line.startswith("snapshot_creator ")).split()[3] == "ok"
