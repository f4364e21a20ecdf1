"""The health model's tuning and its error, apart from the model so that the settings can check
a [health] section without loading scikit-learn (``vsphere_dr.health_model`` re-exports both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from vsphere_dr.errors import VsphereDrError


class HealthModelError(VsphereDrError):
    """The health-model file or configuration cannot be used (corrupt, other version, bad value)."""


@dataclass(frozen=True)
class HealthModelConfig:
    """Tuning of the health model. Windows and histories count samples, not seconds.

    The defaults suit vCenter's 5-minute historical interval (and NAB's 5-minute data).
    """

    min_history: int = 288  # samples before the first verdict (1 day)
    max_history: int = 2016  # samples kept and trained on (7 days)
    retrain_every: timedelta = timedelta(days=1)  # refit on the own history this often
    short_window: int = 6  # median of the last 30 minutes
    spread_window: int = 12  # roughness over the last hour
    slope_window: int = 48  # slope over the last 4 hours
    threshold_quantile: float = 0.99  # of the training distances...
    threshold_factor: float = 1.5  # ...times this is the anomaly threshold
    anomalous_samples_to_flag: int = 3  # k anomalous samples...
    flag_window: int = 5  # ...among the last n make the VM ill

    def __post_init__(self) -> None:
        for name in ("short_window", "spread_window", "slope_window", "anomalous_samples_to_flag"):
            if getattr(self, name) < 1:
                raise HealthModelError(f"health model: {name} must be at least 1")
        if self.min_history < 2 * self.context:
            raise HealthModelError(f"health model: min_history must be at least {2 * self.context} "
                                   "(twice the longest window)")
        if self.max_history < self.min_history:
            raise HealthModelError("health model: max_history must not be below min_history")
        if self.flag_window < self.anomalous_samples_to_flag:
            raise HealthModelError("health model: flag_window must not be below anomalous_samples_to_flag")
        if not 0.5 <= self.threshold_quantile < 1 or self.threshold_factor <= 0:
            raise HealthModelError("health model: threshold_quantile must be in [0.5, 1) "
                                   "and threshold_factor above 0")
        if self.retrain_every <= timedelta(0):
            raise HealthModelError("health model: retrain_every must be positive")

    @property
    def context(self) -> int:
        """Samples of history one sample's features look at (roughness needs one extra for its diffs)."""
        return max(self.short_window, self.spread_window + 1, self.slope_window)

    def as_json(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["retrain_every"] = self.retrain_every.total_seconds()
        return values


class HealthState(StrEnum):
    WARMING_UP = "warming_up"  # not enough history yet: no verdict
    HEALTHY = "healthy"
    ANOMALOUS = "anomalous"  # this sample is abnormal, not (yet) enough of them to call the VM ill
    ILL = "ill"
