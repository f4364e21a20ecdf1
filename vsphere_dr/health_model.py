"""Out-of-band health model: is a VM ill, judged only from vCenter's performance counters?

A guest can answer pings while its services hang, a thread spins at 100% CPU or its I/O stalls.
This module learns each VM's normal behaviour from its own history of counter samples and flags
the VM as ill when its recent samples are more surprising than that history allows. It is pure:
no vCenter, no network.

How a sample is judged (docs/health-model.md has the why and the measurements):

1. **Tests.** Per counter two: its value, and the median of its last ``median_window`` values
   (a sustained shift that single values hide). With several counters one more, joint: the
   Mahalanobis distance of the counters' values to their usual combination (a Ledoit-Wolf shrunk
   covariance, scikit-learn), which sees a flat disk while CPU follows its day.
2. **Surprise.** Each test's value is ranked among the same test's values in the VM's history: its
   tail probability p (two-sided; beyond the most extreme value seen, an exponential tail fitted to
   the extremes), counted in independent windows for the median. The sample's surprise is the
   largest -log p over the tests, less log(number of tests) (Bonferroni). Every judged sample then
   joins the ranks at once, so that a new normal stops being surprising before the next refit.
3. **Evidence.** A one-sided CUSUM of surprise: evidence += surprise - ``allowance``, never below 0.
   The VM is ill while the evidence is at least ``threshold``: one extreme sample (a CPU stuck at
   100%) or a run of moderately surprising ones. A new ill episode (an incident) cannot start
   within ``refractory`` samples of the previous one's start.

The update per sample is O(log n) per test; a refit (daily) sorts the history. The history is
kept by a ``HistoryRing`` (health_history.py): in memory, or, for a store with a file, in a ring
file per VM that only a refit reads.
"""

from __future__ import annotations

import copyreg
import json
import logging
import math
import os
import pickle
import tempfile
import warnings
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Defined in light modules so that the gateway and the settings need not load scikit-learn:
from vsphere_dr.health_config import HealthModelConfig, HealthModelError, HealthState
from vsphere_dr.health_history import (MICROSECOND, FileRing, HistoryLost, HistoryRing, MemoryRing, history_dir,
                                       microseconds, ring_file)
from vsphere_dr.logging_setup import in_brief
from vsphere_dr.signals import Sample

log = logging.getLogger(__name__)

FILE_FORMAT = "vsphere-dr-health-models"
# 4: the history in ring files beside it; 3: float32 history; 2: surprise ranks and CUSUM evidence
# (1: Gaussian distance, k of n)
FORMAT_VERSION = 4
TAIL_SHARE = 0.05  # of a test's history kept exactly at each end (the body is interpolated)
MIN_TAIL = 16
EXTREMES_SHARE = 0.01  # of a test's history that estimates the exponential tail beyond its extremes
MIN_EXTREMES = 5
MAX_REASONS = 3
EVIDENCE_CAP = 2.0  # evidence is kept below this many thresholds: one extreme sample is ill briefly


@dataclass(frozen=True)
class Verdict:
    """The model's judgement of one sample.

    ``score`` is the evidence normalised so that 1.0 is the ill threshold (None while warming up);
    ``reasons`` names the tests (counter and feature) that made a non-healthy verdict surprising.
    """

    timestamp: datetime
    state: HealthState
    score: float | None
    reasons: tuple[str, ...] = ()


