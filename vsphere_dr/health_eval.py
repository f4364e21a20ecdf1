"""Evaluate the health model on labelled data in NAB format, beside a vCenter-style static alarm.

A NAB-format directory holds CSV files (header ``timestamp,value``, any depth) and ``labels.json``
mapping each CSV's path relative to the directory to its anomaly windows
(``[[start, end], ...]``, inclusive). Every file is replayed as one VM: the first 15% of its samples
(NAB's probationary period) only train, then the model scores the rest and retrains on its own
history the way the controller does. Scoring rules (docs/health-model.md):

- a window is detected when at least one alarm falls inside it; detection delay = first alarm in it
  minus its start;
- alarms outside every window are false alarms; a run of consecutive false-alarm samples is one
  false event;
- precision = detected windows / (detected windows + false events), recall = detected / windows.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from vsphere_dr.errors import VsphereDrError
from vsphere_dr.health_model import HealthModelConfig, HealthState, Sample, VmHealthModel
from vsphere_dr.table import render_table

PROBATION_FRACTION = 0.15
# The baseline, a vCenter usage alarm: "value above THRESHOLD for SUSTAIN_SAMPLES samples".
PERCENT_THRESHOLD = 90.0  # utilisation metrics, like vCenter's default VM CPU usage alarm (90%)
TYPICAL_MULTIPLE = 3.0  # other metrics: 3 x their mean over the probationary period
SUSTAIN_SAMPLES = 2  # vCenter's "for 5 min" at 5-minute samples
COUNTER = "value"

Window = tuple[datetime, datetime]


class EvaluationError(VsphereDrError):
    """The evaluation directory, its labels.json or one of its CSV files is missing or invalid."""


@dataclass(frozen=True)
class Detection:
    """How one detector did on one file, or on several added together."""

    windows: int
    detected: int
    false_events: int
    days: float  # scored (post-probation) time
    delays: tuple[timedelta, ...]  # one per detected window

    @property
    def precision(self) -> float | None:
        events = self.detected + self.false_events
        return self.detected / events if events else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.windows if self.windows else None

    @property
    def f1(self) -> float | None:
        """2TP / (2TP + FP + FN); None when there was nothing to find and nothing was claimed."""
        denominator = self.detected + self.false_events + self.windows
        return 2 * self.detected / denominator if denominator else None

    @property
    def false_per_day(self) -> float:
        return self.false_events / self.days if self.days else 0.0

    @property
    def median_delay(self) -> timedelta | None:
        return statistics.median(self.delays) if self.delays else None

    def __add__(self, other: Detection) -> Detection:
        return Detection(self.windows + other.windows, self.detected + other.detected,
                         self.false_events + other.false_events, self.days + other.days,
                         self.delays + other.delays)


@dataclass(frozen=True)
class FileResult:
    name: str
    model: Detection
    baseline: Detection


@dataclass(frozen=True)
class EvalReport:
    files: tuple[FileResult, ...]
    model: Detection
    baseline: Detection


def score_alarms(times: Sequence[datetime], alarms: Sequence[bool], windows: Sequence[Window],
                 start: int) -> Detection:
    """Score alarms from sample ``start`` on (earlier ones, in the probation period, do not count).

    Windows that end before the first scored sample are left out.
    """
    scored, raised = list(times[start:]), list(alarms[start:])
    if not scored:
        return Detection(0, 0, 0, 0.0, ())
    windows = [w for w in windows if w[1] >= scored[0]]
    inside = [any(a <= t <= b for a, b in windows) for t in scored]
    delays = []
    for a, b in windows:
        first = next((t for t, alarm in zip(scored, raised) if alarm and a <= t <= b), None)
        if first is not None:
            delays.append(first - a)
    false = [alarm and not in_window for alarm, in_window in zip(raised, inside)]
    false_events = sum(1 for i, f in enumerate(false) if f and (i == 0 or not false[i - 1]))
    days = (scored[-1] - scored[0]) / timedelta(days=1)
    return Detection(len(windows), len(delays), false_events, days, tuple(delays))


def model_alarms(times: Sequence[datetime], values: Sequence[float], start: int,
                 config: HealthModelConfig) -> list[bool]:
    """Replay one series as a VM: fit on the probation period, then score and retrain when due.

    Samples between two retrains are scored in one batch (same verdicts as one by one).
    """
    samples = [Sample(t, {COUNTER: v}) for t, v in zip(times, values)]
    model = VmHealthModel(config)
    model.fit(samples[:start])
    states = [HealthState.WARMING_UP] * start
    i = start
    while i < len(samples):
        if model.needs_retrain(samples[i].timestamp):
            model.retrain()
        due = model.retrain_due
        end = i + 1 if due is None else max(i + 1, bisect.bisect_left(times, due, lo=i))
        states += [v.state for v in model.score_many(samples[i:end])]
        i = end
    return [state is HealthState.ILL for state in states]


def baseline_threshold(name: str, probation: Sequence[float]) -> float:
    """What an operator would set, from the metric's kind and its probation period only."""
    if "utilization" in name.lower():
        return PERCENT_THRESHOLD
    return TYPICAL_MULTIPLE * float(np.mean(probation))


