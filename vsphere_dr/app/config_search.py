"""Which settings file a command reads: `--config`, else $VSPHERE_DR_CONFIG, else the first that exists of
./settings.ini, ~/.config/vsphere-dr/settings.ini ($XDG_CONFIG_HOME when set), /etc/vsphere-dr/settings.ini."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vsphere_dr.errors import SettingsError

SYSTEM_SETTINGS = Path("/etc/vsphere-dr/settings.ini")


def search_path(environ: Mapping[str, str]) -> list[Path]:
    """Where a settings file is looked for when neither --config nor $VSPHERE_DR_CONFIG names one."""
    config_home = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return [Path("settings.ini"), config_home / "vsphere-dr" / "settings.ini", SYSTEM_SETTINGS]


def settings_path(given: Path | None, environ: Mapping[str, str]) -> Path:
    """The settings file to read. One named (by --config or $VSPHERE_DR_CONFIG) is taken as it is:
    if it is missing, reading it says so; only the search path is searched."""
    if given is not None:
        return given
    if environ.get("VSPHERE_DR_CONFIG"):
        return Path(environ["VSPHERE_DR_CONFIG"])
    candidates = search_path(environ)
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise SettingsError("no settings file: looked for " + ", ".join(str(p) for p in candidates)
                            + ". Name one with --config or $VSPHERE_DR_CONFIG, or write one with "
                              "`vsphere-dr init-config PATH`")
    return found
