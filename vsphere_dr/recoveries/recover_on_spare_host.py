"""Step 9 of the paper's workflow: no live host has room: add a spare host to vCenter (into the
failed host's cluster, or its datacenter) and clone the VM onto it."""

from __future__ import annotations

from vsphere_dr.recoveries.base import Recovery, Run, Step, StepFailed
from vsphere_dr.recoveries.common import host_runtime
from vsphere_dr.recoveries.copies import HOST_STILL_DOWN, ORIGINAL_STILL_DOWN, CopyParams, CopyProgress, \
    Location, copy_steps, default_pool


class SpareParams(CopyParams):
    spare_host: str  # its name, as vCenter is to add it
    compute_resource: str | None  # the failed host's cluster (or standalone compute resource)
    datacenter: str


def _add_spare_host(run: Run[SpareParams, CopyProgress]) -> None:
    gateway, p = run.tools.gateway, run.params
    inv = gateway.inventory()
    host = inv.host_by_name(p.spare_host)
    if host is None:
        cluster = p.compute_resource
        if cluster is not None and not inv.compute_resources[cluster].is_cluster:
            cluster = None
        inventory_settings = run.tools.settings().inventory
        if p.spare_host not in inventory_settings.spare_host_thumbprints:
            raise StepFailed("spare_host_added", f"no certificate thumbprint for spare host {p.spare_host} in "
                             "[inventory] spare_host_thumbprints: it is not added")
        secret = inventory_settings.spare_host_secret().get_secret_value()
        moref = gateway.hosts.add_host(p.spare_host, inventory_settings.spare_host_user, secret, cluster,
                                       p.datacenter, inventory_settings.spare_host_thumbprint(p.spare_host))
        inv = gateway.inventory()
        host = inv.hosts[moref]
    resource = inv.compute_resources.get(host.compute_resource or "")
    stores = [d for d in host.datastores if d in inv.datastores]
    run.progress.host = host.moref
    run.progress.pool = resource.resource_pool if resource else None
    run.progress.datastore = p.datastore if p.datastore in stores or not stores else stores[0]


def _not_connected(run: Run[SpareParams, CopyProgress]) -> str | None:
    host = host_runtime(run, run.progress.host or "")
    if host is None or host.connection_state != "connected":
        return f"spare host {run.params.spare_host} is not connected in vCenter"
    return None


def spare_target(run: Run[SpareParams, CopyProgress]) -> Location:
    host, datastore = run.progress.host, run.progress.datastore
    if host is None or datastore is None:
        raise ValueError("the spare host step has not recorded where the copy goes")
    return host, run.progress.pool or default_pool(run, host), datastore


class RecoverOnSpareHost(Recovery):
    kind = "recover_on_spare_host"
    counts_as_restart = True
    creates_copy = True
    params_type = SpareParams
    progress_type = CopyProgress
    commit_step = "powered_on"
    STEPS = (ORIGINAL_STILL_DOWN, HOST_STILL_DOWN, Step("spare_host_added", _add_spare_host, _not_connected)) \
        + copy_steps(spare_target, spare_target)
