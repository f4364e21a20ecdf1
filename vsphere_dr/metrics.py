"""Prometheus metrics: what an operator graphs and alerts on.

Every value is worked out when it is asked for (a scrape of `run`'s /metrics, or the textfile
`once` writes), from the journal and the newest inventory this process read, by one custom
collector on a registry of its own (not prometheus_client's global one). So the textfile of a
`once`, a new process each time, shows the same values the daemon would: replica ages, incidents
and module runs come from the journal, which both keep. The recovery-duration histogram, too, is
counted from the journal's finished recovery actions (every one it holds, by kind and outcome),
not from what this process happened to do. From the newest inventory this process read (absent
until it read one): which VMs are protected, and each one's snapshot age, read as `vsphere-dr
protection` reads it (``protection.snapshot_age``: vCenter is the truth, so a snapshot a person
deleted there stops counting at the next inventory read, though the journal recorded it). And one
value is only this process's: the vCenter round trips it made (a counter that starts at 0 with
each process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from vsphere_dr.errors import SettingsError
from vsphere_dr.journal import Journal, RecoveryTime, SnapshotStatusRow
from vsphere_dr.protection import Verdict, rpo_target, snapshot_age, verdicts
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings

PREFIX = "vsphere_dr"
# Recovery durations: a power-on takes seconds, a registration tens, a clone-based one minutes.
BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
SWEEP_MODULE = "health_administrator"


class DrCollector(Collector):
    """The vsphere_dr_* metrics, read at collection time."""

    def __init__(self, journal: Journal, settings: Callable[[], Settings], inventory: Callable[[], Inventory | None],
                 round_trips: Callable[[], int], clock: Callable[[], float] = time.time) -> None:
        self.journal, self.settings, self.inventory = journal, settings, inventory
        self.round_trips, self.clock = round_trips, clock

    def collect(self) -> Iterator[Metric]:
        now, settings, inv = self.clock(), self.settings(), self.inventory()
        found = verdicts(inv, settings) if inv is not None else {}
        names = {moref: vm.name for moref, vm in inv.vms.items()} if inv is not None else {}
        protected = [v for v in found.values() if v.group is not None]
        yield from _protection(found, names)
        yield _targets(protected, names, settings)
        yield _snapshot_ages(inv.vms if inv is not None else {}, found, now)
        yield _ages("replica_age_seconds", "Age of the snapshot the newest replica was made from; +Inf: none yet",
                    self.journal.replica_status(), protected if settings.replication.enabled else [], names, now)
        yield from self._incidents()
        yield _histogram(self.journal.recovery_times())
        yield from self._modules()
        trips = CounterMetricFamily(f"{PREFIX}_vcenter_round_trips", "SOAP calls to vCenter made by this process")
        trips.add_metric([], self.round_trips())
        yield trips

    def _incidents(self) -> Iterator[Metric]:
        states = [row.state for row in self.journal.unresolved_incidents()]
        yield GaugeMetricFamily(f"{PREFIX}_incidents_open", "Incidents open (recovery under way or pending)",
                                value=states.count("open"))
        yield GaugeMetricFamily(f"{PREFIX}_incidents_needing_person", "Incidents that wait for a person",
                                value=states.count("needs_person"))

    def _modules(self) -> Iterator[Metric]:
        runs = self.journal.runs()
        success = GaugeMetricFamily(f"{PREFIX}_module_last_success_timestamp_seconds",
                                    "When a run of the module last ended ok (Unix time)", labels=["module"])
        last_ok = GaugeMetricFamily(f"{PREFIX}_module_last_run_ok", "1 if the module's last finished run ended ok",
                                    labels=["module"])
        for name, run in sorted(runs.items()):
            if run.last_ok_at is not None:
                success.add_metric([name], run.last_ok_at)
            if run.outcome in ("ok", "failed"):
                last_ok.add_metric([name], 1.0 if run.outcome == "ok" else 0.0)
        yield success
        yield last_ok
        sweep = runs.get(SWEEP_MODULE)
        if sweep is not None and sweep.finished_at is not None:
            yield GaugeMetricFamily(f"{PREFIX}_sweep_duration_seconds", "Duration of the last finished health sweep",
                                    value=sweep.finished_at - sweep.started_at)


def _protection(found: dict[str, Verdict], names: dict[str, str]) -> Iterator[Metric]:
    flag = GaugeMetricFamily(f"{PREFIX}_protected", "1 if vsphere-dr protects the VM (snapshots, replicas, recovery)",
                             labels=["vm", "moref"])
    info = GaugeMetricFamily(f"{PREFIX}_protection_info", "Why a VM is or is not protected, and its group",
                             labels=["vm", "moref", "group", "reason"])
    for moref, verdict in sorted(found.items(), key=lambda item: names[item[0]]):
        flag.add_metric([names[moref], moref], 1.0 if verdict.protected else 0.0)
        info.add_metric([names[moref], moref, verdict.group or "", verdict.reason], 1.0)
    yield flag
    yield info


def _targets(protected: list[Verdict], names: dict[str, str], settings: Settings) -> Metric:
    family = GaugeMetricFamily(f"{PREFIX}_rpo_target_seconds", "The RPO target of the VM's protection group",
                               labels=["vm", "moref", "group"])
    for verdict in protected:
        family.add_metric([names[verdict.vm], verdict.vm, verdict.group or ""], rpo_target(settings, verdict.group))
    return family


def _snapshot_ages(vms: Mapping[str, VmRecord], found: dict[str, Verdict], now: float) -> Metric:
    """Every protected VM's newest snapshot as the inventory shows it (``snapshot_age``, as
    `vsphere-dr protection` reads it), +Inf for one without."""
    family = GaugeMetricFamily(f"{PREFIX}_snapshot_age_seconds", "Age of the newest snapshot vCenter shows of a "
                               "protected VM, ours or a person's (its RPO); +Inf: none", labels=["vm", "moref"])
    for moref, verdict in sorted(found.items(), key=lambda item: vms[item[0]].name):
        if verdict.protected:
            age = snapshot_age(vms[moref], now)
            family.add_metric([vms[moref].name, moref], math.inf if age is None else age)
    return family


def _ages(name: str, doc: str, rows: list[SnapshotStatusRow], protected: list[Verdict], names: dict[str, str],
          now: float) -> Metric:
    """One series per VM the journal has a time for, and +Inf for a protected VM it has none for."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["vm", "moref"])
    seen = set()
    for row in rows:
        if row.newest_at is not None:
            family.add_metric([row.vm_name, row.vm], max(0.0, now - row.newest_at))
            seen.add(row.vm)
    for verdict in protected:
        if verdict.vm not in seen:
            family.add_metric([names[verdict.vm], verdict.vm], math.inf)
    return family


