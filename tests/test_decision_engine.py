"""The decision engine on plain values: each case of the paper's workflow, and the safety rules."""

from __future__ import annotations

from dataclasses import replace

from tests.world_builder import NOW, SNAP_TIME, failed_host, host, inventory, replica, vm, world
from vsphere_dr.decision_engine import Policy, decide
from vsphere_dr.plan import ActionKind
from vsphere_dr.signals import VmCondition
from vsphere_dr.world import BackingVm, History

POLICY = Policy(failures_before_action=3, isolation_timeout=60, max_restarts=3,
                priorities=(("db-*", "high"), ("app-01", "low")), spare_hosts=("esx-spare",))
LAB = [host(1), host(2), host(3)]


def kinds(plan) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(a.kind.value, a.name) for a in plan.actions]


def test_all_healthy_nothing_to_do() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1), vm(2, 2)])), POLICY)
    assert plan.actions == () and plan.text().startswith("nothing to do")


def test_vcenter_unreachable_no_action() -> None:
    plan = decide(replace(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.FAILED}), inventory=None,
                          unreachable_reason="connection refused"), POLICY)
    assert plan.actions == () and "connection refused" in plan.notes[0] and "no action" in plan.notes[0]


def test_person_powered_off_stays_off() -> None:
    v = vm(1, 1, power="poweredOff")
    plan = decide(world(inventory(LAB, [v]), {v.moref: VmCondition.STOPPED_BY_PERSON}), POLICY)
    assert plan.actions == () and "left as the person wanted" in plan.notes[0]


def test_crashed_vm_on_live_host_is_reverted_and_powered_on_there() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.FAILED}), POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.RESTART_FROM_SNAPSHOT and action.params.host == "host-1"
    assert action.params.snapshot == "snap-1" and "revert to snapshot" in action.reason


def test_failed_vm_waits_for_enough_failed_probes() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.FAILED}, failures=2), POLICY)
    assert plan.actions == () and "2 of 3 failed probes" in plan.notes[0]


def test_unknown_vm_gets_nothing_destructive() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.UNKNOWN}), POLICY)
    assert plan.actions == () and "nothing destructive" in plan.notes[0]


def test_vm_without_snapshot_is_reset_or_powered_on() -> None:
    on, off = vm(1, 1, snapshot=False), vm(2, 1, snapshot=False, power="poweredOff")
    plan = decide(world(inventory(LAB, [on, off]), {"vm-1": VmCondition.FAILED, "vm-2": VmCondition.FAILED}), POLICY)
    assert sorted(kinds(plan)) == [("power_on", "app-02"), ("reset", "app-01")]


def test_host_down_for_good_on_shared_storage_is_removed_and_its_vms_registered_on_another_host() -> None:
    person_off = vm(2, 1, power="poweredOff")
    inv = inventory([failed_host(host(1)), host(2), host(3, cluster="c2")], [vm(1, 1), person_off])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN, "vm-2": VmCondition.STOPPED_BY_PERSON},
                        {"host-1": 120}), POLICY)
    removal, *registrations = plan.actions
    assert removal.kind == ActionKind.REMOVE_FAILED_HOST and removal.target == "host-1"
    assert [r.path for r in removal.params.vms] == ["[ds-shared] app-01/app-01.vmx", "[ds-shared] app-02/app-02.vmx"]
    assert sorted(kinds(plan)[1:]) == [("register_elsewhere", "app-01"), ("reregister_as_was", "app-02")]
    assert all(a.params.host == "host-2" for a in registrations), "same cluster first"
    start = next(a for a in registrations if a.kind == ActionKind.REGISTER_ELSEWHERE)
    assert start.params.mode == "as_is" and start.params.registration.uuid == "uuid-1"


def test_host_down_within_isolation_timeout_waits() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 30}), POLICY)
    assert plan.actions == () and "isolation timeout" in plan.notes[0]


def test_host_answering_probes_but_not_vcenter_is_isolated_no_clone() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}), POLICY)
    assert plan.actions == () and "isolated" in plan.notes[0]


def test_host_silent_but_connected_in_vcenter_no_clone() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.UNKNOWN}, {"host-1": 600}), POLICY)
    assert plan.actions == ()


def test_maintenance_mode_is_not_a_failure() -> None:
    inv = inventory([host(1, maintenance=True), host(2)], [vm(1, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.FAILED}), POLICY)
    assert plan.actions == () and "maintenance" in plan.notes[0]


