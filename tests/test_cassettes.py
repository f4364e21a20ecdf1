"""Recorded vCenter sessions replayed with no simulator running (`make cassettes` re-records them)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim

from tests.cassettes import CASSETTES, RECORDING, pyvmomi_vcr
from tests.conftest import EXAMPLE_TOPOLOGY
from tests.inventory_checks import assert_matches_topology, assert_monitoring_excludes_vms_without_ip
from vsphere_dr.app import cli
from vsphere_dr.errors import AuthenticationError
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.settings import load_settings
from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import Topology

pytestmark = pytest.mark.cassette
SIM_USER, SIM_PASSWORD = "admin", "test-password"


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    """Where vCenter is: a live simulator while recording, an address nothing listens on in replay."""
    if not RECORDING:
        yield "127.0.0.1", 9
        return
    with Simulator(EXAMPLE_TOPOLOGY, extra_args=["-username", SIM_USER, "-password", SIM_PASSWORD, "-probes=false"]) as sim:
        yield sim.host, sim.port


@pytest.fixture
def settings_path(address: tuple[str, int], write_settings) -> Path:  # type: ignore[no-untyped-def]
    return write_settings(*address)


def test_inventory_replays_the_topology(settings_path: Path, example_topology: Topology) -> None:
    settings = load_settings(settings_path)
    with pyvmomi_vcr().use_cassette("inventory_example.yaml"), VCenterGateway(settings.vcenter) as gateway:
        inv = gateway.inventory()
    assert_matches_topology(inv, example_topology)
    assert_monitoring_excludes_vms_without_ip(inv, example_topology)


def test_check_config_replays(settings_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pyvmomi_vcr().use_cassette("check_config.yaml"):
        code = cli.main(["--config", str(settings_path), "check-config"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert "answered as VMware vCenter Server" in out


def test_bad_login_replays(address: tuple[str, int], write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(*address, vcenter={"password": "Wrong-Password-42"})
    with pyvmomi_vcr().use_cassette("bad_login.yaml"):
        with pytest.raises(AuthenticationError, match="refused the login of user 'admin'") as caught:
            VCenterGateway(load_settings(path).vcenter).inventory()
        assert cli.main(["--config", str(path), "inventory"]) == cli.EXIT_LOGIN
    assert "Wrong-Password-42" not in capsys.readouterr().err
    assert isinstance(caught.value.__cause__, vim.fault.InvalidLogin)  # kept, and it holds no password:
    assert "Wrong-Password-42" not in "".join(traceback.format_exception(caught.value))


def test_no_cassette_holds_a_password() -> None:
    recorded = sorted(CASSETTES.glob("*.yaml"))
    assert recorded, "no cassettes: run `make cassettes`"
    for path in recorded:
        logins = re.findall(r"<password\b[^>]*>([^<]*)</password>", path.read_text(encoding="utf-8"))
        assert all(value == "***" for value in logins), path.name
