#!/usr/bin/env python3
"""Inventory read cost: the gateway (ContainerView + PropertyCollector) against a pyVmomi
attribute-by-attribute walk of the same properties, on simulated worlds of growing size.

    python bench/inventory.py [--sizes 100,1000,10000]

Prints a table (VMs, method, round trips, seconds, ratio walk/gateway) and, last,
`speedup_1000=<ratio at 1,000 VMs>`. Both methods run against the same simulator in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyVmomi import vim  # noqa: E402  (the baseline is deliberately raw pyVmomi)

from vsphere_dr.gateway import VCenterGateway  # noqa: E402
from vsphere_dr.gateway.inventory_reader import WANTED  # noqa: E402
from vsphere_dr.settings import VCenterSettings  # noqa: E402
from vsphere_dr.simulator import topology as topo  # noqa: E402
from vsphere_dr.simulator.launcher import Simulator  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402


def settings_for(sim: Simulator) -> VCenterSettings:
    return VCenterSettings(host=sim.host, port=sim.port, user="bench", password="bench-password",
                           insecure_http=True, connect_timeout_seconds=600)


def timed_gateway_read(sim: Simulator) -> tuple[int, float, int]:
    with VCenterGateway(settings_for(sim)) as gateway:
        gateway.about()
        before, start = gateway.round_trips, time.perf_counter()
        inv = gateway.inventory()
        return gateway.round_trips - before, time.perf_counter() - start, len(inv.vms)


def timed_attribute_walk(sim: Simulator) -> tuple[int, float]:
    """What a naive script does: list the objects, then read each property as an attribute."""
    with VCenterGateway(settings_for(sim)) as gateway:
        content = gateway.session.content()
        before, start = gateway.round_trips, time.perf_counter()
        for kind, paths in WANTED.items():
            view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
            for obj in view.view:
                for path in paths:
                    read_path(obj, path)
            view.DestroyView()
        return gateway.round_trips - before, time.perf_counter() - start


def read_path(obj: vim.ManagedEntity, path: str) -> object:
    value: object = obj
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            break
    return value


def measure(vms: int, workdir: Path) -> list[tuple[object, ...]]:
    world = topo.generate(clusters=10, hosts_per_cluster=10, vms_per_host=max(1, vms // 100))
    path = topo.save(world, workdir / f"world-{vms}.json")
    with Simulator(path, extra_args=["-probes=false"]) as sim:  # no listener per VM address: not measured here
        gw_trips, gw_seconds, found = timed_gateway_read(sim)
        walk_trips, walk_seconds = timed_attribute_walk(sim)
    ratio = walk_seconds / gw_seconds
    print(f"  {found} VMs: gateway {gw_seconds:.2f} s, walk {walk_seconds:.2f} s", file=sys.stderr, flush=True)
    return [(found, "gateway", gw_trips, f"{gw_seconds:.3f}", "1.0"),
            (found, "attribute walk", walk_trips, f"{walk_seconds:.3f}", f"{ratio:.1f}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated VM counts")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    rows: list[tuple[object, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for vms in sizes:
            rows.extend(measure(vms, Path(tmp)))
    print(render_table(("VMS", "METHOD", "ROUND TRIPS", "SECONDS", "RATIO (walk/gateway)"), rows))
    at_1000 = [row for row in rows if row[0] == 1000 and row[1] == "attribute walk"]
    if at_1000:
        print(f"speedup_1000={at_1000[0][4]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
