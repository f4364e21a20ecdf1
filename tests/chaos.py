"""Fault injection into the bundled simulator: POST /chaos beside /sdk (see docs/simulator.md).

    chaos(sim, "host_down", "esx-p1.lab.local")  # -> the host's new state, as a dict
"""

from __future__ import annotations

from typing import Any

import requests

from vsphere_dr.simulator.launcher import Simulator

ACTIONS = ("host_down", "host_up", "vm_crash", "vm_hang", "vm_recover")


class ChaosError(RuntimeError):
    """The simulator refused the request: status is the HTTP status, message its JSON "error"."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"/chaos answered {status}: {message}")
        self.status, self.message = status, message


def chaos_url(sim: Simulator) -> str:
    return f"{sim.scheme}://{sim.host}:{sim.port}/chaos"


def chaos(sim: Simulator, action: str, target: str) -> dict[str, Any]:
    """Run one action on a host or VM named ``target`` and return its new state.

    Raises ChaosError for an answer other than 200 (400 bad request or action, 404 unknown
    target, 409 action impossible in the target's state).
    """
    # The simulator's https certificate is its self-signed test certificate, on loopback.
    response = requests.post(chaos_url(sim), json={"action": action, "target": target}, timeout=10,
                             verify=False)
    body = response.json()
    if response.status_code != 200:
        raise ChaosError(response.status_code, body.get("error", ""))
    return body
