"""The modules (the paper's administrators) by name: the one list the CLI, the controller and the
daemon use. Each entry says how settings.ini schedules it and whether it can be paused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vsphere_dr.protection import replica_round_seconds, snapshot_round_seconds
from vsphere_dr.settings import Settings

Schedule = tuple[float, str | None]  # (interval seconds, crontab expression or None)


@dataclass(frozen=True)
class ModuleEntry:
    name: str
    # How settings.ini schedules it under `run`; None: it works inside another module's runs.
    schedule: Callable[[Settings], Schedule] | None
    # [scheduler] paused may list it (not the module that picks up the edit that resumes them).
    pausable: bool = True


ENTRIES = (
    ModuleEntry("inventory_administrator", lambda s: (s.inventory.settings_check_seconds, None), pausable=False),
    ModuleEntry("availability_administrator", lambda s: (s.inventory.interval_seconds, None)),
    ModuleEntry("health_administrator", lambda s: (s.monitoring.interval_seconds, None)),
    # Under `run` the Ping/Alarm Administrator works inside every health sweep (it shares its session).
    ModuleEntry("ping_alarm_administrator", None),
    # A protection group's own interval, if shorter, makes the round more frequent (protection.py).
    ModuleEntry("snapshot_creator", lambda s: (snapshot_round_seconds(s), s.snapshots.cron)),
    ModuleEntry("snapshot_creator_vhost", lambda s: (s.snapshots.vhost_interval_seconds, s.snapshots.vhost_cron)),
    ModuleEntry("replica_creator", lambda s: (replica_round_seconds(s), s.replication.cron)),
)
MODULES = tuple(entry.name for entry in ENTRIES)
PAUSABLE = tuple(entry.name for entry in ENTRIES if entry.pausable)


def schedules(settings: Settings) -> dict[str, Schedule]:
    """Each scheduled module's schedule as settings.ini gives it."""
    return {entry.name: entry.schedule(settings) for entry in ENTRIES if entry.schedule is not None}
