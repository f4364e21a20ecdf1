"""Protection groups: which VMs are protected, by which group and why not; per-group schedules and
priorities as the Snapshot Creator and the planner honour them."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from modules.snapshot_creator import SnapshotCreator
from tests.fake_vcenter import FakeVCenter
from tests.world_builder import NOW, failed_host, host, inventory, replica, vm, world
from vsphere_dr.decision_engine import Policy, Strategy, decide, failover_strategy
from vsphere_dr.errors import SettingsError
from vsphere_dr.journal import Journal
from vsphere_dr.plan import ActionKind
from vsphere_dr.protection import group_vms, not_due, protected_vms, verdicts
from vsphere_dr.records import Inventory
from vsphere_dr.settings import Settings, load_settings
from vsphere_dr.signals import VmCondition
from vsphere_dr.snapshot_rotation import snapshot_name


def settings(groups: dict[str, dict[str, str]] | None = None, **protection: str) -> Settings:
    raw: dict[str, object] = {"vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
                              "protection": protection, "inventory": {"vhost_backing": "esx-9 = app-09"}}
    if groups:
        raw["protection_groups"] = groups
    return Settings.model_validate(raw)


def lab() -> Inventory:
    """Hosts in clusters prod and test; VMs in folders, one with custom attributes, one without IP."""
    hosts = [host(1, cluster="prod"), host(2, cluster="test")]
    vms = [
        replace(vm(1, 1), name="web-01", folder_path="/dc/vm/prod/web", attributes=(("dr-tier", "gold"),)),
        replace(vm(2, 1), name="web-02", folder_path="/dc/vm/prod/web"),
        replace(vm(3, 1), name="db-01", folder_path="/dc/vm/prod", attributes=(("dr-tier", "silver"),),
                tags=(("backup", "nightly"), ("dr-plan", "tier-1"))),
        replace(vm(4, 2), name="scratch-01", folder_path="/dc/vm/test"),
        replace(vm(5, 2), name="build-01", folder_path="/dc/vm/test", ip=None),
        replace(vm(9, 2), name="app-09", folder_path="/dc/vm"),
    ]
    return inventory(hosts, vms + [replace(replica(vms[0], 7, 2), folder_path="/dc/vm")])


def why(s: Settings, inv: Inventory | None = None) -> dict[str, tuple[bool, str, str | None]]:
    inv = inv or lab()
    return {inv.vms[moref].name: (v.protected, v.reason, v.group) for moref, v in verdicts(inv, s).items()}


def test_without_groups_every_vm_with_an_ip_is_protected_as_before() -> None:
    found = why(settings())
    assert found == {
        "web-01": (True, "in group default", "default"), "web-02": (True, "in group default", "default"),
        "db-01": (True, "in group default", "default"), "scratch-01": (True, "in group default", "default"),
        "build-01": (False, "no IP address (VMware Tools reports none)", None),
        "app-09": (True, "backing VM of nested host esx-9 (snapshot_creator_vhost)", None),
        "web-01-replica-1": (False, "a vsphere-dr replica of web-01", None),
    }
    # The Snapshot Creator's VMs are today's: monitored ones but the nested host's backing VM.
    assert [v.name for v in protected_vms(lab(), settings())] == ["db-01", "scratch-01", "web-01", "web-02"]


def test_groups_by_name_folder_cluster_and_attribute_first_group_wins() -> None:
    s = settings({"gold": {"attributes": "dr-tier = gold"},
                  "web": {"folders": "/dc/vm/prod/web"},
                  "prod": {"clusters": "pr*", "vms": "db-*, web-*"}})
    found = why(s)
    assert found["web-01"] == (True, "in group gold", "gold")
    assert found["web-02"] == (True, "in group web", "web")
    assert found["db-01"] == (True, "in group prod", "prod")
    assert found["scratch-01"] == (False, "in no protection group", None)


def test_a_folder_takes_the_vms_below_it_and_criteria_of_different_keys_must_all_match() -> None:
    s = settings({"prod": {"folders": "/dc/vm/prod", "vms": "web-*"}})
    assert [v.name for v in group_vms(lab(), s, "prod")] == ["web-01", "web-02"]
    s = settings({"silver": {"attributes": "dr-tier = s*, missing = x"}})
    assert group_vms(lab(), s, "silver") == []


def test_vcenter_tags_choose_and_exclude_by_category_and_tag_pattern() -> None:
    s = settings({"tier": {"tags": "dr-plan = tier-*"}, "rest": {}})
    assert why(s)["db-01"] == (True, "in group tier", "tier")
    assert why(s)["web-01"] == (True, "in group rest", "rest")
    assert why(settings({"t": {"tags": "backup = tier-*"}}))["db-01"][2] is None  # the category must match too
    s = settings(exclude_tags="backup = night*")
    assert why(s)["db-01"] == (False, "excluded by [protection] exclude_tags = backup=night*", None)


def test_tags_are_read_only_when_a_group_or_an_exclusion_uses_them() -> None:
    from vsphere_dr.protection import needs_tags
    assert not needs_tags(settings({"web": {"vms": "web-*", "attributes": "a = b"}}))
    assert needs_tags(settings({"web": {"tags": "dr-plan = tier-1"}}))
    assert needs_tags(settings(exclude_tags="backup = none"))


def test_excludes_take_precedence_over_any_group() -> None:
    s = settings({"all": {"exclude": "web-02"}}, exclude="scratch-*", exclude_attributes="dr-tier = silver")
    found = why(s)
    assert found["scratch-01"] == (False, "excluded by [protection] exclude = scratch-*", None)
    assert found["db-01"] == (False, "excluded by [protection] exclude_attributes = dr-tier=silver", None)
    assert found["web-02"] == (False, "in no protection group", None)
    assert found["web-01"] == (True, "in group all", "all")
    s = settings(exclude_folders="/dc/vm/prod", exclude_clusters="test")
    assert why(s)["web-01"] == (False, "excluded by [protection] exclude_folders = /dc/vm/prod", None)
    assert why(s)["scratch-01"] == (False, "excluded by [protection] exclude_clusters = test", None)


def test_group_vms_names_an_unknown_group() -> None:
    with pytest.raises(KeyError, match="no protection group 'nope'"):
        group_vms(lab(), settings({"web": {"vms": "web-*"}}), "nope")
    assert [v.name for v in group_vms(lab(), settings(), "default")] == ["db-01", "scratch-01", "web-01", "web-02"]


def test_group_sections_in_the_ini_are_validated_with_their_section_named(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[vcenter]\nhost = vc\nuser = u\npassword = p\n[protection.web]\nvms = web-*\n"
                    "folders = prod\nrestart_priority = urgent\ncolour = red\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    text = str(caught.value)
    assert "[protection.web] folders = 'prod': prod: a folder is an inventory path from the root" in text
    assert "[protection.web] restart_priority = 'urgent': Input should be 'high', 'medium' or 'low'" in text
    assert "[protection.web] colour: unknown key" in text and "red" not in text
    path.write_text("[vcenter]\nhost = vc\nuser = u\npassword = p\n[protection.web]\nvms = web-*\n"
                    "[protection.db]\nvms = db-*\nrpo_target_seconds = 900\n", encoding="utf-8")
    loaded = load_settings(path)
    assert list(loaded.protection_groups) == ["web", "db"]
    assert loaded.protection_groups["db"].rpo_target_seconds == 900


def test_a_group_name_is_a_plain_word(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[vcenter]\nhost = vc\nuser = u\npassword = p\n[protection.web tier]\nvms = web-*\n",
                    encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines()[1] == "  [protection.web tier]: a group's name is letters, digits, '_' and '-'"


def test_a_group_interval_with_a_cron_round_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[protection.web\] snapshot_interval_seconds needs \[snapshots\] "
                                         "interval_seconds, not cron"):
        Settings.model_validate({"vcenter": {"host": "vc", "user": "u", "password": "p"},
                                 "snapshots": {"cron": "0 * * * *"},
                                 "protection_groups": {"web": {"snapshot_interval_seconds": "900"}}})


def test_not_due_until_its_groups_interval_give_or_take_half_a_round() -> None:
    assert not_due(None, 900, NOW, 150) is None
    assert not_due(NOW - 100, None, NOW, 150) is None  # no interval of its own: every round
    assert not_due(NOW - 800, 900, NOW, 150) is None  # 800 + 150 >= 900: this round is nearest
    assert not_due(NOW - 600, 900, NOW, 150) == "not due (its group's interval is 900 s)"


def test_snapshot_round_honours_each_groups_interval(tmp_path: Path) -> None:
    """A 15-minute group and a default hourly one: the round runs every 15 minutes, and the
    default group's VMs get their snapshot only once an hour."""
    taken = datetime.fromtimestamp(NOW, timezone.utc) - timedelta(minutes=20)
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "c1")
    vc.add_host("host-1", "esx-1", "domain-c1", ("ds",))
    for moref, name in (("vm-1", "web-01"), ("vm-2", "db-01")):
        vc.add_vm(moref, name, "host-1", "10.0.0.1")
        vc.add_snapshot(moref, f"snap-{name}", snapshot_name("vsphere-dr", taken), taken)
    s = settings({"fast": {"vms": "web-*", "snapshot_interval_seconds": "900"}, "rest": {}})
    journal = Journal(tmp_path / "j.sqlite")
    try:
        report = SnapshotCreator(vc.gateway, journal, lambda: s, threading.Event(), lambda: NOW).run()
    finally:
        journal.close()
    assert list(report.created) == ["web-01"]
    assert report.skipped == {"db-01": "not due (its group's interval is 3600 s)"}


