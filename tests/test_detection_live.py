"""`vsphere-dr run` acts on a failure as soon as the evidence is complete, not at its next sweep.

The regular sweep comes only every 60 s here: the early sweeps (the watcher's wake-up on vCenter's
evidence, then the confirmation cadence) must decide a host failure and a guest crash long before
it. The isolation timeout is the shipped one and counts from when vCenter showed the host
notResponding. (The latencies with every shipped timing are measured by bench/detection.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import chaos
from tests.sim_world import example_topology_data, own_simulator, probe_port, write_topology
from tests.test_daemon_live import Lab, logged_at, said
from vsphere_dr.settings import MonitoringSettings

pytestmark = pytest.mark.live
INTERVAL = 60  # the regular sweep: far longer than any decision below may take
HOST, CRASHED = "esx-p1.lab.local", "app-03"  # app-03 runs on esx-p3, which stays up
ISOLATION = MonitoringSettings().isolation_timeout_seconds


@pytest.fixture(scope="module")
def lab(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("detection")
    # Locks of a host that lost power expire at once: the registrations elsewhere may go ahead.
    topology = write_topology(directory, example_topology_data() | {"lock_lease_seconds": 0})
    with own_simulator(vcsim_binary, topology) as sim:
        running = Lab(sim, directory, monitoring={"interval_seconds": INTERVAL, "probe_port": probe_port(topology)},
                      scheduler={"paused": "snapshot_creator, snapshot_creator_vhost, replica_creator"},
                      health={"enabled": "false"}, inventory={"vhost_backing": ""})
        try:
            running.daemon.wait_for(said("health_administrator done"), 30)  # the sweep at start
            running.daemon.wait_for(said("inventory watcher: "), 30)
            yield running
        finally:
            assert running.daemon.terminate() == 0


def next_regular_sweep(lab: Lab, after: float) -> float:
    """When the regular sweep after ``after`` is due (every INTERVAL from the first)."""
    first = logged_at(next(e for e in lab.daemon.entries() if said("health_administrator done")(e)))
    return first + (int((after - first) // INTERVAL) + 1) * INTERVAL


def test_a_crashed_guest_is_recovered_without_waiting_for_the_next_sweep(lab: Lab) -> None:
    crashed = time.time()
    chaos(lab.sim, "vm_crash", CRASHED)
    woken = lab.daemon.wait_for(said(f"vCenter shows {CRASHED}: summary.quickStats.guestHeartbeatStatus red",
                                     crashed - 1), 10)
    decided = lab.daemon.wait_for(said(f"recovering {CRASHED}: ", crashed - 1), INTERVAL)
    assert logged_at(woken) <= logged_at(decided) < next_regular_sweep(lab, crashed), "before the next sweep"
    lab.daemon.wait_for(said(f"recovered {CRASHED}", crashed - 1), 60)


def test_a_failed_host_is_decided_once_its_isolation_timeout_from_notresponding_ends(lab: Lab) -> None:
    failed = time.time()
    chaos(lab.sim, "host_down", HOST)
    woken = lab.daemon.wait_for(said(f"vCenter shows {HOST}: runtime.connectionState notResponding", failed - 1), 10)
    decided = lab.daemon.wait_for(said("remove_failed_host", failed - 1), INTERVAL)
    assert logged_at(decided) < next_regular_sweep(lab, failed), "decided before the next regular sweep"
    # Never before the isolation timeout, counted from vCenter's evidence (the log's times have
    # whole seconds).
    assert logged_at(decided) >= logged_at(woken) + ISOLATION - 1
    lab.daemon.wait_for(said("recovered web-01"), 60)
