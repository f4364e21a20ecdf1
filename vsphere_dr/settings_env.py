"""Settings from the environment, in the conventions vSphere people already use.

Highest precedence first:

1. ``VSPHERE_DR_<SECTION>_<KEY>`` for any key of any section (``VSPHERE_DR_VCENTER_HOST``,
   ``VSPHERE_DR_ADMIN_VCENTER_USER``, ``VSPHERE_DR_MONITORING_INTERVAL_SECONDS``);
2. Ansible community.vmware's ``VMWARE_HOST``, ``VMWARE_PORT``, ``VMWARE_USER``, ``VMWARE_PASSWORD``,
   ``VMWARE_VALIDATE_CERTS`` for ``[vcenter]``;
3. govc's ``GOVC_URL`` (``[scheme://][user[:password]@]host[:port][/sdk]``), ``GOVC_USERNAME``,
   ``GOVC_PASSWORD`` (these two override the URL's), ``GOVC_INSECURE`` (``1`` or ``true``: the
   certificate is not verified) for ``[vcenter]``;
4. settings.ini.

A layer that gives a section one of ``password``, ``password_env``, ``password_file`` replaces
whichever of them the lower layers gave, so that "exactly one of them" still holds when the
environment supplies the password of a file that names its own.

Nothing here ever puts a value in a message: a variable that cannot be read is named, not quoted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from vsphere_dr.errors import SettingsError

PREFIX = "VSPHERE_DR_"
PASSWORD_KEYS = ("password", "password_env", "password_file")
# Ansible community.vmware's environment fallbacks of its connection options.
VMWARE_VARS = {"VMWARE_HOST": "host", "VMWARE_PORT": "port", "VMWARE_USER": "user", "VMWARE_PASSWORD": "password",
               "VMWARE_VALIDATE_CERTS": "verify_tls"}
GOVC_VARS = ("GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE")
STATE_DIRECTORY = "STATE_DIRECTORY"

Raw = dict[str, dict[str, str]]
# (section, key) -> the environment variable its value came from.
Origins = dict[tuple[str, str], str]


@dataclass(frozen=True)
class Override:
    section: str
    key: str
    value: str
    variable: str


def apply_environment(raw: Raw, environ: Mapping[str, str], sections: Collection[str]) -> tuple[Raw, Origins]:
    """``raw`` (settings.ini's sections) with the environment's overrides laid over it, lowest first."""
    merged = {name: dict(values) for name, values in raw.items()}
    origins: Origins = {}
    for layer in (govc_layer(environ), vmware_layer(environ), own_layer(environ, sections)):
        _lay(merged, origins, layer)
    return merged, origins


def _lay(merged: Raw, origins: Origins, layer: list[Override]) -> None:
    for section in {o.section for o in layer if o.key in PASSWORD_KEYS}:
        for key in PASSWORD_KEYS:  # the layer's password replaces the lower layers' source of it
            merged.get(section, {}).pop(key, None)
            origins.pop((section, key), None)
    for override in layer:
        merged.setdefault(override.section, {})[override.key] = override.value
        origins[(override.section, override.key)] = override.variable


def own_layer(environ: Mapping[str, str], sections: Collection[str]) -> list[Override]:
    """``VSPHERE_DR_<SECTION>_<KEY>``; variables whose name starts with no section's are not settings
    (``VSPHERE_DR_CONFIG``, or a ``password_env`` such as ``VSPHERE_DR_PASSWORD``)."""
    found = []
    by_length = sorted(sections, key=len, reverse=True)  # ADMIN_VCENTER_ before VCENTER_ could match
    for variable, value in environ.items():
        rest = variable[len(PREFIX):] if variable.startswith(PREFIX) else ""
        section = next((s for s in by_length if rest.startswith(s.upper() + "_")), None)
        if section is not None and rest[len(section) + 1:]:
            found.append(Override(section, rest[len(section) + 1:].lower(), value, variable))
    return found


def vmware_layer(environ: Mapping[str, str]) -> list[Override]:
    return [Override("vcenter", key, environ[variable], variable)
            for variable, key in VMWARE_VARS.items() if environ.get(variable)]


def govc_layer(environ: Mapping[str, str]) -> list[Override]:
    """govc's semantics: its URL with its defaults (https, /sdk), user and password overriding the URL's."""
    found = _govc_url(environ["GOVC_URL"]) if environ.get("GOVC_URL") else []
    for variable, key in (("GOVC_USERNAME", "user"), ("GOVC_PASSWORD", "password")):
        if environ.get(variable):
            found = [o for o in found if o.key != key] + [Override("vcenter", key, environ[variable], variable)]
    if environ.get("GOVC_INSECURE"):
        insecure = environ["GOVC_INSECURE"].lower() in ("1", "true")  # govc's test: anything else verifies
        found.append(Override("vcenter", "verify_tls", "false" if insecure else "true", "GOVC_INSECURE"))
    return found


def _govc_url(text: str) -> list[Override]:
    """GOVC_URL's parts as [vcenter] keys; a URL govc would not accept is named, never quoted."""
    if "://" not in text.split("@")[0]:
        text = "https://" + text  # govc's default scheme
    url, port = _split(text)
    if url is None:
        raise SettingsError("GOVC_URL is not a valid URL (a port out of range or not a number?)")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SettingsError("GOVC_URL is not an http(s) URL with a host name")
    if url.path not in ("", "/", "/sdk", "/sdk/"):
        raise SettingsError("GOVC_URL has a path other than /sdk: vsphere-dr speaks only to vCenter's /sdk")
    parts = {"host": url.hostname, "port": str(port) if port else None, "user": unquote(url.username or ""),
             "password": unquote(url.password or ""), "insecure_http": "true" if url.scheme == "http" else "false"}
    return [Override("vcenter", key, value, "GOVC_URL") for key, value in parts.items() if value]


def _split(text: str) -> tuple[SplitResult | None, int | None]:
    """urllib's parts of ``text``, or None; its error is dropped (it may quote the URL, password and all),
    and returned rather than raised from so that it is not chained to ours."""
    try:
        url = urlsplit(text)
        return url, url.port
    except ValueError:
        return None, None


def state_directory(environ: Mapping[str, str]) -> Path | None:
    """systemd's StateDirectory= (``$STATE_DIRECTORY``; the first when several are listed, ':' between)."""
    first = environ.get(STATE_DIRECTORY, "").split(":")[0]
    return Path(first) if first else None
