"""The phases of a health sweep, timed where the code does them (bench/detection.py, bench/recovery.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules import health_administrator  # noqa: E402
from modules.ping_alarm_administrator import PingAlarmAdministrator  # noqa: E402
from vsphere_dr.gateway import VCenterGateway  # noqa: E402
from vsphere_dr.gateway.watcher import InventoryWatcher  # noqa: E402
from vsphere_dr.probes import Prober  # noqa: E402

# Each phase and the functions that make it (whatever the sweep becomes, these are called).
PHASES = (("inventory", (VCenterGateway, "inventory"), (InventoryWatcher, "inventory")),
          ("probes", (Prober, "probe")), ("classification", (PingAlarmAdministrator, "classify")),
          ("probe history", (health_administrator.HealthSweep, "_probe_history")),
          ("decision", (health_administrator, "decide")))


@contextmanager
def phases_timed() -> Iterator[dict[str, float]]:
    """Seconds spent in each phase while the block runs."""
    spent = dict.fromkeys((name for name, *_ in PHASES), 0.0)
    originals = [(owner, attribute, getattr(owner, attribute)) for _, *places in PHASES for owner, attribute in places]

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return run

    for name, *places in PHASES:
        for owner, attribute in places:
            setattr(owner, attribute, timed(name, getattr(owner, attribute)))
    try:
        yield spent
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)
