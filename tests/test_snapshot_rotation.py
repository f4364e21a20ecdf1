"""The rotation rules (vsphere_dr/snapshot_rotation.py): which snapshots are ours, which go.

What a user cares about: a VM is never left without one of our snapshots, a snapshot that
cannot be seen is never a reason to delete the ones that can, and a person's snapshots are
never touched, whatever they are called.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vsphere_dr.records import SnapshotRecord
from vsphere_dr.snapshot_rotation import is_ours, newest_ours, snapshot_name, to_prune

PREFIX = "vsphere-dr"
T0 = datetime(2027, 1, 15, 7, 0, 0, tzinfo=timezone.utc)


def ours(moref: str, hours: int) -> SnapshotRecord:
    """One of this tool's snapshots, taken ``hours`` after T0 and named as the tool names them."""
    when = T0 + timedelta(hours=hours)
    return SnapshotRecord(moref, snapshot_name(PREFIX, when), "vsphere-dr scheduled snapshot", when)


def persons(moref: str, name: str, hours: int) -> SnapshotRecord:
    return SnapshotRecord(moref, name, "taken by a person", T0 + timedelta(hours=hours))


def morefs(snapshots: list[SnapshotRecord]) -> list[str]:
    return [snap.moref for snap in snapshots]


def test_the_name_is_the_prefix_and_the_utc_time() -> None:
    assert snapshot_name(PREFIX, T0) == "vsphere-dr-20270115T070000Z"
    in_paris = T0.astimezone(timezone(timedelta(hours=1)))
    assert snapshot_name(PREFIX, in_paris) == "vsphere-dr-20270115T070000Z", "the same instant, the same name"


def test_our_names_are_ours() -> None:
    assert is_ours(ours("s1", 0), PREFIX)
    assert is_ours(SnapshotRecord("s2", snapshot_name("dr.prod_1", T0), "", T0), "dr.prod_1")


@pytest.mark.parametrize("name", [
    "before-upgrade",  # a person's, no prefix
    "vsphere-dr",  # the prefix alone
    "vsphere-dr-",  # the prefix and nothing
    "vsphere-dr-manual",  # our prefix, not our timestamp
    "vsphere-dr-2027-01-15",  # a date, not our format
    "vsphere-dr-20270115T070000",  # no Z
    "vsphere-dr-20271315T070000Z",  # month 13
    "vsphere-dr-keep-20270115T070000Z",  # a longer prefix
    "backup-20270115T070000Z",  # another tool's prefix, our format
    "vsphere-drx-20270115T070000Z",
    "VSPHERE-DR-20270115T070000Z",  # the prefix is case-sensitive
    "20270115T070000Z",
])
def test_a_name_that_is_not_the_prefix_and_our_timestamp_is_a_persons(name: str) -> None:
    assert not is_ours(persons("s1", name, 0), PREFIX)


def test_keep_below_one_is_refused_a_vm_is_never_left_without_a_snapshot() -> None:
    snaps = (ours("s1", 0), ours("s2", 1))
    for keep in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            to_prune(snaps, PREFIX, keep, new="s2")


def test_ours_beyond_keep_go_oldest_first() -> None:
    snaps = (ours("s3", 2), ours("s1", 0), ours("s5", 4), ours("s2", 1), ours("s4", 3))
    assert morefs(to_prune(snaps, PREFIX, keep=2, new="s5")) == ["s1", "s2", "s3"]
    assert morefs(to_prune(snaps, PREFIX, keep=1, new="s5")) == ["s1", "s2", "s3", "s4"]


def test_nothing_goes_while_there_are_no_more_than_keep() -> None:
    snaps = (ours("s1", 0), ours("s2", 1))
    assert to_prune(snaps, PREFIX, keep=2, new="s2") == []
    assert to_prune(snaps, PREFIX, keep=5, new="s2") == []
    assert to_prune((ours("s1", 0),), PREFIX, keep=1, new="s1") == [], "the only one stays"


def test_a_new_snapshot_that_cannot_be_seen_prunes_nothing() -> None:
    """vCenter said it created s9, but the VM's snapshots do not show it: keep every old one."""
    snaps = (ours("s1", 0), ours("s2", 1), ours("s3", 2))
    assert to_prune(snaps, PREFIX, keep=1, new="s9") == []
    assert to_prune((), PREFIX, keep=1, new="s9") == []


def test_a_persons_snapshots_are_never_pruned_and_do_not_count_towards_keep() -> None:
    snaps = (
        persons("p1", "before-upgrade", -10),
        persons("p2", "vsphere-dr-manual", -5),  # our prefix, not our format
        persons("p3", "backup-20270101T000000Z", -3),  # our format, another prefix
        ours("s1", 0), ours("s2", 1), ours("s3", 2),
        persons("p4", "after-upgrade", 3),
    )
    pruned = to_prune(snaps, PREFIX, keep=2, new="s3")
    assert morefs(pruned) == ["s1"], "the oldest snapshots are a person's, yet only ours go"


def test_the_new_snapshot_is_never_pruned_even_when_its_clock_is_behind() -> None:
    """vCenter's time for the new snapshot is older than ours already there (a clock set back):
    the new one is kept all the same, and the VM keeps at least ``keep`` of ours."""
    snaps = (ours("s1", 0), ours("s2", 1), ours("s3", 2), ours("new", -1))
    pruned = to_prune(snaps, PREFIX, keep=2, new="new")
    assert "new" not in morefs(pruned)
    assert len(snaps) - len(pruned) >= 2


def test_the_new_snapshot_need_not_be_ours_to_be_seen() -> None:
    """A snapshot created with another prefix (the prefix changed meanwhile) still proves the
    creation worked; only snapshots named with the current prefix are rotated."""
    snaps = (ours("s1", 0), ours("s2", 1), persons("n", "renamed-20270115T100000Z", 3))
    assert morefs(to_prune(snaps, PREFIX, keep=1, new="n")) == ["s1"]


def test_newest_ours_ignores_a_persons_newer_snapshot() -> None:
    snaps = (ours("s1", 0), ours("s2", 2), ours("s0", -1), persons("p", "after-upgrade", 5),
             persons("q", "vsphere-dr-latest", 6))
    newest = newest_ours(snaps, PREFIX)
    assert newest is not None and newest.moref == "s2"
    assert newest_ours((persons("p", "before-upgrade", 0),), PREFIX) is None
    assert newest_ours((), PREFIX) is None