class _Ranks:
    """One test's learned distribution: its lowest and highest values exactly, the body by count.

    ``width`` is the number of samples a value summarises (1, or the median's window): windowed
    values are not independent, so ranks count in units of ``width`` samples. ``typecode`` of the
    kept ends: "f" (half the memory) only for values that are all float32-exact, as the values of
    the float32 history rows are; the ends are compared with new values, so they must be exact.
    """

    # 13 per warm model: without a __dict__ each (about 4 kB a model)
    __slots__ = ("low", "high", "at_or_below_low", "at_or_above_high", "n", "width", "two_sided",
                 "high_scale", "low_scale")

    def __init__(self, values: np.ndarray, width: int, two_sided: bool, typecode: str = "d") -> None:
        ordered = np.sort(values)
        n = len(ordered)
        keep = min(n, max(MIN_TAIL, math.ceil(TAIL_SHARE * n)))
        self.low, self.high = array(typecode, ordered[:keep]), array(typecode, ordered[n - keep:])
        self.at_or_below_low = int(np.searchsorted(ordered, self.low[-1], "right"))
        self.at_or_above_high = n - int(np.searchsorted(ordered, self.high[0], "left"))
        self.n, self.width, self.two_sided = n, width, two_sided
        extremes = min(n - 1, max(MIN_EXTREMES, int(EXTREMES_SHARE * n)) * width)
        floor = 1e-3 * max(float(np.median(np.abs(ordered))), 1e-9) + 1e-12
        self.high_scale = max(float(np.mean(ordered[n - extremes:] - ordered[n - extremes - 1])), floor)
        self.low_scale = max(float(np.mean(ordered[extremes] - ordered[:extremes])), floor)

    def _body_below(self, x: float) -> float:
        """Values at or below x, for x between the kept ends: linear between them."""
        lo, hi = self.low[-1], self.high[0]
        inner = (self.n - self.at_or_above_high) - self.at_or_below_low
        return self.at_or_below_low + inner * (x - lo) / (hi - lo)

    def _at_or_above(self, x: float) -> float:
        if x > self.high[0]:
            return len(self.high) - bisect_left(self.high, x)
        if x == self.high[0]:
            return self.at_or_above_high
        if x <= self.low[-1]:
            return self.n - bisect_left(self.low, x)
        return self.n - self._body_below(x)

    def _at_or_below(self, x: float) -> float:
        if x < self.low[-1]:
            return bisect_right(self.low, x)
        if x == self.low[-1]:
            return self.at_or_below_low
        if x >= self.high[0]:
            return self.n - (len(self.high) - bisect_right(self.high, x))
        return self._body_below(x)

    def tail(self, x: float) -> float:
        """The probability of a value at least this far out (two-sided: twice the nearer tail)."""
        w, scale = self.width, self.n + self.width
        if x > self.high[-1]:
            up = w * math.exp(-(x - self.high[-1]) / self.high_scale) / scale
        else:
            up = (self._at_or_above(x) + w) / scale
        if not self.two_sided:
            return min(1.0, up)
        if x < self.low[0]:
            down = w * math.exp(-(self.low[0] - x) / self.low_scale) / scale
        else:
            down = (self._at_or_below(x) + w) / scale
        return min(1.0, 2.0 * min(up, down))

    def learn(self, x: float) -> None:
        """Count a newly judged value in (between refits the ranks keep learning)."""
        self.n += 1
        if x < self.low[-1]:
            insort(self.low, x)
        if x <= self.low[-1]:
            self.at_or_below_low += 1
        if x > self.high[0]:
            insort(self.high, x)
        if x >= self.high[0]:
            self.at_or_above_high += 1


def _medians(column: np.ndarray, width: int) -> np.ndarray:
    """Median of each full window of ``width`` values (row i: values i..i+width-1)."""
    return np.median(sliding_window_view(column, width), axis=1)


@dataclass
class _Joint:
    """The counters' usual combination: standardised values, shrunk precision matrix, distance ranks."""

    center: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    ranks: _Ranks

    @classmethod
    def fit(cls, values: np.ndarray) -> _Joint:
        center = np.median(values, axis=0)
        scale = np.maximum(values.std(axis=0), 1e-3 * np.maximum(np.abs(center), 1e-3))
        z = (values - center) / scale
        # Imported at the first fit, not with the module: scikit-learn costs about 85 MB of RSS
        # that a controller whose models are all warming up does not need.
        from sklearn.covariance import LedoitWolf

        gaussian = LedoitWolf().fit(z)
        centered = z - gaussian.location_
        distances = np.einsum("ij,jk,ik->i", centered, gaussian.precision_, centered)
        center = center + gaussian.location_ * scale  # fold the Gaussian's mean into the centre
        return cls(center, scale, gaussian.precision_, _Ranks(distances, 1, two_sided=False))

    def distance(self, row: np.ndarray) -> tuple[float, int]:
        """Squared Mahalanobis distance and the counter that contributes most to it."""
        z = (row - self.center) / self.scale
        pz = self.precision @ z
        contributions = z * pz
        return float(contributions.sum()), int(np.argmax(contributions))


