"""A health model's history: the newest ``capacity`` rows of its counters, the oldest dropped first.

The history is read only when the model is fitted (daily per VM); scoring needs the fitted ranks
and the last few rows, which the model keeps itself. So the week of rows need not stay in the
process. One interface, two places to keep them:

- ``MemoryRing``: a float32 array in the process, grown as rows arrive (eval-health, tests,
  benchmarks: every store without a file).
- ``FileRing``: one file per VM in a directory beside the models file (the daemon's store),
  written with ``os.pwrite`` and read with ``os.pread`` at a refit, so that the kernel's page
  cache holds the rows, not the process (a mapping would: mapped pages count in its RSS). No file
  descriptor stays open between calls (10,000 VMs would exhaust the process's limit, which the
  probes need).

A ring file (little-endian): a header (magic, columns, slots, count, the newest row's sample time
in microseconds since the epoch), then ``capacity + 1`` slots of (row number mod 2**32 as uint32,
the row as float32). Row ``i`` lives in slot ``i % slots``. A new row goes to the slot after the
newest, which no row of the current ``capacity`` occupies, and only then are the header's count
and time advanced (one write): a crash between the two loses that row and nothing else. A refit
checks every row it reads carries its own row number, so a row that never reached the disk (a
power loss) is found instead of trained on.

The models file is saved less often than rows arrive (``[health] save_interval_seconds``), so a
ring file may be ahead of the count the models file recorded: up to its capacity, when every row
beyond that count carries its own row number, ``attach`` adopts them (the model takes them into
its recent rows and its newest time, see ``VmHealthModel.attach_history``).
"""

from __future__ import annotations

import os
import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vsphere_dr.health_config import HealthModelError

# The rows are float32 (7 significant digits: vCenter's counters are integers, exact below 2**24),
# half the size of float64; the fit and the scores compute in float64.
HISTORY_DTYPE = np.float32
FIRST_ROWS = 16  # a new MemoryRing's buffer, doubled when full up to its capacity
MAGIC = b"vdr-rng2"  # 2: the newest row's time in the header ("vdr-ring" files had none)
HEADER = struct.Struct("<8sIIQq")  # magic, columns, slots, count (rows ever appended), newest row's time
COUNT = struct.Struct("<Qq")  # count and newest row's time, written together after each row
COUNT_OFFSET = HEADER.size - COUNT.size
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
SEQUENCE = 2**32  # a slot's row number is kept modulo this (uint32)


class HistoryLost(HealthModelError):
    """A ring file that is missing, short or does not match its model: the VM warms up again."""

    def __init__(self, path: Path | None, why: str) -> None:
        super().__init__(f"health history {path}: {why}")
        self.path, self.why = path, why


class HistoryRing(ABC):
    """The newest ``capacity`` rows of ``columns`` counters; ``count`` rows appended since reset."""

    def __init__(self, capacity: int, columns: int = 0, count: int = 0) -> None:
        self.capacity, self.columns, self.count = capacity, columns, count

    @property
    def size(self) -> int:
        """Rows held: at most capacity."""
        return min(self.count, self.capacity)

    def reset(self, columns: int) -> None:
        """Start empty, with rows of ``columns`` values."""
        self.columns, self.count = columns, 0
        self._start()

    def append(self, row: Sequence[float], when: datetime) -> None:
        """Add the newest row (float32-exact values) of the sample taken at ``when``; the oldest goes
        when capacity is reached."""
        self._put(self.count, row, when)
        self.count += 1

    def ordered(self) -> np.ndarray:
        """The rows held, oldest first, in float64 (the fit computes in it)."""
        return self._take(np.arange(self.count - self.size, self.count)).astype(np.float64)

    def newest(self, n: int) -> np.ndarray:
        """The newest ``n`` rows held (at most size), oldest first, as float32."""
        return self._take(np.arange(self.count - min(n, self.size), self.count))

    @abstractmethod
    def _start(self) -> None:
        """Make room for rows of ``self.columns`` values, holding none."""

    @abstractmethod
    def _put(self, index: int, row: Sequence[float], when: datetime) -> None:
        """Keep row number ``index`` (the count before it), dropping row ``index - capacity``."""

    @abstractmethod
    def _take(self, indices: np.ndarray) -> np.ndarray:
        """The rows with these row numbers (all held), as float32."""

    @abstractmethod
    def remove(self) -> None:
        """Delete what the ring keeps outside the process (the VM is gone)."""


