"""Nothing safe is left to try, or the VM was recovered max_restarts times within the window:
an incident waits for a person. Changes nothing in vCenter."""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery


class NeedsPerson(Recovery):
    kind = "needs_person"
    changes_vcenter = False
    needs_person = True
