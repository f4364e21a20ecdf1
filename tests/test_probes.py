"""The Prober against real loopback sockets: answered, refused, silent; concurrency; ICMP."""

from __future__ import annotations

import errno
import os
import resource
import socket
import time
from collections.abc import Iterator
from typing import Any

import icmplib
import pytest

from vsphere_dr import probes
from vsphere_dr.errors import ProbeError
from vsphere_dr.probes import Prober, icmp_privileged
from vsphere_dr.settings import MonitoringSettings

ANSWERING = "127.0.0.1"
REFUSING = "127.0.0.2"  # nothing listens there
SILENT = [f"127.0.0.{n}" for n in range(10, 16)]
TIMEOUT = 0.2


def listener(address: str, port: int, backlog: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(backlog)
    return s


@pytest.fixture
def port() -> Iterator[int]:
    """A port on which ANSWERING listens (and never accepts: the kernel completes the handshake)."""
    with listener(ANSWERING, 0, 64) as s:
        yield s.getsockname()[1]


@pytest.fixture
def silent(port: int) -> Iterator[list[str]]:
    """Addresses that never reply: a listener whose accept queue is full drops new SYNs.

    Nothing listening would be refused at once on loopback; a full queue is what a guest whose
    kernel no longer answers looks like: the client waits until its timeout.
    """
    sockets = []
    for address in SILENT:
        server = listener(address, port, 0)
        filler = socket.create_connection((address, port))  # takes the queue's one place
        sockets += [server, filler]
    yield SILENT
    for s in sockets:
        s.close()


def prober(port: int, **monitoring: Any) -> Prober:
    return Prober(MonitoringSettings(**{"probe_port": port, "probe_timeout_seconds": TIMEOUT, **monitoring}))


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count TCP connection attempts, and the most that were under way at once (sockets of
    earlier attempts still open when one more starts)."""
    count = {"max": 0, "total": 0}
    connecting = probes._connecting
    started: list[socket.socket] = []

    def counted(target: Any) -> socket.socket | None:
        count["total"] += 1
        count["max"] = max(count["max"], 1 + sum(s.fileno() != -1 for s in started))
        sock = connecting(target)
        if sock is not None:
            started.append(sock)
        return sock

    monkeypatch.setattr(probes, "_connecting", counted)
    return count


def test_answered_refused_and_silent(port: int, silent: list[str]) -> None:
    started = time.monotonic()
    answers = prober(port).probe([ANSWERING, REFUSING, silent[0]])
    elapsed = time.monotonic() - started
    assert answers == {ANSWERING: True, REFUSING: False, silent[0]: False}
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.5  # the silent one waited for its timeout, no longer


def test_a_refusal_does_not_wait_for_the_timeout(port: int) -> None:
    started = time.monotonic()
    assert prober(port, probe_timeout_seconds=5).probe([REFUSING]) == {REFUSING: False}
    assert time.monotonic() - started < 1


def test_addresses_are_probed_once(port: int, in_flight: dict[str, int]) -> None:
    assert prober(port).probe([ANSWERING, REFUSING, ANSWERING, REFUSING]) == {ANSWERING: True, REFUSING: False}
    assert in_flight["total"] == 2
    assert prober(port).probe([]) == {}


def test_at_most_probe_concurrency_at_a_time(port: int, silent: list[str], in_flight: dict[str, int]) -> None:
    started = time.monotonic()
    answers = prober(port, probe_concurrency=2).probe(silent)
    elapsed = time.monotonic() - started
    assert answers == dict.fromkeys(silent, False)
    assert in_flight["max"] == 2 and in_flight["total"] == len(silent)
    rounds = len(silent) // 2
    assert rounds * TIMEOUT * 0.9 <= elapsed < rounds * TIMEOUT + 0.5


def test_a_sweep_takes_one_timeout_when_concurrency_allows(port: int, silent: list[str],
                                                            in_flight: dict[str, int]) -> None:
    started = time.monotonic()
    prober(port, probe_concurrency=64).probe(silent)
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert in_flight["max"] == len(silent)


def test_icmp_on_loopback() -> None:
    try:
        icmp = Prober(MonitoringSettings(probe="icmp", probe_timeout_seconds=1))
    except ProbeError as exc:
        pytest.skip(f"ICMP sockets are not permitted on this machine: {exc}")
    assert icmp.probe([ANSWERING, ANSWERING]) == {ANSWERING: True}


def test_icmp_falls_back_to_unprivileged_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmplib, "ICMPv4Socket", fake_icmp_socket(allowed={False}))
    assert icmp_privileged() is False
    monkeypatch.setattr(icmplib, "ICMPv4Socket", fake_icmp_socket(allowed={True, False}))
    assert icmp_privileged() is True


def test_icmp_not_permitted_is_refused_at_construction_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmplib, "ICMPv4Socket", fake_icmp_socket(allowed=set()))
    with pytest.raises(ProbeError, match="net.ipv4.ping_group_range"):
        Prober(MonitoringSettings(probe="icmp"))
    Prober(MonitoringSettings(probe="tcp"))  # a TCP prober never needs ICMP sockets


def fake_icmp_socket(allowed: set[bool]) -> Any:
    """A stand-in for icmplib.ICMPv4Socket that permits only the given kinds (privileged or not)."""

    class FakeSocket:
        def __init__(self, privileged: bool) -> None:
            if privileged not in allowed:
                raise icmplib.SocketPermissionError(privileged)

        def close(self) -> None:
            pass

    return FakeSocket


@pytest.mark.parametrize("error, what", [(errno.EMFILE, "file descriptors"), (errno.EADDRNOTAVAIL, "local ports")])
def test_a_shortage_of_ours_is_an_error_never_a_silent_address(error: int, what: str, port: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of file descriptors or local ports: the machine's fault, not the address's."""
    def short(target: Any) -> socket.socket:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(probes, "_connecting", short)
    with pytest.raises(ProbeError, match=f"out of {what} probing 127.0.0.1"):
        prober(port).probe([ANSWERING])


def test_the_open_file_limit_is_raised_for_the_probes_or_caps_them(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    limits = {"now": (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda _kind: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", lambda _kind, value: limits.update(now=value))
    probes.probe_slots.cache_clear()
    try:
        assert probes.probe_slots(1024) == 1024
        assert limits["now"] == (1024 + probes.FD_RESERVE, 4096), "soft limit raised, hard kept"
        limits["now"] = (512, 512)
        assert probes.probe_slots(2048) == 512 - probes.FD_RESERVE
        assert "open-file limit (512) allows 384 probes at once" in caplog.text
    finally:
        probes.probe_slots.cache_clear()


def test_a_name_is_resolved_and_probed_beside_literals(port: int) -> None:
    assert prober(port).probe(["localhost", ANSWERING, REFUSING]) == {"localhost": True, ANSWERING: True,
                                                                      REFUSING: False}


def test_an_ipv6_literal_is_probed(port: int) -> None:
    try:
        server = listener("::1", 0, 8)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        assert prober(server.getsockname()[1]).probe(["::1"]) == {"::1": True}


def test_a_name_that_does_not_resolve_is_silent(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown(name: str, port: int) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(probes, "_resolve", unknown)
    assert prober(port).probe(["esx-gone.example", ANSWERING]) == {"esx-gone.example": False, ANSWERING: True}


def test_a_resolution_counts_in_the_probe_s_timeout(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name whose DNS answers late is silent once its timeout has passed, not when DNS gives up."""
    def slow(name: str, port: int) -> Any:
        time.sleep(TIMEOUT * 5)
        return socket.AF_INET, (ANSWERING, port)

    monkeypatch.setattr(probes, "_resolve", slow)
    started = time.monotonic()
    assert prober(port).probe(["slow-dns.example"]) == {"slow-dns.example": False}
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 0.5


def test_a_slot_freed_by_an_answer_is_used_while_a_silent_probe_waits(port: int, silent: list[str]) -> None:
    """Two slots: the first silent address waits its whole timeout while the answering and the
    refused ones pass through the other slot, and the second silent one waits beside it."""
    started = time.monotonic()
    answers = prober(port, probe_concurrency=2, probe_timeout_seconds=1).probe(
        [silent[0], ANSWERING, REFUSING, silent[1]])
    assert answers == {silent[0]: False, ANSWERING: True, REFUSING: False, silent[1]: False}
    assert 0.9 <= time.monotonic() - started < 1.5  # one at a time, the two would take 2 s
