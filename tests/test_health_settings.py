"""The [health] section: defaults, the model's knobs, the models file, the response."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_settings import ROOT, error_of, vcenter, write
from vsphere_dr.health_model import HealthModelConfig
from vsphere_dr.settings import HealthSettings, load_settings


def health(**values: object) -> str:
    return vcenter() + "[health]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


def test_defaults_are_the_model_defaults_and_incident(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, vcenter() + "[journal]\npath = state/dr.sqlite\n"))
    assert settings.health.enabled is True and settings.health.response == "incident"
    assert settings.health.model == HealthModelConfig()
    assert settings.health.model_file(settings.journal) == tmp_path / "state" / "health-models.pkl"


def test_shipped_settings_have_a_health_section() -> None:
    settings = load_settings(ROOT / "settings.ini")
    assert settings.health.model == HealthModelConfig()
    assert settings.health.model_file(settings.journal).parent == settings.journal.path.parent


def test_knobs_reach_the_model(tmp_path: Path) -> None:
    text = health(warmup_samples=200, history_samples=1000, median_window=6, surprise_allowance=3,
                  ill_evidence=5, refractory_samples=12, retrain_interval_seconds=43200, response="reset",
                  enabled="false", interval_seconds=60)
    section = load_settings(write(tmp_path, text)).health
    assert section.model == HealthModelConfig(
        min_history=200, max_history=1000, median_window=6, allowance=3.0, threshold=5.0, refractory=12,
        retrain_every=timedelta(hours=12))
    assert (section.enabled, section.response, section.interval_seconds) == (False, "reset", 60)
    assert section.save_interval_seconds == 3600 == HealthSettings().save_interval_seconds
    assert load_settings(write(tmp_path, health(save_interval_seconds=0))).health.save_interval_seconds == 0


def test_relative_model_path_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, health(model_path="models/vms.pkl")))
    assert settings.health.model_file(settings.journal) == tmp_path / "models" / "vms.pkl"


@pytest.mark.parametrize(("values", "expected"), [
    ({"response": "clone"}, "[health] response = 'clone': Input should be 'incident', 'reset' or 'recover'"),
    ({"refractory_samples": 0}, "[health] refractory_samples must be at least 1"),
    ({"warmup_samples": 20}, "[health] warmup_samples must be at least 24 (twice median_window)"),
    ({"history_samples": 100}, "[health] history_samples must not be below warmup_samples"),
    ({"ill_evidence": 0}, "[health] surprise_allowance must not be negative and ill_evidence must be above 0"),
    ({"median_window": 0}, "[health] median_window must be at least 1"),
    ({"interval_seconds": 5}, "[health] interval_seconds = '5': Input should be greater than or equal to 20"),
    ({"retrain_interval_seconds": 1}, "[health] retrain_interval_seconds = '1': Input should be greater"),
    ({"warmup_samples": "a day"}, "[health] warmup_samples = 'a day': Input should be a valid integer"),
    ({"contamination": 0.01}, "[health] contamination: unknown key"),
    ({"save_interval_seconds": -1}, "[health] save_interval_seconds = '-1': Input should be greater than or equal to 0"),
    ({"save_interval_seconds": "hourly"}, "[health] save_interval_seconds = 'hourly': Input should be a valid number"),
    ({"save_interval_seconds": 700000}, "[health] save_interval_seconds must be at most history_samples x interval_seconds"),
])
def test_bad_value_is_named(tmp_path: Path, values: dict[str, object], expected: str) -> None:
    assert expected in error_of(tmp_path, health(**values))


def test_settings_do_not_load_scikit_learn() -> None:
    """The CLI reads the settings for every command: the model's libraries load only where needed."""
    code = "import sys, vsphere_dr.settings, vsphere_dr.gateway; print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_models_warming_up_do_not_load_scikit_learn(tmp_path: Path) -> None:
    """A fleet whose models are all warming up (a first start) is judged and saved without
    scikit-learn's 85 MB; the first fit loads it."""
    code = f"""
import sys
from datetime import datetime, timedelta
from pathlib import Path
from vsphere_dr.health_model import HealthModelConfig, HealthModelStore, Sample
store = HealthModelStore(HealthModelConfig(min_history=40))
start = datetime(2026, 1, 1)
for i in range(40):
    store.model("vm-1").score(Sample(start + timedelta(minutes=5 * i), {{"cpu": 1.0 + i % 3, "mem": 2.0 + i % 5}}))
store.save(Path({str(tmp_path / "models.pkl")!r}))
before = "sklearn" in sys.modules
store.model("vm-1").retrain()
print(before, "sklearn" in sys.modules)
"""
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False True"


def test_section_is_immutable() -> None:
    with pytest.raises(ValueError):
        HealthSettings().response = "recover"  # type: ignore[misc]
