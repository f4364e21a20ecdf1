"""vsphere-dr: a disaster-recovery controller for VMware vSphere."""

__version__ = "0.1.0"
