"""The `vsphere-dr` command line."""

from __future__ import annotations

import argparse
from importlib import metadata
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from modules.inventory_administrator import InventoryAdministrator
from vsphere_dr import health_eval
from vsphere_dr.app import drill
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.daemon import Daemon, stop_on_signals
from vsphere_dr.app.incidents import incidents_as_dicts, incidents_text
from vsphere_dr.app.module_registry import MODULES, PAUSABLE, schedules
from vsphere_dr.app.protection_report import protection_rows, protection_text
from vsphere_dr.app.status import status_text
from vsphere_dr.controller_lock import held, lock_for_journal
from vsphere_dr.errors import AuthenticationError, ControllerBusy, SettingsError, VCenterUnreachable, VsphereDrError
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.inventory_report import inventory_as_dict, inventory_as_text
from vsphere_dr.logging_setup import apply_settings
from vsphere_dr.protection import needs_tags
from vsphere_dr.settings import Settings

EXIT_OK, EXIT_FAULT, EXIT_SETTINGS, EXIT_UNREACHABLE, EXIT_BUSY, EXIT_LOGIN = 0, 1, 2, 3, 4, 5
log = logging.getLogger(__name__)

EPILOG = """exit codes:
  0  success
  1  vCenter answered with a fault, or a module failed
  2  settings.ini is missing or invalid (the message names section, key and reason, never a secret)
  3  vCenter unreachable after the bounded retries, or its TLS certificate not trusted
  4  run/once only: another vsphere-dr run or once holds the journal's lock; nothing was done
     (normal when cron runs overlap; logged at WARNING with the holder's pid, host and since)
  5  vCenter refused the login (user or password): not retried, so that a wrong password never
     becomes an account lockout
  drill: 0 every VM's drill passed; 1 a VM's drill failed or was refused (the report says why);
     2 also for an unknown VM name; 4 another drill holds the journal's drill lock
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsphere-dr", description="Disaster-recovery controller for VMware vSphere.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("VSPHERE_DR_CONFIG", "settings.ini")),
                        help="settings file (default: $VSPHERE_DR_CONFIG or ./settings.ini)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inventory = commands.add_parser("inventory", help="list hosts and monitored VMs as vCenter shows them")
    inventory.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands.add_parser("check-config", help="validate settings.ini and log in to vCenter")
    commands.add_parser("run", help="run every module on its schedule until SIGTERM/SIGINT (for systemd)")
    once = commands.add_parser("once", help="run one module once and exit (for cron); "
                                            "by default one health sweep: detect, decide, act")
    once.add_argument("--module", default="health_administrator", choices=MODULES)
    once.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                      help="if another vsphere-dr holds the journal's lock, try again for up to SECONDS "
                           "before exiting 4 (default 0: at once)")
    plan = commands.add_parser("plan", help="one health sweep as a dry run: each action and why; changes nothing")
    plan.add_argument("--json", action="store_true", help="print JSON instead of text")
    incidents = commands.add_parser("incidents", help="incidents from the journal, with RTO and RPO")
    incidents.add_argument("--json", action="store_true", help="print JSON instead of a table")
    protection = commands.add_parser("protection", help="every VM: protected or not and why, its group, "
                                                        "snapshot and replica RPO, and its failover strategy")
    protection.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser("status", help="each module's last and next run and outcome; each VM's snapshot age (RPO)")
    evaluate = commands.add_parser("eval-health", help="score the health model on labelled series (NAB format)")
    evaluate.add_argument("directory", type=Path, help="directory with CSV files and labels.json")
    evaluate.add_argument("--write-results", type=Path, metavar="OUT", help=health_eval.RESULTS_HELP)
    drill.add_commands(commands)
    return parser


def cmd_inventory(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    with VCenterGateway(_logged(admin).vcenter) as gateway:
        inv = gateway.inventory()
    print(json.dumps(inventory_as_dict(inv), indent=2) if args.json else inventory_as_text(inv))
    return EXIT_OK


def cmd_check_config(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    print(f"settings: {args.config} is valid")
    with VCenterGateway(_logged(admin).vcenter) as gateway:
        print(f"vCenter: {gateway.session.where} answered as {gateway.about()}")
    return EXIT_OK


def cmd_run(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    controller = Controller(admin)
    try:
        Daemon(controller).serve()
    finally:
        controller.close()
    return EXIT_OK


def cmd_once(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    if args.module in _logged(admin).scheduler.paused:
        log.info("%s is paused ([scheduler] paused in %s): not run", args.module, args.config)
        return EXIT_OK
    controller = Controller(admin)
    stop_on_signals(controller.stop)
    try:
        error = controller.run_module(args.module)
        controller.write_metrics()
    finally:
        controller.close()
    if error is None:
        return EXIT_OK
    if isinstance(error, VsphereDrError):
        raise error
    return _fail(f"{args.module} failed: {type(error).__name__}: {error}", EXIT_FAULT)


def cmd_plan(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    controller = Controller(admin)
    try:
        plan = controller.health.plan().plan
    finally:
        controller.close()
    print(json.dumps(plan.as_dict(), indent=2) if args.json else plan.text())
    return EXIT_OK


def cmd_protection(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    settings = _logged(admin)
    with VCenterGateway(settings.vcenter) as gateway:
        gateway.read_tags = needs_tags(settings)
        inv = gateway.inventory()
    rows = protection_rows(inv, settings, time.time())
    print(json.dumps(rows, indent=2) if args.json else protection_text(rows))
    return EXIT_OK


def cmd_incidents(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    controller = Controller(admin)
    try:
        rows = controller.journal.incidents()
    finally:
        controller.close()
    print(json.dumps(incidents_as_dicts(rows), indent=2) if args.json else incidents_text(rows))
    return EXIT_OK


def cmd_status(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    controller = Controller(admin)
    try:
        print(status_text(controller.journal, schedules(admin.settings), admin.settings.scheduler.paused))
    finally:
        controller.close()
    return EXIT_OK


Command = Callable[[InventoryAdministrator, argparse.Namespace], int]


def exclusive(command: Command) -> Command:
    """``command`` under the journal's controller lock, for the commands that act (`run`, `once`).

    Taken before the Controller opens the journal or logs in, so that a refused process touches
    neither; held until the command returns, i.e. until the process exits.
    """

    def locked(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
        what = ["vsphere-dr", args.command] + (["--module", args.module] if args.command == "once" else [])
        with held(lock_for_journal(_logged(admin).journal.path), " ".join(what), getattr(args, "wait_lock", 0.0)):
            drill.clean_up_after_drills(admin)
            return command(admin, args)

    return locked


# Only `run` and `once` take the lock; the others only read, and never wait for it.
COMMANDS: dict[str, Command] = {
    "inventory": cmd_inventory,
    "check-config": cmd_check_config,
    "run": exclusive(cmd_run),
    "once": exclusive(cmd_once),
    "status": cmd_status,
    "plan": cmd_plan,
    "incidents": cmd_incidents,
    "protection": cmd_protection,
    "drill": drill.cmd_drill,  # takes the drill lock, never the controller's: a drill runs beside `run`
    "drills": drill.cmd_drills,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `vsphere-dr incidents | head`: the reader left; what it did not read is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _version() -> str:
    try:
        return metadata.version("vsphere-dr")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "eval-health":  # needs no settings and no vCenter
        results = [] if args.write_results is None else ["--write-results", str(args.write_results)]
        return health_eval.main([str(args.directory), *results])
    try:
        admin = InventoryAdministrator(args.config, PAUSABLE)
        return COMMANDS[args.command](admin, args)
    except SettingsError as exc:
        return _fail(exc, EXIT_SETTINGS)
    except AuthenticationError as exc:
        return _fail(exc, EXIT_LOGIN)
    except VCenterUnreachable as exc:
        return _fail(exc, EXIT_UNREACHABLE)
    except ControllerBusy as exc:
        # Not an error: overlapping cron runs meet here. Logged only (no stderr line for cron to mail).
        log.warning("%s. This %s does nothing and exits %d (normal when cron runs overlap)", exc, args.command,
                    EXIT_BUSY)
        return EXIT_BUSY
    except VsphereDrError as exc:
        return _fail(exc, EXIT_FAULT)


def _logged(admin: InventoryAdministrator) -> Settings:
    """The settings, with logging configured from them and the passwords masked in logs."""
    apply_settings(admin.settings)
    return admin.settings


def _fail(exc: Exception | str, code: int) -> int:
    print(f"vsphere-dr: error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
