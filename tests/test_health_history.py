"""A store with a file keeps each model's history in a ring file: same verdicts as in memory,
a lost or damaged ring costs that VM a warm-up (with a warning naming the file), never the store."""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.test_health_model import DAY, ONSET, START, TOTAL, TRAIN, healthy_counters, stuck_cpu, to_samples
from vsphere_dr import health_history
from vsphere_dr.health_history import COUNT_OFFSET, HEADER, FileRing, HistoryRing, MemoryRing, ring_file
from vsphere_dr.health_model import HealthModelConfig, HealthModelStore, HealthState, Sample, Verdict

# Two days of history, refits every 6 hours: over 5 days the ring wraps and the model refits 12 times.
CONFIG = HealthModelConfig(min_history=DAY, max_history=2 * DAY, retrain_every=timedelta(hours=6))


def fleet() -> dict[str, list[Sample]]:
    faulty = healthy_counters(8)
    stuck_cpu(faulty)
    return {"vm-1": to_samples(healthy_counters(7)), "vm-2": to_samples(faulty)}


def fit(store: HealthModelStore, samples: dict[str, list[Sample]]) -> None:
    for vm, series in samples.items():
        store.model(vm).fit(series[:TRAIN])


def replay(store: HealthModelStore, samples: dict[str, list[Sample]], start: int, stop: int,
           skip: int | None = None) -> dict[str, list[Verdict]]:
    """Round after round, each VM's sample judged as HealthWatch.observe does (refit first when due)."""
    verdicts: dict[str, list[Verdict]] = {vm: [] for vm in samples}
    for i in range(start, stop):
        if i == skip:
            continue
        for vm, series in samples.items():
            model = store.model(vm)
            if model.needs_retrain(series[i].timestamp):
                model.retrain()
            verdicts[vm].append(model.score(series[i]))
    return verdicts


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "health-models.pkl"


def warm_store(models_file: Path, samples: dict[str, list[Sample]], stop: int = ONSET) -> HealthModelStore:
    """A store with a file, fitted and scored up to ``stop``, saved."""
    store = HealthModelStore.empty(models_file, CONFIG)
    fit(store, samples)
    replay(store, samples, TRAIN, stop)
    store.save(models_file)
    return store


def test_a_store_with_a_file_gives_the_verdicts_of_one_in_memory(models_file: Path) -> None:
    samples = fleet()
    in_memory = HealthModelStore(CONFIG)
    fit(in_memory, samples)
    expected = replay(in_memory, samples, TRAIN, TOTAL)
    filed = warm_store(models_file, samples)
    restarted = HealthModelStore.load(models_file, CONFIG)  # the daemon restarted half-way
    got = replay(restarted, samples, ONSET, TOTAL)
    assert got == {vm: verdicts[ONSET - TRAIN:] for vm, verdicts in expected.items()}
    assert any(v.state is HealthState.ILL for v in got["vm-2"]) and all(v.state is not HealthState.ILL for v in got["vm-1"])
    history = restarted.model("vm-2").history
    assert isinstance(history, FileRing) and history.path == ring_file(models_file, "vm-2")
    assert history.count > CONFIG.max_history, "the ring wrapped"
    assert np.array_equal(history.ordered(), in_memory.model("vm-2").history.ordered())
    assert isinstance(filed.model("vm-1").history, FileRing)


@pytest.mark.parametrize("ring", [lambda _, capacity: MemoryRing(capacity),
                                  lambda directory, capacity: FileRing(directory / "vm-1.ring", capacity)],
                         ids=["memory", "file"])
def test_both_rings_hold_the_newest_rows_oldest_first(tmp_path: Path,
                                                      ring: Callable[[Path, int], HistoryRing]) -> None:
    history = ring(tmp_path, 40)
    history.reset(3)
    rows = np.arange(300, dtype=np.float64).reshape(100, 3)
    for count, row in enumerate(rows, start=1):
        history.append(tuple(row), START)
        assert np.array_equal(history.ordered(), rows[max(0, count - 40):count])


def write_count(path: Path, count: int) -> None:
    with path.open("r+b") as file:
        file.seek(COUNT_OFFSET)
        file.write(struct.pack("<Q", count))  # the time after it is left as it was


def count_of(path: Path) -> int:
    return HEADER.unpack(path.read_bytes()[:HEADER.size])[3]


