"""The real gateway and the tests' fake both implement the Gateway protocol the core is written
against, with the same signatures: a test passing on the fake speaks to the real one the same way."""

from __future__ import annotations

import inspect

import pytest

from tests.fake_vcenter import FakeGateway, FakeVCenter, _HostOps, _VmOps
from vsphere_dr import vcenter
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.gateway.host_operations import HostOperations
from vsphere_dr.gateway.vm_operations import VmOperations
from vsphere_dr.settings import VCenterSettings

PAIRS = [(vcenter.Gateway, VCenterGateway, FakeGateway), (vcenter.VmOperations, VmOperations, _VmOps),
         (vcenter.HostOperations, HostOperations, _HostOps)]


def methods(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")]


@pytest.mark.parametrize("protocol, real, fake", PAIRS, ids=lambda t: getattr(t, "__name__", ""))
def test_same_methods_same_signatures(protocol: type, real: type, fake: type) -> None:
    for name in methods(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        assert list(inspect.signature(getattr(real, name)).parameters) == wanted, f"{real.__name__}.{name}"
        assert list(inspect.signature(getattr(fake, name)).parameters) == wanted, f"{fake.__name__}.{name}"


def test_both_are_gateways() -> None:
    real = VCenterGateway(VCenterSettings(host="127.0.0.1", user="admin", password="x"))  # connects on first use only
    assert isinstance(real, vcenter.Gateway) and isinstance(FakeVCenter().gateway, vcenter.Gateway)
