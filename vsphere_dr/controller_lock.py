"""One controller at a time: an exclusive lock tied to the journal.

Two controllers acting on the same journal and vCenter decide alike and both act: two `once`
started together after a host failure cloned the same VM twice. Every process that acts (`run`,
`once`) therefore takes this lock first and keeps it until it exits; a second one is refused
with ``ControllerBusy`` naming the holder, at once or after a bounded wait (`once --wait-lock`).

``ControllerLock`` is the interface, so that a journal on PostgreSQL can hold an advisory lock
instead. ``FileLock`` is the one for the SQLite journal: ``flock`` on ``<journal>.lock`` beside
it. The kernel releases a flock when its holder exits in any way, SIGKILL included, so a crash
never leaves a stale lock. The file's contents only say who holds it, for the refusal message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from vsphere_dr.errors import ControllerBusy

# The holder writes its record just after it took the lock: a refused process that reads it in
# between finds nothing yet (or the record of a holder that died), and looks again for this long.
RECORD_WAIT_SECONDS = 0.5
RECORD_POLL_SECONDS = 0.02
RETRY_SECONDS = 1.0  # between attempts of a bounded wait for the lock


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: enough for an operator to find the process."""

    pid: int
    host: str
    since: str  # ISO-8601, UTC
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since} ({self.command})"


class ControllerLock(Protocol):
    def acquire(self, command: str) -> None:
        """Take the lock, recording ``command`` as its holder's; raise ControllerBusy if it is held."""

    def release(self) -> None:
        """Give the lock back (also done by process exit)."""

    def holder(self) -> Holder | None:
        """Who holds the lock now, as far as it can be told without taking it."""


class FileLock:
    """``flock(LOCK_EX | LOCK_NB)`` on a file; its contents name the holder (JSON)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def beside(cls, journal: Path) -> FileLock:
        """The lock of the SQLite journal at ``journal``: ``<journal>.lock`` in its directory."""
        return cls(journal.with_name(journal.name + ".lock"))

    def acquire(self, command: str) -> None:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            found = self._wait_for_record()
            raise ControllerBusy(str(self.path), found.describe() if found else None) from None
        self._fd = fd
        _write(fd, Holder(os.getpid(), socket.gethostname(),
                          datetime.now(timezone.utc).isoformat(timespec="seconds"), command))

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # the next reader finds no holder rather than this one
        os.close(self._fd)  # closing the only descriptor releases the flock
        self._fd = None

    def holder(self) -> Holder | None:
        """The recorded holder; None if there is none, or if it was a process of this host that is gone.

        Reading takes no lock (taking even a shared one would make a controller starting at that
        moment fail), so a record left by a holder that crashed is told apart by its pid alone.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            found = Holder(**json.loads(text))
        except (ValueError, TypeError):  # empty, or being written
            return None
        return found if found.host != socket.gethostname() or _alive(found.pid) else None

    def _open(self) -> int:
        """The lock file, created if missing, never truncated here: the holder's record must stay."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _wait_for_record(self) -> Holder | None:
        deadline = time.monotonic() + RECORD_WAIT_SECONDS
        while (found := self.holder()) is None and time.monotonic() < deadline:
            time.sleep(RECORD_POLL_SECONDS)
        return found


def lock_for_journal(journal: Path) -> ControllerLock:
    """The controller lock of the journal at ``journal`` (a file lock, while the journal is SQLite)."""
    return FileLock.beside(journal)


@contextmanager
def held(lock: ControllerLock, command: str, wait: float = 0.0,
         sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold ``lock`` for the block. If another process has it, try again for up to ``wait``
    seconds (a cron line that starts in the same minute as a short health sweep), then raise
    ControllerBusy: a second controller never waits unbounded."""
    deadline = time.monotonic() + wait
    while True:
        try:
            lock.acquire(command)
            break
        except ControllerBusy:
            if time.monotonic() >= deadline:
                raise
            sleep(min(RETRY_SECONDS, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        lock.release()


def _write(fd: int, holder: Holder) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(asdict(holder)).encode("utf-8") + b"\n", 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True
