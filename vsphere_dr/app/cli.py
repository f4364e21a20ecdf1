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
from vsphere_dr.app.config_search import settings_path
from vsphere_dr.app.protection_report import protection_rows, protection_text
from vsphere_dr.app.sample_settings import write_sample
from vsphere_dr.app.state_paths import check_writable, state_files
from vsphere_dr.app.status import status_as_dict, status_text
from vsphere_dr.app.systemd_notify import Notifier
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
  2  settings.ini is missing or invalid (the message names section, key and reason, never a secret),
     or a file it names (journal, health models, log) cannot be written
  3  vCenter unreachable after the bounded retries, or its TLS certificate not trusted
  4  run/once only: another vsphere-dr run or once holds the journal's lock; nothing was done
     (normal when cron runs overlap; logged at WARNING with the holder's pid, host and since)
  5  vCenter refused the login (user or password): not retried, so that a wrong password never
     becomes an account lockout
  drill: 0 every VM's drill passed; 1 a VM's drill failed or was refused (the report says why);
     2 also for an unknown VM name; 4 another drill holds the journal's drill lock
"""


def build_parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command; unset, the settings file is searched for.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                        help="settings file (default: $VSPHERE_DR_CONFIG, else the first of ./settings.ini, "
                             "~/.config/vsphere-dr/settings.ini, /etc/vsphere-dr/settings.ini)")
    parser = argparse.ArgumentParser(
        prog="vsphere-dr", description="Disaster-recovery controller for VMware vSphere.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, json_output: str | None = None, settings: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, parents=[common] if settings else [])
        if json_output:
            sub.add_argument("--json", action="store_true", help=f"print JSON instead of {json_output}")
        return sub

    command("inventory", "list hosts and monitored VMs as vCenter shows them", "tables")
    command("check-config", "validate settings.ini, check the files it names can be written, log in to vCenter",
            "text")
    command("run", "run every module on its schedule until SIGTERM/SIGINT (for systemd)")
    once = command("once", "run one module once and exit (for cron); by default one health sweep: detect, "
                           "decide, act")
    once.add_argument("--module", default="health_administrator", choices=MODULES)
    once.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                      help="if another vsphere-dr holds the journal's lock, try again for up to SECONDS "
                           "before exiting 4 (default 0: at once)")
    command("plan", "one health sweep as a dry run: each action and why; changes nothing", "text")
    command("incidents", "incidents from the journal, with RTO and RPO", "a table")
    command("protection", "every VM: protected or not and why, its group, snapshot and replica RPO, and its "
                          "failover strategy", "a table")
    command("status", "each module's last and next run and outcome; each VM's snapshot age (RPO)", "tables")
    init = command("init-config", "write a commented settings file to start from", settings=False)
    init.add_argument("path", type=Path, metavar="PATH", help="where to write it, e.g. /etc/vsphere-dr/settings.ini")
    init.add_argument("--force", action="store_true", help="replace PATH if it exists")
    evaluate = command("eval-health", "score the health model on labelled series (NAB format)", settings=False)
    evaluate.add_argument("directory", type=Path, help="directory with CSV files and labels.json")
    evaluate.add_argument("--write-results", type=Path, metavar="OUT", help=health_eval.RESULTS_HELP)
    drill.add_commands(command)
    return parser


def cmd_inventory(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    with VCenterGateway(_logged(admin).vcenter) as gateway:
        inv = gateway.inventory()
    print(json.dumps(inventory_as_dict(inv), indent=2) if args.json else inventory_as_text(inv))
    return EXIT_OK


def cmd_check_config(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    files = {what: str(path) for what, path in state_files(admin.settings).items()}  # checked before the command
    if not args.json:
        print(f"settings: {args.config} is valid")
        print("\n".join(f"{what}: {path} can be written" for what, path in files.items()))
    with VCenterGateway(_logged(admin).vcenter) as gateway:
        where, about = gateway.session.where, gateway.about()
    if args.json:
        print(json.dumps({"settings": str(args.config), "valid": True, "writable": files,
                          "vcenter": {"url": where, "about": about}}, indent=2))
    else:
        print(f"vCenter: {where} answered as {about}")
    return EXIT_OK


def cmd_run(admin: InventoryAdministrator, args: argparse.Namespace) -> int:
    controller = Controller(admin)
    try:
        Daemon(controller, Notifier(),
               lambda: drill.clean_up_after_drills(admin, serving=True, seen=controller.freshest_inventory())).serve()
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
        facts = (controller.journal, schedules(admin.settings), admin.settings.scheduler.paused)
        print(json.dumps(status_as_dict(*facts), indent=2) if args.json else status_text(*facts))
    finally:
        controller.close()
    return EXIT_OK


def cmd_init_config(args: argparse.Namespace) -> int:
    """Write the commented sample settings (shipped in the package) to args.path."""
    try:
        write_sample(args.path, args.force)
    except FileExistsError:
        return _fail(f"{args.path} exists: not replaced (--force replaces it)", EXIT_SETTINGS)
    except OSError as exc:
        return _fail(f"cannot write {args.path}: {exc.strerror}", EXIT_SETTINGS)
    print(f"wrote {args.path}: set [vcenter] host and user, and the password (docs/configuration.md); "
          f"then `vsphere-dr --config {args.path} check-config`")
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
    if args.command == "init-config":
        return cmd_init_config(args)
    try:
        args.config = settings_path(getattr(args, "config", None), os.environ)
        admin = InventoryAdministrator(args.config, PAUSABLE)
        # Every command but these two opens the journal; all of them log.
        check_writable(state_files(admin.settings, journal=args.command not in ("inventory", "protection")))
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