DAMAGES: dict[str, Callable[[Path], None]] = {
    "missing": lambda p: p.unlink(),
    "short": lambda p: p.write_bytes(p.read_bytes()[:-100]),
    "only part of a header": lambda p: p.write_bytes(p.read_bytes()[:10]),
    "ahead of its model, rows not its own": lambda p: write_count(p, count_of(p) + 2),
    "further ahead than its capacity": lambda p: write_count(p, count_of(p) + CONFIG.max_history + 1),
    "behind its model": lambda p: write_count(p, count_of(p) - 1),
    "not a ring file": lambda p: p.write_bytes(b"x" * 100_000),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_lost_ring_file_makes_that_vm_warm_up_again_with_a_warning(
        models_file: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]) -> None:
    samples = fleet()
    warm_store(models_file, samples)
    damage(ring_file(models_file, "vm-2"))
    with caplog.at_level(logging.WARNING):
        restarted = HealthModelStore.load(models_file, CONFIG)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(ring_file(models_file, "vm-2")) in warnings[0], warnings
    assert "vm-1.ring" not in warnings[0]
    verdicts = replay(restarted, samples, ONSET, ONSET + 1)
    assert verdicts["vm-2"][0].reasons == (f"warming up: 1/{CONFIG.min_history} samples",)
    assert verdicts["vm-1"][0].state is not HealthState.WARMING_UP
    assert count_of(ring_file(models_file, "vm-2")) == 1, "a new ring, started with that sample"


def stale_newest_row(path: Path) -> None:
    """The newest row's slot still holding the row of a lap before (the header reached the disk, the row not)."""
    count, slots = count_of(path), CONFIG.max_history + 1
    with path.open("r+b") as file:
        file.seek(HEADER.size + (count - 1) % slots * 4 * 7)
        file.write(struct.pack("<I6f", count - 1 - slots, *[50.0] * 6))


@pytest.mark.parametrize("damage", [
    lambda p: p.unlink(),
    lambda p: p.write_bytes(p.read_bytes()[:HEADER.size + 50]),
    stale_newest_row,
], ids=["deleted", "truncated", "a row that never reached the disk"])
def test_a_ring_file_lost_while_running_makes_that_vm_warm_up_again_at_its_refit(
        models_file: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]) -> None:
    samples = fleet()
    store = warm_store(models_file, samples)
    model = store.model("vm-2")
    damage(ring_file(models_file, "vm-2"))
    with caplog.at_level(logging.WARNING):
        model.retrain()  # the refit reads the history
        verdict = model.score(samples["vm-2"][ONSET])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(ring_file(models_file, "vm-2")) in warnings[0], warnings
    assert "warms up again" in warnings[0]
    assert verdict.reasons == (f"warming up: 1/{CONFIG.min_history} samples",)
    assert store.model("vm-1").score(samples["vm-1"][TRAIN + 1]).state is not HealthState.WARMING_UP


