"""A failed host in a cluster where vSphere HA restarts VMs (HA on, host monitoring on): HA fails
its VMs over itself, and a second controller acting too would race it into two copies. So
vsphere-dr only opens the incident (closed with its RTO once the VM answers again) and says why,
unless ``[recovery] with_vsphere_ha = act``. Changes nothing in vCenter."""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery


class LeftToHa(Recovery):
    kind = "left_to_ha"
    changes_vcenter = False
