"""Property-based tests of the decision engine over generated situations (hypothesis).

Whatever the hosts, VMs, probes, classifications and history: never two live copies of a VM,
never an action without vCenter, never a change to a VM a person stopped.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.world_builder import NOW, host, inventory, vm, world
from vsphere_dr.decision_engine import HostState, Policy, decide, host_state
from vsphere_dr.plan import ActionKind
from vsphere_dr.signals import VmCondition
from vsphere_dr.world import BackingVm, History, World

POLICY = Policy(failures_before_action=2, isolation_timeout=60, max_restarts=2, spare_hosts=("esx-spare",))


@st.composite
def worlds(draw: st.DrawFn) -> World:
    hosts = []
    for n in range(1, draw(st.integers(1, 4)) + 1):
        state = draw(st.sampled_from(["connected", "connected", "notResponding", "disconnected"]))
        hosts.append(host(n, cluster=draw(st.sampled_from(["c1", "c2"])), state=state,
                          stores=tuple(draw(st.sets(st.sampled_from(["ds-a", "ds-b"]), min_size=1))),
                          maintenance=draw(st.booleans()) and draw(st.booleans()),
                          free_mb=draw(st.integers(0, 60000))))
    vms = [vm(n, draw(st.integers(1, len(hosts))), power=draw(st.sampled_from(["poweredOn", "poweredOff"])),
              snapshot=draw(st.booleans()), store=draw(st.sampled_from(["ds-a", "ds-b"])))
           for n in range(1, draw(st.integers(1, 6)) + 1)]
    inv = inventory(hosts, vms)
    ha = draw(st.sets(st.sampled_from(["c1", "c2"])))
    inv = replace(inv, compute_resources={m: replace(r, ha_restarts_vms=m in ha)
                                          for m, r in inv.compute_resources.items()})
    down = {v.moref: draw(st.sampled_from(list(VmCondition))) for v in vms}
    down = {m: c for m, c in down.items() if c != VmCondition.RESPONDING}
    silent = {h.moref: draw(st.floats(0, 1000)) for h in hosts if draw(st.booleans())}
    morefs = [v.moref for v in vms]
    history = History(recoveries={m: draw(st.integers(0, 3)) for m in morefs},
                      busy=frozenset(draw(st.sets(st.sampled_from(morefs)))),
                      replaced={m: f"copy-of-{m}" for m in draw(st.sets(st.sampled_from(morefs)))},
                      once_tried={(kind, h.moref): NOW - draw(st.floats(0, 900))
                                  for h in hosts for kind in ("revive_host", "add_spare_host") if draw(st.booleans())})
    backing = {h.moref: BackingVm(h.moref, f"vm-9{i}", f"nested-{i}", "poweredOff", None)
               for i, h in enumerate(hosts) if draw(st.booleans())}
    ill = frozenset(draw(st.sets(st.sampled_from(morefs))))
    policy_world = world(inv, down, silent, failures=draw(st.integers(0, 4)), history=history, backing=backing,
                         ill=ill)
    return policy_world


@settings(max_examples=400, deadline=None)
@given(worlds(), st.sampled_from(["incident", "reset", "recover"]))
def test_never_two_live_copies(w: World, response: str) -> None:
    plan = decide(w, replace(POLICY, ill_response=response))
    assert w.inventory is not None
    copies = [a for a in plan.actions if a.kind.creates_copy]
    assert len({a.target for a in copies}) == len(copies), "one copy per VM per plan"
    for action in copies:
        vm_ = w.inventory.vms[action.target]
        origin = w.inventory.hosts[vm_.host or ""]
        state, _ = host_state(origin, w.hosts.get(origin.moref), w.now, POLICY)
        assert state == HostState.FAILED, "a copy only when the original's host failed by probe and vCenter"
        assert w.vms[action.target].classification.condition != VmCondition.RESPONDING
        assert action.target not in w.history.replaced and action.target not in w.history.busy
        assert getattr(action.params, "host", None) != vm_.host, "never a copy on the failed host"
    targets = {a.target for a in plan.actions if a.kind.changes_vcenter}
    assert len(targets) == len([a for a in plan.actions if a.kind.changes_vcenter]), "one change per target"


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_never_act_without_vcenter(w: World) -> None:
    plan = decide(replace(w, inventory=None, unreachable_reason="timed out"), POLICY)
    assert plan.actions == () and "no action" in plan.notes[0]


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_never_touch_a_vm_a_person_stopped(w: World) -> None:
    stopped = {m for m, view in w.vms.items() if view.classification.condition == VmCondition.STOPPED_BY_PERSON}
    plan = decide(w, POLICY)
    # Registered again as it was (off) when its failed host is removed: that is all.
    assert not any(a.target in stopped for a in plan.actions
                   if a.target not in w.history.replaced and a.kind != ActionKind.REREGISTER_AS_WAS)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_targets_are_live_hosts_with_room_counted_across_the_plan(w: World) -> None:
    assert w.inventory is not None
    plan = decide(w, POLICY)
    placed: dict[str, int] = {}
    for action in plan.actions:
        if action.kind == ActionKind.REGISTER_ELSEWHERE:
            target = w.inventory.hosts[action.params.host]
            assert target.usable
            placed[target.moref] = placed.get(target.moref, 0) + w.inventory.vms[action.target].memory_mb
    for moref, mb in placed.items():
        h = w.inventory.hosts[moref]
        assert mb <= h.memory_mb_total - h.memory_mb_used


@settings(max_examples=300, deadline=None)
@given(worlds(), st.sampled_from(["observe", "act"]))
def test_never_race_vsphere_ha_into_two_copies(w: World, with_ha: str) -> None:
    """Where vSphere HA restarts a failed host's VMs, vsphere-dr makes no copy of them (unless told to act)."""
    assert w.inventory is not None
    plan = decide(w, replace(POLICY, with_vsphere_ha=with_ha))
    for action in plan.actions:
        if action.kind.creates_copy and with_ha == "observe":
            origin = w.inventory.hosts[w.inventory.vms[action.target].host or ""]
            assert not w.inventory.compute_resources[origin.compute_resource or ""].ha_restarts_vms


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_a_host_is_removed_only_when_failed_and_none_of_its_vms_answers(w: World) -> None:
    """Removing a host takes its VMs out of vCenter: never for a host that may only be isolated,
    and never without a registration planned for every one of its VMs."""
    assert w.inventory is not None
    plan = decide(w, POLICY)
    for action in plan.actions:
        if action.kind != ActionKind.REMOVE_FAILED_HOST:
            continue
        state, _ = host_state(w.inventory.hosts[action.target], w.hosts.get(action.target), w.now, POLICY)
        assert state == HostState.FAILED
        on_it = {vm.moref for vm in w.inventory.vms.values() if vm.host == action.target}
        assert not any(w.vms[m].classification.condition == VmCondition.RESPONDING for m in on_it if m in w.vms)
        registered = {a.target for a in plan.actions
                      if a.kind in (ActionKind.REGISTER_ELSEWHERE, ActionKind.REREGISTER_AS_WAS)}
        assert on_it <= registered, "nothing disappears from the inventory"
