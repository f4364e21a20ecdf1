"""What `vsphere-dr incidents` prints: every incident with its RTO and RPO."""

from __future__ import annotations

from typing import Any

from vsphere_dr.app.status import age, when
from vsphere_dr.journal import IncidentRow
from vsphere_dr.table import render_table
from vsphere_dr.timefmt import iso_utc


def incidents_as_dicts(rows: list[IncidentRow]) -> list[dict[str, Any]]:
    return [{"id": r.id, "vm": r.vm, "vm_name": r.vm_name, "state": r.state, "cause": r.cause,
             "detected_at": iso_utc(r.detected_at), "recovered_at": iso_utc(r.recovered_at),
             "rto_seconds": r.rto_seconds, "rpo_seconds": r.rpo_seconds, "note": r.note} for r in rows]


def incidents_text(rows: list[IncidentRow]) -> str:
    if not rows:
        return "no incidents"
    table = [(r.id, r.vm_name, r.state, when(r.detected_at), when(r.recovered_at),
              _duration(r.rto_seconds), _duration(r.rpo_seconds), r.cause[:80]) for r in rows]
    return render_table(("ID", "VM", "STATE", "DETECTED", "RECOVERED", "RTO", "RPO", "CAUSE"), table)


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else age(seconds)
