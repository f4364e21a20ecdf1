"""The Ping/Alarm Administrator against the bundled simulator: alarms, events, probes, classification.

One private simulator of the example topology for the module: the world is set up once (alarms
ensured, then a person's power-off, a guest crash and a host failure) and each test reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from modules.ping_alarm_administrator import PingAlarmAdministrator
from tests.chaos import chaos
from tests.sim_world import client, example_topology_data, own_simulator, probe_port, run_task, write_topology
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.probes import Prober
from vsphere_dr.records import Inventory
from vsphere_dr.settings import MonitoringSettings, Settings, VCenterSettings
from vsphere_dr.signals import Classification, VmCondition
from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import generate

pytestmark = pytest.mark.live

DOWN_HOST = "esx-p2.lab.local"


def settings_for(sim: Simulator, port: int) -> Settings:
    return Settings(vcenter=VCenterSettings(host=sim.host, port=sim.port, user="vsphere-dr@vsphere.local",
                                            password="unused-by-the-simulator", insecure_http=True),
                    monitoring=MonitoringSettings(probe_port=port, probe_timeout_seconds=0.5))


def administrator(settings: Settings) -> PingAlarmAdministrator:
    return PingAlarmAdministrator(VCenterGateway(settings.vcenter), lambda: settings)


Sweep = tuple[Inventory, dict[str, bool], dict[str, Classification]]  # inventory, answered, by VM name


@dataclass
class World:
    sim: Simulator
    settings: Settings
    since: datetime
    first_created: int
    monitored: int


@pytest.fixture(scope="module")
def world(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    topology = write_topology(tmp_path_factory.mktemp("ping-alarm"), example_topology_data())
    with own_simulator(vcsim_binary, topology) as sim:
        settings = settings_for(sim, probe_port(topology))
        since = datetime.now(timezone.utc) - timedelta(seconds=5)
        first = administrator(settings)
        inv = first.gateway.inventory()
        report = first.run()
        with client(sim, user="alice@vsphere.local") as alice:
            run_task(alice.vm("web-01").PowerOffVM_Task())
        chaos(sim, "vm_crash", "db-01")
        chaos(sim, "host_down", DOWN_HOST)
        first.gateway.close()
        yield World(sim, settings, since, len(report.created), len(inv.monitored_vms()))


@pytest.fixture(scope="module")
def sweep(world: World) -> Sweep:
    """One sweep as the controller makes it, by a fresh administrator on a fresh session."""
    admin = administrator(world.settings)
    inv = admin.gateway.inventory()
    admin.prepare(inv)
    vms = inv.monitored_vms()
    answers = Prober(world.settings.monitoring).probe(vm.ip for vm in vms if vm.ip)
    answered = {vm.moref: answers[vm.ip] for vm in vms if vm.ip}
    result = admin.classify(inv, answered, world.since)
    admin.gateway.close()
    return inv, answered, {inv.vms[moref].name: c for moref, c in result.items()}


def test_alarms_are_created_once(world: World) -> None:
    assert world.first_created == world.monitored
    again = administrator(world.settings)  # a restarted controller
    report = again.run()
    assert (report.alarms, report.created) == (world.monitored, ())
    assert report.summary() == f"{world.monitored} VM alarms in place, 0 created"
    again.gateway.close()


def test_a_person_s_power_off_is_left_alone(sweep: Sweep) -> None:
    web = sweep[2]["web-01"]
    assert web.condition == VmCondition.STOPPED_BY_PERSON
    assert web.reason.startswith("powered off by alice@vsphere.local at ")


def test_a_crashed_guest_is_failed(sweep: Sweep) -> None:
    db = sweep[2]["db-01"]
    assert db.condition == VmCondition.FAILED
    assert "its guest heartbeat and this tool's alarm are red" in db.reason


def test_the_vms_of_a_failed_host_are_left_to_the_host_decision(sweep: Sweep) -> None:
    inv, _, classes = sweep
    on_host = [vm.name for vm in inv.monitored_vms() if vm.host == inv.host_by_name(DOWN_HOST).moref]
    assert sorted(on_host) == ["app-01", "app-02", "queue-01", "web-03"]
    for name in on_host:
        assert classes[name].condition == VmCondition.UNKNOWN
        assert f"its host {DOWN_HOST} is notResponding: the host decision applies" in classes[name].reason


def test_the_others_respond(sweep: Sweep) -> None:
    responding = {name for name, c in sweep[2].items() if c.condition == VmCondition.RESPONDING}
    assert {"web-02", "cache-01", "app-03", "dev-01", "edge-01"} <= responding


def test_probes_agree_with_the_simulator(world: World, sweep: Sweep) -> None:
    inv, answered, _ = sweep
    for vm in inv.monitored_vms():
        host = inv.hosts[vm.host or ""]
        alive = host.connection_state == "connected" and vm.power_state == "poweredOn" and vm.heartbeat != "red"
        assert answered[vm.moref] is alive, vm.name
    hosts = Prober(world.settings.monitoring).probe(host.address for host in inv.hosts.values())
    assert hosts == {host.address: host.connection_state == "connected" for host in inv.hosts.values()}


def round_trips_of_a_sweep(vcsim_binary: Path, directory: Path, vms_per_host: int) -> tuple[int, int]:
    """(monitored VMs, round trips of prepare + classify) once the alarms exist, on a fresh session."""
    directory.mkdir()
    topology = write_topology(directory, generate(clusters=2, hosts_per_cluster=2, vms_per_host=vms_per_host).data)
    with own_simulator(vcsim_binary, topology, extra_args=["-probes=false"]) as sim:
        settings = settings_for(sim, probe_port(topology))
        administrator(settings).run()
        admin = administrator(settings)
        inv = admin.gateway.inventory()
        before = admin.gateway.round_trips
        admin.prepare(inv)
        admin.classify(inv, {vm.moref: False for vm in inv.monitored_vms()}, datetime.now(timezone.utc))
        return len(inv.monitored_vms()), admin.gateway.round_trips - before


def test_round_trips_do_not_grow_with_the_number_of_vms(vcsim_binary: Path, tmp_path: Path) -> None:
    small = round_trips_of_a_sweep(vcsim_binary, tmp_path / "small", 5)
    large = round_trips_of_a_sweep(vcsim_binary, tmp_path / "large", 50)
    assert (small[0], large[0]) == (20, 200)
    assert small[1] == large[1] == 6  # GetAlarm + one property read; the event collector's 4 calls
