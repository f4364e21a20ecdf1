"""Performance samples through the gateway against the bundled simulator: what comes back, and
what a collection costs in round trips (constant in the fleet size, counters resolved once)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.chaos import chaos
from tests.sim_world import client, example_topology_data, own_simulator, run_task, write_topology
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.gateway.performance import COUNTERS, PerformanceReader
from vsphere_dr.health_model import HealthState
from vsphere_dr.health_watch import HealthWatch
from vsphere_dr.records import Inventory
from vsphere_dr.settings import HealthSettings, VCenterSettings, load_settings
from vsphere_dr.simulator import topology as topo
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live


@contextmanager
def gateway_on(sim: Simulator, write_settings) -> Iterator[VCenterGateway]:  # type: ignore[no-untyped-def]
    with VCenterGateway(load_settings(write_settings(sim.host, sim.port)).vcenter) as gateway:
        gateway.about()  # logged in: only what the tests do is counted
        yield gateway


def with_samples(inventory: Inventory) -> set[str]:
    """The VMs vCenter has real-time samples of: running, on a host it reaches."""
    return {vm.moref for vm in inventory.vms.values()
            if vm.power_state == "poweredOn" and vm.connection_state == "connected"}


def costs(gateway: VCenterGateway, read) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    before = gateway.round_trips
    result = read()
    return result, gateway.round_trips - before


def test_every_powered_on_monitored_vm_has_a_sample_with_the_counters(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        inventory = gateway.inventory()
        monitored = {vm.moref for vm in inventory.monitored_vms()}
        samples = gateway.performance.latest(monitored)
    expected = monitored & with_samples(inventory)
    assert set(samples) == expected and len(expected) >= 15
    now = datetime.now(timezone.utc)
    for sample in samples.values():
        assert set(sample.values) == set(COUNTERS)
        assert now - timedelta(minutes=1) < sample.timestamp <= now + timedelta(seconds=5)
        assert 0 <= sample.values["cpu.usage.average"] <= 100  # percent, not vCenter's hundredths
        assert 0 <= sample.values["mem.usage.average"] <= 100


def test_samples_are_immutable_records(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        vm = gateway.inventory().monitored_vms()[0].moref
        sample = gateway.performance.latest([vm])[vm]
    with pytest.raises(TypeError):
        sample.values["cpu.usage.average"] = 0.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        sample.timestamp = datetime.now(timezone.utc)  # type: ignore[misc]


def test_powered_off_vms_and_vms_of_a_failed_host_have_no_sample(  # type: ignore[no-untyped-def]
        vcsim_binary: Path, tmp_path: Path, write_settings) -> None:
    topology = write_topology(tmp_path, example_topology_data())
    with own_simulator(vcsim_binary, topology, ["-probes=false"]) as sim:
        with client(sim) as c:
            run_task(c.vm("web-01").PowerOffVM_Task())
        chaos(sim, "host_down", "esx-p2.lab.local")
        with gateway_on(sim, write_settings) as gateway:
            inventory = gateway.inventory()
            samples = gateway.performance.latest(inventory.vms)
    names = {inventory.vms[moref].name for moref in samples}
    assert "web-01" not in names
    assert not names & {"web-03", "app-01", "app-02", "queue-01"}  # on esx-p2, now not responding
    assert {"web-02", "db-01", "app-03"} <= names
    assert set(samples) == with_samples(inventory)


def test_a_vm_deleted_meanwhile_costs_only_its_own_sample(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        running = with_samples(gateway.inventory())
        gateway.performance.latest(running)  # counters resolved
        samples, trips = costs(gateway, lambda: gateway.performance.latest(running | {"vm-999999"}))
    assert set(samples) == running  # type: ignore[arg-type]
    assert trips == 2  # the faulting QueryPerf, then the one without the missing VM


def test_no_vm_costs_no_round_trip(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        assert costs(gateway, lambda: gateway.performance.latest([])) == ({}, 0)


def collection_costs(sim: Simulator) -> tuple[int, int, int]:
    """VMs sampled, round trips of the first collection, round trips of the second."""
    settings = VCenterSettings(host=sim.host, port=sim.port, user="admin", password="test-password",
                               insecure_http=True, connect_timeout_seconds=120)
    with VCenterGateway(settings) as gateway:
        gateway.about()
        running = with_samples(gateway.inventory())
        first, first_trips = costs(gateway, lambda: gateway.performance.latest(running))
        _, second_trips = costs(gateway, lambda: gateway.performance.latest(running))
    return len(first), first_trips, second_trips  # type: ignore[arg-type]


def test_round_trips_do_not_grow_with_the_fleet(vcsim_binary: Path, tmp_path: Path) -> None:
    found = {}
    for vms_per_host, name in ((5, "small"), (100, "large")):
        world = topo.save(topo.generate(clusters=2, hosts_per_cluster=5, vms_per_host=vms_per_host),
                          tmp_path / f"{name}.json")
        with own_simulator(vcsim_binary, world, ["-probes=false"]) as sim:
            found[name] = collection_costs(sim)
    assert found["small"][0] == 50 and found["large"][0] == 1000
    # First: perfCounter read (counter names -> ids, once per session) + one QueryPerf. Then: QueryPerf only.
    assert found["small"][1:] == found["large"][1:] == (2, 1)


def test_chunks_cost_one_query_each_and_change_nothing(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        running = with_samples(gateway.inventory())
        chunked = PerformanceReader(gateway.session, chunk_size=4)
        chunked.latest(running)
        samples, trips = costs(gateway, lambda: chunked.latest(running))
    assert set(samples) == running  # type: ignore[arg-type]
    assert trips == math.ceil(len(running) / 4)


def test_a_counter_vcenter_lacks_is_skipped_with_one_warning(  # type: ignore[no-untyped-def]
        sim: Simulator, write_settings, caplog: pytest.LogCaptureFixture) -> None:
    with gateway_on(sim, write_settings) as gateway:
        running = with_samples(gateway.inventory())
        reader = PerformanceReader(gateway.session, counters=(*COUNTERS, "bogus.counter.average"))
        with caplog.at_level(logging.WARNING, logger="vsphere_dr.gateway.performance"):
            reader.latest(running)
            samples = reader.latest(running)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bogus.counter.average" in warnings[0]
    assert set(samples) == running
    assert all(set(s.values) == set(COUNTERS) for s in samples.values())


def test_the_samples_feed_the_health_watch(sim: Simulator, write_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        running = with_samples(gateway.inventory())
        verdicts = HealthWatch(HealthSettings(), tmp_path / "m.pkl").observe(gateway.performance.latest(running))
    assert set(verdicts) == running
    assert {v.state for v in verdicts.values()} == {HealthState.WARMING_UP}


def test_an_expired_session_logs_in_again_and_keeps_the_counters(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with gateway_on(sim, write_settings) as gateway:
        running = with_samples(gateway.inventory())
        gateway.performance.latest(running)
        gateway.session.content().sessionManager.Logout()
        samples, trips = costs(gateway, lambda: gateway.performance.latest(running))
    assert set(samples) == running  # type: ignore[arg-type]
    # QueryPerf refused, the new session's RetrieveContent, QueryPerf: no second perfCounter read.
    assert trips == 3
