"""One controller at a time (issue 10): the journal's lock, between real processes, no simulator.

The holder is another Python process (``Holding``), so that the lock is contended exactly as by
two controllers; SIGKILL shows that a crashed holder leaves no stale lock behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vsphere_dr.app import cli
from vsphere_dr.controller_lock import FileLock, held, lock_for_journal
from vsphere_dr.errors import ControllerBusy

ROOT = Path(__file__).resolve().parents[1]
# A refusal must not wait: it takes at most this much longer than a command that only reads the
# journal (measured in the same test, so that a loaded machine slows both). Exit 4, not 3, shows
# that vCenter was never tried; a holder that never lets go shows that nothing waits for ever.
AT_ONCE = 3.0

HOLD = """
import sys
from pathlib import Path
from vsphere_dr.controller_lock import FileLock
FileLock(Path(sys.argv[1])).acquire("test holder")
print("held", flush=True)
sys.stdin.read()
"""


class Holding:
    """Another process holding the lock at ``path`` until it is stopped or killed."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdout.readline() == "held\n"
        self.pid = self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"  # the journal path of write_settings()


@pytest.fixture
def holding(journal: Path) -> Iterator[Holding]:
    holder = Holding(FileLock.beside(journal).path)
    yield holder
    holder.stop()


def vsphere_dr(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The CLI as cron runs it, in a process of its own; and how long it took."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "vsphere_dr.app", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    return result, time.monotonic() - started


def start_up(settings: Path) -> float:
    """Seconds a command takes that reads the journal and never waits for the lock (`status`)."""
    result, seconds = vsphere_dr("--config", str(settings), "status")
    assert result.returncode == 0, result.stderr
    return seconds


def test_lock_is_a_file_beside_the_journal_its_directory_created(tmp_path: Path) -> None:
    journal = tmp_path / "state" / "var" / "vsphere-dr.sqlite"
    lock = FileLock.beside(journal)
    assert lock.path == tmp_path / "state" / "var" / "vsphere-dr.sqlite.lock"
    with held(lock, "vsphere-dr once"):
        assert lock.path.exists()


def test_acquire_records_who_holds_it(journal: Path) -> None:
    lock = lock_for_journal(journal)
    with held(lock, "vsphere-dr run"):
        holder = lock.holder()
        assert holder is not None
        assert (holder.pid, holder.command) == (os.getpid(), "vsphere-dr run")
        assert holder.since.endswith("+00:00") and "T" in holder.since
    assert lock.holder() is None, "released: nobody holds it"


def test_second_acquire_from_another_process_fails_at_once_naming_the_holder(journal: Path,
                                                                           holding: Holding) -> None:
    lock = lock_for_journal(journal)
    started = time.monotonic()
    with pytest.raises(ControllerBusy) as refused:
        lock.acquire("vsphere-dr once")
    assert time.monotonic() - started < 0.2
    assert f"pid {holding.pid} on " in str(refused.value) and " since " in str(refused.value)
    assert "test holder" in str(refused.value)


def test_lock_is_free_again_after_the_holder_is_killed(journal: Path, holding: Holding) -> None:
    holding.kill()
    lock = lock_for_journal(journal)
    assert lock.holder() is None, "the record of a dead holder names nobody"
    with held(lock, "vsphere-dr once"):
        assert lock.holder().pid == os.getpid()  # type: ignore[union-attr]


def test_once_beside_a_holder_exits_4_at_once_and_names_it(write_settings, holding: Holding) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings()
    result, seconds = vsphere_dr("--config", str(settings), "once")
    assert result.returncode == cli.EXIT_BUSY == 4, result.stderr
    assert seconds < start_up(settings) + AT_ONCE
    assert "WARNING" in result.stderr and f"pid {holding.pid} on " in result.stderr and " since " in result.stderr
    assert "vsphere-dr: error" not in result.stderr, "an overlap is not an error: nothing for cron to mail"


@pytest.mark.parametrize("module", ["snapshot_creator", "inventory_administrator"])
def test_every_module_of_once_takes_the_lock(write_settings, holding: Holding, module: str) -> None:  # type: ignore[no-untyped-def]
    result, _ = vsphere_dr("--config", str(write_settings()), "once", "--module", module)
    assert result.returncode == 4, result.stderr


def test_run_beside_a_holder_exits_4(write_settings, holding: Holding) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings()
    result, seconds = vsphere_dr("--config", str(settings), "run")
    assert result.returncode == 4 and seconds < start_up(settings) + AT_ONCE, result.stderr


@pytest.mark.parametrize("command", [["incidents"], ["incidents", "--json"], ["status"]])
def test_readers_work_while_the_lock_is_held(write_settings, holding: Holding, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    # A reader that waited for the lock would wait for ever: the holder never lets go (timeout).
    result, _ = vsphere_dr("--config", str(write_settings()), *command)
    assert result.returncode == 0, result.stderr


def test_once_releases_the_lock_when_it_ends(write_settings, journal: Path) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings()
    assert cli.main(["--config", str(settings), "once", "--module", "inventory_administrator"]) == 0
    assert lock_for_journal(journal).holder() is None
    assert cli.main(["--config", str(settings), "once", "--module", "inventory_administrator"]) == 0


def test_wait_lock_takes_the_lock_once_the_holder_ends(write_settings, holding: Holding) -> None:  # type: ignore[no-untyped-def]
    """A cron line that starts in the same minute as a health sweep waits for it, boundedly."""
    process = subprocess.Popen([sys.executable, "-m", "vsphere_dr.app", "--config", str(write_settings()), "once",
                                "--module", "inventory_administrator", "--wait-lock", "20"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert process.poll() is None, "it waits while the lock is held"
    holding.stop()
    assert process.wait(timeout=20) == 0


def test_wait_lock_gives_up_after_its_bound(write_settings, holding: Holding) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings()
    result, seconds = vsphere_dr("--config", str(settings), "once", "--module", "inventory_administrator",
                                 "--wait-lock", "1.5")
    assert result.returncode == 4 and 1.5 <= seconds < 1.5 + start_up(settings) + AT_ONCE, result.stderr
