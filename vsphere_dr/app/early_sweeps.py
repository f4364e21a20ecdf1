"""`vsphere-dr run`'s health sweeps between the regular ones: detection as quick as vSphere HA.

The inventory watcher reports evidence of a failure as vCenter shows it (a host notResponding, a
VM powered off or with a red heartbeat): the sweep runs at once, not at its next interval. While
a sweep leaves something suspect (a VM failing fewer than ``failures_before_action`` times, a host
down for less than the isolation timeout), the next one runs at ``HealthSweep.recheck_at``: after
``[monitoring] confirm_interval_seconds``, or when a host's isolation timeout ends if sooner.
A failure is thus decided as soon as the evidence is complete.

Both go through the scheduler (``modify_job(next_run_time=...)``), so a sweep never overlaps
itself; a wake that comes while the sweep runs makes the next one start as soon as it returns
(the scheduler would skip a run due while one is going). A paused sweep is never woken.
The scheduler is asked by a thread of this class's own: the sweep's job thread and the watcher's
thread only queue the request. (APScheduler's shutdown holds the job stores' lock while it waits
for running jobs; a job asking the scheduler anything then would wait for ever.)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


class EarlySweeps:
    """Moves the health sweep's next run earlier, on evidence and while something is suspect."""

    def __init__(self, scheduler: BaseScheduler, job_id: str, recheck_at: Callable[[], float | None]) -> None:
        self._scheduler, self._job_id, self._recheck_at = scheduler, job_id, recheck_at
        self._lock = threading.Lock()
        self._running = False
        self._woken = False  # evidence came while the sweep ran
        self._requests: queue.SimpleQueue[datetime] = queue.SimpleQueue()
        threading.Thread(target=self._move_runs, name="early-sweeps", daemon=True).start()

    def wake(self, why: str) -> None:
        """Evidence of a failure: run the sweep now (or as soon as the running one returns)."""
        with self._lock:
            self._woken = self._running
        if self._woken:
            log.info("vCenter shows %s: another health sweep as soon as this one ends", why)
            return
        log.info("vCenter shows %s: health sweep now", why)
        self._run_at(datetime.now(timezone.utc))

    @contextmanager
    def sweeping(self) -> Iterator[None]:
        """Around each run of the sweep: afterwards, the next run is moved earlier if need be."""
        with self._lock:
            self._running = True
        try:
            yield
        finally:
            with self._lock:
                self._running, woken = False, self._woken
                self._woken = False
            recheck = self._recheck_at()
            if woken:
                self._run_at(datetime.now(timezone.utc))
            elif recheck is not None:
                self._run_at(datetime.fromtimestamp(recheck, timezone.utc))

    def _run_at(self, when: datetime) -> None:
        self._requests.put(when)

    def _move_runs(self) -> None:
        while True:
            when = self._requests.get()
            job = self._scheduler.get_job(self._job_id)
            if job is None or job.next_run_time is None:  # not scheduled yet, paused, or stopped
                continue
            if when < job.next_run_time:
                self._scheduler.modify_job(self._job_id, next_run_time=when)
