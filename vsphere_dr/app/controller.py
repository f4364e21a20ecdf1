"""The controller: settings, journal, gateways and the administrators, wired together.

Each administrator is a *module* with a name and a ``run()`` returning a report with a
``summary()``. The controller runs a module, records the run in the journal (for `status`),
and applies settings changes: a changed vCenter address or credential reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from modules.availability_administrator import AvailabilityAdministrator
from modules.health_administrator import HealthAdministrator, HealthSweep
from modules.inventory_administrator import InventoryAdministrator
from modules.ping_alarm_administrator import PingAlarmAdministrator
from modules.replica_creator import ReplicaCreator
from modules.snapshot_creator import SnapshotCreator
from modules.snapshot_creator_vhost import SnapshotCreatorVhost
from vsphere_dr.app.module_registry import MODULES
from vsphere_dr.errors import VsphereDrError
from vsphere_dr.executor import Executor
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.journal import Journal
from vsphere_dr.logging_setup import apply_settings, fields
from vsphere_dr.metrics import DrCollector, registry_of, write_textfile
from vsphere_dr.probes import Prober
from vsphere_dr.protection import needs_tags
from vsphere_dr.recoveries.base import Tools
from vsphere_dr.records import Inventory
from vsphere_dr.settings import Settings

log = logging.getLogger(__name__)


class Report(Protocol):
    def summary(self) -> str: ...


class Module(Protocol):
    name: str

    def run(self) -> Report: ...


class SettingsCheck:
    """The Inventory Administrator as a scheduled module: reload settings.ini if it changed."""

    name = "inventory_administrator"

    def __init__(self, admin: InventoryAdministrator) -> None:
        self.admin = admin

    def run(self) -> Report:
        changed = self.admin.refresh()
        return _Text("settings reloaded" if changed else "settings unchanged")


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text

    def summary(self) -> str:
        return self.text


class Controller:
    def __init__(self, inventory_admin: InventoryAdministrator) -> None:
        self.inventory_admin = inventory_admin
        settings = self.settings()
        apply_settings(settings)
        self.stop = threading.Event()
        self.journal = Journal(settings.journal.path)
        self.gateway = VCenterGateway(settings.vcenter)
        self.admin_gateway = VCenterGateway(settings.admin_vcenter) if settings.admin_vcenter else self.gateway
        # Each module that runs in its own scheduler thread gets its own session.
        snapshot_gateway, health_gateway = VCenterGateway(settings.vcenter), VCenterGateway(settings.vcenter)
        replica_gateway = VCenterGateway(settings.vcenter)
        self.gateways = [self.gateway, snapshot_gateway, health_gateway, replica_gateway] + (
            [self.admin_gateway] if settings.admin_vcenter else [])
        self.availability: AvailabilityAdministrator[HealthAdministrator] = AvailabilityAdministrator(
            self.gateway.inventory, HealthAdministrator.for_vm)
        ping_alarm = PingAlarmAdministrator(health_gateway, self.settings)
        tools = Tools(health_gateway, self.admin_gateway, self.settings, self._probe_one, self.stop)
        self.health = HealthSweep(health_gateway, self.admin_gateway, self.journal, self.settings, self.availability,
                                  ping_alarm, Executor(tools, self.journal))
        self.modules: dict[str, Module] = {m.name: m for m in (
            SettingsCheck(self.inventory_admin),
            self.availability,
            self.health,
            ping_alarm,
            SnapshotCreator(snapshot_gateway, self.journal, self.settings, self.stop),
            SnapshotCreatorVhost(self.admin_gateway, snapshot_gateway, self.journal, self.settings, self.stop),
            ReplicaCreator(replica_gateway, self.journal, self.settings, self.stop),
        )}
        if tuple(self.modules) != MODULES:
            raise RuntimeError(f"the controller's modules {tuple(self.modules)} are not the registry's {MODULES}")
        self.inventory_admin.on_change(self._settings_changed)
        self._read_tags_as(settings)
        self.metrics = registry_of(DrCollector(self.journal, self.settings, self.latest_inventory,
                                               lambda: sum(g.round_trips for g in self.gateways)))

    def latest_inventory(self) -> Inventory | None:
        """The newest whole inventory any of this controller's sessions of [vcenter] read."""
        read = [g.last_inventory for g in self._vcenter_gateways()]
        return max((inv for inv in read if inv is not None), key=lambda inv: inv.read_at, default=None)

    def freshest_inventory(self) -> Inventory | None:
        """Under `run`, the watcher's picture (kept current as vCenter reports changes; it has no
        tags), else the newest whole read. Reads nothing."""
        live = self.health.live.inventory() if self.health.live is not None else None
        return live if live is not None else self.latest_inventory()

    def write_metrics(self) -> None:
        """The node_exporter textfile, if [metrics] textfile names one (`once` writes it after its run)."""
        path = self.settings().metrics.textfile
        if path is not None:
            write_textfile(self.metrics, path)

    def settings(self) -> Settings:
        return self.inventory_admin.settings

    def run_module(self, name: str) -> Exception | None:
        """Run one module now and record the outcome in the journal; return the error, if any.

        Anything a module raises ends its run as failed: a project error with its message, any
        other exception (a defect) with its one-line text, the traceback at debug level.
        """
        module = self.modules[name]
        self.journal.run_started(name)
        started = time.monotonic()
        try:
            summary = module.run().summary()
        except Exception as exc:
            text = str(exc) if isinstance(exc, VsphereDrError) else f"{type(exc).__name__}: {exc}"
            log.error("%s failed: %s", name, text, extra=fields(module=name))
            log.debug("%s failed", name, exc_info=exc, extra=fields(module=name))
            self.journal.run_finished(name, "failed", text)
            return exc
        log.info("%s done in %.1f s: %s", name, time.monotonic() - started, summary, extra=fields(module=name))
        self.journal.run_finished(name, "ok", summary)
        return None

    def _probe_one(self, address: str) -> bool:
        return Prober(self.settings().monitoring).probe([address]).get(address, False)

    def close(self) -> None:
        """The controller stops (`once`'s end, `run` after SIGTERM once its jobs returned): the health
        models are saved, then the sessions and the journal closed."""
        try:
            self.health.close()
        finally:
            for gateway in self.gateways:
                gateway.close()
            self.journal.close()

    def _read_tags_as(self, settings: Settings) -> None:
        """The [vcenter] sessions read the VMs' tags with the inventory when a protection group needs them."""
        for gateway in self._vcenter_gateways():
            gateway.read_tags = needs_tags(settings)

    def _vcenter_gateways(self) -> list[VCenterGateway]:
        """The sessions of [vcenter] (not that of a distinct [admin_vcenter])."""
        return [g for g in self.gateways if g is self.gateway or g is not self.admin_gateway]

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        apply_settings(new)
        self._read_tags_as(new)
        if new.vcenter != old.vcenter:
            log.info("[vcenter] changed: reconnecting")
            for gateway in self.gateways:
                if gateway is not self.admin_gateway or new.admin_vcenter is None:
                    gateway.reconfigure(new.vcenter)
        if new.admin_vcenter and new.admin_vcenter != old.admin_vcenter and self.admin_gateway is not self.gateway:
            self.admin_gateway.reconfigure(new.admin_vcenter)
