"""The project's own exceptions.

Everything that can go wrong talking to vCenter or reading settings ends up as one of these,
with a message an operator can act on. pyVmomi's faults never leave the gateway.
"""

from __future__ import annotations


class VsphereDrError(Exception):
    """Base class of every error vsphere-dr raises on purpose."""


class SettingsError(VsphereDrError):
    """settings.ini is missing, unreadable or holds a value that is not allowed."""


class UsageError(SettingsError):
    """The command line names what vCenter or the settings do not have (an unknown VM name):
    exit 2, as bad settings are."""


class NotADrillCopy(VsphereDrError):
    """vsphere-dr was about to delete a VM that vCenter does not show marked as one of its drill
    copies: nothing is deleted."""


class VCenterError(VsphereDrError):
    """Something went wrong between vsphere-dr and vCenter."""


class VCenterUnreachable(VCenterError):
    """vCenter could not be reached (network, DNS, TLS) after the bounded retries."""


class AuthenticationError(VCenterError):
    """vCenter answered but refused the login."""


class SessionExpired(VCenterError):
    """The session is no longer valid; the gateway logs in again and retries once."""


class VSphereFault(VCenterError):
    """vCenter answered a call with a fault.

    ``fault_type`` keeps the vSphere fault's name (e.g. ``DuplicateName``) so callers can
    tell faults apart without importing pyVmomi.
    """

    def __init__(self, message: str, fault_type: str) -> None:
        super().__init__(message)
        self.fault_type = fault_type


class ObjectNotFound(VSphereFault):
    """The managed object is gone (deleted, or never existed)."""


class DuplicateName(VSphereFault):
    """An object of that name already exists where one was to be created."""


class InvalidState(VSphereFault):
    """The object is in a state that does not allow the operation (e.g. already powered on)."""


class FilesLocked(VSphereFault):
    """A power-on failed because the VM's files are locked: the VM still runs on another host
    (an isolated host keeps its VMs' locks). The fence against two running copies."""


class NotSupported(VSphereFault):
    """This vCenter (or simulator) does not implement the method."""


class TaskTimeout(VCenterError):
    """A vCenter task did not finish within its timeout; it may still be running in vCenter."""


class AlarmsUnavailable(VCenterError):
    """This vCenter's alarms cannot be used: no AlarmManager, a method it lacks, or no permission.

    Health checks then go on without alarms, from runtime state and events.
    """


class ProbeError(VsphereDrError):
    """The configured probe cannot run on this machine (e.g. ICMP sockets are not permitted)."""


class ControllerBusy(VsphereDrError):
    """Another controller holds the lock of this journal, so this one must not act beside it.

    ``holder`` describes it (pid, host, since, command), or is None if it has not said yet.
    """

    def __init__(self, lock: str, holder: str | None) -> None:
        super().__init__(f"another vsphere-dr holds {lock}: "
                         f"{holder or 'it has not written who it is yet'}")
        self.holder = holder


class RoundIncomplete(VsphereDrError):
    """A module's round went through every VM but failed for some (the message names them): the
    others got what they needed, and the run counts as failed. ``report`` is the round's report."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
