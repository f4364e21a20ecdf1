"""Which snapshots to create and prune: pure rules, no I/O.

The paper's Snapshot Creator deletes every snapshot and then creates a new one, which leaves the
VM with none if the creation fails. Here a new snapshot is created and verified first, and only
then are this tool's older snapshots beyond ``keep`` removed. Snapshots without the tool's prefix
belong to people and are never touched.
"""

from __future__ import annotations

from datetime import datetime, timezone

from vsphere_dr.records import SnapshotRecord

_STAMP = "%Y%m%dT%H%M%SZ"


def snapshot_name(prefix: str, when: datetime) -> str:
    """E.g. ``vsphere-dr-20261123T091500Z``: the prefix marks it as ours, the time orders it."""
    return f"{prefix}-{when.astimezone(timezone.utc).strftime(_STAMP)}"


def is_ours(snapshot: SnapshotRecord, prefix: str) -> bool:
    """Made by this tool: the prefix followed by a timestamp in our format."""
    head, sep, stamp = snapshot.name.rpartition("-")
    if not sep or head != prefix:
        return False
    try:
        datetime.strptime(stamp, _STAMP)
    except ValueError:
        return False
    return True


def to_prune(snapshots: tuple[SnapshotRecord, ...], prefix: str, keep: int, new: str) -> list[SnapshotRecord]:
    """This tool's snapshots beyond the newest ``keep``, oldest first; never ``new`` itself.

    Returns nothing unless ``new`` (the snapshot just created) is in the list: a snapshot that
    cannot be seen is not a reason to delete the ones that can.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: a VM is never left without a snapshot")
    if not any(snap.moref == new for snap in snapshots):
        return []
    ours = sorted((snap for snap in snapshots if is_ours(snap, prefix)), key=lambda snap: snap.created)
    return [snap for snap in ours[:-keep] if snap.moref != new]


def newest_ours(snapshots: tuple[SnapshotRecord, ...], prefix: str) -> SnapshotRecord | None:
    return max((snap for snap in snapshots if is_ours(snap, prefix)), key=lambda snap: snap.created, default=None)
