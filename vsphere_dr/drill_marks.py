"""How a drill copy is marked, and the test every deletion passes: pure rules, no I/O.

The only VMs vsphere-dr ever deletes (besides its own replicas) are the copies its drills made.
A copy carries three marks, all set by the clone itself (one CloneVM_Task: there is no moment
when the copy exists unmarked): a name with the drill prefix, an annotation naming its drill and
the drill's random token, and the same token in its extraConfig. ``deletable`` asks for all
three, as read from vCenter just before the deletion, and for the token the journal recorded: a
VM renamed to look like a copy, or a copy of another vsphere-dr's journal, is never deleted.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

from vsphere_dr.records import CopyState, DrillMark

EXTRA_KEY = "vsphere-dr.drill"  # extraConfig key of a drill copy: "<drill id>:<token>"
_STAMP = "%Y%m%dT%H%M%SZ"
_MARK = re.compile(r"^vsphere-dr drill copy of (?P<name>.+) \(drill (?P<drill>\d+), token (?P<token>[0-9a-f]{16})\)$",
                   re.M)


def new_token() -> str:
    return secrets.token_hex(8)


def copy_name(prefix: str, vm_name: str, started: float) -> str:
    """E.g. ``vsphere-dr-drill-web-01-20261201T110000Z``."""
    return f"{prefix}-{vm_name}-{datetime.fromtimestamp(started, timezone.utc).strftime(_STAMP)}"


def annotation(vm_name: str, drill: int, token: str) -> str:
    return (f"vsphere-dr drill copy of {vm_name} (drill {drill}, token {token})\n"
            "A test failover's temporary copy: vsphere-dr powers it off and deletes it when the drill ends.")


def extra_value(drill: int, token: str) -> str:
    return f"{drill}:{token}"


def parse_mark(text: str) -> DrillMark | None:
    found = _MARK.search(text or "")
    return None if found is None else DrillMark(int(found["drill"]), found["token"], found["name"])


def deletable(copy: CopyState, prefix: str, drill: int, token: str) -> str | None:
    """None when ``copy`` is the drill copy of journal row ``drill`` with ``token``; else why not."""
    mark = parse_mark(copy.annotation)
    if not copy.name.startswith(prefix + "-"):
        return f"{copy.name} ({copy.moref}) does not have the drill prefix {prefix}-"
    if mark is None or (mark.drill, mark.token) != (drill, token):
        return f"{copy.name} ({copy.moref}) has no annotation of drill {drill}"
    if copy.extra_mark != extra_value(drill, token):
        return f"{copy.name} ({copy.moref}) has no extraConfig {EXTRA_KEY} of drill {drill}"
    return None


def isolated(copy: CopyState, network: str | None) -> str | None:
    """None when every adapter of ``copy`` is disconnected, or on the drill port group ``network``;
    else which adapter is not (a copy is never powered on beside production on its network)."""
    for nic in copy.nics:
        if network is None and (nic.connected or nic.start_connected):
            return f"{nic.label} of {copy.name} is connected"
        if network is not None and (nic.connected or nic.start_connected) and nic.network != network:
            return f"{nic.label} of {copy.name} is on {nic.network}, not on the drill network {network}"
    return None
