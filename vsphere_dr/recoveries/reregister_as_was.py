"""A VM of a removed failed host that is not to be started (it was powered off, a person's, or
without an IP): registered again from its files as it was, powered off, so that nothing
disappears from the inventory (registration.py)."""

from __future__ import annotations

from vsphere_dr.recoveries.registration import REGISTERED, REGISTRATION_GONE, TARGET_USABLE, RegisterParams, \
    RegisterProgress, Registering


class ReregisterAsWas(Registering):
    kind = "reregister_as_was"
    opens_incident = False
    params_type = RegisterParams
    progress_type = RegisterProgress
    commit_step = "registered"
    STEPS = (REGISTRATION_GONE, TARGET_USABLE, REGISTERED)
