"""A connection to vCenter lost after login: VCenterUnreachable with the network error as its cause,
never a raw OSError, and the session usable again on the next call.

The fast tests put tests/flaky_proxy.py in front of a recorded vCenter (a cassette served over a
loopback socket); the live ones in front of the simulator.
"""

from __future__ import annotations

import errno
import http.client
import ssl
import traceback
from collections.abc import Iterator

import pytest
from pyVmomi import vim

from tests.cassettes import RecordedVCenter
from tests.flaky_proxy import FlakyProxy, How
from tests.sim_world import wait_until
from vsphere_dr.errors import VCenterUnreachable
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.settings import VCenterSettings, load_settings
from vsphere_dr.simulator.launcher import Simulator

SECRET = "Tr0ub4dor-and-3"
RESET = "Connection reset by peer"


@pytest.fixture(scope="module")
def recorded() -> Iterator[RecordedVCenter]:
    with RecordedVCenter("inventory_example.yaml") as vcenter:
        yield vcenter


@pytest.fixture
def proxy(recorded: RecordedVCenter) -> Iterator[FlakyProxy]:
    with FlakyProxy(recorded.host, recorded.port) as running:
        yield running


def settings_for(proxy: FlakyProxy, write_settings) -> VCenterSettings:  # type: ignore[no-untyped-def]
    """Through the proxy, with a secret to look for, and a short socket timeout for stalls."""
    vcenter = {"password": SECRET, "connect_timeout_seconds": 0.5}
    return load_settings(write_settings(proxy.host, proxy.port, vcenter=vcenter)).vcenter


def lost(caught: pytest.ExceptionInfo[VCenterUnreachable], proxy: FlakyProxy, cause: type) -> str:
    """The message of a lost connection, checked for its cause and for the secret."""
    error = caught.value
    assert type(error.__cause__) is cause
    assert SECRET not in "".join(traceback.format_exception(error))
    prefix = f"lost the connection to vCenter at http://127.0.0.1:{proxy.port} during "
    assert str(error).startswith(prefix), str(error)
    return str(error).removeprefix(prefix)


@pytest.mark.parametrize(("how", "cause", "reason"), [
    ("reset", ConnectionResetError, RESET),
    ("close", http.client.RemoteDisconnected, "Remote end closed connection without response"),
    ("stall", TimeoutError, "timed out"),
])
def test_connection_lost_during_a_read(proxy: FlakyProxy, write_settings, how: How, cause: type,  # type: ignore[no-untyped-def]
                                       reason: str) -> None:
    with VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        vms = gateway.inventory().vms.keys()
        proxy.break_next("RetrievePropertiesEx", how, times=2)  # a read is repeated once
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.inventory()
        assert lost(caught, proxy, cause) == f"RetrievePropertiesEx: {reason}"
        assert gateway.inventory().vms.keys() == vms  # a new connection, the same session
    assert proxy.operations.count("Login") == 1


def test_a_read_whose_connection_was_closed_while_idle_is_repeated_once(proxy: FlakyProxy,  # type: ignore[no-untyped-def]
                                                                      write_settings) -> None:
    """A pooled keep-alive connection vCenter closed between two sweeps: the read just works."""
    with VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        vms = gateway.inventory().vms.keys()
        before = gateway.round_trips
        proxy.break_next("RetrievePropertiesEx", "close")
        assert gateway.inventory().vms.keys() == vms
        assert gateway.round_trips - before == 4, "CreateContainerView, the read and its repeat, DestroyView"
    assert proxy.operations.count("Login") == 1


def test_connection_lost_during_a_property_read(proxy: FlakyProxy, write_settings) -> None:  # type: ignore[no-untyped-def]
    with VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        proxy.break_next("Fetch", times=2)
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.session.call(lambda content: content.rootFolder.name, "reading the root folder's name")
    assert lost(caught, proxy, ConnectionResetError) == f"Fetch of name: {RESET}"


def test_lost_task_start_is_reported_not_retried(proxy: FlakyProxy, write_settings) -> None:  # type: ignore[no-untyped-def]
    with VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        proxy.break_next("PowerOnVM_Task")
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.vms.power_on("vm-42")
    assert lost(caught, proxy, ConnectionResetError) == (
        f"PowerOnVM_Task: {RESET}; the task may have started in vCenter")
    assert proxy.operations.count("PowerOnVM_Task") == 1


