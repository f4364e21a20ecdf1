"""The health model on synthetic multi-counter VMs: faults are caught fast, healthy VMs stay quiet."""

from __future__ import annotations

import json
import logging
import pickle
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sklearn

from vsphere_dr.errors import VsphereDrError
from vsphere_dr.health_model import (
    HealthModelConfig,
    HealthModelError,
    HealthModelStore,
    HealthState,
    Sample,
    Verdict,
    VmHealthModel,
    load_store_or_empty,
)

DAY = 288  # 5-minute samples
TRAIN = 3 * DAY
ONSET = TRAIN + DAY // 2  # half a day into scoring
TOTAL = TRAIN + 2 * DAY
START = datetime(2024, 3, 4)


def healthy_counters(seed: int, n: int = TOTAL) -> dict[str, np.ndarray]:
    """Six vCenter counters with a shared daily cycle and their own noise."""
    rng = np.random.default_rng(seed)
    cycle = np.sin(2 * np.pi * np.arange(n) / DAY)

    def counter(mean: float, swing: float, noise: float, top: float | None = None) -> np.ndarray:
        return np.clip(mean + swing * cycle + rng.normal(0, noise, n), 0, top)

    return {
        "cpu.usage.average": counter(35, 15, 4, 100),
        "cpu.ready.summation": counter(200, 80, 30),
        "mem.usage.average": counter(45, 5, 1.5, 100),
        "mem.active.average": counter(30, 8, 3, 100),
        "disk.usage.average": counter(2000, 900, 300),
        "net.usage.average": counter(800, 400, 120),
    }


def stuck_cpu(counters: dict[str, np.ndarray]) -> None:
    counters["cpu.usage.average"][ONSET:] = 100.0


def io_hang(counters: dict[str, np.ndarray]) -> None:
    counters["disk.usage.average"][ONSET:] = 0.0


def memory_leak(counters: dict[str, np.ndarray]) -> None:
    """+0.5 percentage points per 5 minutes: 6 points an hour, memory full in under a day."""
    ramp = 0.5 * np.arange(TOTAL - ONSET)
    for name in ("mem.usage.average", "mem.active.average"):
        counters[name][ONSET:] = np.clip(counters[name][ONSET:] + ramp, 0, 100)


def to_samples(counters: dict[str, np.ndarray]) -> list[Sample]:
    n = len(next(iter(counters.values())))
    return [Sample(START + timedelta(minutes=5 * i), {k: float(v[i]) for k, v in counters.items()})
            for i in range(n)]


def trained_and_scored(samples: list[Sample], config: HealthModelConfig | None = None) -> list[Verdict]:
    model = VmHealthModel(config)
    model.fit(samples[:TRAIN])
    return model.score_many(samples[TRAIN:])


def first_ill_after_onset(verdicts: list[Verdict]) -> tuple[int, Verdict]:
    after = verdicts[ONSET - TRAIN:]
    index = next(i for i, v in enumerate(after) if v.state is HealthState.ILL)
    return index, after[index]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_healthy_noisy_daily_cycle_is_never_ill(seed: int) -> None:
    verdicts = trained_and_scored(to_samples(healthy_counters(seed)))
    assert len(verdicts) == 2 * DAY
    assert not [v for v in verdicts if v.state is HealthState.ILL]


