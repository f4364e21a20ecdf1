"""Times as vsphere-dr writes them for people: always UTC, always saying so."""

from __future__ import annotations

from datetime import datetime, timezone


def _utc(moment: datetime | float) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(timezone.utc)
    return datetime.fromtimestamp(moment, timezone.utc)


def utc_minutes(moment: datetime | float) -> str:
    """E.g. ``2026-12-01 09:15 UTC``: when a snapshot was taken, when a person powered a VM off."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def utc_seconds(moment: datetime | float) -> str:
    """E.g. ``2026-12-01 09:15:07 UTC``: in annotations written on VMs."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_utc(moment: datetime | float | None) -> str | None:
    """ISO-8601 in UTC, e.g. ``2026-12-01T09:15:07Z``: every time in vsphere-dr's JSON output."""
    if moment is None:
        return None
    return _utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
