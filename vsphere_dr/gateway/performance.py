"""Batched performance counters: the latest real-time sample of many VMs per QueryPerf call.

What a collection costs, whatever the fleet size:

- once per gateway session, one RetrievePropertiesEx reading ``PerformanceManager.perfCounter``
  to turn counter names (``cpu.usage.average``) into this vCenter's counter ids (ids differ between
  vCenters and versions, names do not);
- then one QueryPerf round trip per ``chunk_size`` VMs (one spec per VM, ``maxSample`` 1 at the
  real-time interval): a single round trip for any fleet up to 2000 VMs.

Why chunks of 2000: a real-time (20-second) query is a raw data feed that vCenter answers from the
hosts' own recent samples, bypassing its statistics database (VMware's Web Services SDK
Programming Guide, "Using the QueryPerf Method as a Raw Data Feed"), so the database's
``config.vpxd.stats.maxQueryMetrics`` cap on historical queries does not apply. What remains is
the size of one SOAP message, on the order of 2 kB of answer per VM with 6 counters: a few MB per
chunk, while fleets of a few thousand VMs still cost one or two round trips.

Records only leave this module: a mapping VM moref -> ``Sample`` (``vsphere_dr.signals``, the
class ``vsphere_dr.health_model`` judges).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pyVmomi import vim, vmodl

from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated
from vsphere_dr.gateway.properties import read_object
from vsphere_dr.signals import Sample

log = logging.getLogger(__name__)

# What the health model watches; docs/health-model.md says why each one.
COUNTERS = ("cpu.usage.average", "cpu.ready.summation", "mem.usage.average", "mem.active.average",
            "disk.usage.average", "net.usage.average")
# vCenter's real-time interval for VMs and hosts: the ESXi hosts sample every 20 seconds.
REALTIME_INTERVAL_SECONDS = 20
QUERY_CHUNK = 2000
_AGGREGATE = ""  # the metric instance of the VM as a whole (not per vCPU, disk or NIC)


@dataclass(frozen=True)
class _Counter:
    name: str
    scale: float  # vCenter reports percentages in hundredths: 10000 is 100%


class PerformanceReader:
    """The latest real-time counter values of many VMs, in a constant number of round trips."""

    def __init__(self, session: VCenterSession, counters: Sequence[str] = COUNTERS,
                 chunk_size: int = QUERY_CHUNK) -> None:
        self._session = session
        self._names = tuple(counters)
        self._chunk_size = chunk_size
        self._resolved: dict[int, _Counter] | None = None  # by counter id, once per session

    def latest(self, vm_morefs: Iterable[str]) -> dict[str, Sample]:
        """VM moref -> its latest real-time sample, counter name -> value.

        Percentages are in percent (``cpu.usage.average`` 100.0 is a saturated VM). A VM without
        real-time samples (powered off, or on a host vCenter cannot reach) or one deleted
        meanwhile is simply absent; so is a counter vCenter has no value for (-1).
        """
        morefs = sorted(set(vm_morefs))
        if not morefs:
            return {}
        doing = f"collecting performance samples of {len(morefs)} VM(s)"

        def collect(content: vim.ServiceInstanceContent) -> dict[str, Sample]:
            with faults_translated(doing):
                counters = self._counters(content)
                samples: dict[str, Sample] = {}
                for start in range(0, len(morefs), self._chunk_size):
                    chunk = morefs[start:start + self._chunk_size]
                    samples.update(self._query(content.perfManager, chunk, counters))
                return samples

        return self._session.call(collect, doing)

    def _counters(self, content: vim.ServiceInstanceContent) -> dict[int, _Counter]:
        """The wanted counters that this vCenter has, by id; a missing one is warned about once."""
        if self._resolved is None:
            infos = read_object(content, content.perfManager, ["perfCounter"]).get("perfCounter") or ()
            by_name: dict[str, Any] = {}
            for info in infos:
                by_name.setdefault(f"{info.groupInfo.key}.{info.nameInfo.key}.{info.rollupType}", info)
            missing = [name for name in self._names if name not in by_name]
            if missing:
                log.warning("vCenter at %s lacks the performance counter(s) %s; samples are collected "
                            "without them",
                            self._session.where, ", ".join(missing))
            self._resolved = {info.key: _Counter(name, 100.0 if info.unitInfo.key == "percent" else 1.0)
                              for name, info in by_name.items() if name in self._names}
        return self._resolved

    def _query(self, manager: Any, morefs: Sequence[str],
               counters: dict[int, _Counter]) -> dict[str, Sample]:
        """One QueryPerf for these VMs (one spec each), turned into samples."""
        if not counters:
            return {}
        metrics = [vim.PerformanceManager.MetricId(counterId=key, instance=_AGGREGATE) for key in counters]
        specs = {moref: vim.PerformanceManager.QuerySpec(
                     entity=self._session.managed(vim.VirtualMachine, moref), metricId=metrics,
                     intervalId=REALTIME_INTERVAL_SECONDS, maxSample=1)
                 for moref in morefs}
        return {metric.entity._moId: sample for metric in _query_existing(manager, specs)
                if (sample := _sample(metric, counters)) is not None}


def _query_existing(manager: Any, specs: dict[str, Any]) -> list[Any]:
    """QueryPerf; a VM deleted since the caller listed it faults the whole call in vCenter, so it
    is dropped and the call repeated (one extra round trip per such VM): it cannot cost the other
    VMs their sample.
    """
    while specs:
        try:
            return list(manager.QueryPerf(list(specs.values())) or ())
        except vmodl.fault.ManagedObjectNotFound as fault:
            gone = getattr(fault.obj, "_moId", None)
            if gone not in specs:
                raise
            log.info("VM %s is gone; collecting the other VMs' samples without it", gone)
            specs = {moref: spec for moref, spec in specs.items() if moref != gone}
    return []


def _sample(metric: Any, counters: dict[int, _Counter]) -> Sample | None:
    """The newest sample of one entity's answer, or None if it holds no value."""
    infos = metric.sampleInfo or ()
    if not infos:
        return None
    newest = max(range(len(infos)), key=lambda i: infos[i].timestamp)
    values: dict[str, float] = {}
    for series in metric.value or ():
        counter = counters.get(series.id.counterId)
        if counter is None or series.id.instance != _AGGREGATE or len(series.value) <= newest:
            continue
        if series.value[newest] >= 0:  # -1: vCenter has no value for this counter at that time
            values[counter.name] = series.value[newest] / counter.scale
    return Sample(infos[newest].timestamp, MappingProxyType(values)) if values else None