def test_nested_host_is_revived_first_once_for_all_its_vms() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1), vm(2, 1)])
    backing = {"host-1": BackingVm("host-1", "vm-90", "nested-esx1", "poweredOff", "snap-90", "baseline")}
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN, "vm-2": VmCondition.UNKNOWN}, {"host-1": 120},
                        backing=backing), POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.REVIVE_HOST and action.target == "host-1"
    assert "revert nested-esx1 to 'baseline'" in action.reason


def test_revive_that_did_not_bring_the_host_back_falls_back_to_registration() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    backing = {"host-1": BackingVm("host-1", "vm-90", "nested-esx1", "poweredOn", "snap-90", "baseline")}
    history = History(once_tried={("revive_host", "host-1"): NOW - 60})
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 900}, history=history, backing=backing),
                  POLICY)
    assert kinds(plan) == [("remove_failed_host", "esx1"), ("register_elsewhere", "app-01")]


def test_files_on_the_dead_hosts_local_storage_start_the_newest_replica() -> None:
    web = vm(1, 1, store="ds-local")
    inv = inventory([failed_host(host(1, stores=("ds-local",))), host(2, stores=("ds-other",))],
                    [web, replica(web, 7, 2)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.START_REPLICA and action.params.replica == "vm-7"
    assert action.params.snapshot_created == SNAP_TIME.timestamp(), "the RPO is the replica's age"


def test_an_isolated_hosts_vms_answering_keep_the_host_from_being_removed() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1), vm(2, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), replace(POLICY, spare_hosts=()))
    assert ActionKind.REMOVE_FAILED_HOST not in [a.kind for a in plan.actions], "app-02 still answers"


def test_no_live_host_adds_a_spare_host() -> None:
    inv = inventory([failed_host(host(1)), host(2, maintenance=True)], [vm(1, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.ADD_SPARE_HOST and action.params.spare_host == "esx-spare"


def test_a_failed_revive_still_lets_a_spare_host_be_added_once() -> None:
    """The revive and the spare host are tried once each per outage: one's try is not the other's."""
    inv = inventory([failed_host(host(1)), host(2, maintenance=True)], [vm(1, 1)])
    backing = {"host-1": BackingVm("host-1", "vm-90", "nested-esx1", "poweredOn", "snap-90", "baseline")}
    revived = History(once_tried={("revive_host", "host-1"): NOW - 60})
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 900}, history=revived, backing=backing),
                  POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.ADD_SPARE_HOST and action.params.spare_host == "esx-spare"
    both = History(once_tried={("revive_host", "host-1"): NOW - 60, ("add_spare_host", "host-1"): NOW - 30})
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 900}, history=both, backing=backing),
                  POLICY)
    assert kinds(plan) == [("needs_person", "app-01")]
    assert "adding a spare host did not help" in plan.actions[0].reason


def test_no_live_host_and_no_spare_needs_a_person() -> None:
    inv = inventory([failed_host(host(1))], [vm(1, 1)])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), replace(POLICY, spare_hosts=()))
    assert kinds(plan) == [("needs_person", "app-01")]


def test_admission_check_spreads_vms_over_hosts_with_room() -> None:
    big = [vm(i, 1, memory_mb=30000) for i in range(1, 4)]
    inv = inventory([failed_host(host(1)), host(2, free_mb=62000), host(3, free_mb=40000)], big)
    plan = decide(world(inv, {v.moref: VmCondition.UNKNOWN for v in big}, {"host-1": 120}), POLICY)
    targets = [a.params.host for a in plan.actions if a.kind == ActionKind.REGISTER_ELSEWHERE]
    assert sorted(targets) == ["host-2", "host-2", "host-3"]


def test_vm_powered_off_before_its_host_failed_stays_off() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1, power="poweredOff")])
    plan = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), POLICY)
    assert plan.actions == ()


def test_flapping_vm_goes_to_a_person_after_max_restarts() -> None:
    history = History(recoveries={"vm-1": 3})
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.FAILED}, history=history), POLICY)
    assert kinds(plan) == [("needs_person", "app-01")] and "max_restarts = 3" in plan.actions[0].reason


def test_restart_priority_orders_the_work() -> None:
    vms = [vm(1, 1), replace(vm(2, 1), name="db-01"), vm(3, 1)]
    inv = inventory([failed_host(host(1)), host(2)], vms)
    plan = decide(world(inv, {v.moref: VmCondition.UNKNOWN for v in vms}, {"host-1": 120}), POLICY)
    assert [a.name for a in plan.actions] == ["esx1", "db-01", "app-03", "app-01"], "the host's removal first"


