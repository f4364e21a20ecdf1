"""The gateway against the bundled simulator: what it reads, and what it costs in round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inventory_checks import assert_matches_topology, assert_monitoring_excludes_vms_without_ip
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.records import Inventory
from vsphere_dr.settings import load_settings
from vsphere_dr.simulator import topology as topo
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live


def read(sim: Simulator, write_settings) -> tuple[Inventory, int]:  # type: ignore[no-untyped-def]
    settings = load_settings(write_settings(sim.host, sim.port))
    with VCenterGateway(settings.vcenter) as gateway:
        gateway.about()  # log in first: only the inventory read itself is counted below
        before = gateway.round_trips
        inv = gateway.inventory()
        return inv, gateway.round_trips - before


def test_inventory_matches_topology(sim: Simulator, write_settings, example_topology: topo.Topology) -> None:  # type: ignore[no-untyped-def]
    inv, _ = read(sim, write_settings)
    assert_matches_topology(inv, example_topology)


def test_vms_without_ip_are_not_monitored(sim: Simulator, write_settings, example_topology: topo.Topology) -> None:  # type: ignore[no-untyped-def]
    inv, _ = read(sim, write_settings)
    assert_monitoring_excludes_vms_without_ip(inv, example_topology)


def test_records_are_immutable(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    inv, _ = read(sim, write_settings)
    vm = inv.monitored_vms()[0]
    with pytest.raises(AttributeError):
        vm.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        inv.vms["x"] = vm  # type: ignore[index]


def test_round_trips_do_not_grow_with_vms(sim: Simulator, write_settings, vcsim_binary: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small, small_trips = read(sim, write_settings)
    world = topo.save(topo.generate(clusters=4, hosts_per_cluster=5, vms_per_host=25), tmp_path / "big.json")
    with Simulator(world, binary=vcsim_binary) as big_sim:
        big, big_trips = read(big_sim, write_settings)
    assert len(big.vms) == 500 > 10 * len(small.vms) / 2
    assert big_trips == small_trips <= 5
