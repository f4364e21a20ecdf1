"""Operations on VMs and snapshots: each starts one vCenter task and waits for it.

They report what vCenter says and nothing more; checking that the world is now as intended
(the clone runs on the right host, say) is the executor's post-condition, not this module's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyVmomi import vim

from vsphere_dr.drill_marks import EXTRA_KEY, deletable
from vsphere_dr.errors import NotADrillCopy, NotSupported, ObjectNotFound, VSphereFault
from vsphere_dr.gateway.connection import VCenterSession
from vsphere_dr.gateway.faults import faults_translated
from vsphere_dr.gateway.properties import read_object, retrieve
from vsphere_dr.gateway.tasks import TaskWaiter, run_task, start_task
from vsphere_dr.records import CopyState, NicState

# What a drill step reads of its copy, in one RetrievePropertiesEx.
COPY_PATHS = ("name", "config.annotation", "config.extraConfig", "runtime.powerState", "guestHeartbeatStatus",
              "guest.guestState", "guest.ipAddress", "config.hardware.device")


class VmOperations:
    def __init__(self, session: VCenterSession, waiter: TaskWaiter, task_timeout: float) -> None:
        self._session, self._waiter = session, waiter
        self._timeout = task_timeout

    def _vm(self, moref: str) -> vim.VirtualMachine:
        return self._session.managed(vim.VirtualMachine, moref)

    def _run(self, start: Callable[[], vim.Task], doing: str) -> Any:
        return run_task(self._session, self._waiter, start, self._timeout, doing)

    def create_snapshot(self, vm: str, name: str, description: str, memory: bool, quiesce: bool) -> str:
        """Create a snapshot and return its moref."""
        snapshot = self._run(lambda: self._vm(vm).CreateSnapshot_Task(name, description, memory, quiesce),
                             f"creating snapshot {name!r} of {vm}")
        return snapshot._moId

    def remove_snapshot(self, snapshot: str) -> None:
        """Remove one snapshot, keeping its children (their disks are consolidated)."""
        mo = self._session.managed(vim.vm.Snapshot, snapshot)
        self._run(lambda: mo.RemoveSnapshot_Task(removeChildren=False, consolidate=True),
                  f"removing snapshot {snapshot}")

    def revert_to_snapshot(self, snapshot: str) -> None:
        mo = self._session.managed(vim.vm.Snapshot, snapshot)
        self._run(lambda: mo.RevertToSnapshot_Task(), f"reverting to snapshot {snapshot}")

    def power_on(self, vm: str, moved: bool = False) -> None:
        """Power on. ``moved``: the VM was registered from another host's files, and vCenter asks
        whether it was moved or copied; it is answered "moved", so the VM keeps its identity
        (instance UUID, MAC addresses: Broadcom KB 320246). A power-on refused because another host
        holds the files' lock raises FilesLocked."""
        doing = f"powering on {vm}"
        task = start_task(self._session, lambda: self._vm(vm).PowerOnVM_Task(), doing)
        self._waiter.wait(task, self._timeout, doing, (lambda: self._answer_moved(vm, doing)) if moved else None)

    def _answer_moved(self, vm: str, doing: str) -> None:
        mo = self._vm(vm)
        question = read_object(self._session.content(), mo, ["runtime.question"]).get("runtime.question")
        if question is None:
            return
        choices = question.choice.choiceInfo if question.choice else []
        moved = next((c.key for c in choices if c.key.endswith("movedTheVM")), None)
        if moved is None:
            raise VSphereFault(f"{doing}: vCenter asks {question.text!r}, which vsphere-dr does not answer",
                               "VmQuestion")
        mo.AnswerVM(questionId=question.id, answerChoice=moved)

    def register(self, path: str, name: str, folder: str, pool: str, host: str) -> str:
        """Register the VM whose files are at ``path`` (``[ds] dir/name.vmx``) on ``host``; its moref."""
        target = self._session.managed(vim.Folder, folder)
        vm = self._run(lambda: target.RegisterVM_Task(path=path, name=name, asTemplate=False,
                                                      pool=self._session.managed(vim.ResourcePool, pool),
                                                      host=self._session.managed(vim.HostSystem, host)),
                       f"registering {path} as {name!r} on {host}")
        return vm._moId

    def power_off(self, vm: str) -> None:
        self._run(lambda: self._vm(vm).PowerOffVM_Task(), f"powering off {vm}")

    def reset(self, vm: str) -> None:
        """A hard reset, as the power button: for a hung guest that still runs."""
        self._run(lambda: self._vm(vm).ResetVM_Task(), f"resetting {vm}")

    def clone_from_snapshot(self, vm: str, snapshot: str | None, name: str, host: str, pool: str,
                            datastore: str, annotation: str) -> str:
        """Clone ``vm`` as it was at ``snapshot`` (or as it is, if None) into its folder; return the clone's moref.

        Asks for the clone powered off on ``host``: a simulator (and a vCenter under DRS) may
        place it elsewhere, which the caller checks.
        """
        source = self._vm(vm)
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(host=self._session.managed(vim.HostSystem, host),
                                         pool=self._session.managed(vim.ResourcePool, pool),
                                         datastore=self._session.managed(vim.Datastore, datastore)),
            snapshot=self._session.managed(vim.vm.Snapshot, snapshot) if snapshot else None,
            config=vim.vm.ConfigSpec(annotation=annotation), powerOn=False, template=False)
        clone = self._run(lambda: source.CloneVM_Task(folder=source.parent, name=name, spec=spec),
                          f"cloning {vm} from snapshot {snapshot} as {name!r}")
        return clone._moId

    def relocate(self, vm: str, host: str, pool: str, datastore: str | None) -> None:
        """Cold-migrate ``vm`` to ``host`` (and ``datastore`` when the host does not see the old one)."""
        spec = vim.vm.RelocateSpec(host=self._session.managed(vim.HostSystem, host),
                                   pool=self._session.managed(vim.ResourcePool, pool))
        if datastore is not None:
            spec.datastore = self._session.managed(vim.Datastore, datastore)
        self._run(lambda: self._vm(vm).RelocateVM_Task(spec), f"relocating {vm} to {host}")

    def destroy(self, vm: str) -> None:
        """Delete a powered-off VM and its files (Destroy_Task): only ever a replica of vsphere-dr's."""
        self._run(lambda: self._vm(vm).Destroy_Task(), f"deleting {vm}")

    def set_custom_field(self, vm: str, name: str, value: str) -> None:
        """Set the custom attribute ``name`` of ``vm`` (defined for VMs if missing). NotSupported where
        vCenter has no CustomFieldsManager (some hosts managed directly)."""
        doing = f"setting custom attribute {name} of {vm}"

        def set_field(content: vim.ServiceInstanceContent) -> None:
            manager = content.customFieldsManager
            if manager is None:
                raise NotSupported(f"{doing}: this vCenter has no custom attributes", "NotSupported")
            with faults_translated(doing):
                key = next((f.key for f in manager.field or () if f.name == name), None)
                if key is None:
                    key = manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine).key
                manager.SetField(entity=self._vm(vm), key=key, value=value)

        self._session.call(set_field, doing)

    def set_annotation(self, vm: str, text: str) -> None:
        self._run(lambda: self._vm(vm).ReconfigVM_Task(vim.vm.ConfigSpec(annotation=text)),
                  f"annotating {vm}")

    # --- drills: a marked, isolated copy; deleted only when vCenter shows it marked ---------

    def clone_for_drill(self, vm: str, snapshot: str | None, name: str, host: str, pool: str, datastore: str,
                        annotation: str, mark: str, network: str | None) -> str:
        """A powered-off full clone of ``vm`` (at ``snapshot``, if given) marked as a drill copy, with
        every network adapter disconnected, or on the port group ``network``: the clone spec's
        config sets the annotation, extraConfig ``vsphere-dr.drill = mark`` and the adapters
        (``deviceChange`` edits, keyed as the source's devices), so the copy never exists
        unmarked or connected. The copy's moref."""
        doing = f"cloning {vm} for a drill as {name!r}"
        source = self._vm(vm)
        origin = self._session.managed(vim.vm.Snapshot, snapshot) if snapshot else source

        def adapters(content: vim.ServiceInstanceContent) -> list[vim.vm.device.VirtualDeviceSpec]:
            with faults_translated(doing):
                devices = read_object(content, origin, ["config.hardware.device"]).get("config.hardware.device")
                backing = _port_group_backing(content, network) if network else None
            return [_adapter_change(d, backing) for d in devices or ()
                    if isinstance(d, vim.vm.device.VirtualEthernetCard)]

        config = vim.vm.ConfigSpec(annotation=annotation, deviceChange=self._session.call(adapters, doing),
                                   extraConfig=[vim.option.OptionValue(key=EXTRA_KEY, value=mark)])
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(host=self._session.managed(vim.HostSystem, host),
                                         pool=self._session.managed(vim.ResourcePool, pool),
                                         datastore=self._session.managed(vim.Datastore, datastore)),
            snapshot=origin if snapshot else None, config=config, powerOn=False, template=False)
        clone = self._run(lambda: source.CloneVM_Task(folder=source.parent, name=name, spec=spec), doing)
        return clone._moId

    def copy_state(self, vm: str) -> CopyState | None:
        """A drill copy's marks, power, guest heartbeat and adapters in one RetrievePropertiesEx;
        None if vCenter has no such VM."""
        doing = f"reading {vm}"

        def read(content: vim.ServiceInstanceContent) -> CopyState | None:
            try:
                with faults_translated(doing):
                    found = read_object(content, self._vm(vm), COPY_PATHS)
            except ObjectNotFound:
                return None
            return _copy_state(vm, found) if found else None

        return self._session.call(read, doing)

    def destroy_drill_copy(self, vm: str, prefix: str, drill: int, token: str) -> None:
        """Delete ``vm`` only if vCenter, read again now, shows it as drill ``drill``'s copy (name
        prefix, annotation and extraConfig with ``token``): NotADrillCopy otherwise, and nothing
        is deleted. A copy already gone is not an error."""
        found = self.copy_state(vm)
        if found is None:
            return
        why = deletable(found, prefix, drill, token)
        if why is not None:
            raise NotADrillCopy(f"not deleting {vm}: {why}")
        self.destroy(vm)