class _Refusing(http.client.HTTPConnection):
    error: Exception

    def connect(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [
    ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
    OSError(errno.EHOSTUNREACH, "No route to host"),
    http.client.BadStatusLine("SSH-2.0-OpenSSH_9.2"),
], ids=type)
def test_any_network_error_after_login(proxy: FlakyProxy, write_settings, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                       error: Exception) -> None:
    with VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        stub = gateway.session.managed(vim.Folder, "group-d1")._stub
        stub.DropConnections()  # the next call opens a connection of the refusing kind
        monkeypatch.setattr(stub, "scheme", type("Refusing", (_Refusing,), {"error": error}))
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.inventory()
    assert caught.value.__cause__ is error
    assert lost(caught, proxy, type(error)).startswith("CreateContainerView: ")


def test_connection_lost_during_login_is_retried(proxy: FlakyProxy, write_settings) -> None:  # type: ignore[no-untyped-def]
    pauses: list[float] = []
    session = VCenterSession(settings_for(proxy, write_settings), sleep=pauses.append)
    proxy.break_next("RetrieveServiceContent")  # pyVim turns this one into a HostConnectFault
    try:
        assert session.content().rootFolder._moId == "group-d1"
    finally:
        session.close()
    assert pauses == [0.05]
    assert proxy.operations.count("Login") == 1


@pytest.fixture
def live_proxy(own: Simulator) -> Iterator[FlakyProxy]:
    with FlakyProxy(own.host, own.port) as running:
        yield running


@pytest.mark.live
def test_connection_lost_during_an_inventory_read_live(sim: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with FlakyProxy(sim.host, sim.port) as proxy, VCenterGateway(settings_for(proxy, write_settings)) as gateway:
        vms = gateway.inventory().vms
        proxy.break_next("RetrievePropertiesEx", times=2)
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.inventory()
        assert lost(caught, proxy, ConnectionResetError) == f"RetrievePropertiesEx: {RESET}"
        assert gateway.inventory().vms.keys() == vms.keys()
    assert proxy.operations.count("Login") == 1


def powered_off_vm(gateway: VCenterGateway) -> str:
    return next(vm.moref for vm in gateway.inventory().vms.values() if vm.name == "batch-01")


def power_state(gateway: VCenterGateway, moref: str) -> str:
    return gateway.vm_records([moref])[moref].power_state


@pytest.mark.live
def test_connection_lost_while_waiting_for_a_power_on(live_proxy: FlakyProxy, write_settings) -> None:  # type: ignore[no-untyped-def]
    with VCenterGateway(settings_for(live_proxy, write_settings)) as gateway:
        vm = powered_off_vm(gateway)
        live_proxy.break_next("RetrievePropertiesEx", times=2)  # the first poll of the task's state, and its repeat
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.vms.power_on(vm)
        assert lost(caught, live_proxy, ConnectionResetError).startswith(f"RetrievePropertiesEx: {RESET}; task task-")
        assert str(caught.value).endswith(f"(powering on {vm}) may still complete in vCenter")
        wait_until(lambda: power_state(gateway, vm) == "poweredOn")  # it did, and the session works
    assert live_proxy.operations.count("PowerOnVM_Task") == 1
    assert live_proxy.operations.count("Login") == 1


@pytest.mark.live
def test_answer_to_a_power_on_lost(live_proxy: FlakyProxy, write_settings) -> None:  # type: ignore[no-untyped-def]
    with VCenterGateway(settings_for(live_proxy, write_settings)) as gateway:
        vm = powered_off_vm(gateway)
        live_proxy.break_next("PowerOnVM_Task", after_forwarding=True)
        with pytest.raises(VCenterUnreachable) as caught:
            gateway.vms.power_on(vm)
        assert lost(caught, live_proxy, ConnectionResetError) == (
            f"PowerOnVM_Task: {RESET}; the task may have started in vCenter")
        wait_until(lambda: power_state(gateway, vm) == "poweredOn")  # it had; it is not started twice
    assert live_proxy.operations.count("PowerOnVM_Task") == 1
