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

    The defaults suit vCenter's 5-minute historical interval (and NAB's 5-minute data);
    docs/health-model.md explains each and how they were chosen.
    """

    min_history: int = 288  # samples before the first verdict (1 day)
    max_history: int = 2016  # samples kept and trained on (7 days)
    retrain_every: timedelta = timedelta(days=1)  # refit on the own history this often
    median_window: int = 12  # the median of the last hour, beside the value itself
    allowance: float = 2.5  # surprise (nats) a sample may carry without adding evidence
    threshold: float = 8.0  # evidence (nats) at which the VM is ill
    refractory: int = 96  # samples after an ill onset before another may start (8 hours)

    def __post_init__(self) -> None:
        for name in ("median_window", "refractory"):
            if getattr(self, name) < 1:
                raise HealthModelError(f"health model: {name} must be at least 1")
        if self.min_history < 2 * self.median_window:
            raise HealthModelError(f"health model: min_history must be at least {2 * self.median_window} "
                                   "(twice median_window)")
        if self.max_history < self.min_history:
            raise HealthModelError("health model: max_history must not be below min_history")
        if self.allowance < 0 or self.threshold <= 0:
            raise HealthModelError("health model: allowance must not be negative and threshold must be above 0")
        if self.retrain_every <= timedelta(0):
            raise HealthModelError("health model: retrain_every must be positive")

    def as_json(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["retrain_every"] = self.retrain_every.total_seconds()
        return values


class HealthState(StrEnum):
    WARMING_UP = "warming_up"  # not enough history yet: no verdict
    HEALTHY = "healthy"
    ANOMALOUS = "anomalous"  # this sample is abnormal, not (yet) enough of them to call the VM ill
    ILL = "ill"
