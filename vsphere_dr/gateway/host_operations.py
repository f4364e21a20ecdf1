"""Operations on hosts: adding a spare host to vCenter."""

from __future__ import annotations

from pyVmomi import vim

from vsphere_dr.errors import ObjectNotFound
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.tasks import TaskWaiter, run_task


class HostOperations:
    def __init__(self, session: VCenterSession, waiter: TaskWaiter, task_timeout: float) -> None:
        self._session, self._waiter = session, waiter
        self._timeout = task_timeout

    def add_host(self, name: str, user: str, password: str, cluster: str | None, datacenter: str,
                 thumbprint: str) -> str:
        """Add host ``name`` connected, into ``cluster`` (moref) or as a standalone host of the
        datacenter named ``datacenter``; return the new host's moref.

        vCenter trusts the host's certificate only if its thumbprint is ``thumbprint`` (the
        ConnectSpec's sslThumbprint, ``AB:CD:...``): any other certificate faults with
        SSLVerifyFault, reported with the thumbprint vCenter saw (adding a host whose certificate
        nobody checked would defeat TLS). AddHost_Task returns the HostSystem,
        AddStandaloneHost_Task the new ComputeResource, whose one host it is.
        """
        spec = vim.host.ConnectSpec(hostName=name, userName=user, password=password, force=True,
                                    sslThumbprint=thumbprint)
        doing = f"adding host {name} (expecting certificate thumbprint {thumbprint})"
        if cluster is not None:
            target = self._session.managed(vim.ClusterComputeResource, cluster)
            result = run_task(self._session, self._waiter, lambda: target.AddHost_Task(spec=spec, asConnected=True),
                              self._timeout, doing)
            return result._moId
        folder = self._host_folder(datacenter)
        resource = run_task(self._session, self._waiter, lambda: folder.AddStandaloneHost_Task(spec=spec, addConnected=True),
                            self._timeout, doing)
        if isinstance(resource, vim.HostSystem):  # not vCenter's answer, but unambiguous
            return resource._moId
        return resource.host[0]._moId

    def remove(self, host: str, standalone_resource: str | None) -> None:
        """Remove a failed host from vCenter, with its VMs; their files stay on the datastores.

        The one way vCenter lets a dead host's VMs be registered elsewhere: UnregisterVM is refused
        while vCenter shows a VM powered on, and a dead host's VMs show their last power state.
        HostSystem.Destroy_Task for a host of a cluster, its ComputeResource's for a standalone host
        (vSphere docs; KB 1002314; terraform-provider-vsphere#1083)."""
        entity = (self._session.managed(vim.ComputeResource, standalone_resource) if standalone_resource
                  else self._session.managed(vim.HostSystem, host))
        run_task(self._session, self._waiter, lambda: entity.Destroy_Task(), self._timeout, f"removing failed host {host}")

    def _host_folder(self, datacenter: str) -> vim.Folder:
        doing = f"finding datacenter {datacenter}"

        def find(content: vim.ServiceInstanceContent) -> vim.Folder:
            for entity in content.rootFolder.childEntity:
                if isinstance(entity, vim.Datacenter) and entity.name == datacenter:
                    return entity.hostFolder
            raise ObjectNotFound(f"{doing}: vCenter has no datacenter named {datacenter!r}", "NotFound")

        return self._session.call(find, doing)
