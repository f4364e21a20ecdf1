"""systemd's notify protocol (sd_notify(3)), spoken directly: no dependency on systemd or its libraries.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, a Unix datagram socket (a path, or an
abstract-namespace name written with a leading ``@``), and with ``WatchdogSec=`` also
``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process meant). Each message is one datagram of
``KEY=value`` lines. Without ``$NOTIFY_SOCKET`` (cron, a shell, a container) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Tells systemd READY, RELOADING, STOPPING and STATUS, and pings its watchdog."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self._address = _address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(environ)
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC is what Type=notify-reload requires with RELOADING=1; Type=notify ignores it.
        self.send(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1\nSTATUS=stopping: finishing the work in flight")

    def watchdog(self) -> None:
        """WATCHDOG=1, at most every half of systemd's WatchdogSec (as sd_watchdog_enabled(3) advises).

        Called from the daemon's main loop: a loop that hangs stops pinging and systemd restarts it.
        """
        now = time.monotonic()
        if self.watchdog_interval is not None and now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:  # systemd gone or restarting: the service itself must go on
            log.warning("could not notify systemd (%s): %s", message.split("=", 1)[0], exc.strerror or exc)


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # the abstract namespace
    if value.startswith("/"):
        return value
    if value:
        log.warning("NOTIFY_SOCKET %r is neither a path nor an @abstract name: systemd is not notified", value)
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of $WATCHDOG_USEC in seconds, if the watchdog is meant for this process."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1e6 / 2
