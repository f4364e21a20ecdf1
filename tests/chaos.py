"""Fault injection into the bundled simulator: POST /chaos beside /sdk (see docs/simulator.md).

    chaos(sim, "host_down", "esx-p1.lab.local")  # -> the host's new state, as a dict
    chaos(sim, "task_fault", "web-02", fault="NoDiskSpace")  # web-02's tasks fail until task_ok
    chaos(sim, "host_isolate", "esx-p1.lab.local", vm_network=False)  # its guests go silent too
"""

from __future__ import annotations

from typing import Any

import requests

from vsphere_dr.simulator.launcher import Simulator

ACTIONS = ("host_down", "host_up", "host_isolate", "host_rejoin", "vm_crash", "vm_hang", "vm_recover", "task_fault",
           "task_ok")


class ChaosError(RuntimeError):
    """The simulator refused the request: status is the HTTP status, message its JSON "error"."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"/chaos answered {status}: {message}")
        self.status, self.message = status, message


def chaos_url(sim: Simulator) -> str:
    return f"{sim.scheme}://{sim.host}:{sim.port}/chaos"


def chaos(sim: Simulator, action: str, target: str, fault: str | None = None,
          vm_network: bool | None = None) -> dict[str, Any]:
    """Run one action on a host or VM named ``target`` and return its new state.

    ``fault`` (for task_fault only) is the vSphere fault's type name, e.g. "NoDiskSpace";
    ``vm_network`` (for host_isolate only): False cuts the host's VM network too.

    Raises ChaosError for an answer other than 200 (400 bad request or action, 404 unknown
    target, 409 action impossible in the target's state).
    """
    # The simulator's https certificate is its self-signed test certificate, on loopback.
    body = {"action": action, "target": target} | ({"fault": fault} if fault else {})
    if vm_network is not None:
        body["vm_network"] = vm_network
    response = requests.post(chaos_url(sim), json=body, timeout=10, verify=False)
    answer = response.json()
    if response.status_code != 200:
        raise ChaosError(response.status_code, answer.get("error", ""))
    return answer