def test_replaced_original_running_again_is_powered_off_first() -> None:
    inv = inventory(LAB, [vm(1, 1), vm(2, 2)])
    plan = decide(world(inv, {"vm-2": VmCondition.FAILED}, history=History(replaced={"vm-1": "vm-77"})), POLICY)
    assert kinds(plan)[0] == ("keep_original_off", "app-01")


def test_busy_vm_is_not_planned_twice() -> None:
    plan = decide(world(inventory(LAB, [vm(1, 1)]), {"vm-1": VmCondition.FAILED},
                        history=History(busy=frozenset({"vm-1"}))), POLICY)
    assert plan.actions == () and "under way" in plan.notes[0]


def test_ill_but_reachable_vm_gets_an_incident_never_a_clone() -> None:
    inv = inventory(LAB, [vm(1, 1)])
    for response, expected in (("incident", "report_ill"), ("reset", "reset"), ("recover", "restart_from_snapshot")):
        plan = decide(world(inv, ill=frozenset({"vm-1"})), replace(POLICY, ill_response=response))
        assert kinds(plan) == [(expected, "app-01")]


def test_plan_lines_say_what_and_why() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    text = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), POLICY).text()
    assert text.startswith("1. remove_failed_host esx1: host esx1 is notResponding and silent to probes for 120 s")
    assert "2. register_elsewhere app-01:" in text and "register its files on esx2" in text



def test_vm_found_powered_off_that_never_ran_under_watch_is_left_off() -> None:
    inv = inventory(LAB, [vm(1, 1, power="poweredOff")])
    w = world(inv, {"vm-1": VmCondition.FAILED})
    w = replace(w, vms={"vm-1": replace(w.vms["vm-1"], seen_running=False)})
    plan = decide(w, POLICY)
    assert plan.actions == () and "never seen running" in plan.notes[0]


def test_vms_removed_with_their_host_are_registered_by_a_later_sweep_from_the_journal() -> None:
    """The controller died after removing the host: the VMs are gone from vCenter, the journal has them."""
    from vsphere_dr.recoveries.registration import Registration
    reg = Registration(vm="vm-1", host="host-1", host_name="esx1", name="app-01", uuid="uuid-1",
                       path="[ds-shared] app-01/app-01.vmx", folder="group-v1", pool="pool-c1",
                       power_state="poweredOn", ip="10.1.0.1", datastores=("ds-shared",))
    inv = inventory([host(2)], [])
    plan = decide(world(inv, history=History(removed={"vm-1": reg})), POLICY)
    (action,) = plan.actions
    assert action.kind == ActionKind.REGISTER_ELSEWHERE and action.params.host == "host-2"
    busy = decide(world(inv, history=History(removed={"vm-1": reg}, busy=frozenset({"vm-1"}))), POLICY)
    assert busy.actions == ()


def test_a_removed_vm_registered_by_a_later_sweep_is_still_reverted_to_its_newest_snapshot() -> None:
    """With registered_vm = revert, the registration planned from the journal (the controller died
    after the removal) reverts to the snapshot the VM had, as the one planned with the removal would."""
    policy = replace(POLICY, registered_vm="revert")
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    first = decide(world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120}), policy)
    removal, planned = first.actions
    (reg,) = removal.params.vms
    later = decide(world(inventory([host(2)], []), history=History(removed={"vm-1": reg})), policy)
    (action,) = later.actions
    assert action.kind == ActionKind.REGISTER_ELSEWHERE and action.params.mode == "revert"
    assert (action.params.snapshot_name, action.params.snapshot_created) == \
        (planned.params.snapshot_name, planned.params.snapshot_created) != (None, None)


def test_a_failed_host_in_a_cluster_whose_vsphere_ha_restarts_vms_is_left_to_ha() -> None:
    inv = inventory([failed_host(host(1)), host(2)], [vm(1, 1)])
    cluster = inv.compute_resources["c1"]
    inv = replace(inv, compute_resources={"c1": replace(cluster, ha_restarts_vms=True)})
    w = world(inv, {"vm-1": VmCondition.UNKNOWN}, {"host-1": 120})
    (action,) = decide(w, POLICY).actions
    assert action.kind == ActionKind.LEFT_TO_HA and not action.kind.changes_vcenter
    assert "vSphere HA" in action.reason and "with_vsphere_ha = observe" in action.reason
    acting = decide(w, replace(POLICY, with_vsphere_ha="act")).actions
    assert acting[0].kind == ActionKind.REMOVE_FAILED_HOST
