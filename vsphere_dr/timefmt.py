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
