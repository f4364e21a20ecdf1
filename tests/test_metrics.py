"""The Prometheus exposition: parsed back as Prometheus would, the values a user alerts on."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modules.snapshot_creator import SnapshotCreator
from tests.fake_vcenter import FakeVCenter
from tests.world_builder import NOW, SNAP_TIME, host, inventory, vm
from vsphere_dr.app.protection_report import protection_rows
from vsphere_dr.errors import SettingsError
from vsphere_dr.journal import Journal
from vsphere_dr.metrics import DrCollector, registry_of, write_textfile
from vsphere_dr.records import Inventory
from vsphere_dr.settings import Settings

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite", clock=clock)
    yield opened
    opened.close()


def settings(**groups: dict[str, str]) -> Settings:
    return Settings.model_validate({"vcenter": {"host": "vc", "user": "u", "password": "p"},
                                    "protection": {"exclude": "scratch-*"}, "protection_groups": groups})


def lab() -> Inventory:
    return inventory([host(1)], [vm(1, 1), vm(2, 1), replace(vm(3, 1), name="scratch-03"),
                                 replace(vm(4, 1), ip=None)])


def scrape(journal: Journal, clock: Callable[[], float], s: Settings, inv: Inventory | None = None, trips: int = 7) -> dict:
    """{metric name: {labels as a sorted tuple: value}} as Prometheus would read the exposition."""
    registry = registry_of(DrCollector(journal, lambda: s, lambda: inv, lambda: trips, clock))
    text = generate_latest(registry).decode()
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def by_vm(samples: dict[tuple, float]) -> dict[str, float]:
    return {dict(labels)["vm"]: value for labels, value in samples.items()}


def test_snapshot_ages_are_vcenter_s_replica_ages_the_journals_and_a_protected_vm_without_one_is_infinite(
        journal: Journal, clock: Clock) -> None:
    journal.record_snapshot_status("vm-2", "app-02", NOW - 2 * HOUR)  # vCenter no longer shows it
    journal.record_replica_status("vm-1", "app-01", NOW - 5 * HOUR)
    inv = inventory([host(1)], [vm(1, 1), vm(2, 1, snapshot=False), replace(vm(3, 1), name="scratch-03"),
                                replace(vm(4, 1), ip=None)])
    clock.now = NOW + 60
    found = scrape(journal, clock, settings(), inv)
    ages = by_vm(found["vsphere_dr_snapshot_age_seconds"])
    assert ages["app-01"] == NOW + 60 - SNAP_TIME.timestamp()
    assert math.isinf(ages["app-02"])  # protected, no snapshot in vCenter: above any target
    assert "scratch-03" not in ages and "app-04" not in ages  # not protected
    # Replication is off: only what the journal holds, no infinite ages.
    assert by_vm(found["vsphere_dr_replica_age_seconds"]) == {"app-01": 5 * HOUR + 60}
    assert by_vm(found["vsphere_dr_rpo_target_seconds"]) == {"app-01": 7200.0, "app-02": 7200.0}
    assert "vsphere_dr_snapshot_age_seconds" not in scrape(journal, clock, settings(), None), "no inventory read yet"


def test_a_snapshot_deleted_in_vcenter_after_the_journal_recorded_it_counts_nowhere(
        journal: Journal) -> None:
    """The Snapshot Creator makes and journals a snapshot of each VM; a person then deletes both in
    vCenter. The metric and `vsphere-dr protection`, from the inventory read afterwards, both show
    app-01's older snapshot (a person's, 5 hours old) and app-02 with none; the journal still
    holds the deleted ones."""
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "cluster-1")
    vc.add_host("host-1", "esx-1", "domain-c1", ("ds-shared",))
    vc.add_vm("vm-1", "app-01", "host-1", "10.1.0.1")
    vc.add_vm("vm-2", "app-02", "host-1", "10.1.0.2")
    older = datetime.now(timezone.utc) - timedelta(hours=5)
    vc.add_snapshot("vm-1", "snap-person", "before the upgrade", older)
    fixed = settings()
    assert SnapshotCreator(vc.gateway, journal, lambda: fixed).run().summary().startswith("2 created")
    recorded = {row.vm_name: row.newest_at for row in journal.snapshot_status()}
    for made in [snap for v in vc.vms.values() for snap in v.snapshots if snap.moref != "snap-person"]:
        vc.gateway.vms.remove_snapshot(made.moref)
    now = time.time() + 60
    inv = vc.gateway.inventory()
    ages = by_vm(scrape(journal, lambda: now, fixed, inv)["vsphere_dr_snapshot_age_seconds"])
    rows = {row["name"]: row for row in protection_rows(inv, fixed, now)}
    assert ages["app-01"] == pytest.approx(now - older.timestamp()) and math.isinf(ages["app-02"])
    assert rows["app-01"]["newest_snapshot"]["name"] == "before the upgrade"
    assert rows["app-01"]["newest_snapshot"]["age_seconds"] == round(ages["app-01"], 1)
    assert rows["app-02"]["newest_snapshot"] is None
    assert all(at is not None and now - at < 120 for at in recorded.values()), "the journal had the deleted ones"
    assert {row.vm_name: row.newest_at for row in journal.snapshot_status()} == recorded, "and still has them"


def test_protected_and_its_reason(journal: Journal, clock: Clock) -> None:
    found = scrape(journal, clock, settings(), lab())
    assert by_vm(found["vsphere_dr_protected"]) == {"app-01": 1, "app-02": 1, "scratch-03": 0, "app-04": 0}
    reasons = {dict(labels)["vm"]: (dict(labels)["reason"], dict(labels)["group"])
               for labels in found["vsphere_dr_protection_info"]}
    assert reasons["scratch-03"] == ("excluded by [protection] exclude = scratch-*", "")
    assert reasons["app-04"] == ("no IP address (VMware Tools reports none)", "")
    assert reasons["app-01"] == ("in group default", "default")
    # A process that has read no inventory yet says nothing about protection rather than guessing.
    assert "vsphere_dr_protected" not in scrape(journal, clock, settings(), None)


def test_incidents_modules_sweep_and_round_trips(journal: Journal, clock: Clock) -> None:
    journal.open_incident("vm-1", "app-01", "host failed", NOW)
    waiting = journal.open_incident("vm-2", "app-02", "host failed", NOW)
    journal.close_incident(waiting, "needs_person", "nothing safe to try")
    journal.run_started("health_administrator")
    clock.now = NOW + 1.5
    journal.run_finished("health_administrator", "ok", "4 VMs checked")
    journal.run_started("snapshot_creator")
    clock.now = NOW + 10
    journal.run_finished("snapshot_creator", "ok", "")
    journal.run_started("snapshot_creator")
    clock.now = NOW + 20
    journal.run_finished("snapshot_creator", "failed", "vm-1: fault")
    found = scrape(journal, clock, settings(), lab(), trips=42)
    assert found["vsphere_dr_incidents_open"] == {(): 1}
    assert found["vsphere_dr_incidents_needing_person"] == {(): 1}
    success = {dict(k)["module"]: v for k, v in found["vsphere_dr_module_last_success_timestamp_seconds"].items()}
    assert success == {"health_administrator": NOW + 1.5, "snapshot_creator": NOW + 10}  # the failed run kept it
    last_ok = {dict(k)["module"]: v for k, v in found["vsphere_dr_module_last_run_ok"].items()}
    assert last_ok == {"health_administrator": 1, "snapshot_creator": 0}
    assert found["vsphere_dr_sweep_duration_seconds"] == {(): 1.5}
    assert found["vsphere_dr_vcenter_round_trips_total"] == {(): 42}


def test_recovery_durations_are_a_histogram_of_the_journals_finished_recoveries(journal: Journal,
                                                                                 clock: Clock) -> None:
    for seconds, outcome in ((4, "done"), (25, "done"), (200, "failed")):
        clock.now = NOW
        action = journal.intend("restart_from_snapshot", "vm-1", "app-01", {}, "test")
        clock.now = NOW + seconds
        journal.finish(action) if outcome == "done" else journal.fail(action, "fault")
    journal.finish(journal.intend("snapshot", "vm-1", "app-01", {}, "not a recovery"))
    journal.intend("power_on", "vm-2", "app-02", {}, "still under way: not counted")
    found = scrape(journal, clock, settings(), lab())
    buckets = {(dict(k)["outcome"], dict(k)["le"]): v for k, v in found["vsphere_dr_recovery_duration_seconds_bucket"].items()}
    assert buckets[("done", "5.0")] == 1 and buckets[("done", "30.0")] == 2 and buckets[("done", "+Inf")] == 2
    assert buckets[("failed", "120.0")] == 0 and buckets[("failed", "300.0")] == 1
    counts = {dict(k)["kind"] + "/" + dict(k)["outcome"]: v
              for k, v in found["vsphere_dr_recovery_duration_seconds_count"].items()}
    assert counts == {"restart_from_snapshot/done": 2, "restart_from_snapshot/failed": 1}
    sums = by_outcome(found["vsphere_dr_recovery_duration_seconds_sum"])
    assert sums == {"done": 29, "failed": 200}


def by_outcome(samples: dict[tuple, float]) -> dict[str, float]:
    return {dict(labels)["outcome"]: value for labels, value in samples.items()}


def test_the_textfile_is_replaced_whole_never_written_in_place(journal: Journal, clock: Clock, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vsphere-dr.prom"
    path.write_text("old content\n", encoding="utf-8")
    registry = registry_of(DrCollector(journal, settings, lambda: lab(), lambda: 3, clock))
    renamed: list[tuple[str, str, str]] = []
    real_rename = os.rename

    def rename(src: str, dst: str) -> None:
        # At the rename, the old file is intact and the new one complete, in the same directory.
        renamed.append((os.path.dirname(src), path.read_text(encoding="utf-8"), Path(src).read_text(encoding="utf-8")))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    write_textfile(registry, path)
    (where, before, written), = renamed
    assert where == str(tmp_path) and before == "old content\n"
    assert written.endswith("\n") and "vsphere_dr_protected" in written
    assert path.read_text(encoding="utf-8") == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite", "journal.sqlite-shm",
                                                          "journal.sqlite-wal", "vsphere-dr.prom"]


def test_an_unwritable_textfile_is_a_clear_error(journal: Journal, clock: Clock, tmp_path: Path) -> None:
    registry = registry_of(DrCollector(journal, settings, lambda: None, lambda: 0, clock))
    with pytest.raises(SettingsError, match=r"\[metrics\] textfile = .*/missing/x.prom: cannot write it: "
                                            "No such file or directory"):
        write_textfile(registry, tmp_path / "missing" / "x.prom")
