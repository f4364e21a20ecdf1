"""docs/deploy/vcenter-role.md stays true: every vSphere method the gateway calls has its privilege
listed, and the govc and PowerCLI scripts create exactly the privileges the table names."""

from __future__ import annotations

import re
from pathlib import Path

from pyVmomi import vim

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "deploy" / "vcenter-role.md").read_text(encoding="utf-8")
# The managed object types the gateway calls methods of.
TYPES = (vim.ServiceInstance, vim.PropertyCollector, vim.view.ViewManager, vim.view.ContainerView,
         vim.PerformanceManager, vim.event.EventManager, vim.event.EventHistoryCollector, vim.alarm.AlarmManager,
         vim.CustomFieldsManager, vim.VirtualMachine, vim.vm.Snapshot, vim.HostSystem, vim.ComputeResource,
         vim.ClusterComputeResource, vim.Folder, vim.Task)
# Granted with every role: not in the scripts.
IMPLICIT = {"System.Anonymous", "System.View", "System.Read"}


def methods_called() -> set[str]:
    called = set()
    for path in (ROOT / "vsphere_dr" / "gateway").glob("*.py"):
        for name in re.findall(r"\.([A-Z][A-Za-z_]+)\(", path.read_text(encoding="utf-8")):
            if any(callable(getattr(kind, name, None)) and not isinstance(getattr(kind, name), type) for kind in TYPES):
                called.add(name)
    return called


def table() -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in DOC.splitlines()
            if line.startswith("| ") and not line.startswith("| method") and not line.startswith("| ---")]


def table_privileges() -> set[str]:
    return {word for row in table() for word in re.findall(r"\b[A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)+\b", row[2])}


def test_every_method_the_gateway_calls_is_in_the_table() -> None:
    listed = {row[0].split(" ")[0] for row in table() if row[0]}
    called = methods_called()
    assert {"CreateSnapshot_Task", "RetrievePropertiesEx", "RegisterVM_Task"} <= called  # the scan works
    assert called - listed == set()


def test_the_scripts_create_the_privileges_of_the_table() -> None:
    govc = DOC.split("govc role.create vsphere-dr", 1)[1].split("\n# ", 1)[0]
    powercli = DOC.split("$privileges = @(", 1)[1].split(")", 1)[0]
    wanted = table_privileges() - IMPLICIT
    assert set(re.findall(r"[A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)+", govc)) == wanted
    assert set(re.findall(r"'([A-Za-z.]+)'", powercli)) == wanted
