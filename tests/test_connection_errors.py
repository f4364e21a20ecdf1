"""Clear errors when vCenter cannot be used: unreachable (after bounded retries) or login refused."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_TOPOLOGY
from vsphere_dr.app import cli
from vsphere_dr.errors import AuthenticationError, VCenterUnreachable
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.settings import load_settings
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def guarded_sim(vcsim_binary: Path) -> Iterator[Simulator]:
    """A simulator that accepts only admin / right-password."""
    with Simulator(EXAMPLE_TOPOLOGY, binary=vcsim_binary,
                   extra_args=["-username", "admin", "-password", "right-password"]) as sim:
        yield sim


def test_unreachable_after_bounded_retries(write_settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    port = closed_port()
    settings = load_settings(write_settings(port=port, vcenter={"connect_attempts": 3, "retry_backoff_seconds": 0.5}))
    pauses: list[float] = []
    session = VCenterSession(settings.vcenter, sleep=pauses.append)
    with caplog.at_level(logging.WARNING), pytest.raises(VCenterUnreachable) as caught:
        session.content()
    assert str(caught.value) == (f"cannot reach vCenter at http://127.0.0.1:{port} after 3 attempt(s): "
                                 "Connection refused")
    assert pauses == [0.5, 1.0]  # exponential backoff between the three attempts, none after the last
    assert caplog.text.count("unreachable (attempt") == 2


def test_unreachable_exit_code(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(port=closed_port())
    assert cli.main(["--config", str(path), "inventory"]) == cli.EXIT_UNREACHABLE
    assert "cannot reach vCenter" in capsys.readouterr().err


def test_bad_credentials_are_refused_without_retrying(guarded_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(guarded_sim.host, guarded_sim.port, vcenter={"password": "Wrong-Password-42"})
    pauses: list[float] = []
    session = VCenterSession(load_settings(path).vcenter, sleep=pauses.append)
    with pytest.raises(AuthenticationError) as caught:
        session.content()
    assert "refused the login of user 'admin'" in str(caught.value)
    assert "Wrong-Password-42" not in str(caught.value)
    assert pauses == []


def test_right_credentials_work(guarded_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(guarded_sim.host, guarded_sim.port, vcenter={"password": "right-password"})
    with VCenterGateway(load_settings(path).vcenter) as gateway:
        assert "vCenter" in gateway.about()


def test_bad_settings_exit_code(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(monitoring={"probe": "smoke-signals"})
    assert cli.main(["--config", str(path), "check-config"]) == cli.EXIT_SETTINGS
    assert "[monitoring] probe = 'smoke-signals'" in capsys.readouterr().err
