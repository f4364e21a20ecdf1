"""What `vsphere-dr status` prints: each module's last and next run, each VM's snapshot age."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any

from vsphere_dr.app.daemon import trigger_for
from vsphere_dr.app.module_registry import Schedule
from vsphere_dr.journal import Journal, SnapshotStatusRow
from vsphere_dr.table import render_table
from vsphere_dr.timefmt import iso_utc


def status_text(journal: Journal, schedules: dict[str, Schedule], paused: Collection[str] = (),
                now: float | None = None) -> str:
    now = time.time() if now is None else now
    runs = journal.runs()
    module_rows = []
    for name, schedule in schedules.items():
        run = runs.get(name)
        upcoming = _next_fire(schedule, run.started_at, now) if run else None
        module_rows.append((
            name,
            when(run.started_at) if run else "never",
            run.outcome if run else "-",
            "paused" if name in paused else (when(upcoming) if run else "at start"),
            (run.message if run else "")[:70],
        ))
    return "\n".join([
        "Modules",
        render_table(("MODULE", "LAST RUN", "OUTCOME", "NEXT RUN (if `run` is going)", "MESSAGE"), module_rows),
        "",
        "Snapshots (RPO = age of the newest snapshot)",
        _ages(("VM", "NEWEST SNAPSHOT", "RPO", "LAST ERROR"), journal.snapshot_status(), now),
        "",
        "Replicas (RPO = age of the snapshot the newest replica was made from)",
        _ages(("VM", "NEWEST REPLICA", "RPO", "LAST ERROR"), journal.replica_status(), now),
    ])


def status_as_dict(journal: Journal, schedules: dict[str, Schedule], paused: Collection[str] = (),
                   now: float | None = None) -> dict[str, Any]:
    """What `status --json` prints: the same facts as the text, times in ISO-8601 UTC, VMs by moref too."""
    now = time.time() if now is None else now
    runs = journal.runs()
    modules = []
    for name, schedule in schedules.items():
        run = runs.get(name)
        modules.append({
            "module": name, "paused": name in paused,
            "last_run": iso_utc(run.started_at) if run else None,
            "last_finished": iso_utc(run.finished_at) if run else None,
            "outcome": run.outcome if run else None, "message": run.message if run else None,
            # None: at start (never ran) or paused
            "next_run": iso_utc(_next_fire(schedule, run.started_at, now)) if run and name not in paused else None,
        })
    return {"now": iso_utc(now), "modules": modules,
            "snapshots": [_age_dict(row, now) for row in journal.snapshot_status()],
            "replicas": [_age_dict(row, now) for row in journal.replica_status()]}


def _age_dict(row: SnapshotStatusRow, now: float) -> dict[str, Any]:
    return {"vm": row.vm, "vm_name": row.vm_name, "newest": iso_utc(row.newest_at),
            "rpo_seconds": now - row.newest_at if row.newest_at else None, "last_error": row.last_error or None}


def _ages(headers: tuple[str, ...], rows: list[SnapshotStatusRow], now: float) -> str:
    shown = [(row.vm_name, when(row.newest_at), age(now - row.newest_at) if row.newest_at else "none",
              row.last_error[:70] or "-") for row in rows]
    return render_table(headers, shown) if shown else "  none yet"


def _next_fire(schedule: Schedule, last: float, now: float) -> float | None:
    trigger = trigger_for(schedule)
    previous = datetime.fromtimestamp(last, timezone.utc)
    upcoming = trigger.get_next_fire_time(previous, datetime.fromtimestamp(max(now, last), timezone.utc))
    return upcoming.timestamp() if upcoming else None


def when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else "-"


def age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
