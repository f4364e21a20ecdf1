"""Every kind of action, one module each, registered here and nowhere else.

The plan's ``ActionKind``, the journal's restart count and record of copies, the executor's rules
(incident or not, notice or steps) and docs/recovery.md's step table all come from ``REGISTRY``.
A new kind of recovery is one new module listed in ``KINDS``, one planner rule in
decision_engine.py and, where it needs one, one gateway method.
"""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery
from vsphere_dr.recoveries.add_spare_host import AddSpareHost
from vsphere_dr.recoveries.keep_original_off import KeepOriginalOff
from vsphere_dr.recoveries.left_to_ha import LeftToHa
from vsphere_dr.recoveries.needs_person import NeedsPerson
from vsphere_dr.recoveries.power_on import PowerOn
from vsphere_dr.recoveries.register_elsewhere import RegisterElsewhere
from vsphere_dr.recoveries.remove_failed_host import RemoveFailedHost
from vsphere_dr.recoveries.report_ill import ReportIll
from vsphere_dr.recoveries.reregister_as_was import ReregisterAsWas
from vsphere_dr.recoveries.reset import Reset
from vsphere_dr.recoveries.restart_from_snapshot import RestartFromSnapshot
from vsphere_dr.recoveries.revive_host import ReviveHost
from vsphere_dr.recoveries.start_replica import StartReplica

KINDS: tuple[type[Recovery], ...] = (RestartFromSnapshot, PowerOn, Reset, ReviveHost, RemoveFailedHost,
                                     RegisterElsewhere, ReregisterAsWas, StartReplica, AddSpareHost, KeepOriginalOff,
                                     NeedsPerson, ReportIll, LeftToHa)
REGISTRY: dict[str, type[Recovery]] = {kind.kind: kind for kind in KINDS}


def recovery(kind: str) -> type[Recovery] | None:
    """The registered kind of that name; None for journal rows of other work (snapshots)."""
    return REGISTRY.get(kind)
