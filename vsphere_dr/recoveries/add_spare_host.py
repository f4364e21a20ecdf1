"""Step 9 of the paper's workflow (target: the failed host): no live host with room mounts its
VMs' datastores, and they have no replica on a live host: add a spare host (``[inventory] spare_hosts``) to the
failed host's cluster, or its datacenter. The next sweep registers the VM there (or starts its
replica there), as on any live host. vCenter checks the spare host's certificate: its SHA-1
thumbprint comes from ``[inventory] spare_host_thumbprints``."""

from __future__ import annotations

from typing import Any

from vsphere_dr.recoveries.base import Params, Recovery, Run, Step, StepFailed, guard
from vsphere_dr.recoveries.common import host_added, host_connected


class SpareHostParams(Params):
    failed_host: str  # the failed host whose VMs need it
    failed_host_name: str
    spare_host: str  # its name, as vCenter is to add it
    cluster: str | None  # the failed host's cluster; None for a standalone host (added to the datacenter)
    datacenter: str


def _host_back(run: Run[SpareHostParams, Any]) -> str | None:
    if host_connected(run, run.params.failed_host):
        return f"host {run.params.failed_host_name} is connected again: no spare host is added"
    return None


def _add(run: Run[SpareHostParams, Any]) -> None:
    gateway, p = run.tools.gateway, run.params
    if gateway.host_named(p.spare_host) is not None:  # an interrupted run added it already
        return
    inventory_settings = run.tools.settings().inventory
    if p.spare_host not in inventory_settings.spare_host_thumbprints:
        raise StepFailed("spare_host_added", f"no certificate thumbprint for spare host {p.spare_host} in "
                         "[inventory] spare_host_thumbprints: it is not added")
    secret = inventory_settings.spare_host_secret().get_secret_value()
    gateway.hosts.add_host(p.spare_host, inventory_settings.spare_host_user, secret, p.cluster, p.datacenter,
                           inventory_settings.spare_host_thumbprint(p.spare_host))


def _not_connected(run: Run[SpareHostParams, Any]) -> str | None:
    host = run.tools.gateway.host_named(run.params.spare_host)
    if host is None or not host_connected(run, host):
        return f"spare host {run.params.spare_host} is not connected in vCenter"
    return None


class AddSpareHost(Recovery):
    kind = "add_spare_host"
    opens_incident = False  # the incidents are its VMs', recovered on it by the next sweep
    once_per_outage = True  # one try per outage of the failed host: a refused spare is a person's to fix
    params_type = SpareHostParams
    commit_step = "spare_host_added"

    @classmethod
    def host(cls, target: str, params: Params) -> str | None:
        return None  # the spare host is not in vCenter yet: no queue of its own to count

    @classmethod
    def provides(cls, target: str, params: Params) -> frozenset[str]:
        assert isinstance(params, SpareHostParams)
        return frozenset({host_added(params.spare_host)})

    STEPS = (guard("host_still_down", "host {failed_host_name} is still down", _host_back),
             Step("spare_host_added", _add, _not_connected))