def _histogram(times: Iterable[RecoveryTime]) -> Metric:
    family = HistogramMetricFamily(f"{PREFIX}_recovery_duration_seconds",
                                   "Duration of finished recoveries, from the journal", labels=["kind", "outcome"])
    series: dict[tuple[str, str], list[float]] = {}
    for t in times:
        series.setdefault((t.kind, t.outcome), []).append(t.seconds)
    for (kind, outcome), values in sorted(series.items()):
        buckets = [(floatToGoString(b), float(sum(v <= b for v in values))) for b in BUCKETS]
        family.add_metric([kind, outcome], buckets + [("+Inf", float(len(values)))], sum_value=sum(values))
    return family


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry of its own, holding only ``collector`` (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class MetricsServer:
    """`run`'s /metrics over HTTP, in a thread of its own."""

    def __init__(self, registry: CollectorRegistry, address: tuple[str, int]) -> None:
        host, port = address
        try:
            self._server, self._thread = start_http_server(port, host, registry=registry)
        except OSError as exc:
            raise SettingsError(f"[metrics] listen = {host}:{port}: cannot listen there: {exc.strerror}") from exc

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """The metrics as a node_exporter textfile, written atomically: to a temporary file in the same
    directory, then renamed over ``path``, so that node_exporter never reads half a file."""
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise SettingsError(f"[metrics] textfile = {path}: cannot write it: {exc.strerror}") from exc
