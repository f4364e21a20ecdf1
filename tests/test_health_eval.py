"""The evaluation's scoring rules on hand-checkable data, and the report and CLI contract."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vsphere_dr.health_eval import (
    Detection,
    EvalReport,
    FileResult,
    baseline_alarms,
    baseline_threshold,
    evaluate,
    format_report,
    main,
    score_alarms,
)

T0 = datetime(2014, 2, 14, 14, 30)


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=5 * i)


def test_window_detection_false_event_grouping_and_delay() -> None:
    """20 samples, probation 0-1; windows 5-8 and 14-16.

    Alarms: 1 (probation: ignored), 3-4 (one false event), 7-9 (detects window 1 at delay 2
    samples; 9 is a second false event), 11 (third false event). Window 2 is missed.
    """
    alarms = [i in {1, 3, 4, 7, 8, 9, 11} for i in range(20)]
    windows = [(at(5), at(8)), (at(14), at(16))]
    d = score_alarms([at(i) for i in range(20)], alarms, windows, start=2)
    assert (d.windows, d.detected, d.false_events) == (2, 1, 3)
    assert d.delays == (timedelta(minutes=10),)
    assert d.precision == pytest.approx(1 / 4)
    assert d.recall == pytest.approx(1 / 2)
    assert d.f1 == pytest.approx(2 * 1 / (2 * 1 + 3 + 1))
    assert d.days == pytest.approx(17 * 5 / 1440)
    assert d.false_per_day == pytest.approx(3 / d.days)


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
    stuck = report.files[1]
    assert (stuck.model.detected, stuck.baseline.detected) == (1, 1)
    assert stuck.model.median_delay <= timedelta(minutes=50 + 15)  # onset is 50 min after window start
    assert stuck.baseline.median_delay == timedelta(minutes=55)
    assert report.files[0].model.false_events == 0
    assert report.model.windows == 1


def test_short_probation_warms_up_during_scoring_then_detects(tmp_path: Path) -> None:
    """1000 samples: probation (150) < min_history (288), so the replay trains once 288 are seen."""
    write_nab(tmp_path, {"cpu_utilization_short.csv": stuck_at_100(n=1000, onset=800)},
              {"cpu_utilization_short.csv": [label(795, 850)]})
    stuck = evaluate(tmp_path).files[0]
    assert stuck.model.detected == 1
    assert stuck.model.median_delay <= timedelta(minutes=25 + 15)


def test_report_table_and_last_line() -> None:
    d = Detection(4, 2, 2, 10.0, (timedelta(hours=1),))
    base = Detection(4, 1, 5, 10.0, (timedelta(hours=3),))
    report = EvalReport((FileResult("a/x.csv", d, base),), d, base)
    lines = format_report(report).splitlines()
    assert lines[0].split() == ["file", "detector", "windows", "detected", "false_events", "precision",
                                "recall", "f1", "false/day", "median_delay_min"]
    assert lines[1].split() == ["a/x.csv", "model", "4", "2", "2", "0.500", "0.500", "0.500", "0.20", "60"]
    assert lines[3].split()[:2] == ["OVERALL", "model"]
    assert lines[-1] == "overall model_f1=0.500 baseline_f1=0.200"


def test_main_prints_report_with_exact_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nab(tmp_path, {"s/cpu_utilization_stuck.csv": stuck_at_100()},
              {"s/cpu_utilization_stuck.csv": [label(1490, 1600)]})
    assert main([str(tmp_path)]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"overall model_f1=\d\.\d{3} baseline_f1=\d\.\d{3}", last)


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
