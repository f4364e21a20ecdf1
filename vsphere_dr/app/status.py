"""What `vsphere-dr status` prints: each module's last and next run, each VM's snapshot age."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime, timezone

from vsphere_dr.app.daemon import trigger_for
from vsphere_dr.app.module_registry import Schedule
from vsphere_dr.journal import Journal, SnapshotStatusRow
from vsphere_dr.table import render_table


def status_text(journal: Journal, schedules: dict[str, Schedule], paused: Collection[str] = (),
                now: float | None = None) -> str:
    now = time.time() if now is None else now
    runs = journal.runs()
    module_rows = []
    for name, schedule in schedules.items():
        run = runs.get(name)
        module_rows.append((
            name,
            when(run.started_at) if run else "never",
            run.outcome if run else "-",
            "paused" if name in paused else _next_run(schedule, run.started_at if run else None, now),
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


def _ages(headers: tuple[str, ...], rows: list[SnapshotStatusRow], now: float) -> str:
    shown = [(row.vm_name, when(row.newest_at), age(now - row.newest_at) if row.newest_at else "none",
              row.last_error[:70] or "-") for row in rows]
    return render_table(headers, shown) if shown else "  none yet"


def _next_run(schedule: Schedule, last: float | None, now: float) -> str:
    if last is None:
        return "at start"
    trigger = trigger_for(schedule)
    previous = datetime.fromtimestamp(last, timezone.utc)
    upcoming = trigger.get_next_fire_time(previous, datetime.fromtimestamp(max(now, last), timezone.utc))
    return when(upcoming.timestamp()) if upcoming else "-"


def when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else "-"


def age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
