"""The evaluation's scoring rules on hand-checkable data, and the report and CLI contract."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vsphere_dr.health_eval import (
    PROFILES,
    STANDARD,
    Detection,
    DetectorResult,
    EvalReport,
    FileResult,
    NabScore,
    Profile,
    baseline_alarms,
    baseline_threshold,
    evaluate,
    format_report,
    main,
    nab_score,
    onsets,
    probation_length,
    scaled_sigmoid,
    score_alarms,
    score_results,
    sigma_alarms,
    sigma_threshold,
    score_detector,
)

T0 = datetime(2014, 2, 14, 14, 30)


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=5 * i)


# NAB scoring. One window, rows 10-19 (width 10), in 40 rows; probation: rows 0-4.
ROWS = [at(i) for i in range(40)]
WINDOW = [(at(10), at(19))]


def detected_at(*rows: int, n: int = 40) -> list[bool]:
    return [i in rows for i in range(n)]


def nab(*rows: int, profile: Profile = STANDARD, windows=WINDOW, start: int = 5) -> NabScore:
    return nab_score(ROWS, detected_at(*rows), windows, start, profile)


def test_probationary_period_is_15_percent_at_most_750_rows() -> None:
    assert (probation_length(10), probation_length(4032), probation_length(5000), probation_length(18050)) \
        == (1, 604, 750, 750)


def test_scaled_sigmoid_values_from_the_paper() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)  # a window's left edge
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0  # its right edge
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == scaled_sigmoid(50.0) == -1.0


def test_onsets_are_the_first_sample_of_each_alarm_run() -> None:
    assert onsets([False, True, True, False, True, True, True]) == [False, True, False, False, True, False, False]
    assert onsets([True, True]) == [True, False]


def test_detection_at_window_start_is_perfect() -> None:
    s = nab(10)
    assert (s.raw, s.null, s.perfect) == (pytest.approx(1.0), -1.0, 1.0)
    assert s.normalized == pytest.approx(100.0)


def test_detection_at_window_end_earns_little() -> None:
    # position -(19 - 19 + 1) / 10 = -0.1: 2 / (1 + e^-0.5) - 1 = 0.24492, divided by 0.98661
    s = nab(19)
    assert s.raw == pytest.approx(0.24492 / 0.98661, abs=1e-4)
    assert s.normalized == pytest.approx(100 * (1 + 0.24824) / 2, abs=0.01)


def test_only_the_first_detection_in_a_window_counts() -> None:
    assert nab(10, 12, 19).raw == pytest.approx(1.0)
    assert nab(15, 19).raw == pytest.approx(nab(15).raw)


def test_detection_outside_the_window_is_a_miss_and_a_false_positive() -> None:
    # row 25: (25 - 19) / (10 - 1) = 0.667 past the window: 2 / (1 + e^3.333) - 1 = -0.93118
    s = nab(25)
    assert s.raw == pytest.approx(-1.0 + 0.11 * -0.93118, abs=1e-4)
    assert s.normalized == pytest.approx(100 * (0.11 * -0.93118) / 2, abs=0.01)


def test_false_positive_right_after_a_window_costs_less_than_far_away() -> None:
    near, far = nab(10, 20), nab(10, 39)  # 1/9 and 20/9 of the window's width past its end
    assert near.raw == pytest.approx(1.0 + 0.11 * (2 / (1 + np.exp(5 / 9)) - 1))
    assert near.raw - 1.0 == pytest.approx(-0.11 * 0.27079, abs=1e-4)
    assert far.raw - 1.0 == pytest.approx(-0.11, abs=1e-4)
    assert near.raw > far.raw


def test_false_positive_before_any_window_costs_the_full_weight() -> None:
    assert nab(7, 10).raw == pytest.approx(1.0 - 0.11)
    assert nab(7, 10, profile=PROFILES[1]).raw == pytest.approx(1.0 - 0.22)


def test_detections_in_the_probationary_period_are_ignored() -> None:
    assert nab(2, 4).raw == nab().raw == -1.0
    assert nab(2, 4).normalized == 0.0
    # a window that ends in probation is not scored, but a later false positive is measured from it
    early = [(at(0), at(3))]
    s = nab(5, windows=early, start=5)  # (5 - 3) / (4 - 1) = 0.667 past the early window
    assert (s.null, s.perfect, s.normalized) == (0.0, 0.0, None)
    assert s.raw == pytest.approx(0.11 * -0.93118, abs=1e-4)


def test_profiles_weigh_misses_and_false_positives() -> None:
    low_fn = nab(25, profile=PROFILES[2])
    assert (low_fn.null, low_fn.perfect) == (-2.0, 1.0)
    assert low_fn.raw == pytest.approx(-2.0 + 0.11 * -0.93118, abs=1e-4)
    assert [p.name for p in PROFILES] == ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
    assert [(p.tp, p.fp, p.fn) for p in PROFILES] == [(1.0, 0.11, 1.0), (1.0, 0.22, 1.0), (1.0, 0.11, 2.0)]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_perfect_detector_scores_100_and_null_detector_0_over_several_files(profile: Profile) -> None:
    files = [(40, [(at(10), at(19))]), (60, [(at(12), at(14)), (at(30), at(45))]), (30, [])]
    perfect = null = NabScore(0.0, 0.0, 0.0)
    for n, windows in files:
        times = [at(i) for i in range(n)]
        starts = {times.index(a) for a, _ in windows}
        perfect += nab_score(times, [i in starts for i in range(n)], windows, probation_length(n), profile)
        null += nab_score(times, [False] * n, windows, probation_length(n), profile)
    assert perfect.normalized == pytest.approx(100.0)
    assert null.normalized == 0.0


def test_score_detector_counts_onsets_not_every_ill_sample() -> None:
    alarms = detected_at(*range(10, 30))  # one ill run from the window's start to row 29
    r = score_detector(ROWS, alarms, WINDOW, start=5)
    assert r.nab[0].raw == pytest.approx(1.0)  # one detection at row 10, nothing after the window
    assert (r.flagged, r.scored, r.flagged_fraction) == (20, 35, pytest.approx(20 / 35))


def test_window_detection_counts_onsets_as_false_events_and_delay() -> None:
    """20 samples, probation 0-1; windows 5-8 and 14-16.

    Alarms: 1 (probation: ignored), 3-4 (one onset: a false event), 7-9 (onset 7 detects window 1
    at delay 2 samples; 9 only continues the run), 11 (a second false event). Window 2 is missed.
    """
    alarms = [i in {1, 3, 4, 7, 8, 9, 11} for i in range(20)]
    windows = [(at(5), at(8)), (at(14), at(16))]
    d = score_alarms([at(i) for i in range(20)], alarms, windows, start=2)
    assert (d.windows, d.detected, d.false_events) == (2, 1, 2)
    assert d.delays == (timedelta(minutes=10),)
    assert d.precision == pytest.approx(1 / 3)
    assert d.recall == pytest.approx(1 / 2)
    assert d.f1 == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))
    assert d.days == pytest.approx(17 * 5 / 1440)
    assert d.false_per_day == pytest.approx(2 / d.days)


def test_every_false_onset_counts_and_a_run_into_a_window_does_not_detect_it() -> None:
    windows = [(at(10), at(12))]
    flicker = [i % 2 == 0 and not 10 <= i <= 12 for i in range(30)]  # 12 onsets after probation, all outside
    d = score_alarms([at(i) for i in range(30)], flicker, windows, start=2)
    assert (d.detected, d.false_events) == (0, 12)
    early = [8 <= i <= 11 for i in range(30)]  # starts 2 samples before the window
    d = score_alarms([at(i) for i in range(30)], early, windows, start=2)
    assert (d.detected, d.false_events) == (0, 1)


def test_a_detector_alarming_on_every_sample_no_longer_scores_well() -> None:
    r = score_detector(ROWS, [True] * 40, WINDOW, start=5)
    assert r.detection.f1 == 0.0
    assert r.nab[0].normalized == 0.0
    assert r.flagged_fraction == 1.0


def test_window_bounds_are_inclusive_and_probation_windows_are_left_out() -> None:
    alarms = [i in {6, 12} for i in range(20)]
    windows = [(at(0), at(3)), (at(6), at(9)), (at(10), at(12))]
    d = score_alarms([at(i) for i in range(20)], alarms, windows, start=5)
    assert (d.windows, d.detected, d.false_events) == (2, 2, 0)
    assert d.delays == (timedelta(0), timedelta(minutes=10))
    assert d.median_delay == timedelta(minutes=5)


def test_nothing_to_find_and_nothing_claimed_is_undefined_not_zero() -> None:
    d = score_alarms([at(i) for i in range(10)], [False] * 10, [], start=2)
    assert (d.precision, d.recall, d.f1, d.false_per_day, d.median_delay) == (None, None, None, 0.0, None)


def test_detections_add_up_as_micro_averages() -> None:
    a = Detection(2, 1, 1, 1.0, (timedelta(minutes=10),))
    b = Detection(1, 1, 3, 3.0, (timedelta(minutes=30),))
    total = a + b
    assert (total.windows, total.detected, total.false_events, total.days) == (3, 2, 4, 4.0)
    assert total.f1 == pytest.approx(4 / (4 + 4 + 1))
    assert total.false_per_day == 1.0
    assert total.median_delay == timedelta(minutes=20)


def test_baseline_threshold_rule_and_sustain() -> None:
    assert baseline_threshold("realAWSCloudwatch/ec2_cpu_utilization_x.csv", [1.0, 3.0]) == 90.0
    assert baseline_threshold("realAWSCloudwatch/elb_request_count_x.csv", [1.0, 3.0]) == 6.0
    values = [0.0, 95.0, 0.0, 95.0, 95.0, 95.0]  # one sample above is not enough
    assert baseline_alarms("cpu_utilization.csv", values, start=1) == [False] * 4 + [True, True]


def test_sigma_baseline_is_probation_mean_plus_3_sd_sustained_2_samples() -> None:
    probation = [10.0, 12.0, 10.0, 12.0]  # mean 11, sd 1: threshold 14
    assert sigma_threshold(probation) == pytest.approx(14.0)
    values = probation + [15.0, 13.0, 15.0, 15.0, 15.0, 14.0]
    assert sigma_alarms(values, start=4) == [False] * 7 + [True, True, False]


def write_nab(directory: Path, series: dict[str, list[float]], labels: dict[str, list[list[str]]]) -> None:
    for name, values in series.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["timestamp,value"] + [f"{at(i):%Y-%m-%d %H:%M:%S},{v}" for i, v in enumerate(values)]
        path.write_text("\n".join(lines) + "\n")
    (directory / "labels.json").write_text(json.dumps(labels))


def stuck_at_100(n: int = 2000, onset: int = 1500) -> list[float]:
    rng = np.random.default_rng(0)
    values = 40 + 5 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 2, n)
    values[onset:] = 100.0
    return [round(float(v), 3) for v in values]


def label(i: int, j: int) -> list[str]:
    return [f"{at(i):%Y-%m-%d %H:%M:%S}.000000", f"{at(j):%Y-%m-%d %H:%M:%S}.000000"]


def test_evaluate_end_to_end_on_a_tiny_nab_directory(tmp_path: Path) -> None:
    """The model sees the stuck CPU within minutes; the 90% baseline after its 2 samples."""
    write_nab(tmp_path, {"realKnownCause/cpu_utilization_stuck.csv": stuck_at_100(),
                         "quiet/cpu_utilization_quiet.csv": stuck_at_100(onset=2000)},
              {"realKnownCause/cpu_utilization_stuck.csv": [label(1490, 1600)],
               "quiet/cpu_utilization_quiet.csv": []})
    report = evaluate(tmp_path)
    assert [f.name for f in report.files] == ["quiet/cpu_utilization_quiet.csv",
                                              "realKnownCause/cpu_utilization_stuck.csv"]
    model, static = (report.files[1].detectors[d].detection for d in ("model", "static_threshold"))
    assert (model.detected, static.detected) == (1, 1)
    assert list(report.overall) == ["model", "static_threshold", "probation_3sigma"]
    assert model.median_delay <= timedelta(minutes=50 + 15)  # onset is 50 min after window start
    assert static.median_delay == timedelta(minutes=55)
    # The quiet file trains on one day only (its probation): at most one false onset in its 6 days.
    assert report.files[0].detectors["model"].detection.false_events <= 1
    assert report.overall["model"].detection.windows == 1
    assert report.overall["model"].nab[0].normalized > 90


def test_short_probation_warms_up_during_scoring_then_detects(tmp_path: Path) -> None:
    """1000 samples: probation (150) < min_history (288), so the replay trains once 288 are seen."""
    write_nab(tmp_path, {"cpu_utilization_short.csv": stuck_at_100(n=1000, onset=800)},
              {"cpu_utilization_short.csv": [label(795, 850)]})
    stuck = evaluate(tmp_path).files[0].detectors["model"].detection
    assert stuck.detected == 1
    assert stuck.median_delay <= timedelta(minutes=25 + 15)


def test_report_table_and_last_line() -> None:
    nab = (NabScore(-1.0, -4.0, 4.0), NabScore(-2.0, -4.0, 4.0), NabScore(-3.0, -8.0, 4.0))
    d = DetectorResult(Detection(4, 2, 2, 10.0, (timedelta(hours=1),)), nab, 30, 1000)
    base = DetectorResult(Detection(4, 1, 5, 10.0, (timedelta(hours=3),)), (NabScore(-3.0, -4.0, 4.0),) * 3,
                          5, 1000)
    weak = DetectorResult(Detection(4, 0, 0, 10.0, ()), (NabScore(-4.0, -4.0, 4.0),) * 3, 0, 1000)
    detectors = {"model": d, "static_threshold": weak, "probation_3sigma": base}
    report = EvalReport((FileResult("a/x.csv", detectors),), detectors)
    lines = format_report(report).splitlines()
    assert lines[0].split() == ["file", "detector", "windows", "detected", "false_events", "precision",
                                "recall", "f1", "flagged", "false/day", "median_delay_min", "nab_standard",
                                "nab_low_FP_rate", "nab_low_FN_rate"]
    assert lines[1].split() == ["a/x.csv", "model", "4", "2", "2", "0.500", "0.500", "0.500", "3.0%", "0.20",
                                "60", "37.5", "25.0", "41.7"]
    assert lines[4].split()[:2] == ["OVERALL", "model"]
    assert report.best_baseline == "probation_3sigma"
    assert lines[-1] == "overall nab_standard=37.5 baseline_nab_standard=12.5 f1=0.500"


def test_main_prints_report_with_exact_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nab(tmp_path, {"s/cpu_utilization_stuck.csv": stuck_at_100()},
              {"s/cpu_utilization_stuck.csv": [label(1490, 1600)]})
    assert main([str(tmp_path)]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"overall nab_standard=-?\d+\.\d baseline_nab_standard=-?\d+\.\d f1=\d\.\d{3}", last)


def test_written_results_rescore_to_the_printed_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rescored from the results files alone (windows from label, detections from anomaly_score)."""
    flicky = stuck_at_100(onset=2000)
    for i in range(1100, 1900, 150):  # bursts the model calls ill outside the window: false positives
        flicky[i:i + 6] = [100.0] * 6
    data, out = tmp_path / "data", tmp_path / "out"
    write_nab(data, {"a/cpu_utilization_stuck.csv": stuck_at_100(), "b/cpu_utilization_flicky.csv": flicky,
                     "cpu_utilization_quiet.csv": stuck_at_100(onset=2000)},
              {"a/cpu_utilization_stuck.csv": [label(1490, 1600)],
               "b/cpu_utilization_flicky.csv": [label(1300, 1340)], "cpu_utilization_quiet.csv": []})
    assert main([str(data), "--write-results", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv"))
    assert written == ["a/cpu_utilization_stuck.csv", "b/cpu_utilization_flicky.csv", "cpu_utilization_quiet.csv"]
    rows = (out / "a/cpu_utilization_stuck.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score,label"
    assert rows[1].split(",")[2:] == ["0.0", "0"] and rows[1491].split(",")[3] == "1"
    total = [NabScore(0.0, 0.0, 0.0)] * len(PROFILES)
    for name in written:
        total = [a + b for a, b in zip(total, score_results(out / name))]
    assert sum(r.split(",")[2] == "1.0" for r in (out / "b/cpu_utilization_flicky.csv").read_text().splitlines()) > 1
    expected = f"overall nab_standard={total[0].normalized:.1f} "
    assert printed[-1].startswith(expected)
    overall = next(line for line in printed if line.startswith("OVERALL")).split()
    assert overall[-3:] == [f"{s.normalized:.1f}" for s in total]
    report = evaluate(data)
    assert [s.raw for s in report.overall["model"].nab] == pytest.approx([s.raw for s in total])


def test_cli_passes_write_results(tmp_path: Path) -> None:
    from vsphere_dr.app.cli import main as cli_main
    write_nab(tmp_path / "d", {"cpu_utilization_stuck.csv": stuck_at_100()},
              {"cpu_utilization_stuck.csv": [label(1490, 1600)]})
    assert cli_main(["eval-health", str(tmp_path / "d"), "--write-results", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "cpu_utilization_stuck.csv").is_file()


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "labels.json: cannot read"),
    (lambda d: (d / "labels.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "labels.json").write_text('{"a.csv": "soon"}'), "list of [start, end] pairs"),
    (lambda d: (d / "labels.json").write_text('{"a.csv": [["yesterday", "today"]]}'), "invalid timestamp"),
    (lambda d: write_nab(d, {"a.csv": [1.0]}, {}), "no labels for ['a.csv']"),
    (lambda d: write_nab(d, {"a.csv": [1.0]}, {"a.csv": [], "b.csv": []}), "no file for ['b.csv']"),
])
def test_main_rejects_invalid_directory_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    setup, message: str) -> None:
    setup(tmp_path)
    assert main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_main_rejects_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_main_rejects_bad_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("time,v\n")
    (tmp_path / "labels.json").write_text('{"a.csv": []}')
    assert main([str(tmp_path)]) == 2
    assert "expected the header 'timestamp,value'" in capsys.readouterr().err
