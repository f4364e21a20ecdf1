#!/usr/bin/env python3
"""Probe rounds of thousands of addresses: one event loop of non-blocking connects (probes.py).

    python bench/probes.py [--sizes 1000,10000] [--concurrency 64,256,1024]

Every address is on loopback with a listener of its own: answering ones accept; silent ones (a
failed host's VMs) have their accept queue full and never accept, so a SYN gets no answer and
the probe waits for its timeout, as for a dead guest on a real network. Each round probes
N addresses of which 10% (--silent) are silent, at each concurrency, with probe_timeout_seconds = 1.
Prints seconds per round and the ratio against concurrency 64 (the old default) at the same size,
and last `probe_10000_s=<seconds at 10,000 addresses with the shipped probe_concurrency>`.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsphere_dr.probes import Prober  # noqa: E402
from vsphere_dr.settings import MonitoringSettings  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402

SILENT_SHARE = 0.1


def listening(address: str, port: int, accepting: bool) -> list[socket.socket]:
    """A listener on address:port. One that does not accept gets its queue filled at once, so
    that further SYNs go unanswered: a silent address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if accepting:
        sock.listen(128)
        return [sock]
    sock.listen(0)
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.setblocking(False)
    filler.connect_ex((address, port))
    return [sock, filler]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--concurrency", default="64,256,1024")
    parser.add_argument("--silent", type=float, default=SILENT_SHARE, help="share of silent addresses")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    shipped = MonitoringSettings().probe_concurrency
    rows, shipped_10000 = [], None
    for n in (int(s) for s in args.sizes.split(",")):
        baseline = None
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            seconds, answered = round_of(n, concurrency, args.silent)
            baseline = baseline or seconds
            rows.append((n, concurrency, f"{seconds:.2f}", answered, f"{seconds / baseline:.2f}"))
            if n == 10000 and concurrency == shipped:
                shipped_10000 = seconds
    print(render_table(("addresses", "concurrency", "seconds", "answered", "ratio to 64"), rows))
    print(f"(fd limit raised from {soft} to {hard}; {args.silent:.0%} silent, probe timeout 1 s)")
    if shipped_10000 is not None:
        print(f"probe_10000_s={shipped_10000:.2f}")


def round_of(n: int, concurrency: int, silent_share: float) -> tuple[float, int]:
    """One probe round of n addresses, that share of them silent: seconds, and how many answered.

    The answering listeners accept in the kernel (the handshake is the answer) without being
    served: the probe closes at once."""
    port = free_port()
    silent = int(n * silent_share)
    targets = [f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(n)]
    sockets = [s for i, address in enumerate(targets) for s in listening(address, port, i >= silent)]
    time.sleep(0.2)
    prober = Prober(MonitoringSettings(probe_port=port, probe_timeout_seconds=1, probe_concurrency=concurrency))
    try:
        start = time.perf_counter()
        answers = prober.probe(targets)
        return time.perf_counter() - start, sum(answers.values())
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
