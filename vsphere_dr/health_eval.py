"""Evaluate the health model on labelled data in NAB format, beside a vCenter-style static alarm.

A NAB-format directory holds CSV files (header ``timestamp,value``, any depth) and ``labels.json``
mapping each CSV's path relative to the directory to its anomaly windows
(``[[start, end], ...]``, inclusive). Every file is replayed as one VM: the first 15% of its samples
(NAB's probationary period, at most 750 rows) only train, then the model scores the rest and
retrains on its own history the way the controller does.

A detection is the onset of an ill verdict (an ill sample after a non-ill one): the moment the
Health Administrator would open an incident. Two views of the same run (docs/health-model.md):

NAB's score (Lavin and Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta
Anomaly Benchmark", 2015; written from its definition, not its code):

- only a window's first detection counts, weighted by the scaled sigmoid of its position in the
  window (1 at the window's first row, 0 just past its end): tp * sigma(-(last - i + 1) / width) / sigma(-1);
- a detection outside every window costs fp * sigma((i - last of the preceding window) / (its width - 1))
  (about 0 right after a window, -fp from three widths on), or -fp when no window precedes it;
- a window without detection costs -fn; detections in the probationary period are ignored;
- per profile, normalised over the files scored: 100 * (raw - null) / (perfect - null), where the
  null detector never detects (-fn per window) and the perfect one detects each window at its start
  (tp per window).

Window F1, on the same detections:

- a window is detected when a detection falls inside it; detection delay = its first detection
  minus its start;
- every detection outside every window is a false event;
- precision = detected / (detected + false events), recall = detected / windows,
  F1 = 2 detected / (detected + false events + windows); printed beside the fraction of samples
  flagged, so that a detector that alarms all the time shows.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
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
PROBATION_MAX_ROWS = 750  # NAB: 15% of the file, at most 15% of 5000 rows
# The baseline, a vCenter usage alarm: "value above THRESHOLD for SUSTAIN_SAMPLES samples".
PERCENT_THRESHOLD = 90.0  # utilisation metrics, like vCenter's default VM CPU usage alarm (90%)
TYPICAL_MULTIPLE = 3.0  # other metrics: 3 x their mean over the probationary period
SUSTAIN_SAMPLES = 2  # vCenter's "for 5 min" at 5-minute samples
SIGMAS = 3.0  # the second baseline: above the probation period's mean + SIGMAS standard deviations
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
class Profile:
    """A NAB application profile: the weights of true positives, false positives and false negatives."""

    name: str
    tp: float
    fp: float
    fn: float


# NAB's config/profiles.json (tnWeight is unused by NAB's scorer).
PROFILES = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)
STANDARD = PROFILES[0]


def probation_length(rows: int) -> int:
    """NAB's probationary period: the first 15% of a file's rows, at most 750."""
    return min(math.floor(PROBATION_FRACTION * rows), PROBATION_MAX_ROWS)


def scaled_sigmoid(position: float) -> float:
    """2 / (1 + e^(5 x)) - 1: 0.987 at x = -1 (a window's start), 0 at x = 0, -1 from x = 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def onsets(alarms: Sequence[bool]) -> list[bool]:
    """True where an alarm follows a non-alarm (or starts the series): where an incident opens."""
    return [bool(a) and (i == 0 or not alarms[i - 1]) for i, a in enumerate(alarms)]


def window_rows(times: Sequence[datetime], windows: Sequence[Window]) -> list[tuple[int, int]]:
    """Each window as (first row, last row) inside its inclusive bounds; windows with no row are left out."""
    rows = []
    for a, b in sorted(windows):
        first, end = bisect.bisect_left(times, a), bisect.bisect_right(times, b)
        if end > first:
            rows.append((first, end - 1))
    return rows


@dataclass(frozen=True)
class NabScore:
    """NAB's raw score of one detector on one profile, with the null and perfect detectors' raw scores."""

    raw: float
    null: float
    perfect: float

    @property
    def normalized(self) -> float | None:
        """100 * (raw - null) / (perfect - null); None when there is no window to find."""
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else None

    def __add__(self, other: NabScore) -> NabScore:
        return NabScore(self.raw + other.raw, self.null + other.null, self.perfect + other.perfect)


def nab_score(times: Sequence[datetime], detections: Sequence[bool], windows: Sequence[Window],
              start: int, profile: Profile = STANDARD) -> NabScore:
    """Score detections (True rows) as NAB does; rows before ``start`` (probation) are ignored.

    Windows that end in the probationary period are not scored, but still count as the window
    preceding a later false positive. A window whose first rows are in probation is scored from
    its first row after probation on (its earliest possible score is then below tp).
    """
    spans = window_rows(times, windows)
    scored = [(first, last) for first, last in spans if last >= start]
    best: dict[int, float] = {}
    false_positives = 0.0
    max_tp = scaled_sigmoid(-1.0)
    ends = [last for _, last in spans]
    for i, detected in enumerate(detections):
        if not detected or i < start:
            continue
        k = bisect.bisect_left(ends, i)  # the first window that ends at or after row i
        if k < len(spans) and spans[k][0] <= i:
            first, last = spans[k]
            width = last - first + 1
            value = profile.tp * scaled_sigmoid(-(last - i + 1) / width) / max_tp
            best[k] = max(best.get(k, -math.inf), value)
        elif k == 0:
            false_positives -= profile.fp  # no window before it
        else:
            first, last = spans[k - 1]
            width = last - first + 1
            false_positives += profile.fp * scaled_sigmoid((i - last) / max(width - 1, 1))
    missed = len(scored) - len(best)
    raw = sum(best.values()) + false_positives - profile.fn * missed
    return NabScore(raw, null=-profile.fn * len(scored), perfect=profile.tp * len(scored))


@dataclass(frozen=True)
class DetectorResult:
    """How one detector did on one file (or several added up): both views and how much it flagged."""

    detection: Detection  # the window-F1 view
    nab: tuple[NabScore, ...]  # one per PROFILES entry, same order
    flagged: int  # scored samples the detector alarmed on
    scored: int  # samples after the probationary period

    @property
    def flagged_fraction(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def nab_profile(self, name: str) -> NabScore:
        return self.nab[[p.name for p in PROFILES].index(name)]

    def __add__(self, other: DetectorResult) -> DetectorResult:
        return DetectorResult(self.detection + other.detection,
                              tuple(a + b for a, b in zip(self.nab, other.nab)),
                              self.flagged + other.flagged, self.scored + other.scored)


@dataclass(frozen=True)
class FileResult:
    name: str
    detectors: dict[str, DetectorResult]  # "model" first, then the baselines


@dataclass(frozen=True)
class EvalReport:
    files: tuple[FileResult, ...]
    overall: dict[str, DetectorResult]

    @property
    def best_baseline(self) -> str:
        """The baseline with the highest overall NAB standard score."""
        baselines = [name for name in self.overall if name != MODEL]
        return max(baselines, key=lambda n: self.overall[n].nab[0].normalized or -math.inf)


def score_detector(times: Sequence[datetime], alarms: Sequence[bool], windows: Sequence[Window],
                   start: int) -> DetectorResult:
    """Both views of one detector's alarms (True for every ill sample) on one file."""
    detections = onsets(alarms)
    return DetectorResult(
        score_alarms(times, alarms, windows, start),
        tuple(nab_score(times, detections, windows, start, profile) for profile in PROFILES),
        flagged=sum(bool(a) for a in alarms[start:]), scored=max(len(times) - start, 0))


def score_alarms(times: Sequence[datetime], alarms: Sequence[bool], windows: Sequence[Window],
                 start: int) -> Detection:
    """The window-F1 view of alarms (True for every ill sample) from sample ``start`` on.

    Only onsets (see onsets()) are detections: a window is detected when an onset falls inside it,
    every onset outside every window is one false event, and an alarm run that merely continues
    into a window or past its end is neither. Earlier onsets (the probation period) do not count;
    windows that end before the first scored sample are left out.
    """
    scored, raised = list(times[start:]), onsets(alarms)[start:]
    if not scored:
        return Detection(0, 0, 0, 0.0, ())
    windows = [w for w in windows if w[1] >= scored[0]]
    detections = [t for t, onset in zip(scored, raised) if onset]
    delays = []
    for a, b in windows:
        first = next((t for t in detections if a <= t <= b), None)
        if first is not None:
            delays.append(first - a)
    false_events = sum(1 for t in detections if not any(a <= t <= b for a, b in windows))
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
    return _sustained(np.asarray(values) > baseline_threshold(name, values[:start]))


def _sustained(above: np.ndarray) -> list[bool]:
    run = np.convolve(above, np.ones(SUSTAIN_SAMPLES, dtype=int))[: len(above)]
    return [bool(r) for r in run >= SUSTAIN_SAMPLES]


def sigma_threshold(probation: Sequence[float]) -> float:
    """Mean + SIGMAS standard deviations of the probation period."""
    return float(np.mean(probation) + SIGMAS * np.std(probation))


def sigma_alarms(values: Sequence[float], start: int) -> list[bool]:
    """Alarm on every sample that ends SUSTAIN_SAMPLES consecutive samples above sigma_threshold."""
    return _sustained(np.asarray(values) > sigma_threshold(values[:start]))


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


MODEL = "model"
STATIC = "static_threshold"
SIGMA = "probation_3sigma"


def detector_alarms(name: str, values: Sequence[float], times: Sequence[datetime], start: int,
                    config: HealthModelConfig) -> dict[str, list[bool]]:
    """Every detector's alarms on one file: the model first, then the baselines."""
    return {MODEL: model_alarms(times, values, start, config),
            STATIC: baseline_alarms(name, values, start),
            SIGMA: sigma_alarms(values, start)}


RESULTS_HELP = ("write the model's detections to OUT/<each CSV's relative path>, columns "
                "timestamp,value,anomaly_score,label (1.0 at each ill onset; 1 inside a labelled window)")
RESULTS_HEADER = ["timestamp", "value", "anomaly_score", "label"]


def write_results(path: Path, times: Sequence[datetime], values: Sequence[float], detections: Sequence[bool],
                  windows: Sequence[Window]) -> None:
    """A NAB results file: anomaly_score 1.0 at each detection, label 1 inside a labelled window."""
    spans = window_rows(times, windows)
    inside = [False] * len(times)
    for first, last in spans:
        inside[first:last + 1] = [True] * (last - first + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(RESULTS_HEADER)
        for t, v, d, label in zip(times, values, detections, inside):
            writer.writerow([f"{t:%Y-%m-%d %H:%M:%S}", repr(v), "1.0" if d else "0.0", int(label)])


def score_results(path: Path) -> tuple[NabScore, ...]:
    """Rescore a results file from its own columns alone, one NabScore per profile.

    Windows are the runs of label 1, detections the rows with anomaly_score >= 1.0 (the
    threshold NAB would use for a 0/1 score), probation NAB's from the row count.
    """
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    times = [_parse_time(r["timestamp"], str(path)) for r in rows]
    detections = [float(r["anomaly_score"]) >= 1.0 for r in rows]
    labels = [r["label"] == "1" for r in rows]
    windows, first = [], None
    for i, label in enumerate(labels + [False]):
        if label and first is None:
            first = i
        elif not label and first is not None:
            windows.append((times[first], times[i - 1]))
            first = None
    start = probation_length(len(rows))
    return tuple(nab_score(times, detections, windows, start, profile) for profile in PROFILES)


def evaluate_file(name: str, path: Path, windows: Sequence[Window], config: HealthModelConfig,
                  results: Path | None = None) -> FileResult:
    """Score every detector on one file; with ``results``, write the model's results file there."""
    times, values = read_series(path)
    start = probation_length(len(times))
    alarms = detector_alarms(name, values, times, start, config)
    if results is not None:
        write_results(results / name, times, values, onsets(alarms[MODEL]), windows)
    return FileResult(name, {d: score_detector(times, a, windows, start) for d, a in alarms.items()})


def evaluate(directory: Path, config: HealthModelConfig | None = None, results: Path | None = None) -> EvalReport:
    """Run the model and the baselines over every CSV under ``directory`` against its labels.json.

    With ``results``, the model's detections go to ``results/<the CSV's relative path>`` (see
    write_results), so that NAB's scorer or anyone's can check the numbers.
    """
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
    files = tuple(evaluate_file(name, path, labels[name], config, results) for name, path in csvs.items())
    overall = {d: sum((f.detectors[d] for f in files[1:]), files[0].detectors[d]) for d in files[0].detectors}
    return EvalReport(files, overall)


def _number(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.3f}"


def _nab(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.1f}"


def _minutes(delay: timedelta | None) -> str:
    return "-" if delay is None else f"{delay / timedelta(minutes=1):.0f}"


HEADERS = ["file", "detector", "windows", "detected", "false_events", "precision", "recall", "f1", "flagged",
           "false/day", "median_delay_min"] + [f"nab_{p.name.removeprefix('reward_')}" for p in PROFILES]


def _row(name: str, detector: str, r: DetectorResult) -> list[object]:
    d = r.detection
    return [name, detector, d.windows, d.detected, d.false_events, _number(d.precision), _number(d.recall),
            _number(d.f1), f"{r.flagged_fraction:.1%}", f"{d.false_per_day:.2f}", _minutes(d.median_delay)] \
        + [_nab(s.normalized) for s in r.nab]


def format_report(report: EvalReport) -> str:
    """A table per file and overall; the last line is
    ``overall nab_standard=M baseline_nab_standard=B f1=F`` (B: the best baseline's)."""
    rows = []
    for name, detectors in [(f.name, f.detectors) for f in report.files] + [("OVERALL", report.overall)]:
        for i, (detector, result) in enumerate(detectors.items()):
            rows.append(_row(name if i == 0 else "", detector, result))
    model, best = report.overall[MODEL], report.overall[report.best_baseline]
    return "\n".join([
        render_table(HEADERS, rows),
        "",
        "detections: onsets of an ill verdict (or of a baseline's alarm); nab_*: NAB's normalised score, "
        "per file (- without windows) and over all files",
        f"{STATIC}: alarm when the value stays above {PERCENT_THRESHOLD:g}% (utilization metrics) or "
        f"{TYPICAL_MULTIPLE:g} x its probation-period mean (others) for {SUSTAIN_SAMPLES} samples",
        f"{SIGMA}: alarm when the value stays above its probation period's mean + {SIGMAS:g} standard "
        f"deviations for {SUSTAIN_SAMPLES} samples",
        f"overall nab_standard={_nab(model.nab[0].normalized, 'n/a')} "
        f"baseline_nab_standard={_nab(best.nab[0].normalized, 'n/a')} "
        f"f1={_number(model.detection.f1, 'n/a')}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """``vsphere-dr eval-health DIR [--write-results OUT]``: print the report; 0, or 2 if unusable."""
    parser = argparse.ArgumentParser(prog="vsphere-dr eval-health",
                                     description="Evaluate the health model on a NAB-format directory.")
    parser.add_argument("directory", type=Path, help="directory with CSV files and labels.json")
    parser.add_argument("--write-results", type=Path, metavar="OUT", help=RESULTS_HELP)
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.directory, results=args.write_results)
    except OSError as exc:
        print(f"error: cannot write results: {exc}", file=sys.stderr)
        return 2
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
