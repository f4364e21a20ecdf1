"""Out-of-band health model: is a VM ill, judged only from vCenter's performance counters?

A guest can answer pings while its services hang, a thread spins at 100% CPU or its I/O stalls.
This module learns each VM's normal behaviour from its own history of counter samples and flags
the VM as ill when the recent samples keep falling outside it. It is pure: no vCenter, no network.

How a sample is judged (docs/health-model.md has the why and the measurements):

1. Every counter gives four features over trailing windows of samples: its level, its short-term
   median, its roughness (log of the median sample-to-sample change: collapses when the counter
   flat-lines) and its slope (change of median over the long window: a leak ramps).
2. A multivariate Gaussian with a Ledoit-Wolf shrunk covariance (scikit-learn) is fitted on the
   features of the VM's history; a sample's anomaly is its Mahalanobis distance to it.
3. A sample is anomalous when the distance exceeds ``threshold_factor`` times the
   ``threshold_quantile`` of the distances seen in training; the VM is ill when at least
   ``anomalous_samples_to_flag`` of the last ``flag_window`` samples are anomalous.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import tempfile
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import sklearn
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import InconsistentVersionWarning

# Defined in light modules so that the gateway and the settings need not load scikit-learn:
from vsphere_dr.health_config import HealthModelConfig, HealthModelError, HealthState
from vsphere_dr.signals import Sample

log = logging.getLogger(__name__)

FILE_FORMAT = "vsphere-dr-health-models"
FORMAT_VERSION = 1
FEATURES = ("level", "median", "roughness", "slope")
MIN_REASON_SHARE = 0.1
MAX_REASONS = 3


@dataclass(frozen=True)
class Verdict:
    """The model's judgement of one sample.

    ``score`` is the anomaly normalised so that 1.0 is the threshold (None while warming up);
    ``reasons`` names the counters and features that drove a non-healthy verdict.
    """

    timestamp: datetime
    state: HealthState
    score: float | None
    reasons: tuple[str, ...] = ()


def _trailing(column: np.ndarray, width: int) -> np.ndarray:
    """Windows of ``width`` ending at each row; the first rows repeat the first value."""
    padded = np.concatenate([np.full(width - 1, column[0]), column])
    return sliding_window_view(padded, width)


def _counter_features(column: np.ndarray, floor: float, config: HealthModelConfig) -> np.ndarray:
    steps = np.abs(np.diff(column, prepend=column[0]))
    roughness = np.log(np.median(_trailing(steps, config.spread_window), axis=1) + floor)
    slope_windows = _trailing(column, config.slope_window)
    half = config.slope_window // 2
    slope = np.median(slope_windows[:, half:], axis=1) - np.median(slope_windows[:, :half], axis=1)
    median = np.median(_trailing(column, config.short_window), axis=1)
    return np.column_stack([column, median, roughness, slope])


def window_features(values: np.ndarray, floors: np.ndarray, config: HealthModelConfig) -> np.ndarray:
    """(samples x counters) -> (samples x 4*counters), features in the order of FEATURES per counter.

    ``floors`` (one per counter, in its units) keeps the log of a flat counter's roughness finite.
    """
    return np.hstack([_counter_features(values[:, i], floors[i], config) for i in range(values.shape[1])])


@dataclass(frozen=True)
class _Fitted:
    """What one training run learned."""

    center: np.ndarray  # per feature: median and (floored) standard deviation in training
    scale: np.ndarray
    floors: np.ndarray  # per counter, see window_features
    gaussian: LedoitWolf
    threshold: float  # Mahalanobis distance at which a sample becomes anomalous
    trained_until: datetime

    def standardize(self, features: np.ndarray) -> np.ndarray:
        return (features - self.center) / self.scale

    def distances(self, features: np.ndarray) -> np.ndarray:
        return np.sqrt(self.gaussian.mahalanobis(self.standardize(features)))


def _fit(values: np.ndarray, until: datetime, config: HealthModelConfig) -> _Fitted:
    floors = np.maximum(1e-2 * np.median(np.abs(values), axis=0), 1e-6)
    features = window_features(values, floors, config)[config.context:]  # drop rows with padded windows
    center = np.median(features, axis=0)
    scale = np.maximum(features.std(axis=0), 1e-3 * np.maximum(np.abs(center), 1e-3))
    gaussian = LedoitWolf()
    unthresholded = _Fitted(center, scale, floors, gaussian, threshold=np.inf, trained_until=until)
    gaussian.fit(unthresholded.standardize(features))
    quantile = float(np.quantile(unthresholded.distances(features), config.threshold_quantile))
    return dataclasses.replace(unthresholded, threshold=config.threshold_factor * quantile)


class VmHealthModel:
    """One VM's learned behaviour, its recent history and its ill/healthy state.

    Samples must come in time order at the VM's regular sampling interval. The counter set is fixed
    by the first sample the model sees: a counter missing later carries its last value forward,
    a new one is ignored.
    """

    def __init__(self, config: HealthModelConfig | None = None) -> None:
        self.config = config or HealthModelConfig()
        self.counters: tuple[str, ...] = ()
        self._history = np.empty((0, 0))
        self._last_time: datetime | None = None
        self._fitted: _Fitted | None = None
        self._flags: deque[bool] = deque(maxlen=self.config.flag_window)

    @property
    def history_size(self) -> int:
        return len(self._history)

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
        self.counters = ()
        self._history = np.empty((0, 0))
        self._last_time = None
        self._flags.clear()
        if samples:
            self._remember(samples, self._rows(samples))
        self.retrain()

    def retrain(self) -> None:
        """Train on the own history; with less than min_history samples the model stays warming up."""
        if self.history_size < self.config.min_history or self._last_time is None:
            self._fitted = None
            return
        self._fitted = _fit(self._history, self._last_time, self.config)

    def score(self, sample: Sample) -> Verdict:
        """Judge one new sample (it joins the history)."""
        return self.score_many([sample])[0]

    def score_many(self, samples: Sequence[Sample]) -> list[Verdict]:
        """Judge consecutive new samples at once: the same verdicts as score() one by one, faster."""
        if not samples:
            return []
        rows = self._rows(samples)
        context = np.vstack([self._history[-self.config.context:], rows])
        self._remember(samples, rows)
        if self._fitted is None:
            progress = f"warming up: {self.history_size}/{self.config.min_history} samples"
            return [Verdict(s.timestamp, HealthState.WARMING_UP, None, (progress,)) for s in samples]
        features = window_features(context, self._fitted.floors, self.config)[-len(samples):]
        distances = self._fitted.distances(features)
        return [self._judge(s, f, d) for s, f, d in zip(samples, features, distances)]

    def _judge(self, sample: Sample, features: np.ndarray, distance: float) -> Verdict:
        assert self._fitted is not None
        score = float(distance / self._fitted.threshold)
        self._flags.append(score > 1.0)
        if sum(self._flags) >= self.config.anomalous_samples_to_flag:
            state = HealthState.ILL
        elif self._flags[-1]:
            state = HealthState.ANOMALOUS
        else:
            return Verdict(sample.timestamp, HealthState.HEALTHY, score)
        return Verdict(sample.timestamp, state, score, self._reasons(features))

    def _reasons(self, features: np.ndarray) -> tuple[str, ...]:
        """The features that make up most of the squared distance, with how far off they are.

        Feature i's share of d^2 = z'Pz is z_i (Pz)_i: it credits a feature that is only abnormal
        given the others (a flat disk while CPU is normal), which a plain z-score misses.
        """
        assert self._fitted is not None
        z = self._fitted.standardize(features)
        centered = z - self._fitted.gaussian.location_
        contributions = centered * (self._fitted.gaussian.precision_ @ centered)
        shares = contributions / max(contributions.sum(), 1e-12)
        names = [f"{counter} {feature}" for counter in self.counters for feature in FEATURES]
        ranked = [i for i in np.argsort(-shares) if shares[i] >= MIN_REASON_SHARE][:MAX_REASONS]
        return tuple(f"{names[i]} {z[i]:+.1f} sigma ({shares[i]:.0%} of the anomaly)" for i in ranked) \
            or ("unusual combination of counters",)

    def _rows(self, samples: Sequence[Sample]) -> np.ndarray:
        """Samples -> (samples x counters); a missing counter carries its previous value forward."""
        if not self.counters:
            self.counters = tuple(sorted(samples[0].values))
            self._history = np.empty((0, len(self.counters)))
        rows = np.array([[s.values.get(c, np.nan) for c in self.counters] for s in samples], dtype=float)
        previous = self._history[-1] if self.history_size else rows[0]
        for row in rows:
            row[:] = np.where(np.isnan(row), previous, row)
            previous = row
        return rows

    def _remember(self, samples: Sequence[Sample], rows: np.ndarray) -> None:
        self._history = np.vstack([self._history, rows])[-self.config.max_history:]
        self._last_time = samples[-1].timestamp


@dataclass
class HealthModelStore:
    """Every VM's health model, keyed by managed object id (``vm-42``), saved to one file."""

    config: HealthModelConfig = field(default_factory=HealthModelConfig)
    models: dict[str, VmHealthModel] = field(default_factory=dict)

    def model(self, vm_id: str) -> VmHealthModel:
        """The VM's model, a new (warming-up) one the first time the VM is seen."""
        if vm_id not in self.models:
            self.models[vm_id] = VmHealthModel(self.config)
        return self.models[vm_id]

    def discard(self, vm_id: str) -> None:
        """Forget a VM that no longer exists."""
        self.models.pop(vm_id, None)

    def save(self, path: Path) -> None:
        """Write atomically: a JSON header line (format, scikit-learn version, config), then a pickle.

        The header can be checked before any scikit-learn object is unpickled.
        """
        header = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION,
                  "sklearn_version": sklearn.__version__, "config": self.config.as_json()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            try:
                tmp.write(json.dumps(header).encode() + b"\n")
                pickle.dump(self.models, tmp, protocol=pickle.HIGHEST_PROTOCOL)
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException:
                os.unlink(tmp.name)
                raise
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path, config: HealthModelConfig | None = None) -> HealthModelStore:
        """Read a file written by save(); HealthModelError if it cannot be trusted as is."""
        config = config or HealthModelConfig()
        try:
            with path.open("rb") as file:
                _check_header(path, file.readline(), config)
                with warnings.catch_warnings():
                    warnings.simplefilter("error", InconsistentVersionWarning)
                    models = pickle.load(file)
        except OSError as exc:
            raise HealthModelError(f"health models {path}: cannot read: {exc.strerror or exc}") from exc
        except HealthModelError:
            raise
        except Exception as exc:  # unpickling garbage raises anything from EOFError to ImportError
            problem = f"{type(exc).__name__}: {exc}"
            raise HealthModelError(f"health models {path}: corrupt file ({problem})") from exc
        if not isinstance(models, dict) or not all(isinstance(m, VmHealthModel) for m in models.values()):
            raise HealthModelError(f"health models {path}: corrupt file (unexpected content)")
        return cls(config, models)


def _check_header(path: Path, line: bytes, config: HealthModelConfig) -> None:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
        raise HealthModelError(f"health models {path}: corrupt file (not a vsphere-dr health-model file)")
    problems = {
        "format version": (header.get("format_version"), FORMAT_VERSION),
        "scikit-learn version": (header.get("sklearn_version"), sklearn.__version__),
        "model configuration": (header.get("config"), config.as_json()),
    }
    for what, (found, expected) in problems.items():
        if found != expected:
            raise HealthModelError(f"health models {path}: written with {what} {found}, "
                                   f"this vsphere-dr uses {expected}; the models must be retrained")


def load_store_or_empty(path: Path, config: HealthModelConfig | None = None) -> HealthModelStore:
    """The saved store, or an empty one (every VM warms up again) if the file is absent or unusable.

    Never raises HealthModelError: a lost model costs a day of warm-up, not the controller.
    """
    config = config or HealthModelConfig()
    if not path.exists():
        log.info("no health models at %s yet: every VM starts warming up", path)
        return HealthModelStore(config)
    try:
        return HealthModelStore.load(path, config)
    except HealthModelError as exc:
        log.warning("%s; starting with empty health models", exc)
        return HealthModelStore(config)
