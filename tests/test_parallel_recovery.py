"""Parallel recovery against the fake vCenter: the bounds (never more than max_parallel actions, or
max_parallel_per_host on one host, in flight), the tier order, the dependencies between actions,
a stop, and resume of many unfinished actions at once; each VM recovered exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import Clock, action, journal, registration, settings, tools
from vsphere_dr.errors import VCenterUnreachable
from vsphere_dr.executor import Executor
from vsphere_dr.parallel import Job, Limits, run_jobs
from vsphere_dr.plan import Action, ActionKind
from vsphere_dr.recoveries.power_on import PowerOnParams
from vsphere_dr.recoveries.register_elsewhere import RegisterAndStartParams
from vsphere_dr.recoveries.remove_failed_host import RemoveHostParams
from vsphere_dr.settings import Settings

HOSTS = ("host-1", "host-2", "host-3")


def bounded(max_parallel: int, per_host: int) -> Settings:
    base = settings().model_dump()
    return Settings.model_validate({**base, "recovery": {**base["recovery"], "max_parallel": max_parallel,
                                                         "max_parallel_per_host": per_host}})


def crashed_fleet(per_host: int) -> FakeVCenter:
    """Three live hosts sharing a datastore, ``per_host`` crashed VMs on each."""
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "cluster-1")
    for h, host in enumerate(HOSTS, 1):
        vc.add_host(host, f"esx-{h}", "domain-c1", ("ds-shared",))
        for v in range(per_host):
            vm = vc.add_vm(f"vm-{h}{v:02d}", f"app-{h}{v:02d}", host, f"127.0.{h}.{v + 10}")
            vm.power_state, vm.guest_up = "poweredOff", False
    # Long enough that, even on a loaded machine, the tasks started together are in flight together.
    vc.task_seconds = 0.15
    return vc


def power_ons(vc: FakeVCenter, priority: dict[str, int] | None = None) -> list[Action]:
    chosen = [Action(ActionKind.POWER_ON, vm.moref, vm.name, "test", "crashed", params=PowerOnParams(host=vm.host),
                     priority=(priority or {}).get(vm.name, 1)) for vm in vc.vms.values()]
    return sorted(chosen, key=lambda a: (*a.tier, a.name))


def test_never_more_actions_in_flight_than_max_parallel_nor_per_host(tmp_path: Path) -> None:
    vc = crashed_fleet(per_host=8)
    clock = Clock()
    outcomes = Executor(tools(vc, clock, bounded(5, 2)), journal(tmp_path, clock)).execute_all(
        power_ons(vc), lambda _a: clock())
    assert [o.state for o in outcomes] == ["done"] * 24
    assert vc.tasks.peak == 5, "as many at once as allowed, never more"
    assert max(vc.tasks.peak_on_host.values()) == 2
    assert all(vm.power_state == "poweredOn" for vm in vc.vms.values())
    assert vc.kinds_of_change().count("power_on") == 24, "each VM started once"


def test_every_higher_priority_recovery_starts_before_any_lower_one(tmp_path: Path) -> None:
    vc = crashed_fleet(per_host=6)
    # All on one host, which runs one at a time: the other hosts' medium ones could start meanwhile.
    high = {vm.name: 0 for vm in vc.vms.values() if vm.host == "host-1"}
    clock = Clock()
    j = journal(tmp_path, clock)
    Executor(tools(vc, clock, bounded(4, 1)), j).execute_all(power_ons(vc, high), lambda _a: clock())
    names = [row.vm_name for row in j.actions()]  # in the order they started (their intent journaled)
    assert len(names) == 18
    last_high = max(i for i, name in enumerate(names) if name in high)
    first_other = min(i for i, name in enumerate(names) if name not in high)
    assert len(high) == 6 and last_high < first_other


def failed_host_with(vms: int) -> tuple[FakeVCenter, list[Action]]:
    """host-1 dead with ``vms`` running VMs on shared storage; the plan: remove it, register each on host-2."""
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "cluster-1")
    vc.add_host("host-1", "esx-1", "domain-c1", ("ds-shared",))
    vc.add_host("host-2", "esx-2", "domain-c1", ("ds-shared",))
    for v in range(vms):
        vc.add_vm(f"vm-{v:02d}", f"app-{v:02d}", "host-1", f"127.0.9.{v + 10}")
    regs = [registration(vc, moref) for moref in sorted(vc.vms)]
    vc.hosts["host-1"].connection_state = "notResponding"
    vc.task_seconds = 0.02
    remove = action(ActionKind.REMOVE_FAILED_HOST, RemoveHostParams(host_name="esx-1", standalone_resource=None,
                                                                    vms=tuple(regs)), target="host-1", name="esx-1")
    registers = [action(ActionKind.REGISTER_ELSEWHERE, RegisterAndStartParams(
        registration=reg, failed_host="host-1", failed_host_name="esx-1", host="host-2", host_name="esx-2",
        pool="resgroup-domain-c1"), target=reg.vm, name=reg.name) for reg in regs]
    return vc, [remove, *registers]


def test_registrations_wait_for_their_hosts_removal_and_run_in_parallel(tmp_path: Path) -> None:
    vc, plan = failed_host_with(12)
    clock = Clock()
    outcomes = Executor(tools(vc, clock, bounded(32, 4)), journal(tmp_path, clock)).execute_all(
        plan, lambda _a: clock())
    assert [o.state for o in outcomes] == ["done"] * 13
    changes = vc.kinds_of_change()
    assert changes[0] == "remove_host" and changes.count("register") == 12
    assert vc.tasks.peak_on_host["host-2"] == 4, "registrations in parallel, within the per-host bound"
    assert sorted(vm.name for vm in vc.vms.values() if vc.answers(vm)) == [f"app-{v:02d}" for v in range(12)]


def test_registrations_are_not_started_when_their_hosts_removal_did_not_succeed(tmp_path: Path) -> None:
    vc, plan = failed_host_with(3)
    vc.hosts["host-1"].connection_state = "connected"  # the host came back: its removal is abandoned
    clock = Clock()
    j = journal(tmp_path, clock)
    outcomes = Executor(tools(vc, clock), j).execute_all(plan, lambda _a: clock())
    assert [o.state for o in outcomes] == ["abandoned", "skipped", "skipped", "skipped"]
    assert "not started: esx-1 did not succeed" in outcomes[1].detail
    assert vc.changes == [] and [a.kind for a in j.actions()] == ["remove_failed_host"], "nothing journaled"


def test_a_stop_starts_no_new_action_and_what_was_started_is_continued_on_restart(tmp_path: Path) -> None:
    vc = crashed_fleet(per_host=4)
    clock = Clock()
    j = journal(tmp_path, clock)
    executor = Executor(tools(vc, clock, bounded(2, 8)), j)
    plan = power_ons(vc)
    first = vc.gateway.vms.power_on

    def stop_after_first(vm: str, moved: bool = False) -> None:
        first(vm, moved)
        executor.tools.stop.set()

    vc.gateway.vms.power_on = stop_after_first  # type: ignore[method-assign]
    outcomes = executor.execute_all(plan, lambda _a: clock())
    assert len(outcomes) == 2 and {o.state for o in outcomes} == {"interrupted"}, "the two started, no more"
    assert len(j.unfinished_recoveries()) == 2
    vc.gateway.vms.power_on = first  # type: ignore[method-assign]
    executor.tools.stop.clear()
    resumed = executor.resume_all(j.unfinished_recoveries(), lambda _name: 1)
    assert [o.state for o in resumed] == ["done", "done"] and j.unfinished_actions() == []
    assert vc.kinds_of_change().count("power_on") == 2, "each started VM powered on once"


def test_unfinished_actions_are_resumed_in_parallel_and_each_vm_is_registered_once(tmp_path: Path) -> None:
    vc, plan = failed_host_with(10)
    clock = Clock()
    j = journal(tmp_path, clock)
    executor = Executor(tools(vc, clock, bounded(32, 8)), j)
    real_register = vc.gateway.vms.register
    lost = threading.Event()

    def cut_off(*args: str) -> str:
        moref = real_register(*args)
        lost.set()
        raise VCenterUnreachable("lost the connection to vCenter during RegisterVM_Task")

    vc.gateway.vms.register = cut_off  # type: ignore[method-assign]
    outcomes = executor.execute_all(plan, lambda _a: clock())
    assert lost.is_set() and [o.state for o in outcomes[1:]] == ["interrupted"] * 10
    vc.gateway.vms.register = real_register  # type: ignore[method-assign]
    vc.tasks.peak = 0
    resumed = executor.resume_all(j.unfinished_recoveries(), lambda _name: 1)
    assert [o.state for o in resumed] == ["done"] * 10 and j.unfinished_actions() == []
    assert vc.tasks.peak > 1, "resumed concurrently"
    assert vc.kinds_of_change().count("register") == 10, "the registrations made are adopted, not repeated"
    assert sorted(vm.name for vm in vc.vms.values() if vm.power_state == "poweredOn") == \
        [f"app-{v:02d}" for v in range(10)]


def test_a_defect_in_one_action_stops_new_starts_and_is_raised_after_the_others_end() -> None:
    ran: list[int] = []

    def work(index: int) -> str:
        ran.append(index)
        if index == 0:
            raise RuntimeError("defect")
        return "done"

    jobs = [Job(f"a{i}", (0, 1), None) for i in range(3)]
    try:
        run_jobs(jobs, lambda i: lambda: work(i), lambda r: r == "done", lambda i, why: why, Limits(1, 1), threading.Event())
    except RuntimeError as exc:
        assert str(exc) == "defect"
    else:
        raise AssertionError("the defect was swallowed")
    assert ran == [0]