@dataclass
class _Fitted:
    """What one training run learned, and what it kept learning since."""

    levels: list[_Ranks]  # per counter
    medians: list[_Ranks]  # per counter
    joint: _Joint | None  # with two counters or more
    trained_until: datetime

    @property
    def tests(self) -> int:
        return len(self.levels) + len(self.medians) + (self.joint is not None)


def _fit(values: np.ndarray, until: datetime, config: HealthModelConfig) -> _Fitted:
    width = config.median_window
    # A value's ranks hold history rows' values (float32) and rows scored since: float32 suffices.
    levels = [_Ranks(values[:, c], 1, two_sided=True, typecode="f") for c in range(values.shape[1])]
    medians = [_Ranks(_medians(values[:, c], width), width, two_sided=True) for c in range(values.shape[1])]
    joint = _Joint.fit(values) if values.shape[1] > 1 else None
    return _Fitted(levels, medians, joint, until)


class VmHealthModel:
    """One VM's learned behaviour, its recent history and its ill/healthy state.

    Samples must come in time order at the VM's regular sampling interval. The counter set is fixed
    by the first sample the model sees: a counter missing later carries its last value forward,
    a new one is ignored.

    ``history`` keeps the newest max_history rows (a MemoryRing unless given one). If it is lost
    (a ring file missing or inconsistent: HistoryLost), the model says so in a warning and warms
    up again from the next sample.
    """

    def __init__(self, config: HealthModelConfig | None = None, history: HistoryRing | None = None) -> None:
        self.config = config or HealthModelConfig()
        self._history = history if history is not None else MemoryRing(self.config.max_history)
        # The last median_window rows, as float32 arrays (their values are float32: a third of a tuple's size)
        self._recent: deque[Sequence[float]] = deque(maxlen=self.config.median_window)
        self._forget()

    def _forget(self) -> None:
        """Back to a model that has seen nothing (its history is reset at the next sample)."""
        self.counters: tuple[str, ...] = ()
        self._recent.clear()
        self._last_time: datetime | None = None
        self._fitted: _Fitted | None = None
        self._evidence, self._ill, self._since_onset = 0.0, False, self.config.refractory

    @property
    def history(self) -> HistoryRing:
        return self._history

    @property
    def history_size(self) -> int:
        return self._history.size if self.counters else 0  # a lost history counts none until reset

    @property
    def last_timestamp(self) -> datetime | None:
        """Time of the newest sample in the history; None before the first."""
        return self._last_time

    @property
    def retrain_due(self) -> datetime | None:
        """When the fitted model is due for a refit; None while warming up."""
        return None if self._fitted is None else self._fitted.trained_until + self.config.retrain_every

    def needs_retrain(self, now: datetime) -> bool:
        """True when enough history arrived for a first fit, or retrain_every passed since the last."""
        due = self.retrain_due
        return self.history_size >= self.config.min_history if due is None else now >= due

    def fit(self, samples: Sequence[Sample]) -> None:
        """Replace the history with ``samples`` (the newest max_history) and train on it."""
        self._forget()
        for sample in samples:
            self._remember(sample, self._row(sample))
        self.retrain()

    def retrain(self) -> None:
        """Train on the own history; with less than min_history samples the model stays warming up."""
        if self.history_size < self.config.min_history or self._last_time is None:
            self._fitted = None
            return
        try:
            history = self._history.ordered()
        except HistoryLost as lost:
            self._lost(lost)
            return
        self._fitted = _fit(history, self._last_time, self.config)

    def attach_history(self, path: Path) -> None:
        """Use the ring file at ``path`` as the history (a model read from a models file); HistoryLost
        if it cannot be.

        Rows the file holds beyond the count the models file recorded (the rounds since its last
        save, before a crash) are adopted into the history, the recent rows (the median's window)
        and the newest sample's time, so that the next sample is judged on the right window and a
        sample already kept is not kept twice; the refractory clock counts them. They are not
        scored again: the evidence and the ranks are those of the last save (the next refit ranks
        them with the rest of the history).
        """
        history = self._history
        if not isinstance(history, FileRing):
            raise HistoryLost(path, "the models file holds no ring of it")
        ahead = history.attach(path)
        if ahead and self._last_time is not None:
            self._recent.extend(array("f", row) for row in history.newest(min(ahead, self.config.median_window)))
            self._last_time += (history.newest_time - microseconds(self._last_time)) * MICROSECOND
            self._since_onset += ahead

    def keep_history_in_memory(self) -> None:
        """Copy the history into the process: from now on no sample reaches its ring file."""
        self._history = MemoryRing.copy_of(self._history)

    def _lost(self, lost: HistoryLost) -> None:
        log.warning("%s; that VM's health model warms up again", lost)
        self._forget()

    def score(self, sample: Sample) -> Verdict:
        """Judge one new sample (it joins the history)."""
        try:
            row = self._row(sample)
            self._remember(sample, row)
        except HistoryLost as lost:  # the file went while the model ran: this sample starts anew
            self._lost(lost)
            row = self._row(sample)
            self._remember(sample, row)
        if self._fitted is None:
            progress = f"warming up: {self.history_size}/{self.config.min_history} samples"
            return Verdict(sample.timestamp, HealthState.WARMING_UP, None, (progress,))
        surprises = self._surprises(self._fitted, row)
        surprise = max(s for s, _ in surprises) - math.log(self._fitted.tests)
        return self._judge(sample.timestamp, surprise, surprises)

    def score_many(self, samples: Sequence[Sample]) -> list[Verdict]:
        """Judge consecutive new samples: the same verdicts as score() one by one."""
        return [self.score(sample) for sample in samples]

    def _surprises(self, fitted: _Fitted, row: tuple[float, ...]) -> list[tuple[float, str]]:
        """-log p of every test on this sample, with what it names; every test then learns the value."""
        found = []
        for c, counter in enumerate(self.counters):
            median = _median([r[c] for r in self._recent])
            for ranks, value, what in ((fitted.levels[c], row[c], "value"),
                                       (fitted.medians[c], median, f"median of {len(self._recent)}")):
                p = ranks.tail(value)
                found.append((-math.log(max(p, 1e-300)), f"{counter} {what} {value:.4g} (p={p:.1g})"))
                ranks.learn(value)
        if fitted.joint is not None:
            distance, top = fitted.joint.distance(np.asarray(row))
            p = fitted.joint.ranks.tail(distance)
            found.append((-math.log(max(p, 1e-300)),
                          f"unusual combination of counters, mostly {self.counters[top]} (p={p:.1g})"))
            fitted.joint.ranks.learn(distance)
        return found

    def _judge(self, timestamp: datetime, surprise: float, surprises: list[tuple[float, str]]) -> Verdict:
        config = self.config
        self._evidence = min(max(0.0, self._evidence + surprise - config.allowance), EVIDENCE_CAP * config.threshold)
        self._since_onset += 1
        if self._evidence < config.threshold:
            self._ill = False
        elif not self._ill and self._since_onset >= config.refractory:
            self._ill, self._since_onset = True, 0
        score = self._evidence / config.threshold
        if self._ill:
            state = HealthState.ILL
        elif surprise > config.allowance or self._evidence >= config.threshold:
            state = HealthState.ANOMALOUS
        else:
            return Verdict(timestamp, HealthState.HEALTHY, score)
        offtrack = sorted((s for s in surprises if s[0] > config.allowance), reverse=True)[:MAX_REASONS]
        return Verdict(timestamp, state, score, tuple(r for _, r in offtrack) or ("surprising samples in a row",))

    def _row(self, sample: Sample) -> tuple[float, ...]:
        """The sample's values in counter order; a missing counter carries its previous value forward."""
        if not self.counters:
            self.counters = tuple(sorted(sample.values))
            self._history.reset(len(self.counters))
        previous = self._recent[-1] if self._recent else (math.nan,) * len(self.counters)
        # Rounded as the history keeps it, so that a value ties with the same value seen before.
        row = tuple(array("f", (float(sample.values.get(c, math.nan)) for c in self.counters)))
        return tuple(p if math.isnan(v) else v for v, p in zip(row, previous))

    def _remember(self, sample: Sample, row: tuple[float, ...]) -> None:
        self._history.append(row, sample.timestamp)  # first: if the history is lost, nothing else has changed
        self._recent.append(array("f", row))
        self._last_time = sample.timestamp


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class HealthModelStore:
    """Every VM's health model, keyed by managed object id (``vm-42``), saved to one file.

    ``path``: the models file the store was loaded from and is saved to. With one, each model's
    history is a ring file beside it (``health-models.pkl.history/vm-42.ring``), written as samples
    arrive and read only at a refit; without one (eval-health, tests), in memory. One store per
    models file at a time (the controller lock sees to it): two would write the same ring files.
    """

    config: HealthModelConfig = field(default_factory=HealthModelConfig)
    models: dict[str, VmHealthModel] = field(default_factory=dict)
    path: Path | None = None

    def model(self, vm_id: str) -> VmHealthModel:
        """The VM's model, a new (warming-up) one the first time the VM is seen."""
        if vm_id not in self.models:
            self.models[vm_id] = VmHealthModel(self.config, self._new_history(vm_id))
        return self.models[vm_id]

    def _new_history(self, vm_id: str) -> HistoryRing:
        if self.path is None:
            return MemoryRing(self.config.max_history)
        return FileRing(ring_file(self.path, vm_id), self.config.max_history)

    def discard(self, vm_id: str) -> None:
        """Forget a VM that no longer exists, and remove its ring file."""
        model = self.models.pop(vm_id, None)
        if model is not None:
            model.history.remove()

    def save(self, path: Path) -> None:
        """Write atomically: a JSON header line (format, scikit-learn version, config), then pickles:
        the number of models, then each (VM, model) on its own, without its history's rows (a
        history pickles as its shape and count).

        The rows are in the ring files beside ``path``: a store with that file wrote them as samples
        came; any other history (in memory, or beside another file) is copied there first. The
        header can be checked before any scikit-learn object is unpickled.
        """
        for vm, model in self.models.items():
            target = ring_file(path, vm)
            if not (isinstance(model.history, FileRing) and model.history.path == target):
                FileRing.write_copy(model.history, target)
        header = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION,
                  "sklearn_version": sklearn_version(), "config": self.config.as_json()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            try:
                tmp.write(json.dumps(header).encode() + b"\n")
                pickler = pickle.Pickler(tmp, protocol=pickle.HIGHEST_PROTOCOL)
                pickler.dispatch_table = copyreg.dispatch_table | {MemoryRing: _ring_shape, FileRing: _ring_shape}
                pickler.dump(len(self.models))
                for item in self.models.items():
                    # Each model its own pickle: loading one memo of every object kept the scaffolding
                    # of every model (array arguments, state dicts) until the end, ~20 kB of RSS per model.
                    pickler.clear_memo()
                    pickler.dump(item)
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException:
                os.unlink(tmp.name)
                raise
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path, config: HealthModelConfig | None = None, read_only: bool = False) -> HealthModelStore:
        """Read a file written by save(); HealthModelError if it cannot be trusted as is.

        A VM whose ring file is missing or does not match its model warms up again (one warning
        for them all, naming the files); ring files of no model are removed. ``read_only`` (a dry
        run: `plan`, perhaps beside a serving `run` whose files these are): the histories are
        copied into memory and no file is written or removed, then or later.
        """
        config = config or HealthModelConfig()
        try:
            with path.open("rb") as file:
                _check_header(path, file.readline(), config)
                from sklearn.exceptions import InconsistentVersionWarning

                with warnings.catch_warnings():
                    warnings.simplefilter("error", InconsistentVersionWarning)
                    models = _load_models(file)
        except OSError as exc:
            raise HealthModelError(f"health models {path}: cannot read: {exc.strerror or exc}") from exc
        except HealthModelError:
            raise
        except Exception as exc:  # unpickling garbage raises anything from EOFError to ImportError
            problem = f"{type(exc).__name__}: {exc}"
            raise HealthModelError(f"health models {path}: corrupt file ({problem})") from exc
        if models is None:
            raise HealthModelError(f"health models {path}: corrupt file (unexpected content)")
        store = cls(config, models, path)
        store._attach_histories(path, read_only)
        if read_only:
            store.path = None
            for model in store.models.values():
                model.keep_history_in_memory()
        return store

    @classmethod
    def empty(cls, path: Path, config: HealthModelConfig | None = None) -> HealthModelStore:
        """A store with no model, saved to ``path``; ring files left beside it are removed."""
        store = cls(config or HealthModelConfig(), path=path)
        store._remove_stray_rings(path)
        return store

    def _attach_histories(self, path: Path, read_only: bool) -> None:
        """Each model's history to its ring file; a model whose file is lost warms up again."""
        lost: dict[str, str] = {}
        for vm, model in self.models.items():
            try:
                model.attach_history(ring_file(path, vm))
            except HistoryLost as exc:
                lost[vm] = f"{exc.path} ({exc.why})"
        for vm in lost:
            self.models[vm] = VmHealthModel(self.config, self._new_history(vm))
        if lost:
            log.warning("health history of %d VM(s) lost, they warm up again: %s", len(lost), in_brief(lost.values()))
        if not read_only:
            self._remove_stray_rings(path)

    def _remove_stray_rings(self, path: Path) -> None:
        """Ring files of no model (a VM discarded or lost before a crash, a models file refused)."""
        kept = {ring_file(path, vm) for vm, model in self.models.items() if model.history.columns}
        for stray in set(history_dir(path).glob("*.ring")) - kept:
            stray.unlink(missing_ok=True)


