"""Turn pyVmomi faults into the project's exceptions, with messages an operator can read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyVmomi import vim, vmodl

from vsphere_dr import errors

# Most specific first: the first isinstance match wins.
_FAULT_CLASSES: tuple[tuple[type, type[errors.VSphereFault]], ...] = (
    (vmodl.fault.ManagedObjectNotFound, errors.ObjectNotFound),
    (vim.fault.NotFound, errors.ObjectNotFound),
    (vim.fault.DuplicateName, errors.DuplicateName),
    (vim.fault.InvalidState, errors.InvalidState),
    (vmodl.fault.MethodNotFound, errors.NotSupported),
    (vmodl.fault.NotSupported, errors.NotSupported),
    (vmodl.fault.NotImplemented, errors.NotSupported),
)


def fault_name(fault: BaseException) -> str:
    """The vSphere name of a fault, e.g. ``DuplicateName`` for vim.fault.DuplicateName."""
    return type(fault).__name__.rsplit(".", 1)[-1]


def fault_message(fault: BaseException) -> str:
    """The fault's own text: localized message, else msg, else its type name."""
    messages = [m.message for m in (getattr(fault, "faultMessage", None) or []) if m.message]
    text = getattr(fault, "msg", None) or "; ".join(messages)
    return text or fault_name(fault)


def translate(fault: vmodl.MethodFault, doing: str) -> errors.VCenterError:
    """The project's exception for a vSphere fault raised while ``doing`` something."""
    name = fault_name(fault)
    if isinstance(fault, vim.fault.InvalidLogin):
        return errors.AuthenticationError(f"vCenter refused the login while {doing}: check user and password")
    if isinstance(fault, vim.fault.NotAuthenticated):
        return errors.SessionExpired(f"vCenter session expired while {doing}")
    message = f"vCenter fault {name} while {doing}: {fault_message(fault)}"
    if isinstance(fault, vim.fault.SSLVerifyFault):
        message += (f" The host presented the certificate thumbprint {fault.thumbprint or '(not given)'}: if that is"
                    " the host's own certificate (check on the host itself), give it in"
                    " [inventory] spare_host_thumbprints.")
    if _locked(fault):
        return errors.FilesLocked(message, name)
    cls = next((ours for theirs, ours in _FAULT_CLASSES if isinstance(fault, theirs)), errors.VSphereFault)
    return cls(message, name)


def _locked(fault: vmodl.MethodFault) -> bool:
    """vCenter's answer to a power-on whose files another host holds: a VM config fault whose
    messages carry msg.fileio.lock ("Failed to lock the file": vmware/vic#3183, #5713)."""
    if not isinstance(fault, vim.fault.VmConfigFault):
        return False
    keys = [m.key for m in getattr(fault, "faultMessage", None) or []]
    return "msg.fileio.lock" in keys or "lock the file" in (getattr(fault, "reason", "") or "")


@contextmanager
def faults_translated(doing: str) -> Iterator[None]:
    """Re-raise any vSphere fault inside the block as the project's own exception."""
    try:
        yield
    except vmodl.MethodFault as fault:
        raise translate(fault, doing) from fault
