"""The Availability Administrator's log: one line per change, a few names and a count, never every VM."""

from __future__ import annotations

import logging

import pytest

from modules.availability_administrator import AvailabilityAdministrator
from tests.world_builder import host, inventory, vm
from vsphere_dr.logging_setup import NAMES_LOGGED


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modules.availability_administrator"
            and r.levelno >= logging.INFO]


def test_a_first_look_at_many_vms_is_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    hosts = [host(1), host(2)]
    vms = [vm(n, on_host=1 + n % 2) for n in range(1, 41)]
    admin: AvailabilityAdministrator[str] = AvailabilityAdministrator(lambda: inventory(hosts, vms), lambda v: v.name)
    admin.run()
    shown = ", ".join(sorted(v.name for v in vms)[:NAMES_LOGGED])
    assert lines(caplog) == [f"2 hosts, 40 VMs monitored (40 new: {shown} and {40 - NAMES_LOGGED} more; "
                             "2 hosts added: esx1, esx2)"]
    caplog.clear()
    admin.run()
    assert lines(caplog) == []  # nothing changed: nothing logged


def test_changes_name_the_vms_and_hosts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    world = {"hosts": [host(1), host(2)], "vms": [vm(1, 1), vm(2, 2)]}
    admin: AvailabilityAdministrator[str] = AvailabilityAdministrator(
        lambda: inventory(world["hosts"], world["vms"]), lambda v: v.name)
    admin.run()
    caplog.clear()
    world["hosts"], world["vms"] = [host(1)], [vm(1, 1), vm(3, 1)]
    admin.run()
    assert lines(caplog) == ["1 host, 2 VMs monitored (1 new: app-03; 1 retired: app-02; 1 host removed: esx2)"]