@pytest.mark.parametrize("fault, counter, bound", [
    (stuck_cpu, "cpu.usage.average", 2),  # at the first sample or the next
    (io_hang, "disk.usage.average", 3),  # a busy disk at 0 is below anything in its history
    (memory_leak, "mem.", 24),  # 2 hours, while memory is still inside its daily range + a few points
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fault_is_flagged_within_bound_with_its_counter_as_reason(fault, counter: str, bound: int,
                                                                  seed: int) -> None:
    counters = healthy_counters(seed)
    fault(counters)
    verdicts = trained_and_scored(to_samples(counters))
    assert not [v for v in verdicts[:ONSET - TRAIN] if v.state is HealthState.ILL]
    delay, verdict = first_ill_after_onset(verdicts)
    assert delay < bound
    assert verdict.score is not None and verdict.score > 1.0
    assert any(counter in reason for reason in verdict.reasons), verdict.reasons


def ill_onsets(verdicts: list[Verdict]) -> list[int]:
    """Where an ill run starts: the moments the Health Administrator would open an incident."""
    ill = [v.state is HealthState.ILL for v in verdicts]
    return [i for i, x in enumerate(ill) if x and (i == 0 or not ill[i - 1])]


@pytest.mark.parametrize("fault", [stuck_cpu, io_hang, memory_leak])
def test_a_lasting_fault_opens_one_incident_not_one_per_ill_sample(fault) -> None:
    counters = healthy_counters(1)
    fault(counters)
    verdicts = trained_and_scored(to_samples(counters))
    onsets = ill_onsets(verdicts)
    assert onsets and onsets[0] >= ONSET - TRAIN
    assert all(b - a >= HealthModelConfig().refractory for a, b in zip(onsets, onsets[1:])), onsets
    assert sum(v.state is HealthState.ILL for v in verdicts) > 10 * len(onsets)


def test_no_new_incident_within_the_refractory_period() -> None:
    """New extremes 30 and 60 samples after an incident opened are anomalous, not new incidents;
    one after the refractory period opens the next."""
    values = healthy_counters(2)["cpu.usage.average"]
    spikes = {ONSET: 200.0, ONSET + 30: 300.0, ONSET + 60: 400.0, ONSET + 120: 500.0}
    for i, value in spikes.items():
        values[i] = value
    verdicts = trained_and_scored(to_samples({"value": values}))
    assert ill_onsets(verdicts) == [ONSET - TRAIN, ONSET + 120 - TRAIN]
    assert verdicts[ONSET + 30 - TRAIN].state is verdicts[ONSET + 60 - TRAIN].state is HealthState.ANOMALOUS


def test_single_metric_series_works() -> None:
    counters = {"value": healthy_counters(3)["cpu.usage.average"]}
    stuck_cpu({"cpu.usage.average": counters["value"]})
    delay, verdict = first_ill_after_onset(trained_and_scored(to_samples(counters)))
    assert delay < 4
    assert verdict.reasons[0].startswith("value ")


def test_cold_start_warms_up_then_asks_for_training() -> None:
    config = HealthModelConfig()
    samples = to_samples(healthy_counters(4, n=config.min_history + 1))
    model = VmHealthModel(config)
    verdicts = [model.score(s) for s in samples[:config.min_history]]
    assert {v.state for v in verdicts} == {HealthState.WARMING_UP}
    assert verdicts[0].score is None and "1/288" in verdicts[0].reasons[0]
    assert model.needs_retrain(samples[config.min_history - 1].timestamp)
    model.retrain()
    assert model.score(samples[-1]).state is HealthState.HEALTHY


def test_too_short_fit_stays_warming_up() -> None:
    samples = to_samples(healthy_counters(5, n=100))
    model = VmHealthModel()
    model.fit(samples[:99])
    assert model.score(samples[99]).state is HealthState.WARMING_UP
    assert not model.needs_retrain(samples[99].timestamp)


def test_needs_retrain_after_retrain_every() -> None:
    samples = to_samples(healthy_counters(6))
    model = VmHealthModel()
    model.fit(samples[:TRAIN])
    last = samples[TRAIN - 1].timestamp
    assert model.retrain_due == last + timedelta(days=1)
    assert not model.needs_retrain(last + timedelta(hours=23))
    assert model.needs_retrain(last + timedelta(days=1))


def test_batch_scoring_equals_one_by_one() -> None:
    counters = healthy_counters(7)
    memory_leak(counters)
    samples = to_samples(counters)
    one_by_one = VmHealthModel()
    one_by_one.fit(samples[:TRAIN])
    batch = trained_and_scored(samples)
    single = [one_by_one.score(s) for s in samples[TRAIN:]]
    assert [(v.timestamp, v.state) for v in batch] == [(v.timestamp, v.state) for v in single]
    assert [v.score for v in batch] == pytest.approx([v.score for v in single])
    assert any(v.state is HealthState.ILL for v in batch)


def test_missing_counter_carries_last_value_and_extra_counter_is_ignored() -> None:
    samples = to_samples(healthy_counters(8))
    model = VmHealthModel()
    model.fit(samples[:TRAIN])
    values = dict(samples[TRAIN].values)
    del values["cpu.usage.average"]
    values["new.counter"] = 1e9
    assert model.score(Sample(samples[TRAIN].timestamp, values)).state is HealthState.HEALTHY


def test_invalid_config_is_rejected_with_the_field_named() -> None:
    with pytest.raises(HealthModelError, match="refractory"):
        HealthModelConfig(refractory=0)
    with pytest.raises(HealthModelError, match="threshold"):
        HealthModelConfig(threshold=0)
    with pytest.raises(HealthModelError, match="min_history"):
        HealthModelConfig(min_history=20)
    assert issubclass(HealthModelError, VsphereDrError)


def trained_store() -> tuple[HealthModelStore, list[Sample]]:
    counters = healthy_counters(9)
    stuck_cpu(counters)
    samples = to_samples(counters)
    store = HealthModelStore()
    store.model("vm-42").fit(samples[:TRAIN])
    store.model("vm-43")  # still warming up
    return store, samples


def test_persistence_round_trip_gives_the_same_verdicts(tmp_path: Path) -> None:
    store, samples = trained_store()
    path = tmp_path / "state" / "health-models.pkl"
    store.save(path)
    loaded = HealthModelStore.load(path)
    assert sorted(loaded.models) == ["vm-42", "vm-43"]
    # No temporary file left; the histories are ring files beside the models file.
    assert sorted(p.name for p in path.parent.iterdir()) == ["health-models.pkl", "health-models.pkl.history"]
    assert sorted(p.name for p in (path.parent / "health-models.pkl.history").iterdir()) == ["vm-42.ring"]
    expected = store.model("vm-42").score_many(samples[TRAIN:])
    assert loaded.model("vm-42").score_many(samples[TRAIN:]) == expected
    assert any(v.state is HealthState.ILL for v in expected)


def test_discard_forgets_a_vm() -> None:
    store, _ = trained_store()
    store.discard("vm-43")
    store.discard("vm-gone")
    assert list(store.models) == ["vm-42"]


def rewrite_header(path: Path, **changes: object) -> None:
    header, payload = path.read_bytes().split(b"\n", 1)
    fields = json.loads(header) | changes
    path.write_bytes(json.dumps(fields).encode() + b"\n" + payload)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"this is not a model file"), "corrupt file"),
    (lambda p: p.write_bytes(p.read_bytes()[:-100]), "corrupt file"),
    (lambda p: rewrite_header(p, sklearn_version="0.24.2"),
     re.escape(f"scikit-learn version 0.24.2, this vsphere-dr uses {sklearn.__version__}")),
    (lambda p: rewrite_header(p, format_version=99), "format version 99"),
    (lambda p: p.write_bytes(p.read_bytes().split(b"\n", 1)[0] + b"\n" + pickle.dumps(["x"])), "unexpected"),
])
def test_unusable_file_is_rejected_clearly_and_safe_load_returns_empty(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, damage, message: str) -> None:
    path = tmp_path / "health-models.pkl"
    trained_store()[0].save(path)
    damage(path)
    with pytest.raises(HealthModelError, match=message) as error:
        HealthModelStore.load(path)
    assert str(path) in str(error.value)
    with caplog.at_level(logging.WARNING):
        store = load_store_or_empty(path)
    assert store.models == {}
    assert str(path) in caplog.text and "empty health models" in caplog.text


def test_other_configuration_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "health-models.pkl"
    trained_store()[0].save(path)
    with pytest.raises(HealthModelError, match="model configuration"):
        HealthModelStore.load(path, replace(HealthModelConfig(), threshold=9.0))


def test_missing_file_gives_empty_store_without_warning(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert load_store_or_empty(tmp_path / "absent.pkl").models == {}
    assert not caplog.records
