"""A failed VM with no snapshot, on a live host: power it on where it is."""

from __future__ import annotations

from vsphere_dr.recoveries.base import Params, Recovery
from vsphere_dr.recoveries.common import SAME_HOST, STILL_DOWN, answers, powered_on


class PowerOnParams(Params):
    host: str | None  # the host it failed on


class PowerOn(Recovery):
    kind = "power_on"
    counts_as_restart = True
    params_type = PowerOnParams
    commit_step = "powered_on"
    STEPS = (SAME_HOST, STILL_DOWN, powered_on(), answers())