def _adapter_change(nic: vim.vm.device.VirtualEthernetCard,
                    backing: vim.vm.device.VirtualDevice.BackingInfo | None) -> vim.vm.device.VirtualDeviceSpec:
    """Edit one adapter of the clone: disconnected (and not connected at power-on), or on ``backing``."""
    on = backing is not None
    nic.connectable = vim.vm.device.VirtualDevice.ConnectInfo(connected=on, startConnected=on, allowGuestControl=False)
    if on:
        nic.backing = backing
    return vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=nic)


def _port_group_backing(content: vim.ServiceInstanceContent, name: str) -> vim.vm.device.VirtualDevice.BackingInfo:
    """The backing that puts an adapter on the standard port group ``name`` (a distributed port
    group's backing names its switch and key, not its name: not supported yet, and refused)."""
    found = [obj for obj, p in retrieve(content, {vim.Network: ("name",)}) if p.get("name") == name]
    if not found:
        raise ObjectNotFound(f"vCenter has no network {name!r} ([drill] network)", "NotFound")
    if isinstance(found[0], vim.dvs.DistributedVirtualPortgroup):
        raise NotSupported(f"[drill] network {name!r} is a distributed port group: give a standard one",
                           "NotSupported")
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=name, network=found[0])


def _copy_state(moref: str, p: dict[str, Any]) -> CopyState:
    extra = {o.key: o.value for o in p.get("config.extraConfig") or ()}
    nics = [d for d in p.get("config.hardware.device") or () if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    return CopyState(
        moref=moref, name=p.get("name", ""), annotation=p.get("config.annotation") or "",
        extra_mark=extra.get(EXTRA_KEY), power_state=str(p.get("runtime.powerState", "unknown")),
        heartbeat=str(p.get("guestHeartbeatStatus", "gray")), guest_state=str(p.get("guest.guestState") or ""),
        ip=p.get("guest.ipAddress") or None, nics=tuple(_nic_state(n) for n in nics))


def _nic_state(nic: vim.vm.device.VirtualEthernetCard) -> NicState:
    connect, backing = nic.connectable, nic.backing
    network = getattr(backing, "deviceName", None) or None
    return NicState(label=nic.deviceInfo.label if nic.deviceInfo else str(nic.key),
                    connected=bool(connect and connect.connected), start_connected=bool(connect and connect.startConnected),
                    network=network)