def test_a_deleted_ring_file_is_found_at_the_next_sample(models_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples = fleet()
    store = warm_store(models_file, samples)
    ring_file(models_file, "vm-2").unlink()
    with caplog.at_level(logging.WARNING):
        verdict = store.model("vm-2").score(samples["vm-2"][ONSET])
    assert "missing" in caplog.text and str(ring_file(models_file, "vm-2")) in caplog.text
    assert verdict.reasons == (f"warming up: 1/{CONFIG.min_history} samples",)
    assert ring_file(models_file, "vm-2").exists()


def test_discard_removes_the_ring_file_and_a_load_removes_rings_of_no_model(models_file: Path) -> None:
    samples = fleet()
    store = warm_store(models_file, samples)
    store.discard("vm-2")
    assert not ring_file(models_file, "vm-2").exists()
    assert ring_file(models_file, "vm-1").exists()
    # A VM that left before a crash, whose ring the models file never counted:
    store.model("vm-3").score(samples["vm-1"][0])
    assert ring_file(models_file, "vm-3").exists()
    HealthModelStore.load(models_file, CONFIG)  # the models file from before vm-3 (and with vm-2)
    assert not ring_file(models_file, "vm-3").exists()
    HealthModelStore.empty(models_file, CONFIG)  # a models file refused: no ring is anyone's
    assert list(ring_file(models_file, "vm-1").parent.iterdir()) == []


class Crash(Exception):
    """The process dies here."""


def test_a_crash_between_the_row_and_its_header_loses_at_most_that_sample(models_file: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    samples = fleet()
    lost = ONSET + 10
    in_memory = HealthModelStore(CONFIG)  # never saw the lost sample
    fit(in_memory, samples)
    expected = replay(in_memory, samples, TRAIN, TOTAL, skip=lost)
    store = warm_store(models_file, samples, stop=lost)
    assert store.model("vm-2").history.count > CONFIG.max_history, "the ring wrapped: a row's slot is reused"
    before = store.model("vm-2").history.ordered()
    pwrite = os.pwrite

    def dies_at_the_header(fd: int, data: bytes, offset: int) -> int:
        if offset == COUNT_OFFSET:
            raise Crash
        return pwrite(fd, data, offset)
    monkeypatch.setattr(health_history.os, "pwrite", dies_at_the_header)
    with pytest.raises(Crash):
        store.model("vm-2").score(samples["vm-2"][lost])
    monkeypatch.undo()
    restarted = HealthModelStore.load(models_file, CONFIG)
    assert np.array_equal(restarted.model("vm-2").history.ordered(), before)
    got = replay(restarted, samples, lost + 1, TOTAL)
    assert got == {vm: verdicts[lost - TRAIN:] for vm, verdicts in expected.items()}


def crash_after_unsaved_rounds(models_file: Path, samples: dict[str, list[Sample]], crash: int,
                               rounds: int) -> HealthModelStore:
    """The store saved ``rounds`` rounds before ``crash``, those rounds judged (their rows in the ring
    files) and the process gone without a save; the store a restart loads."""
    store = warm_store(models_file, samples, stop=crash - rounds)
    saved = models_file.read_bytes()
    replay(store, samples, crash - rounds, crash)
    assert models_file.read_bytes() == saved
    assert count_of(ring_file(models_file, "vm-2")) == store.model("vm-2").history.count
    return HealthModelStore.load(models_file, CONFIG)


@pytest.mark.parametrize("rounds", [1, 12])
def test_after_a_crash_the_ring_files_rows_since_the_save_are_adopted(models_file: Path, rounds: int,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    samples = fleet()
    crash = ONSET - 20  # a healthy stretch; vm-2's CPU sticks 20 rounds after the restart
    never_stopped = HealthModelStore(CONFIG)
    fit(never_stopped, samples)
    expected = replay(never_stopped, samples, TRAIN, crash)
    with caplog.at_level(logging.WARNING):
        restarted = crash_after_unsaved_rounds(models_file, samples, crash, rounds)
    assert not caplog.records, "no VM warms up again"
    for vm in samples:
        model, reference = restarted.model(vm), never_stopped.model(vm)
        assert np.array_equal(model.history.ordered(), reference.history.ordered())
        assert model.last_timestamp == samples[vm][crash - 1].timestamp == reference.last_timestamp
    expected = replay(never_stopped, samples, crash, TOTAL)
    got = replay(restarted, samples, crash, TOTAL)
    assert got == expected, "the same verdicts: judged on the same window and history"
    assert any(v.state is HealthState.ILL for v in got["vm-2"])


def test_a_crash_loses_the_evidence_since_the_save_not_the_history(models_file: Path) -> None:
    """What differs after a crash: the samples of the unsaved rounds are not scored again, so the
    evidence they added is gone; the stuck CPU is still found ill at the next sample."""
    samples = fleet()
    crash = ONSET + 5  # saved 7 rounds before vm-2's CPU stuck, 5 rounds stuck before the crash
    never_stopped = HealthModelStore(CONFIG)
    fit(never_stopped, samples)
    replay(never_stopped, samples, TRAIN, crash)
    restarted = crash_after_unsaved_rounds(models_file, samples, crash, 12)
    model, reference = restarted.model("vm-2"), never_stopped.model("vm-2")
    assert np.array_equal(model.history.ordered(), reference.history.ordered())
    assert reference.score(samples["vm-2"][crash]).state is HealthState.ILL
    first = model.score(samples["vm-2"][crash])
    assert first.state is HealthState.ILL and "cpu.usage.average" in first.reasons[0]


def test_a_ring_file_behind_its_models_file_makes_that_vm_warm_up_again(models_file: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    samples = fleet()
    store = warm_store(models_file, samples, stop=ONSET - 3)
    ring = ring_file(models_file, "vm-2")
    older = ring.read_bytes()  # a ring file from before the save (restored from a backup, say)
    replay(store, samples, ONSET - 3, ONSET)
    store.save(models_file)
    ring.write_bytes(older)
    with caplog.at_level(logging.WARNING):
        restarted = HealthModelStore.load(models_file, CONFIG)
    assert str(ring) in caplog.text and "behind" in caplog.text
    assert replay(restarted, samples, ONSET, ONSET + 1)["vm-2"][0].state is HealthState.WARMING_UP
    assert restarted.model("vm-1").history.count == store.model("vm-1").history.count + 1


def test_a_ring_file_of_the_first_layout_is_refused_by_name(models_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples = fleet()
    warm_store(models_file, samples)
    ring = ring_file(models_file, "vm-2")
    data = ring.read_bytes()
    magic, columns, slots, count, _ = HEADER.unpack(data[:HEADER.size])
    ring.write_bytes(struct.pack("<8sIIQ", b"vdr-ring", columns, slots, count) + data[HEADER.size:])
    with caplog.at_level(logging.WARNING):
        restarted = HealthModelStore.load(models_file, CONFIG)
    assert f"{ring} (not a ring file of this layout (magic b'vdr-ring'" in caplog.text
    assert restarted.model("vm-1").history.count == count