def baseline_alarms(name: str, values: Sequence[float], start: int) -> list[bool]:
    """Alarm on every sample that ends SUSTAIN_SAMPLES consecutive samples above the threshold."""
    above = np.asarray(values) > baseline_threshold(name, values[:start])
    run = np.convolve(above, np.ones(SUSTAIN_SAMPLES, dtype=int))[: len(above)]
    return list(run >= SUSTAIN_SAMPLES)


def _parse_time(text: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise EvaluationError(f"{where}: invalid timestamp {text!r}") from None


def load_labels(directory: Path) -> dict[str, list[Window]]:
    path = directory / "labels.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise EvaluationError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise EvaluationError(f"{path}: expected an object mapping CSV paths to windows")
    labels = {}
    for key, windows in raw.items():
        if not isinstance(windows, list) or not all(isinstance(w, list) and len(w) == 2 for w in windows):
            raise EvaluationError(f"{path}: {key}: expected a list of [start, end] pairs")
        where = f"{path}: {key}"
        labels[key] = [(_parse_time(a, where), _parse_time(b, where)) for a, b in windows]
    return labels


def read_series(path: Path) -> tuple[list[datetime], list[float]]:
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not rows or rows[0] != ["timestamp", "value"]:
        raise EvaluationError(f"{path}: expected the header 'timestamp,value'")
    try:
        values = [float(row[1]) for row in rows[1:]]
    except (IndexError, ValueError):
        raise EvaluationError(f"{path}: a row is not 'timestamp,value'") from None
    return [_parse_time(row[0], str(path)) for row in rows[1:]], values


def evaluate_file(name: str, path: Path, windows: Sequence[Window], config: HealthModelConfig) -> FileResult:
    times, values = read_series(path)
    start = int(PROBATION_FRACTION * len(times))
    return FileResult(
        name,
        model=score_alarms(times, model_alarms(times, values, start, config), windows, start),
        baseline=score_alarms(times, baseline_alarms(name, values, start), windows, start),
    )


def evaluate(directory: Path, config: HealthModelConfig | None = None) -> EvalReport:
    """Run the model and the baseline over every CSV under ``directory`` against its labels.json."""
    if not directory.is_dir():
        raise EvaluationError(f"{directory}: not a directory")
    labels = load_labels(directory)
    csvs = {p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*.csv"))}
    if not csvs:
        raise EvaluationError(f"{directory}: no CSV files")
    unlabelled = sorted(set(csvs) - set(labels))
    missing = sorted(set(labels) - set(csvs))
    if unlabelled or missing:
        raise EvaluationError(f"{directory}: labels.json does not match the CSV files "
                              f"(no labels for {unlabelled or 'none'}; no file for {missing or 'none'})")
    config = config or HealthModelConfig()
    files = tuple(evaluate_file(name, path, labels[name], config) for name, path in csvs.items())
    return EvalReport(files, sum((f.model for f in files[1:]), files[0].model),
                      sum((f.baseline for f in files[1:]), files[0].baseline))


def _number(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.3f}"


def _minutes(delay: timedelta | None) -> str:
    return "-" if delay is None else f"{delay / timedelta(minutes=1):.0f}"


def _row(name: str, detector: str, d: Detection) -> list[object]:
    return [name, detector, d.windows, d.detected, d.false_events, _number(d.precision), _number(d.recall),
            _number(d.f1), f"{d.false_per_day:.2f}", _minutes(d.median_delay)]


def format_report(report: EvalReport) -> str:
    """A table per file and overall; the last line is ``overall model_f1=x.xxx baseline_f1=y.yyy``."""
    headers = ["file", "detector", "windows", "detected", "false_events", "precision", "recall", "f1",
               "false/day", "median_delay_min"]
    rows = []
    for f in report.files + (FileResult("OVERALL", report.model, report.baseline),):
        rows += [_row(f.name, "model", f.model), _row("", "baseline", f.baseline)]
    return "\n".join([
        render_table(headers, rows),
        "",
        f"baseline: alarm when the value stays above {PERCENT_THRESHOLD:g}% (utilization metrics) or "
        f"{TYPICAL_MULTIPLE:g} x its probation-period mean (others) for {SUSTAIN_SAMPLES} samples",
        f"overall model_f1={_number(report.model.f1, 'n/a')} "
        f"baseline_f1={_number(report.baseline.f1, 'n/a')}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """``vsphere-dr eval-health DIR``: print the report; 0, or 2 if the directory is unusable."""
    parser = argparse.ArgumentParser(prog="vsphere-dr eval-health",
                                     description="Evaluate the health model on a NAB-format directory.")
    parser.add_argument("directory", type=Path, help="directory with CSV files and labels.json")
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.directory)
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
