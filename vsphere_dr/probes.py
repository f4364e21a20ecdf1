"""Probes: does a guest or host address answer? One sweep probes every address concurrently.

``tcp`` connects to ``probe_port``: an accepted connection is an answer, a refusal or no reply
within the timeout is not. ``icmp`` sends one echo request with icmplib, over a raw socket when
the process may open one (root, CAP_NET_RAW), else over an unprivileged ICMP datagram socket
(allowed by the net.ipv4.ping_group_range sysctl).

At most ``probe_concurrency`` probes are in flight and each takes at most
``probe_timeout_seconds``, so a sweep of N addresses takes about ceil(N / concurrency) x timeout
in the worst case, whatever N.
"""

from __future__ import annotations

import asyncio
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


class Prober:
    """Probes addresses as [monitoring] says (kind, port, timeout, concurrency)."""

    def __init__(self, settings: MonitoringSettings) -> None:
        self._settings = settings
        self._privileged = icmp_privileged() if settings.probe == "icmp" else False

    def probe(self, addresses: Iterable[str]) -> dict[str, bool]:
        """Probe each distinct address once; return address -> answered."""
        unique = list(dict.fromkeys(addresses))
        if not unique:
            return {}
        return asyncio.run(self._sweep(unique))

    async def _sweep(self, addresses: list[str]) -> dict[str, bool]:
        slots = asyncio.Semaphore(self._settings.probe_concurrency)

        async def bounded(address: str) -> bool:
            async with slots:
                return await self._answers(address)

        answers = await asyncio.gather(*(bounded(address) for address in addresses))
        return dict(zip(addresses, answers, strict=True))

    async def _answers(self, address: str) -> bool:
        timeout = self._settings.probe_timeout_seconds
        if self._settings.probe == "icmp":
            return await _pings(address, timeout, self._privileged)
        try:
            return await asyncio.wait_for(_connects(address, self._settings.probe_port), timeout)
        except OSError:  # refused, unreachable, or no reply in time (TimeoutError is an OSError)
            return False


async def _connects(address: str, port: int) -> bool:
    """Open a TCP connection and close it at once: the handshake is the answer."""
    _, writer = await asyncio.open_connection(address, port)
    writer.close()
    await writer.wait_closed()
    return True


async def _pings(address: str, timeout: float, privileged: bool) -> bool:
    try:
        host = await icmplib.async_ping(address, count=1, timeout=timeout, privileged=privileged)
    except icmplib.ICMPLibError:  # an unresolvable name, an unreachable network
        return False
    return bool(host.is_alive)


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
