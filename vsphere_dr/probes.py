"""Probes: does a guest or host address answer? One sweep probes every address concurrently.

``tcp`` connects to ``probe_port``: an accepted connection is an answer, a refusal or no reply
within the timeout is not. ``icmp`` sends one echo request with icmplib, over a raw socket when
the process may open one (root, CAP_NET_RAW), else over an unprivileged ICMP datagram socket
(allowed by the net.ipv4.ping_group_range sysctl).

TCP probes are plain non-blocking sockets on one selector (epoll on Linux): a connect started,
its socket watched until it is writable, its outcome read from SO_ERROR, no thread, task or
future per address (asyncio's per-connection objects cost more than the probes at 10,000
addresses). ICMP probes run on one asyncio event loop, as icmplib's are made to. At most
``probe_concurrency`` are in flight (the open-file limit is raised for them, see
``probe_slots``) and each takes at most ``probe_timeout_seconds``, so a round of N addresses of
which S are silent takes about ceil(S / concurrency) x timeout plus the cost of the answering
ones (bench/probes.py). A probe that cannot get a socket or a local port is this machine's
failure, never the address's: it raises ProbeError instead of calling the address silent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import functools
import logging
import os
import resource
import selectors
import socket
import time
from collections import deque
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
FD_RESERVE = 128  # open files kept for everything else: the journal, vCenter sessions, logs
# Errors that say this machine is short of something, not that the address is silent.
OUR_SHORTAGE = {errno.EMFILE: "file descriptors", errno.ENFILE: "file descriptors", errno.ENOBUFS: "buffer space",
                errno.ENOMEM: "memory", errno.EADDRNOTAVAIL: "local ports"}
NAME_POLL_SECONDS = 0.01  # how often a round looks for names resolved meanwhile
Target = tuple[int, tuple[str, int] | tuple[str, int, int, int]]  # (family, sockaddr)


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
        if self._settings.probe == "icmp":
            return asyncio.run(self._pings(unique))
        return TcpRound(self._settings.probe_port, self._settings.probe_timeout_seconds, self._slots).run(unique)

    async def _pings(self, addresses: list[str]) -> dict[str, bool]:
        """``probe_concurrency`` workers, each taking the next address when its ping ends."""
        answers: dict[str, bool] = {}
        queue = iter(addresses)
        timeout = self._settings.probe_timeout_seconds

        async def worker() -> None:
            for address in queue:
                answers[address] = await _pings(address, timeout, self._privileged)

        await asyncio.gather(*(worker() for _ in range(min(self._slots, len(addresses)))))
        return {address: answers[address] for address in addresses}


class TcpRound:
    """One round of TCP probes: at most ``slots`` connects in flight on one selector, each given up
    ``timeout`` seconds after it started (a name's resolution counts in its time)."""

    def __init__(self, port: int, timeout: float, slots: int) -> None:
        self._port, self._timeout, self._slots = port, timeout, slots
        self._selector = selectors.DefaultSelector()
        self._answers: dict[str, bool] = {}
        self._ready: deque[tuple[str, Target, float | None]] = deque()  # to connect: address, target, deadline
        self._in_flight: dict[socket.socket, str] = {}
        self._expiry: deque[tuple[float, socket.socket]] = deque()  # in start order, so deadlines ascend
        self._resolving: dict[concurrent.futures.Future[Target], tuple[str, float]] = {}

    def run(self, addresses: list[str]) -> dict[str, bool]:
        """address -> answered, in the order given."""
        self._answers = dict.fromkeys(addresses, False)
        names = [address for address in addresses if not self._queued(address)]
        resolver = concurrent.futures.ThreadPoolExecutor(min(len(names), 8)) if names else None
        try:
            if resolver is not None:
                deadline = time.monotonic() + self._timeout
                self._resolving = {resolver.submit(_resolve, name, self._port): (name, deadline) for name in names}
            self._loop()
        finally:
            for sock in self._in_flight:
                sock.close()
            self._selector.close()
            if resolver is not None:
                resolver.shutdown(wait=False, cancel_futures=True)
        return self._answers

    def _queued(self, address: str) -> bool:
        """Queue an IP literal's connect; False for a name (resolved off this thread)."""
        target = _literal(address, self._port)
        if target is not None:
            self._ready.append((address, target, None))  # its deadline is set when its connect starts
        return target is not None

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            self._take_resolved(now)
            while self._ready and len(self._in_flight) < self._slots:
                address, target, deadline = self._ready.popleft()
                self._start(address, target, now + self._timeout if deadline is None else deadline)
            if not self._in_flight and not self._resolving and not self._ready:
                return
            for key, _ in self._selector.select(self._wait(now)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self._finish(sock, _outcome(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), self._in_flight[sock]))
            now = time.monotonic()
            while self._expiry and (self._expiry[0][1] not in self._in_flight or self._expiry[0][0] <= now):
                _, sock = self._expiry.popleft()
                if sock in self._in_flight:  # no answer by its deadline: silent
                    self._finish(sock, False)

    def _wait(self, now: float) -> float:
        """Seconds to wait for sockets: until the oldest connect's deadline (the expiry loop leaves
        the oldest in flight first), or a short while when names are being resolved."""
        wait = max(0.0, self._expiry[0][0] - now) if self._expiry else self._timeout
        return min(wait, NAME_POLL_SECONDS) if self._resolving else wait

    def _start(self, address: str, target: Target, deadline: float) -> None:
        try:
            sock = _connecting(target)
        except OSError as exc:  # refused or unreachable at once, or no socket for it
            self._answers[address] = _failed(exc.errno, address)
            return
        if sock is None:  # accepted at once (loopback)
            self._answers[address] = True
            return
        self._in_flight[sock] = address
        self._selector.register(sock, selectors.EVENT_WRITE)
        self._expiry.append((deadline, sock))

    def _finish(self, sock: socket.socket, answered: bool) -> None:
        self._answers[self._in_flight.pop(sock)] = answered
        self._selector.unregister(sock)
        sock.close()

    def _take_resolved(self, now: float) -> None:
        """Queue the names resolved meanwhile, first; a name unresolved by its deadline is silent."""
        for future, (name, deadline) in list(self._resolving.items()):
            if not future.done() and deadline > now:
                continue
            del self._resolving[future]
            if future.done() and future.exception() is None and deadline > now:
                self._ready.appendleft((name, future.result(), deadline))


def _literal(address: str, port: int) -> Target | None:
    """(family, sockaddr) of an IPv4 or IPv6 literal; None for a name (or a scoped IPv6 address)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return (family, (address, port)) if family == socket.AF_INET else (family, (address, port, 0, 0))
    return None


def _connecting(target: Target) -> socket.socket | None:
    """Start a non-blocking connect: its socket while it is under way, None if it was accepted at
    once; OSError if it failed at once."""
    family, sockaddr = target
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex(sockaddr)
    if code == errno.EINPROGRESS:
        return sock
    sock.close()
    if code:
        raise OSError(code, os.strerror(code))
    return None


def _resolve(name: str, port: int) -> Target:
    family, _, _, _, sockaddr = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)[0]
    return family, sockaddr


def _outcome(code: int, address: str) -> bool:
    """A connect's result: answered (0), refused or unreachable, or this machine's failure."""
    return code == 0 or _failed(code, address)


def _failed(code: int | None, address: str) -> bool:
    """False for an error that is the address's; ProbeError for one that is this machine's."""
    short_of = OUR_SHORTAGE.get(code or 0)
    if short_of is not None:
        raise ProbeError(f"out of {short_of} probing {address}: lower [monitoring] probe_concurrency or raise "
                         "the process's open-file limit")
    return False


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