class MemoryRing(HistoryRing):
    """The rows in a float32 array that grows from FIRST_ROWS up to capacity, so that a fleet of
    models warming up does not hold a week of rows each."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._rows = np.empty((0, 0), HISTORY_DTYPE)

    def _start(self) -> None:
        self._rows = np.empty((min(FIRST_ROWS, self.capacity), self.columns), HISTORY_DTYPE)

    @classmethod
    def copy_of(cls, ring: HistoryRing) -> MemoryRing:
        """The rows ``ring`` holds, with its row numbers, in memory (a dry run's copy of a ring file)."""
        copy = cls(ring.capacity)
        if ring.columns:
            copy.columns, copy.count = ring.columns, ring.count
            copy._rows = np.empty((ring.capacity, ring.columns), HISTORY_DTYPE)
            copy._rows[np.arange(ring.count - ring.size, ring.count) % ring.capacity] = ring.newest(ring.size)
        return copy

    def _put(self, index: int, row: Sequence[float], when: datetime) -> None:
        if index == len(self._rows) < self.capacity:  # full while warming up: grow
            grown = np.empty((min(2 * len(self._rows), self.capacity), self.columns), HISTORY_DTYPE)
            grown[:index] = self._rows
            self._rows = grown
        self._rows[index % len(self._rows)] = row

    def _take(self, indices: np.ndarray) -> np.ndarray:
        return self._rows[indices % len(self._rows)]

    def remove(self) -> None:
        """Nothing outside the process."""


class FileRing(HistoryRing):
    """The rows in a file of ``capacity + 1`` slots (the module's docstring has the layout).

    ``path`` None: not attached yet (a ring read from a models file, before the store gives it its
    file); its rows cannot be read or written until ``attach``.
    """

    def __init__(self, path: Path | None, capacity: int, columns: int = 0, count: int = 0) -> None:
        super().__init__(capacity, columns, count)
        self.path = path
        self.newest_time = 0  # the newest row's sample time as written (microseconds), read by attach

    @property
    def slots(self) -> int:
        return self.capacity + 1

    @property
    def record_size(self) -> int:
        return 4 * (1 + self.columns)  # a slot: uint32 row number, float32 values

    def _record(self) -> np.dtype:
        return np.dtype([("seq", "<u4"), ("row", "<f4", (self.columns,))])

    def _offset(self, index: int) -> int:
        return HEADER.size + (index % self.slots) * self.record_size

    def _start(self) -> None:
        self._create(b"")

    def _create(self, records: bytes) -> None:
        """Write the file anew: the header with ``self.count``, then ``records``. A file there before is
        removed first, so that one this user cannot write (another user's ``once``) is replaced."""
        path = self._where()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, HEADER.pack(MAGIC, self.columns, self.slots, self.count, self.newest_time) + records)
        finally:
            os.close(fd)

    def _put(self, index: int, row: Sequence[float], when: datetime) -> None:
        record = struct.pack(f"<I{self.columns}f", index % SEQUENCE, *row)
        fd = self._open(os.O_WRONLY)
        try:
            os.pwrite(fd, record, self._offset(index))  # the row first, in a slot no held row uses,
            self.newest_time = microseconds(when)  # then the count that makes it held, and its time
            os.pwrite(fd, COUNT.pack(index + 1, self.newest_time), COUNT_OFFSET)
        finally:
            os.close(fd)

    def _take(self, indices: np.ndarray) -> np.ndarray:
        wanted = min(self.count, self.slots) * self.record_size
        fd = self._open(os.O_RDONLY)
        try:
            data = os.pread(fd, wanted, HEADER.size)
        finally:
            os.close(fd)
        if len(data) < wanted:
            raise HistoryLost(self.path, f"short: {len(data)} bytes of rows, {wanted} expected")
        records = np.frombuffer(data, self._record())[indices % self.slots]
        if not np.array_equal(records["seq"], indices % SEQUENCE):
            raise HistoryLost(self.path, "its rows do not match its header (rows lost before they reached the disk?)")
        return records["row"]

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def attach(self, path: Path) -> int:
        """Use the ring file at ``path``, checked against this ring's columns, slots and count; return
        how many rows it holds beyond that count (they are adopted: the count becomes the file's).

        The file may be ahead of the count by up to ``capacity`` rows: the rows of the rounds since
        the models file was last saved (a crash, or a row written just before it). Each of those rows
        must carry its own row number. A file behind the count, further ahead, or with a row that
        is not its own is HistoryLost.
        """
        self.path = path
        if self.columns == 0:  # never had a row: no file yet
            return 0
        fd = self._open(os.O_RDONLY)
        try:
            header, size = os.pread(fd, HEADER.size, 0), os.fstat(fd).st_size
        finally:
            os.close(fd)
        if len(header) < HEADER.size:
            raise HistoryLost(path, f"short: {len(header)} bytes, not even a header")
        magic, columns, slots, count, newest_time = HEADER.unpack(header)
        if magic != MAGIC:
            raise HistoryLost(path, f"not a ring file of this layout (magic {magic!r}, expected {MAGIC!r})")
        if (columns, slots) != (self.columns, self.slots):
            raise HistoryLost(path, f"not this model's ring file (columns {columns}, slots {slots}; "
                                    f"expected {self.columns} and {self.slots})")
        if not self.count <= count <= self.count + self.capacity:
            where = "behind it" if count < self.count else f"more than {self.capacity} ahead"
            raise HistoryLost(path, f"holds {count} rows, the models file counts {self.count} ({where})")
        if size < HEADER.size + min(count, self.slots) * self.record_size:
            raise HistoryLost(path, f"short: {size} bytes for {min(count, self.capacity)} rows")
        ahead, self.count, self.newest_time = count - self.count, count, newest_time
        if ahead:
            self.newest(ahead)  # HistoryLost unless each adopted row carries its own row number
        return ahead

    @classmethod
    def write_copy(cls, ring: HistoryRing, path: Path) -> None:
        """Write ``ring``'s rows to a ring file at ``path`` (saving a store whose rings are in memory)."""
        if ring.columns == 0:
            return
        copy = cls(path, ring.capacity, ring.columns, ring.count)
        indices = np.arange(ring.count - ring.size, ring.count)
        records = np.zeros(min(ring.count, copy.slots), copy._record())
        records["seq"][indices % copy.slots] = indices % SEQUENCE
        records["row"][indices % copy.slots] = ring.ordered()
        copy._create(records.tobytes())

    def _where(self) -> Path:
        if self.path is None:
            raise HistoryLost(None, "not attached to a ring file")
        return self.path

    def _open(self, flags: int) -> int:
        """The ring file opened (never created); HistoryLost if it is missing or not this user's to use."""
        try:
            return os.open(self._where(), flags)
        except FileNotFoundError as exc:
            raise HistoryLost(self.path, "missing") from exc
        except PermissionError as exc:
            raise HistoryLost(self.path, f"cannot be opened: {exc.strerror}") from exc


def microseconds(when: datetime) -> int:
    """A sample time as the ring's header keeps it: microseconds since the epoch (naive as UTC)."""
    return (when - (EPOCH if when.tzinfo else EPOCH.replace(tzinfo=None))) // MICROSECOND


def history_dir(models_file: Path) -> Path:
    """The directory of the ring files beside a models file: ``health-models.pkl.history``."""
    return models_file.with_name(models_file.name + ".history")


def ring_file(models_file: Path, vm_id: str) -> Path:
    """A VM's ring file: its managed object id, quoted to be a file name (``vm-42.ring``)."""
    return history_dir(models_file) / f"{quote(vm_id, safe='')}.ring"
