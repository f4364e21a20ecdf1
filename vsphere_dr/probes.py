"""Probes: does a guest or host address answer? One sweep probes every address concurrently.

``tcp`` connects to ``probe_port``: an accepted connection is an answer, a refusal or no reply
within the timeout is not. ``icmp`` sends one echo request with icmplib, over a raw socket when
the process may open one (root, CAP_NET_RAW), else over an unprivileged ICMP datagram socket
(allowed by the net.ipv4.ping_group_range sysctl).

All probes of a round run in one asyncio event loop: non-blocking connects (or ICMP sockets), no
thread per address. At most ``probe_concurrency`` are in flight (the open-file limit is raised
for them, see ``probe_slots``) and each takes at most ``probe_timeout_seconds``, so a round of N
addresses of which S are silent takes about ceil(S / concurrency) x timeout plus the cost of the
answering ones (about 0.07 ms each: bench/probes.py).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import resource
import socket
from collections.abc import Iterable

import icmplib

from vsphere_dr.errors import ProbeError
from vsphere_dr.settings import MonitoringSettings

ICMP_NOT_PERMITTED = (
    "ICMP probes are not permitted for this process: run vsphere-dr as root or grant it CAP_NET_RAW "
    "(raw sockets), or allow unprivileged ping for its group with "
    "`sysctl -w net.ipv4.ping_group_range='0 2147483647'` (persist it in /etc/sysctl.d/); "
    "or use [monitoring] probe = tcp"
)


log = logging.getLogger(__name__)
_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
FD_RESERVE = 128  # open files kept for everything else: the journal, vCenter sessions, logs


class Prober:
    """Probes addresses as [monitoring] says (kind, port, timeout, concurrency)."""

    def __init__(self, settings: MonitoringSettings) -> None:
        self._settings = settings
        self._slots = probe_slots(settings.probe_concurrency)
        self._privileged = icmp_privileged() if settings.probe == "icmp" else False

    def probe(self, addresses: Iterable[str]) -> dict[str, bool]:
        """Probe each distinct address once; return address -> answered."""
        unique = list(dict.fromkeys(addresses))
        if not unique:
            return {}
        return asyncio.run(self._sweep(unique))

    async def _sweep(self, addresses: list[str]) -> dict[str, bool]:
        """``probe_concurrency`` workers, each taking the next address when its probe ends (a
        semaphore over one task per address costs more than the probes at 10,000 addresses)."""
        answers: dict[str, bool] = {}
        queue = iter(addresses)

        async def worker() -> None:
            for address in queue:
                answers[address] = await self._answers(address)

        await asyncio.gather(*(worker() for _ in range(min(self._slots, len(addresses)))))
        return {address: answers[address] for address in addresses}

    async def _answers(self, address: str) -> bool:
        timeout = self._settings.probe_timeout_seconds
        if self._settings.probe == "icmp":
            return await _pings(address, timeout, self._privileged)
        try:
            async with asyncio.timeout(timeout):
                return await _connects(address, self._settings.probe_port)
        except OSError as exc:  # refused, unreachable, or no reply in time (TimeoutError is an OSError)
            if exc.errno in (errno.EMFILE, errno.ENFILE):  # not the address's fault: never "silent"
                raise ProbeError(f"out of file descriptors probing {address}: lower [monitoring] "
                                 "probe_concurrency or raise the process's open-file limit") from exc
            return False


async def _connects(address: str, port: int) -> bool:
    """A non-blocking TCP connect, closed at once: the handshake is the answer. A plain socket on
    the event loop (no stream objects): a round of 10,000 costs a fraction of a second."""
    loop = asyncio.get_running_loop()
    try:
        family, target = _FAMILIES[ipaddress.ip_address(address).version], (address, port)
    except ValueError:  # a name (a host without a vmknic address): resolved off the loop
        family, _, _, _, target = (await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM))[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, target)
    return True


async def _pings(address: str, timeout: float, privileged: bool) -> bool:
    try:
        host = await icmplib.async_ping(address, count=1, timeout=timeout, privileged=privileged)
    except icmplib.ICMPLibError:  # an unresolvable name, an unreachable network
        return False
    return bool(host.is_alive)


@functools.lru_cache
def probe_slots(wanted: int) -> int:
    """How many probes may be in flight: ``wanted`` if the open-file limit allows it. The soft
    limit is raised towards the hard one first, as the Go runtime does at start (systemd gives a
    service 1,024 soft and 524,288 hard); a probe that found no file descriptor would otherwise
    fail, and a silent answer must mean a silent address."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    slots = wanted if soft == resource.RLIM_INFINITY else max(1, min(wanted, soft - FD_RESERVE))
    if slots < wanted:
        log.warning("[monitoring] probe_concurrency = %d, but the open-file limit (%d) allows %d probes at once",
                    wanted, soft, slots)
    return slots


def icmp_privileged() -> bool:
    """True if raw ICMP sockets may be opened, False if only unprivileged ones.

    Raises ProbeError, naming the fixes, if neither kind is permitted: better to refuse at start
    than to report every address as silent.
    """
    for privileged in (True, False):
        try:
            icmplib.ICMPv4Socket(privileged=privileged).close()
        except icmplib.SocketPermissionError:
            continue
        return privileged
    raise ProbeError(ICMP_NOT_PERMITTED)
