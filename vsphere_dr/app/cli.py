"""The `vsphere-dr` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from modules.inventory_administrator import InventoryAdministrator
from vsphere_dr.errors import SettingsError, VCenterError, VCenterUnreachable, AuthenticationError
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.inventory_report import inventory_as_dict, inventory_as_text
from vsphere_dr.logging_setup import SECRETS, configure_logging
from vsphere_dr.settings import Settings

EXIT_OK, EXIT_FAULT, EXIT_SETTINGS, EXIT_UNREACHABLE = 0, 1, 2, 3

EPILOG = """exit codes:
  0  success
  1  vCenter answered with a fault
  2  settings.ini is missing or invalid (the message names section, key and value)
  3  vCenter unreachable after the bounded retries, TLS not trusted, or login refused
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsphere-dr", description="Disaster-recovery controller for VMware vSphere.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("VSPHERE_DR_CONFIG", "settings.ini")),
                        help="settings file (default: $VSPHERE_DR_CONFIG or ./settings.ini)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inventory = commands.add_parser("inventory", help="list hosts and monitored VMs as vCenter shows them")
    inventory.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands.add_parser("check-config", help="validate settings.ini and log in to vCenter")
    return parser


def cmd_inventory(settings: Settings, args: argparse.Namespace) -> int:
    with VCenterGateway(settings.vcenter) as gateway:
        inv = gateway.inventory()
    print(json.dumps(inventory_as_dict(inv), indent=2) if args.json else inventory_as_text(inv))
    return EXIT_OK


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"settings: {args.config} is valid")
    with VCenterGateway(settings.vcenter) as gateway:
        print(f"vCenter: {gateway.session.where} answered as {gateway.about()}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "inventory": cmd_inventory,
    "check-config": cmd_check_config,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = InventoryAdministrator(args.config).settings
    except SettingsError as exc:
        return _fail(exc, EXIT_SETTINGS)
    configure_logging(settings.logging)
    SECRETS.add(settings.vcenter.secret.get_secret_value())
    try:
        return COMMANDS[args.command](settings, args)
    except (VCenterUnreachable, AuthenticationError) as exc:
        return _fail(exc, EXIT_UNREACHABLE)
    except VCenterError as exc:
        return _fail(exc, EXIT_FAULT)


def _fail(exc: Exception, code: int) -> int:
    print(f"vsphere-dr: error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
