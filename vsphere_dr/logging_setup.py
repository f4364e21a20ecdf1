"""Logging fit for systemd's journal or a file: plain lines or JSON lines, secrets masked.

A line about a VM, an incident, an action or a module carries them as fields:
``log.error("...", extra=fields(vm=name, moref=moref, action=kind))``; the JSON lines show each as a
key of its own (``"vm"``, ``"moref"``, ``"incident"``, ``"action"``, ``"module"``) for log shippers to
filter on, the plain lines only the message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from collections.abc import Iterable
from typing import Any

from vsphere_dr.settings import MASK, LoggingSettings, Settings

MIN_MASKED = 4
# The LogRecord attribute holding a line's fields (LogRecord has its own "module", so they are kept apart).
FIELDS_ATTRIBUTE = "vsphere_dr_fields"


NAMES_LOGGED = 5


def in_brief(names: Iterable[str]) -> str:
    """At most NAMES_LOGGED names, sorted, then how many more: a first look at 10,000 VMs is one short line."""
    ordered = sorted(names)
    more = len(ordered) - NAMES_LOGGED
    return ", ".join(ordered[:NAMES_LOGGED]) + (f" and {more} more" if more > 0 else "")


def fields(vm: str | None = None, moref: str | None = None, incident: int | None = None,
           action: str | None = None, module: str | None = None) -> dict[str, Any]:
    """The ``extra=`` of a log call about these (those given)."""
    given = {"vm": vm, "moref": moref, "incident": incident, "action": action, "module": module}
    return {FIELDS_ATTRIBUTE: {key: value for key, value in given.items() if value is not None}}


class SecretMask(logging.Filter):
    """Replaces every known secret in a record's final text with ***.

    Defence in depth: no code logs a password on purpose, but a library might echo one back.
    Secrets shorter than MIN_MASKED characters are not searched for: masking every "p" of a
    one-letter simulator password would garble every line while protecting nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        if len(secret) >= MIN_MASKED:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            text = record.getMessage()
            masked = text
            for secret in self._secrets:
                masked = masked.replace(secret, MASK)
            if masked != text:
                record.msg, record.args = masked, None
        return True


class UtcPlain(logging.Formatter):
    """Plain lines whose time is UTC and says so (``2026-12-01 09:15:07,123Z``), as the JSON lines'."""

    converter = time.gmtime


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, FIELDS_ATTRIBUTE, {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


SECRETS = SecretMask()


def configure_logging(settings: LoggingSettings) -> None:
    """(Re)configure the root logger from the [logging] section."""
    handler: logging.Handler
    if settings.file is not None:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(settings.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(UtcPlain("%(asctime)sZ %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.level)
    # APScheduler reports every job start and end at INFO; the controller logs each run itself.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))


def apply_settings(settings: Settings) -> None:
    """Configure logging from settings and register every password in them for masking."""
    configure_logging(settings.logging)
    for vcenter in filter(None, (settings.vcenter, settings.admin_vcenter)):
        SECRETS.add(vcenter.secret.get_secret_value())
