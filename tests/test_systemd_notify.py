"""systemd's notify protocol: a datagram socket standing in for systemd receives what vsphere-dr says.

The unit tests speak to Notifier directly; the live one runs `vsphere-dr run` against the simulator
as systemd does under Type=notify with WatchdogSec (NOTIFY_SOCKET, WATCHDOG_USEC) and follows it
through READY, WATCHDOG pings, a SIGHUP reload and SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vsphere_dr.app.systemd_notify import Notifier


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: a Unix datagram socket, at a path or in the abstract namespace."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
        self.messages: list[str] = []

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            message = self.sock.recv(4096).decode()
        except TimeoutError:
            return None
        self.messages.append(message)
        return message

    def wait_for(self, line: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.01, deadline - time.monotonic()))
            if message is not None and line in message.splitlines():
                return message
        raise AssertionError(f"no {line} within {timeout} s; received {self.messages}")


@pytest.fixture(params=["path", "abstract"])
def systemd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeSystemd]:
    address = str(tmp_path / "notify") if request.param == "path" else f"@vsphere-dr-test-{uuid.uuid4()}"
    fake = FakeSystemd(address)
    yield fake
    fake.sock.close()


def test_ready_reloading_stopping_reach_the_socket(systemd: FakeSystemd) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": systemd.address})
    notifier.ready("running 6 modules")
    assert systemd.receive(1) == "READY=1\nSTATUS=running 6 modules"
    notifier.reloading()
    reloading = systemd.receive(1) or ""
    assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=") and int(reloading.rsplit("=", 1)[1]) > 0
    notifier.stopping()
    assert (systemd.receive(1) or "").startswith("STOPPING=1")


def test_watchdog_pings_at_half_the_interval(systemd: FakeSystemd) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval == pytest.approx(0.2)
    notifier.watchdog()
    notifier.watchdog()  # too soon: not sent
    assert systemd.receive(1) == "WATCHDOG=1" and systemd.receive(0.05) is None
    time.sleep(0.2)
    notifier.watchdog()
    assert systemd.receive(1) == "WATCHDOG=1"


def test_a_watchdog_meant_for_another_process_is_not_pinged() -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"}).watchdog_interval is None


def test_without_systemd_nothing_is_sent_and_nothing_fails(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()
    gone = Notifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
    gone.ready("x")  # systemd gone: a warning, the service goes on
    assert "could not notify systemd (READY)" in caplog.text


@pytest.mark.live
def test_run_under_type_notify(own, tmp_path: Path, write_settings) -> None:  # type: ignore[no-untyped-def]
    """READY=1 after the login, WATCHDOG=1 every half WatchdogSec, RELOADING=1 then READY=1 on SIGHUP,
    STOPPING=1 on SIGTERM, and exit 0."""
    systemd = FakeSystemd(f"@vsphere-dr-test-{uuid.uuid4()}")
    settings = write_settings(own.host, own.port, logging={"format": "json"})
    env = {**os.environ, "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "1000000"}
    with (tmp_path / "log").open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "run", "--config", str(settings)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        ready = systemd.wait_for("READY=1", 60)
        assert "STATUS=running" in ready
        assert '"vCenter ' in (tmp_path / "log").read_text()  # the login was logged before READY
        started = time.monotonic()
        systemd.wait_for("WATCHDOG=1", 2)
        systemd.wait_for("WATCHDOG=1", 2)
        assert time.monotonic() - started < 2.5  # about every 0.5 s
        process.send_signal(signal.SIGHUP)
        systemd.wait_for("RELOADING=1", 5)
        systemd.wait_for("READY=1", 5)
        process.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1", 10)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        systemd.sock.close()


def test_a_reload_that_fails_is_logged_and_the_daemon_stays_ready(systemd: FakeSystemd, write_settings,  # type: ignore[no-untyped-def]
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from vsphere_dr.app.daemon import Daemon
    from vsphere_dr.settings import load_settings

    settings = load_settings(write_settings())

    def refresh() -> bool:
        raise PermissionError(13, "Permission denied")

    admin = SimpleNamespace(refresh=refresh, on_change=lambda listener: None)
    controller = SimpleNamespace(settings=lambda: settings, inventory_admin=admin)
    daemon = Daemon(controller, Notifier({"NOTIFY_SOCKET": systemd.address}))  # type: ignore[arg-type]
    daemon._reload_now()
    assert (systemd.receive(1) or "").startswith("RELOADING=1")
    assert (systemd.receive(1) or "").startswith("READY=1")
    assert "SIGHUP: applying the new settings failed: PermissionError" in caplog.text
