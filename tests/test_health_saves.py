"""When the Health Administrator's sweep writes the models file: at most every [health]
save_interval_seconds, never for a dry run, and whenever the controller stops or the [health]
settings change (the old models saved before the new ones are loaded)."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from modules.health_administrator import HealthSweep
from modules.inventory_administrator import InventoryAdministrator
from tests.test_health_watch import fleet
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.health_model import HealthState, Sample
from vsphere_dr.health_watch import HealthWatch
from vsphere_dr.settings import HealthSettings, JournalSettings, Settings, VCenterSettings


class Counters:
    """The gateway's performance counters: each read gives every VM its next sample."""

    def __init__(self, samples: Mapping[str, list[Sample]]) -> None:
        self.samples, self.reads = samples, 0

    def latest(self, morefs: list[str]) -> dict[str, Sample]:
        self.reads += 1
        return {vm: self.samples[vm][self.reads - 1] for vm in morefs}


class Sweeps:
    """A HealthSweep whose only part used is its health model (``_ill``), every 300 s."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(vcenter=VCenterSettings(host="127.0.0.1", user="u", password="p"),
                                 journal=JournalSettings(path=tmp_path / "state" / "journal.sqlite"))
        self.samples = fleet()
        self.counters = Counters(self.samples)
        gateway = SimpleNamespace(performance=self.counters)
        self.sweep = HealthSweep(gateway, None, None, lambda: self.settings, None, None, None,  # type: ignore[arg-type]
                                 clock=lambda: self.now)
        self.inventory = SimpleNamespace(vms=dict.fromkeys(self.samples))
        self.monitored: dict[str, Any] = {vm: SimpleNamespace(power_state="poweredOn") for vm in self.samples}
        self.now = 0.0
        self.models_file = tmp_path / "state" / "health-models.pkl"

    def round(self, dry_run: bool = False) -> None:
        self.now += 300
        self.sweep._ill(self.inventory, self.monitored, self.now, dry_run)  # type: ignore[arg-type]


def saved_count(models_file: Path) -> int:
    """Samples of vm-1 the models file counts (read as written: a load would adopt the ring's newer rows)."""
    with models_file.open("rb") as file:
        file.readline()
        models = dict(pickle.load(file) for _ in range(pickle.load(file)))
    return models["vm-1"].history.count


def test_rounds_within_the_interval_do_not_write_the_models_file_the_stop_does(tmp_path: Path) -> None:
    sweeps = Sweeps(tmp_path)
    for _ in range(12):
        sweeps.round()
    assert not sweeps.models_file.exists(), "no save in the 3300 s since the models were loaded (round 1)"
    sweeps.round()
    assert saved_count(sweeps.models_file) == 13, "saved at the 13th round: 3600 s after the load"
    for _ in range(5):
        sweeps.round()
    assert saved_count(sweeps.models_file) == 13
    sweeps.sweep.close()  # the controller stops
    assert saved_count(sweeps.models_file) == 18
    written = sweeps.models_file.read_bytes()
    sweeps.sweep.close()
    assert sweeps.models_file.read_bytes() == written, "nothing new: not written again"


def test_a_dry_run_does_not_save_the_models(tmp_path: Path) -> None:
    sweeps = Sweeps(tmp_path)
    sweeps.round(dry_run=True)
    sweeps.sweep.close()
    assert not sweeps.models_file.exists()


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_dry_run_beside_a_serving_run_writes_and_removes_no_file(tmp_path: Path) -> None:
    """`plan` (a process of its own) loads the models a serving `run` keeps: it judges the next
    samples, but the models file, the ring files (one a row ahead of the models file, one of a VM
    `run` has not saved yet) stay byte for byte, none removed, none added."""
    serving = Sweeps(tmp_path)
    for _ in range(14):
        serving.round()  # saved at the 13th round; the 14th's rows are in the ring files only
    rings = tmp_path / "state" / "health-models.pkl.history"
    (rings / "vm-9.ring").write_bytes((rings / "vm-1.ring").read_bytes())  # a VM not saved yet
    before = files_under(tmp_path / "state")
    planning = Sweeps(tmp_path)
    planning.counters.reads, planning.now = 14, serving.now
    planning.round(dry_run=True)
    watch = planning.sweep.watch
    assert watch is not None and watch.read_only
    assert watch.store.models["vm-1"].history.count == 15, "13 saved, 1 adopted from the ring, 1 judged"
    planning.sweep.close()
    assert files_under(tmp_path / "state") == before


def test_a_change_of_the_health_settings_saves_the_models_before_loading_them_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sweeps = Sweeps(tmp_path)
    for _ in range(3):
        sweeps.round()
    first = sweeps.sweep.watch
    health = sweeps.settings.health.model_dump()
    sweeps.settings = sweeps.settings.model_copy(update={"health": HealthSettings(**{**health, "save_interval_seconds": 600})})
    sweeps.round()
    assert sweeps.sweep.watch is not first and sweeps.sweep.watch is not None
    assert sweeps.sweep.watch.vms == {"vm-1", "vm-2"}, "the saved models, loaded again"
    assert sweeps.sweep.watch._store.models["vm-1"].history.count == 4
    assert saved_count(sweeps.models_file) == 3, "the old models, saved at the change"
    sweeps.round()
    assert saved_count(sweeps.models_file) == 3
    sweeps.round()
    assert saved_count(sweeps.models_file) == 6, "saved at the new interval: 600 s after the reload"
    sweeps.settings = sweeps.settings.model_copy(update={"health": HealthSettings(**{**health, "ill_evidence": 9})})
    with caplog.at_level(logging.WARNING):
        sweeps.round()
    assert "model configuration" in caplog.text, "the old models were saved, then refused by the new knobs"
    assert sweeps.sweep.watch.observe({"vm-1": sweeps.samples["vm-1"][10]})["vm-1"].state is HealthState.WARMING_UP


def test_the_controller_saves_the_health_models_when_it_closes(write_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    controller = Controller(InventoryAdministrator(write_settings(), PAUSABLE))
    models_file = tmp_path / "m.pkl"
    controller.health.watch = HealthWatch(HealthSettings(), models_file)
    controller.health.watch.observe({"vm-1": fleet()["vm-1"][0]})
    controller.health.unsaved = True  # as a sweep within the save interval leaves it
    controller.close()
    assert saved_count(models_file) == 1