def _load_models(file: BinaryIO) -> dict[str, VmHealthModel] | None:
    """The models save() wrote after the header; None if the pickles hold something else."""
    count = pickle.load(file)
    if not isinstance(count, int):
        return None
    models = {}
    for _ in range(count):
        item = pickle.load(file)
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], VmHealthModel)):
            return None
        models[item[0]] = item[1]
    return models


def _ring_shape(ring: HistoryRing) -> tuple[type[FileRing], tuple[None, int, int, int]]:
    """How a history pickles: its shape and count only, unpickled as a FileRing to attach to its file."""
    return FileRing, (None, ring.capacity, ring.columns, ring.count)


@cache
def sklearn_version() -> str:
    """The installed scikit-learn's version, read without importing it (see _Joint.fit)."""
    return version("scikit-learn")


def _check_header(path: Path, line: bytes, config: HealthModelConfig) -> None:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
        raise HealthModelError(f"health models {path}: corrupt file (not a vsphere-dr health-model file)")
    problems = {
        "format version": (header.get("format_version"), FORMAT_VERSION),
        "scikit-learn version": (header.get("sklearn_version"), sklearn_version()),
        "model configuration": (header.get("config"), config.as_json()),
    }
    for what, (found, expected) in problems.items():
        if found != expected:
            raise HealthModelError(f"health models {path}: written with {what} {found}, "
                                   f"this vsphere-dr uses {expected}; the models must be retrained")


def load_store_or_empty(path: Path, config: HealthModelConfig | None = None,
                        read_only: bool = False) -> HealthModelStore:
    """The saved store, or an empty one (every VM warms up again) if the file is absent or unusable.

    Never raises HealthModelError: a lost model costs a day of warm-up, not the controller.
    ``read_only``: see HealthModelStore.load; an empty store is then in memory.
    """
    config = config or HealthModelConfig()
    if not path.exists():
        log.info("no health models at %s yet: every VM starts warming up", path)
        return HealthModelStore(config) if read_only else HealthModelStore.empty(path, config)
    try:
        return HealthModelStore.load(path, config, read_only)
    except HealthModelError as exc:
        log.warning("%s; starting with empty health models", exc)
        return HealthModelStore(config) if read_only else HealthModelStore.empty(path, config)
