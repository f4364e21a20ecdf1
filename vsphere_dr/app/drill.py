"""`vsphere-dr drill` and `vsphere-dr drills`, and the clean-up of interrupted drills at the start
of `run` and `once`, and under `run` at every sweep interval.

A drill takes the journal's *drill* lock (``<journal>.drill.lock``), never the controller lock:
a drill must be possible while `run` serves, and it changes nothing `run` decides on (its copies
are marked, so neither monitored nor replicated). The drill lock keeps two drills apart and tells
a starting `run` or `once`, and a serving `run`, whether a drill is alive: only when it can take
the lock (no drill runs) does it remove the copies of drills the journal shows unfinished.
docs/operations.md, "Drills", explains how a drill and a recovery of the same VM meet.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from modules.inventory_administrator import InventoryAdministrator
from modules.replica_creator import resolve_targets
from vsphere_dr.app.daemon import stop_on_signals
from vsphere_dr.controller_lock import FileLock, held
from vsphere_dr.drill_report import report_as_dict, report_html, report_text, runs_text
from vsphere_dr.drills import DrillRunner, DrillTools, clean_up, select_vms
from vsphere_dr.errors import ControllerBusy, SettingsError, UsageError, VsphereDrError
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.journal import DrillRow, DrillRunRow, Journal
from vsphere_dr.logging_setup import apply_settings
from vsphere_dr.probes import Prober
from vsphere_dr.records import Inventory
from vsphere_dr.settings import Settings, VCenterSettings
from vsphere_dr.vcenter import Gateway

log = logging.getLogger(__name__)
EXIT_OK, EXIT_FAILED = 0, 1


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The `drill` and `drills` commands, made by the CLI's ``command`` (which adds --config and --json)."""
    drill = command("drill", "test failover: copy each VM's newest replica (or snapshot) isolated, start it, "
                             "check it answers, delete the copy; production untouched", "text")
    which = drill.add_mutually_exclusive_group(required=True)
    which.add_argument("--vm", nargs="+", metavar="NAME", help="the VMs to drill, by name")
    which.add_argument("--group", metavar="G", help="every VM of a protection group")
    which.add_argument("--all", action="store_true", help="every protected VM")
    drill.add_argument("--html", type=Path, metavar="OUT", help="also write the report as an HTML page to OUT")
    drills = command("drills", "the drill reports kept in the journal", "text")
    drills.add_argument("--html", type=Path, metavar="OUT", help="write a report (the newest, or --id) as HTML to OUT")
    drills.add_argument("--id", type=int, metavar="N", help="the drill run to show (default: every one, or the newest "
                                                           "for --html)")


def drill_lock(settings: Settings) -> FileLock:
    journal = settings.journal.path
    return FileLock(journal.with_name(journal.name + ".drill.lock"))


