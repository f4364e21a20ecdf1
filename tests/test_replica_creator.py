"""The Replica Creator (modules/replica_creator.py) against the fake vCenter, without the simulator.

What a user cares about: every protected VM has up to ``keep`` powered-off replicas, each made
from one of its vsphere-dr snapshots, on a host and datastore that survive its own host; a new
replica is verified before an old one is deleted (never zero); a fault on one VM costs the others
nothing and shows the round failed; a replica never becomes a monitored VM of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modules.replica_creator import FIELD, KIND, ReplicaCreator
from modules.snapshot_creator import SnapshotCreator
from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import SNAPSHOT_TIME, Clock, journal, lab
from vsphere_dr.errors import RoundIncomplete, SettingsError, VSphereFault
from vsphere_dr.journal import Journal
from vsphere_dr.replicas import mark_text, parse_mark, replica_name, to_prune
from vsphere_dr.settings import Settings

T0 = SNAPSHOT_TIME  # web-01's snapshot in the lab


def settings(**replication: Any) -> Settings:
    values = {"enabled": True, "hosts": "esx-1, esx-2, esx-3", "datastores": "ds-shared, ds-local3", **replication}
    return Settings.model_validate({"vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
                                    "replication": values})


@pytest.fixture
def vc() -> FakeVCenter:
    """web-01 on esx-1 and app-01 on esx-3 (its own local datastore), each with one vsphere-dr
    snapshot; esx-1 and esx-2 share ds-shared."""
    vc = lab()
    vc.add_vm("vm-3", "app-01", "host-3", "10.0.0.3")
    snapshot(vc, "vm-3", T0)
    return vc


def snapshot(vc: FakeVCenter, vm: str, when: datetime) -> None:
    vc.add_snapshot(vm, f"snap-{vm}-{when:%H%M}", f"vsphere-dr-{when:%Y%m%dT%H%M%SZ}", when)


@pytest.fixture
def j(tmp_path: Path) -> Journal:
    return journal(tmp_path, Clock())


def creator(vc: FakeVCenter, j: Journal, chosen: Settings | None = None) -> ReplicaCreator:
    fixed = chosen or settings()
    return ReplicaCreator(vc.gateway, j, lambda: fixed)


def replicas(vc: FakeVCenter, vm: str) -> list[Any]:
    inv = vc.inventory()
    return inv.replicas_of(inv.vms[vm])


def test_a_round_makes_one_verified_replica_per_vm_where_its_host_cannot_take_it_down(vc: FakeVCenter,
                                                                                   j: Journal) -> None:
    report = creator(vc, j).run()
    assert set(report.created) == {"web-01", "app-01"} and report.failed == {}
    (web,) = replicas(vc, "vm-1")
    assert (web.name, web.power_state) == (replica_name("web-01", "-replica", T0), "poweredOff")
    assert web.host == "host-3" and web.datastores == ("ds-local3",), "not its host, not its datastore"
    (app,) = replicas(vc, "vm-3")
    assert app.host in ("host-1", "host-2") and app.datastores == ("ds-shared",), "never ds-local3: only esx-3 mounts it"
    assert web.replica is not None and web.replica.source_uuid == "uuid-vm-1" and web.replica.taken == T0
    assert vc.vms[web.moref].custom == {FIELD: "uuid-vm-1"}
    assert {a.state for a in j.actions() if a.kind == KIND} == {"done"}
    assert {s.vm_name: s.newest_at for s in j.replica_status()} == {"web-01": T0.timestamp(),
                                                                     "app-01": T0.timestamp()}


def test_replicas_are_not_vms_of_their_own(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j).run()
    (web,) = replicas(vc, "vm-1")
    assert web.ip == "10.0.0.1", "the fake's clone keeps the guest address, as vcsim's does"
    assert [vm.name for vm in vc.inventory().monitored_vms()] == ["app-01", "web-01"]
    SnapshotCreator(vc.gateway, j, lambda: settings()).run()
    assert vc.vms[web.moref].snapshots == [], "a replica is never snapshotted"


def test_a_second_round_on_the_same_snapshot_makes_nothing_new(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j).run()
    clones = vc.kinds_of_change().count("clone_from_snapshot")
    report = creator(vc, j).run()
    assert report.created == {} and set(report.kept) == {"web-01", "app-01"}
    assert vc.kinds_of_change().count("clone_from_snapshot") == clones and "destroy" not in vc.kinds_of_change()


def test_rotation_keeps_keep_replicas_newest_first_never_zero(vc: FakeVCenter, j: Journal) -> None:
    for hours in range(4):
        snapshot(vc, "vm-1", T0 + timedelta(hours=hours))
        creator(vc, j).run()
    kept = replicas(vc, "vm-1")
    assert [r.replica.taken for r in kept] == [T0 + timedelta(hours=2), T0 + timedelta(hours=3)]
    assert vc.kinds_of_change().count("destroy") == 2 + 0, "app-01's one replica is never pruned"


def test_a_clone_fault_on_one_vm_fails_the_round_but_not_the_others(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j).run()
    snapshot(vc, "vm-1", T0 + timedelta(hours=1))
    snapshot(vc, "vm-3", T0 + timedelta(hours=1))
    clone = vc.gateway.vms.clone_from_snapshot

    def web_fails(vm: str, *args: Any) -> str:
        if vm == "vm-1":
            raise VSphereFault("vCenter fault NoDiskSpace while cloning vm-1", "NoDiskSpace")
        return clone(vm, *args)

    vc.gateway.vms.clone_from_snapshot = web_fails  # type: ignore[method-assign]
    with pytest.raises(RoundIncomplete, match="1 failed.*web-01: cloning .*NoDiskSpace"):
        creator(vc, j).run()
    assert [r.replica.taken for r in replicas(vc, "vm-1")] == [T0], "web-01 keeps its replica"
    assert [r.replica.taken for r in replicas(vc, "vm-3")] == [T0, T0 + timedelta(hours=1)], "app-01 got its own"
    status = {s.vm_name: s for s in j.replica_status()}
    assert "NoDiskSpace" in status["web-01"].last_error and status["web-01"].newest_at == T0.timestamp()
    assert status["app-01"].last_error == ""


def test_a_replica_that_landed_elsewhere_is_not_trusted_and_nothing_is_pruned(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j).run()
    snapshot(vc, "vm-1", T0 + timedelta(hours=1))
    clone = vc.gateway.vms.clone_from_snapshot

    def lands_on_esx2(vm: str, snap: str | None, name: str, host: str, *rest: Any) -> str:
        return clone(vm, snap, name, "host-2", rest[0], "ds-shared", *rest[2:])

    vc.gateway.vms.clone_from_snapshot = lands_on_esx2  # type: ignore[method-assign]
    with pytest.raises(RoundIncomplete, match="landed on esx-2, not on esx-3"):
        creator(vc, j, settings(keep=1)).run()
    assert len(replicas(vc, "vm-1")) == 2 and "destroy" not in vc.kinds_of_change()


def test_a_replica_started_by_a_failover_is_never_pruned(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j).run()
    (first,) = replicas(vc, "vm-1")
    vc.vms[first.moref].power_state = "poweredOn"
    snapshot(vc, "vm-1", T0 + timedelta(hours=1))
    creator(vc, j, settings(keep=1)).run()
    assert first.moref in vc.vms and len(replicas(vc, "vm-1")) == 2


def test_no_target_that_survives_the_vm_is_a_failure_with_the_reason(vc: FakeVCenter, j: Journal) -> None:
    with pytest.raises(RoundIncomplete, match="app-01: no replication datastore"):
        creator(vc, j, settings(hosts="esx-1, esx-3", datastores="ds-local3")).run()  # only app-01's host mounts it
    vc.hosts["host-3"].connection_state = "notResponding"
    snapshot(vc, "vm-1", T0 + timedelta(hours=1))
    with pytest.raises(RoundIncomplete, match="web-01: no replication target host"):
        creator(vc, j, settings(hosts="esx-1, esx-3")).run()


def test_vms_skipped_and_why(vc: FakeVCenter, j: Journal) -> None:
    vc.add_vm("vm-4", "new-01", "host-2", "10.0.0.4")  # no snapshot yet
    vc.hosts["host-3"].connection_state = "notResponding"
    j.open_incident("vm-1", "web-01", "test", 0.0)
    report = creator(vc, j).run()
    assert report.skipped == {"web-01": "under recovery", "app-01": "its host is not connected",
                              "new-01": "no vsphere-dr snapshot yet"}
    assert "clone_from_snapshot" not in vc.kinds_of_change()


def test_disabled_does_nothing_and_unknown_targets_are_named(vc: FakeVCenter, j: Journal) -> None:
    assert creator(vc, j, settings(enabled=False)).run().summary().startswith("0 created")
    assert vc.changes == []
    with pytest.raises(SettingsError, match="esx-9, cluster cl-x, datastore ds-nope"):
        creator(vc, j, settings(hosts="esx-9", cluster="cl-x", datastores="ds-nope")).run()


def test_a_cluster_as_target(vc: FakeVCenter, j: Journal) -> None:
    creator(vc, j, settings(hosts="", cluster="cluster-1", datastores="ds-shared")).run()
    (app,) = replicas(vc, "vm-3")
    assert app.host in ("host-1", "host-2")


class Crash(BaseException):
    pass


def test_a_crash_after_the_clone_is_settled_by_the_next_round_without_a_second_clone(vc: FakeVCenter,
                                                                                   j: Journal) -> None:
    clone = vc.gateway.vms.clone_from_snapshot

    def clone_then_die(*args: Any) -> str:
        clone(*args)
        raise Crash

    vc.gateway.vms.clone_from_snapshot = clone_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        creator(vc, j).run()
    vc.gateway.vms.clone_from_snapshot = clone  # type: ignore[method-assign]
    creator(vc, j).run()
    assert vc.kinds_of_change().count("clone_from_snapshot") == 2, "one per VM, none twice"
    assert [a.state for a in j.actions() if a.vm == "vm-1"] == ["done"]
    assert len(replicas(vc, "vm-1")) == 1


def test_settings_refuse_an_enabled_replication_without_a_target() -> None:
    with pytest.raises(ValueError, match="target hosts or a cluster"):
        settings(hosts="")
    with pytest.raises(ValueError, match="target datastores"):
        settings(datastores="")


def test_the_mark_reads_back_and_keep_is_never_zero(vc: FakeVCenter) -> None:
    vm = vc.inventory().vms["vm-1"]
    mark = parse_mark("a person's note\n" + mark_text(vm, "vsphere-dr-20270115T070000Z", T0))
    assert mark is not None and (mark.source_uuid, mark.source_name, mark.taken) == ("uuid-vm-1", "web-01", T0)
    assert parse_mark("vsphere-dr: copy of web-01") is None
    with pytest.raises(ValueError):
        to_prune([], 0, "vm-9")
    assert to_prune([vm], 1, "not-there") == [], "a replica not seen is no reason to delete the ones seen"


def test_a_groups_replica_interval_is_honoured_per_vm(vc: FakeVCenter, j: Journal) -> None:
    """web-01's group wants a replica every hour, the rest every 4 hours ([replication] interval):
    two hours after the first round, with new snapshots, only web-01 gets a new replica."""
    chosen = Settings.model_validate({
        "vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
        "replication": {"enabled": True, "hosts": "esx-1, esx-2, esx-3", "datastores": "ds-shared, ds-local3"},
        "protection_groups": {"hourly": {"vms": "web-*", "replica_interval_seconds": "3600"}, "rest": {}}})
    later = T0 + timedelta(hours=2)
    ReplicaCreator(vc.gateway, j, lambda: chosen, clock=lambda: T0.timestamp() + 60).run()
    snapshot(vc, "vm-1", later)
    snapshot(vc, "vm-3", later)
    report = ReplicaCreator(vc.gateway, j, lambda: chosen, clock=lambda: later.timestamp() + 60).run()
    assert set(report.created) == {"web-01"}
    assert report.skipped == {"app-01": "not due (its group's interval is 14400 s)"}
