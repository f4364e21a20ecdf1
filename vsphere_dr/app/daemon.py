"""`vsphere-dr run`: every module as an APScheduler 3 job, until SIGTERM or SIGINT.

Job options, chosen deliberately:
- ``max_instances=1``: a module never overlaps itself (a slow snapshot round simply delays the next).
- ``coalesce=True``: runs missed while the controller was busy or asleep collapse into one; catching
  up with a burst of snapshot rounds would only add load.
- ``misfire_grace_time`` = half the interval (at least 1 s): a run that starts that late is still
  worth it; a later one is skipped and the next regular one happens.
A changed interval or crontab expression in settings.ini reschedules its job without a restart;
a module listed in ``[scheduler] paused`` keeps its job but the job is paused (resumed when it
leaves the list).
SIGHUP (``systemctl reload``) reads settings.ini at once, as the Inventory Administrator does every
``settings_check_seconds``; it used to kill the process.
The inventory watcher (vsphere_dr/gateway/watcher.py) keeps the health sweep's inventory up to
date between sweeps and wakes the sweep on evidence of a failure (early_sweeps.py).
One job is not a module: ``leftovers``, every ``[monitoring] interval_seconds`` (the sweep's
interval, not the sweep's thread: a clean-up never delays a recovery), removes the copies of drills
killed while `run` serves (app/drill.py); `run`'s start did it for those killed before.
Under systemd's ``Type=notify`` (systemd_notify.py): READY=1 once vCenter accepted the login and every
job is scheduled (a refused login exits before, with its own code), RELOADING=1 then READY=1 around a
SIGHUP's reload, STOPPING=1 on SIGTERM, and WATCHDOG=1 from the main loop at half of WatchdogSec.
On SIGTERM/SIGINT no new run starts, running modules stop between VMs (so the action in flight
is finished and journaled), and the scheduler waits for them before exiting.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from modules.health_administrator import HealthSweep
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.early_sweeps import EarlySweeps
from vsphere_dr.app.module_registry import Schedule, schedules
from vsphere_dr.app.systemd_notify import Notifier
from vsphere_dr.gateway.watcher import InventoryWatcher
from vsphere_dr.metrics import MetricsServer
from vsphere_dr.settings import Settings

log = logging.getLogger(__name__)
def trigger_for(schedule: Schedule) -> BaseTrigger:
    interval, cron = schedule
    if cron:
        return CronTrigger.from_crontab(cron, timezone="UTC")
    return IntervalTrigger(seconds=interval, timezone="UTC")


def _grace(schedule: Schedule) -> int:
    return max(1, int(schedule[0] / 2))


def stop_on_signals(stop: threading.Event) -> None:
    """On SIGTERM or SIGINT set ``stop``: modules finish the VM in hand and return."""

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s received: finishing the work in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


LEFTOVERS = "leftovers"  # the job that removes the copies of interrupted drills


def settle_heap(watcher: InventoryWatcher) -> None:
    """After the watcher read the inventory whole: its picture built, then every object alive
    moved out of the garbage collector's sight (gc.freeze). The picture of 10,000 VMs is a few
    million objects that live until the next whole read; Python's full collections walked them
    all, about 0.5 s with every thread stopped, whenever enough new objects had survived: a sweep
    that met one took twice its time. Frozen objects are still freed when nothing refers to them
    (reference counting); cycles among them are collected here, at the next whole read, when
    everything frozen before is unfrozen first."""
    watcher.inventory()
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Daemon:
    def __init__(self, controller: Controller, notifier: Notifier | None = None,
                 leftovers: Callable[[], None] | None = None) -> None:
        self.controller = controller
        self.notifier = notifier or Notifier()
        self.leftovers = leftovers
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._current = schedules(controller.settings())
        self._paused = frozenset(controller.settings().scheduler.paused)
        self._reload = threading.Event()
        controller.inventory_admin.on_change(self._reschedule)
        self.early = EarlySweeps(self.scheduler, HealthSweep.name, lambda: controller.health.recheck_at)
        self.watcher: InventoryWatcher | None = None
        controller.inventory_admin.on_change(self._rewatch)

    def serve(self) -> None:
        """Log in, schedule every module, tell systemd it is ready, and loop until asked to stop.

        The login comes first so that a refused one (exit 5) or an unreachable vCenter (exit 3)
        ends the process before systemd is told it is ready.
        """
        about = self.controller.gateway.about()
        log.info("vCenter %s answered as %s", self.controller.gateway.session.where, about)
        self._schedule_jobs()
        stop_on_signals(self.controller.stop)
        signal.signal(signal.SIGHUP, self._reload_requested)
        metrics = self._serve_metrics()
        log.info("vsphere-dr running: %s", ", ".join(
            f"{n} {'paused' if n in self._paused else 'every ' + _describe(s)}" for n, s in self._current.items()))
        self._watch(self.controller.settings())
        self.scheduler.start()
        self.notifier.ready(f"running {len(self._current) - len(self._paused)} modules against {about}")
        self._loop()
        self.notifier.stopping()
        self.scheduler.shutdown(wait=True)  # waits for the jobs that are running to return
        self._unwatch()
        if metrics is not None:
            metrics.close()
        log.info("vsphere-dr stopped")

    def _schedule_jobs(self) -> None:
        """Every module's job, run at once (a paused one added paused), and the clean-up of
        interrupted drills from one interval on (`run`'s start has just done it)."""
        now = datetime.now(timezone.utc)
        for name, schedule in self._current.items():
            # next_run_time=None adds the job paused.
            self.scheduler.add_job(self._job(name), trigger_for(schedule), id=name, name=name, max_instances=1,
                                   coalesce=True, misfire_grace_time=_grace(schedule),
                                   next_run_time=None if name in self._paused else now)
        if self.leftovers is not None:
            self.scheduler.add_job(self._leftovers_job, _leftovers_trigger(self.controller.settings()), id=LEFTOVERS,
                                   name=LEFTOVERS, max_instances=1, coalesce=True)

    def _loop(self) -> None:
        """The main loop: the watchdog's pings and SIGHUP's reloads, until SIGTERM/SIGINT."""
        tick = min(0.5, self.notifier.watchdog_interval or 0.5)
        while not self.controller.stop.wait(tick):
            self.notifier.watchdog()
            if self._reload.is_set():
                self._reload.clear()
                self._reload_now()

    def _reload_now(self) -> None:
        """SIGHUP's reload, between RELOADING=1 and READY=1. Whatever applying the new settings raises
        (a listener's defect, a new log file that cannot be opened) is logged: a reload never ends `run`."""
        self.notifier.reloading()
        try:
            changed = self.controller.inventory_admin.refresh()
        except Exception as exc:
            log.error("SIGHUP: applying the new settings failed: %s: %s", type(exc).__name__, exc)
        else:
            if not changed:
                log.info("SIGHUP: settings.ini unchanged (or refused: see above)")
        self.notifier.ready("settings read again")

    def _serve_metrics(self) -> MetricsServer | None:
        """/metrics on [metrics] listen (read at start: a changed address needs a restart)."""
        address = self.controller.settings().metrics.listen_address()
        if address is None:
            return None
        server = MetricsServer(self.controller.metrics, address)
        log.info("metrics: http://%s:%d/metrics", address[0], server.port)
        return server

    def _reload_requested(self, signum: int, _frame: Any) -> None:
        """SIGHUP (``systemctl reload``): read settings.ini now rather than at the next check."""
        log.info("SIGHUP received: reading settings.ini again")
        self._reload.set()

    def _job(self, name: str) -> Callable[[], None]:
        def job() -> None:
            if self.controller.stop.is_set():
                return
            if name == HealthSweep.name:
                with self.early.sweeping():
                    self.controller.run_module(name)
            else:
                self.controller.run_module(name)
        return job

    def _leftovers_job(self) -> None:
        """The clean-up of interrupted drills; a defect in it is logged, as a module's is, and
        never ends `run`."""
        if self.controller.stop.is_set() or self.leftovers is None:
            return
        try:
            self.leftovers()
        except Exception as exc:
            log.error("%s failed: %s: %s", LEFTOVERS, type(exc).__name__, exc)
            log.debug("%s failed", LEFTOVERS, exc_info=exc)

    def _watch(self, settings: Settings) -> None:
        """Start the inventory watcher: the health sweep's inventory from now on, and its waker."""
        self.watcher = InventoryWatcher(settings.vcenter, on_evidence=self.early.wake, on_whole_read=settle_heap)
        self.watcher.start()
        self.controller.health.live = self.watcher

    def _unwatch(self) -> None:
        self.controller.health.live = None
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _rewatch(self, old: Settings, new: Settings) -> None:
        """Another vCenter or credential: watch with the new settings (a full read)."""
        if new.vcenter != old.vcenter and self.watcher is not None:
            self._unwatch()
            self._watch(new)

    def _reschedule(self, old: Settings, new: Settings) -> None:
        fresh, paused = schedules(new), frozenset(new.scheduler.paused)
        for name, schedule in fresh.items():
            if schedule != self._current.get(name):
                self.scheduler.modify_job(name, trigger=trigger_for(schedule), misfire_grace_time=_grace(schedule))
                if name not in paused:  # a paused job's next run is computed when it is resumed
                    self.scheduler.reschedule_job(name, trigger=trigger_for(schedule))
                log.info("%s: schedule changed to %s; next run %s", name, _describe(schedule), self._next(name))
            if name in paused - self._paused:
                self.scheduler.pause_job(name)
                log.info("%s: paused ([scheduler] paused)", name)
            elif name in self._paused - paused:
                self.scheduler.resume_job(name)
                log.info("%s: resumed; next run %s", name, self._next(name))
        self._current, self._paused = fresh, paused
        if self.leftovers is not None and new.monitoring.interval_seconds != old.monitoring.interval_seconds:
            self.scheduler.reschedule_job(LEFTOVERS, trigger=_leftovers_trigger(new))

    def _next(self, name: str) -> str:
        when = self.scheduler.get_job(name).next_run_time
        return when.strftime("%Y-%m-%d %H:%M:%SZ") if when else "none (paused)"


def _leftovers_trigger(settings: Settings) -> IntervalTrigger:
    return IntervalTrigger(seconds=settings.monitoring.interval_seconds, timezone="UTC")


def _describe(schedule: Schedule) -> str:
    interval, cron = schedule
    return f"cron '{cron}'" if cron else f"{interval:g} s"
