"""The six administrators of the paper (section VI), built on the vsphere_dr core.

Dependencies point one way: modules import vsphere_dr; the core never imports modules.
"""
