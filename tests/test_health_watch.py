"""HealthWatch on synthetic 6-counter VMs sampled every 5 minutes: verdicts, retraining, the file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.test_health_model import DAY, healthy_counters, to_samples
from vsphere_dr.health_model import HealthModelStore, HealthState, Sample, Verdict
from vsphere_dr.health_watch import HealthWatch
from vsphere_dr.settings import HealthSettings, JournalSettings, Settings, VCenterSettings

ONSET = DAY + DAY // 4  # the CPU sticks at 100% a quarter of a day after the warm-up
TOTAL = DAY + DAY // 2


def fleet(total: int = TOTAL) -> dict[str, list[Sample]]:
    """Two VMs: "vm-1" healthy throughout, "vm-2" with its CPU stuck at 100% from ONSET on."""
    stuck = healthy_counters(seed=4, n=total)
    stuck["cpu.usage.average"][ONSET:] = 100.0
    return {"vm-1": to_samples(healthy_counters(seed=3, n=total)), "vm-2": to_samples(stuck)}


def run(watch: HealthWatch, samples: dict[str, list[Sample]], start: int = 0,
        stop: int | None = None) -> dict[str, list[Verdict]]:
    """Sweep after sweep, every VM's sample of the sweep at once, as the Health Administrator does."""
    stop = len(next(iter(samples.values()))) if stop is None else stop
    verdicts: dict[str, list[Verdict]] = {vm: [] for vm in samples}
    for i in range(start, stop):
        for vm, verdict in watch.observe({vm: series[i] for vm, series in samples.items()}).items():
            verdicts[vm].append(verdict)
    return verdicts


def states(verdicts: list[Verdict]) -> list[HealthState]:
    return [v.state for v in verdicts]


@pytest.mark.parametrize("evidence", [8, 40])
def test_stuck_cpu_is_ill_at_once_while_a_healthy_vm_stays_healthy(tmp_path: Path, evidence: float) -> None:
    watch = HealthWatch(HealthSettings(ill_evidence=evidence), tmp_path / "m.pkl")
    verdicts = run(watch, fleet())
    assert states(verdicts["vm-1"][:DAY]) == states(verdicts["vm-2"][:DAY]) == [HealthState.WARMING_UP] * DAY
    assert HealthState.ILL not in states(verdicts["vm-1"])
    assert verdicts["vm-1"][-1].state is HealthState.HEALTHY
    assert HealthState.ILL not in states(verdicts["vm-2"][:ONSET])
    after_onset = verdicts["vm-2"][ONSET:]
    first_ill = states(after_onset).index(HealthState.ILL)
    assert first_ill <= 1, "a CPU stuck at 100% is beyond anything in its history: ill at the first sweep or next"
    assert after_onset[first_ill].score is not None and after_onset[first_ill].score >= 1.0
    assert any("cpu.usage.average" in reason for reason in after_onset[first_ill].reasons)


def test_models_are_retrained_when_their_interval_passes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = HealthWatch(HealthSettings(retrain_interval_seconds=3600), tmp_path / "m.pkl")
    samples = {"vm-1": fleet()["vm-1"]}
    with caplog.at_level(logging.INFO, logger="vsphere_dr.health_watch"):
        run(watch, samples, stop=DAY + 25)
    retrains = [r for r in caplog.records if r.name == "vsphere_dr.health_watch" and "retrained" in r.getMessage()]
    # The first fit once warmed up, then one every 12 samples (an hour of 5-minute samples).
    assert len(retrains) == 1 + 2


def test_a_sample_not_newer_than_the_last_is_skipped(tmp_path: Path) -> None:
    watch = HealthWatch(HealthSettings(), tmp_path / "m.pkl")
    sample = fleet(total=2)["vm-1"]
    assert set(watch.observe({"vm-1": sample[1]})) == {"vm-1"}
    assert watch.observe({"vm-1": sample[1]}) == {}
    assert watch.observe({"vm-1": sample[0]}) == {}


def test_save_and_load_give_the_same_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "var" / "health-models.pkl"
    samples = fleet()
    watch = HealthWatch(HealthSettings(), path)
    run(watch, samples, stop=ONSET)
    watch.save()
    # No temporary file left; the models' histories are ring files beside the models file.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, f"{path.name}.history"]
    reloaded = HealthWatch(HealthSettings(), path)
    assert reloaded.vms == {"vm-1", "vm-2"}
    uninterrupted = HealthWatch(HealthSettings(), tmp_path / "other" / "health-models.pkl")
    run(uninterrupted, samples, stop=ONSET)
    assert run(reloaded, samples, start=ONSET) == run(uninterrupted, samples, start=ONSET)


