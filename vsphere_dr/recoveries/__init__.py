"""Every kind of action, one module each, registered here and nowhere else.

The plan's ``ActionKind``, the journal's restart count and record of copies, the executor's rules
(incident or not, notice or steps) and docs/recovery.md's step table all come from ``REGISTRY``.
A new kind of recovery is one new module listed in ``KINDS``, one planner rule in
decision_engine.py and, where it needs one, one gateway method.
"""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery
from vsphere_dr.recoveries.clone_and_migrate import CloneAndMigrate
from vsphere_dr.recoveries.clone_to_host import CloneToHost
from vsphere_dr.recoveries.keep_original_off import KeepOriginalOff
from vsphere_dr.recoveries.left_to_ha import LeftToHa
from vsphere_dr.recoveries.needs_person import NeedsPerson
from vsphere_dr.recoveries.power_on import PowerOn
from vsphere_dr.recoveries.recover_on_spare_host import RecoverOnSpareHost
from vsphere_dr.recoveries.report_ill import ReportIll
from vsphere_dr.recoveries.reset import Reset
from vsphere_dr.recoveries.restart_from_snapshot import RestartFromSnapshot
from vsphere_dr.recoveries.revive_host import ReviveHost

KINDS: tuple[type[Recovery], ...] = (RestartFromSnapshot, PowerOn, Reset, ReviveHost, CloneToHost, CloneAndMigrate,
                                     RecoverOnSpareHost, KeepOriginalOff, NeedsPerson, ReportIll, LeftToHa)
REGISTRY: dict[str, type[Recovery]] = {kind.kind: kind for kind in KINDS}


def recovery(kind: str) -> type[Recovery] | None:
    """The registered kind of that name; None for journal rows of other work (snapshots)."""
    return REGISTRY.get(kind)