def cmd_drill(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    settings = admin.settings
    apply_settings(settings)
    command = "vsphere-dr drill " + ("--all" if args.all else f"--group {args.group}" if args.group
                                     else "--vm " + " ".join(args.vm))
    journal = Journal(settings.journal.path)
    try:
        with held(drill_lock(settings), command), VCenterGateway(settings.vcenter) as gateway:
            tools = _tools(admin, gateway, journal)
            stop_on_signals(tools.stop)
            for removed in clean_up(tools, scan=True):
                log.warning("removed %s, the copy of a drill that did not finish", removed)
            inv = gateway.inventory()
            vms = select_vms(inv, settings, args.vm or [], args.all, args.group)
            targets = resolve_targets(inv, settings.replication)
            if not targets.hosts or not targets.datastores:
                raise SettingsError("drills make their copies on the replica site: set [replication] hosts (or "
                                    "cluster) and datastores")
            run = DrillRunner(tools).run(inv, vms, targets.hosts, targets.datastores, command)
        return _show(journal, run, args)
    finally:
        journal.close()


def cmd_drills(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    journal = Journal(admin.settings.journal.path)
    try:
        runs = [(run, journal.drills(run.id)) for run in journal.drill_runs() if args.id in (None, run.id)]
        if args.id is not None and not runs:
            raise UsageError(f"the journal has no drill {args.id}")
        if args.html is not None:
            if not runs:
                raise UsageError("the journal has no drill yet: nothing to write")
            _write_html(args.html, *runs[-1])
        if args.json:
            print(json.dumps([report_as_dict(run, rows) for run, rows in runs], indent=2))
        elif args.id is not None:
            print(report_text(*runs[0]))
        else:
            print(runs_text(runs))
    finally:
        journal.close()
    return EXIT_OK


Connect = Callable[[VCenterSettings], AbstractContextManager[Gateway]]


def clean_up_after_drills(admin: InventoryAdministrator, connect: Connect = VCenterGateway,
                          serving: bool = False, seen: Inventory | None = None) -> None:
    """Remove the copies of drills that were killed half-way, unless a drill is running now (it
    holds the drill lock, and its copies are its own): at the start of `run` and `once`, and, with
    ``serving``, under `run` at every sweep interval (Daemon's ``leftovers`` job). The drill lock
    is only tried when the journal shows an unfinished drill, or when ``seen`` (the daemon's
    freshest picture: its watcher's, which a removed copy leaves at once; a whole read's would show
    it until the next whole read, and every check till then would read vCenter whole again) shows
    a marked copy of a drill the journal believes cleaned up (its clone finished in vCenter after
    its process died), so that a `drill` starting at that moment is refused
    (exit 4) only while there is something to clean up. Never stops `run` or `once`: what cannot
    be removed now is tried again the next time."""
    settings = admin.settings
    journal = Journal(settings.journal.path)
    try:
        late = seen is not None and _late_copies(seen, journal)
        if late or journal.drills_unfinished():
            _clean_up_unless_a_drill_runs(admin, journal, connect, serving, scan=late)
    finally:
        journal.close()


def _late_copies(inv: Inventory, journal: Journal) -> bool:
    """A copy marked with a drill's token (this journal's) that the journal says was cleaned up."""
    return any(vm.drill is not None and (row := journal.drill(vm.drill.drill)) is not None
               and row.token == vm.drill.token and row.cleaned for vm in inv.vms.values())


def _clean_up_unless_a_drill_runs(admin: InventoryAdministrator, journal: Journal, connect: Connect,
                                  serving: bool, scan: bool) -> None:
    settings = admin.settings
    lock = drill_lock(settings)
    try:
        lock.acquire("vsphere-dr clean-up of interrupted drills")
    except ControllerBusy:
        holder = lock.holder()
        # Under `run` this is seen at every sweep interval while a drill runs: INFO at start only.
        log.log(logging.DEBUG if serving else logging.INFO, "a drill is running (%s): its copies are its own",
                holder.describe() if holder else "")
        return
    try:
        with connect(settings.vcenter) as gateway:  # logs in only if a copy may be left
            for removed in clean_up(_tools(admin, gateway, journal), scan=scan):
                log.warning("removed %s, the copy of a drill that did not finish", removed)
    except VsphereDrError as exc:
        log.warning("the copies of interrupted drills were not removed (tried again %s): %s",
                    "at the next sweep interval" if serving else "at the next start", exc)
    finally:
        lock.release()


def _tools(admin: InventoryAdministrator, gateway: Gateway, journal: Journal) -> DrillTools:
    def probe(address: str, port: int) -> bool:
        monitoring = admin.settings.monitoring.model_copy(update={"probe": "tcp", "probe_port": port})
        return Prober(monitoring).probe([address]).get(address, False)

    return DrillTools(gateway, journal, lambda: admin.settings, probe)


def _show(journal: Journal, run: int, args: argparse.Namespace) -> int:
    found = next(r for r in journal.drill_runs() if r.id == run)
    rows = journal.drills(run)
    print(json.dumps(report_as_dict(found, rows), indent=2) if args.json else report_text(found, rows))
    if args.html is not None:
        _write_html(args.html, found, rows)
    return EXIT_OK if found.outcome == "passed" else EXIT_FAILED


def _write_html(path: Path, run: DrillRunRow, rows: list[DrillRow]) -> None:
    try:
        path.write_text(report_html(run, rows), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