def test_from_settings_keeps_the_models_next_to_the_journal(tmp_path: Path) -> None:
    settings = Settings(vcenter=VCenterSettings(host="127.0.0.1", user="u", password="p"),
                        journal=JournalSettings(path=tmp_path / "state" / "journal.sqlite"))
    watch = HealthWatch.from_settings(settings)
    watch.observe({"vm-1": fleet(total=1)["vm-1"][0]})
    watch.save()
    assert HealthModelStore.load(tmp_path / "state" / "health-models.pkl").models.keys() == {"vm-1"}


def test_forget_drops_the_model(tmp_path: Path) -> None:
    watch = HealthWatch(HealthSettings(), tmp_path / "m.pkl")
    samples = fleet(total=3)
    run(watch, samples, stop=2)
    watch.forget("vm-2")
    watch.forget("vm-never-seen")
    assert watch.vms == {"vm-1"}
    assert [p.name for p in (tmp_path / "m.pkl.history").iterdir()] == ["vm-1.ring"]
    assert watch.observe({"vm-2": samples["vm-2"][2]})["vm-2"].reasons == ("warming up: 1/288 samples",)


@pytest.mark.parametrize("content", [b"not a models file\n", b""])
def test_a_corrupt_file_gives_an_empty_store_and_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           content: bytes) -> None:
    path = tmp_path / "health-models.pkl"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        watch = HealthWatch(HealthSettings(), path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "corrupt" in warnings[0]
    assert watch.vms == frozenset()
    assert watch.observe({"vm-1": fleet(total=1)["vm-1"][0]})["vm-1"].state is HealthState.WARMING_UP


def test_models_learned_with_other_settings_are_refused_with_a_warning(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "health-models.pkl"
    watch = HealthWatch(HealthSettings(), path)
    watch.observe({"vm-1": fleet(total=1)["vm-1"][0]})
    watch.save()
    with caplog.at_level(logging.WARNING):
        changed = HealthWatch(HealthSettings(ill_evidence=9), path)
    assert changed.vms == frozenset()
    assert any("model configuration" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)



class Clock:
    """A monotonic clock the test moves: one health interval (300 s) per sweep."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_models_file_is_saved_at_its_interval_after_a_refit_and_when_asked(tmp_path: Path) -> None:
    path, clock = tmp_path / "m.pkl", Clock()
    watch = HealthWatch(HealthSettings(save_interval_seconds=3600), path, clock)
    samples = fleet()
    saved_at: list[int] = []
    file = b""  # the models file's content: each save's differs (the models' counts grow)
    for i in range(DAY + 30):
        watch.observe({vm: series[i] for vm, series in samples.items()})
        clock.now += 300
        said = watch.save_if_due()
        if path.exists() and path.read_bytes() != file:
            saved_at.append(i)
            file = path.read_bytes()
        assert said == (saved_at[-1:] == [i])
    # Every 12 sweeps (3600 s: the last at DAY - 1), and at the sweep of the first fits (DAY), one
    # sweep after that save; the next interval counts from there.
    assert saved_at == [11 + 12 * n for n in range(DAY // 12)] + [DAY, DAY + 12, DAY + 24]
    watch.observe({vm: series[DAY + 30] for vm, series in samples.items()})
    assert not watch.save_if_due() and path.read_bytes() == file
    watch.save()  # the controller stops
    assert path.read_bytes() != file


def test_after_a_crash_a_sample_already_kept_is_not_kept_again(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    samples = fleet(total=DAY + 20)
    watch = HealthWatch(HealthSettings(), path)
    run(watch, samples, stop=DAY + 5)
    watch.save()
    run(watch, samples, start=DAY + 5, stop=DAY + 15)  # unsaved rounds, then the process dies
    restarted = HealthWatch(HealthSettings(), path)
    assert restarted.observe({"vm-1": samples["vm-1"][DAY + 14]}) == {}, "vCenter had nothing newer yet"
    assert HealthModelStore.load(path).models["vm-1"].history.count == DAY + 15, "adopted, not kept twice"
    uninterrupted = HealthWatch(HealthSettings(), tmp_path / "other.pkl")
    run(uninterrupted, samples, stop=DAY + 15)
    assert run(restarted, samples, start=DAY + 15) == run(uninterrupted, samples, start=DAY + 15)
