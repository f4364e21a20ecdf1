"""Clear errors when vCenter cannot be used: unreachable (after bounded retries) or login refused."""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim

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
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)  # the last attempt's
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
    assert isinstance(caught.value.__cause__, vim.fault.InvalidLogin)
    assert "Wrong-Password-42" not in "".join(traceback.format_exception(caught.value))  # nor in its cause
    assert pauses == []
    assert cli.main(["--config", str(path), "inventory"]) == cli.EXIT_LOGIN == 5, "its own exit code: no restart loop"


def test_right_credentials_work(guarded_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(guarded_sim.host, guarded_sim.port, vcenter={"password": "right-password"})
    with VCenterGateway(load_settings(path).vcenter) as gateway:
        assert "vCenter" in gateway.about()


def test_bad_settings_exit_code(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(monitoring={"probe": "smoke-signals"})
    assert cli.main(["--config", str(path), "check-config"]) == cli.EXIT_SETTINGS
    assert "[monitoring] probe = 'smoke-signals'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tls_sim(vcsim_binary: Path) -> Iterator[Simulator]:
    """A simulator serving https with a self-signed certificate no CA vouches for."""
    with Simulator(EXAMPLE_TOPOLOGY, binary=vcsim_binary, extra_args=["-tls"]) as sim:
        assert sim.scheme == "https"
        yield sim


def tls_settings(sim: Simulator, write_settings, **vcenter: object):  # type: ignore[no-untyped-def]
    return load_settings(write_settings(sim.host, sim.port, vcenter={"insecure_http": "false", **vcenter})).vcenter


def test_untrusted_certificate_is_refused_by_default(tls_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    pauses: list[float] = []
    with pytest.raises(VCenterUnreachable, match="TLS certificate of vCenter at https://.* is not trusted"):
        VCenterSession(tls_settings(tls_sim, write_settings), sleep=pauses.append).content()
    assert pauses == []  # retrying cannot make a certificate trusted


def test_pinned_thumbprint_is_accepted(tls_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    pem = ssl.get_server_certificate((tls_sim.host, tls_sim.port))
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    pinned = ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)).upper()
    with VCenterGateway(tls_settings(tls_sim, write_settings, thumbprint=pinned)) as gateway:
        assert "vCenter" in gateway.about()


def test_wrong_thumbprint_is_refused(tls_sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VCenterUnreachable, match="its fingerprint does not match"):
        VCenterSession(tls_settings(tls_sim, write_settings, thumbprint="ab" * 32, connect_attempts=1)).content()


def test_verification_off_is_possible_but_logged(tls_sim: Simulator, write_settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.WARNING), VCenterGateway(tls_settings(tls_sim, write_settings, verify_tls="false")) as gateway:
        assert "vCenter" in gateway.about()
    assert "is NOT verified" in caplog.text