def test_the_planner_recovers_protected_vms_only_with_their_groups_priority() -> None:
    s = settings({"db": {"vms": "db-*", "restart_priority": "high"}, "web": {"vms": "web-*"}})
    inv = lab()
    inv = replace(inv, hosts={**inv.hosts, "host-2": failed_host(inv.hosts["host-2"])})
    down = {v.moref: VmCondition.FAILED for v in inv.monitored_vms()}
    plan = decide(world(inv, down, silent_hosts={"host-2": 600}), Policy.from_settings(s))
    restarts = {a.name: a.priority for a in plan.actions if a.kind == ActionKind.RESTART_FROM_SNAPSHOT}
    assert restarts == {"db-01": 0, "web-01": 1, "web-02": 1}
    assert "scratch-01: not protected (in no protection group): no automatic recovery" in plan.notes
    assert not [a for a in plan.actions if a.name == "scratch-01"]


def test_failover_strategy_is_the_planners_register_replica_or_none() -> None:
    shared = host(1, stores=("ds-shared",))
    other = host(2, stores=("ds-shared", "ds-other"))
    alone = host(3, stores=("ds-local",))
    web, local = vm(1, 1), vm(2, 3, store="ds-local")
    lonely = vm(4, 3, store="ds-local")
    inv = inventory([shared, other, alone], [web, local, lonely, replica(local, 3, 2)])
    policy = Policy()
    assert failover_strategy(inv, web, policy)[0] == Strategy.REGISTER
    assert failover_strategy(inv, local, policy) == (
        Strategy.REPLICA, "no other host mounts its datastores: its replica app-02-replica-1 is started")
    assert failover_strategy(inv, lonely, policy)[0] == Strategy.NONE
