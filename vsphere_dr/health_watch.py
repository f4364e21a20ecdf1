"""The fleet's health models: every VM's samples in, every VM's verdict out, the models on disk.

The Health Administrator's sweep uses it as::

    watch = HealthWatch.from_settings(settings)        # the saved models, or none
    samples = gateway.performance.latest(morefs)
    verdicts = watch.observe(samples)                   # vm moref -> Verdict
    ...                                                 # decide on ILL verdicts
    watch.save_if_due()                                 # at most every save_interval_seconds
    ...
    watch.save()                                        # the controller stops

Pure: no vCenter, no pyVmomi. Settings come from the [health] section.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from vsphere_dr.health_model import HealthModelStore, Verdict, load_store_or_empty
from vsphere_dr.settings import HealthSettings, Settings
from vsphere_dr.signals import Sample

log = logging.getLogger(__name__)


class HealthWatch:
    """Owns the HealthModelStore of the fleet: feeds, retrains, forgets and saves the VMs' models.

    Each VM's history (a week of counter rows) is a ring file in a directory beside the models
    file, written as samples arrive and read only at the VM's refit, so that the kernel's page
    cache holds it rather than the process. A models file that is missing, corrupt, or written
    for another model configuration or scikit-learn version gives an empty store with a warning
    (every VM warms up again), never an error; a ring file that is missing or does not match its
    model makes that VM warm up again, with a warning naming the file. After a change of the
    [health] settings, save() and build a new HealthWatch: models learned with other knobs are
    refused and every VM warms up again.

    The models file is rewritten whole (about 1 s and 184 MB at 10,000 VMs), so the sweep calls
    save_if_due() each round: a save every ``save_interval_seconds`` (of ``clock``: the sweep's)
    and after a round that leaves many refits unsaved. The ring files are written as rows arrive,
    so a crash loses only the ranks' and evidence's updates since the last save (the load adopts
    the rows the models file has not counted).
    """

    def __init__(self, settings: HealthSettings, path: Path, clock: Callable[[], float] = time.monotonic,
                 read_only: bool = False) -> None:
        self._path, self._clock, self.read_only = path, clock, read_only
        self._store = load_store_or_empty(path, settings.model, read_only)
        self._save_every = settings.save_interval_seconds
        # Refits since the last save beyond which it is due at once: what a save interval holds
        # when each VM refits once per retrain interval, spread over the rounds.
        self._refit_share = settings.save_interval_seconds / settings.retrain_interval_seconds
        self._saved_at, self.refits_unsaved = clock(), 0
        self.settings = settings

    @property
    def path(self) -> Path:
        return self._path

    @property
    def store(self) -> HealthModelStore:
        """The models (bench/health.py drives them directly)."""
        return self._store

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.monotonic,
                      read_only: bool = False) -> HealthWatch:
        """The watch for these settings: [health] knobs, models file next to the journal by default.
        ``read_only`` (a dry run): nothing is ever written to the models file or the ring files."""
        return cls(settings.health, settings.health.model_file(settings.journal), clock, read_only)

    @property
    def vms(self) -> frozenset[str]:
        """The VMs that have a model (the sweep forgets those that left the inventory)."""
        return frozenset(self._store.models)

    def observe(self, samples: Mapping[str, Sample]) -> dict[str, Verdict]:
        """Judge each VM's new sample with its own model (created, warming up, for a new VM).

        A model that has warmed up, or whose retrain interval has passed (in sample time), is
        retrained on its own history first, so the sample is judged by the refitted model and is
        not part of its training. A sample not newer than the last one the VM's model saw (vCenter
        had nothing newer yet) is skipped: that VM gets no verdict this time.
        """
        verdicts: dict[str, Verdict] = {}
        retrained = 0
        for vm, sample in samples.items():
            model = self._store.model(vm)
            if model.last_timestamp is not None and sample.timestamp <= model.last_timestamp:
                log.debug("no new sample of %s since %s", vm, model.last_timestamp)
                continue
            if model.needs_retrain(sample.timestamp):
                model.retrain()
                retrained += 1
            verdicts[vm] = model.score(sample)
        if retrained:
            log.info("health models of %d VM(s) retrained on their own history", retrained)
        self.refits_unsaved += retrained
        return verdicts

    def forget(self, vm: str) -> None:
        """Drop the model of a VM that is gone (retired, deleted)."""
        self._store.discard(vm)

    def save_due(self) -> bool:
        """True when the models should be saved after this round: ``save_interval_seconds`` passed
        since the last save, or the refits not saved are more than a save interval's share of the
        fleet (a fleet that warmed up together refits in one round: ~3 ms a VM to redo)."""
        if self._clock() - self._saved_at >= self._save_every:
            return True
        return self.refits_unsaved >= max(1.0, self._refit_share * len(self._store.models))

    def save_if_due(self) -> bool:
        """Save if save_due(); True if it saved."""
        if not self.save_due():
            return False
        self.save()
        return True

    def save(self) -> None:
        """Write every model to the models file, atomically (temporary file, fsync, os.replace); their
        histories' rows are in their ring files already."""
        self._store.save(self._path)
        self._saved_at, self.refits_unsaved = self._clock(), 0
