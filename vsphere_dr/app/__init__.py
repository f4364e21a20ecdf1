"""The entry point: command line and scheduler wiring.

The only part of vsphere_dr allowed to import ``modules`` (the administrators); the rest of the
core never does.
"""
