"""What `vsphere-dr protection` prints: every VM, protected or not and why, its group, its newest
snapshot and replica against its RPO target, and what the planner would do if its host failed now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vsphere_dr.app.status import age
from vsphere_dr.decision_engine import Policy, failover_strategy
from vsphere_dr.protection import Verdict, age_seconds, rpo_target, snapshot_age, verdicts
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings
from vsphere_dr.table import render_table
from vsphere_dr.timefmt import iso_utc


def protection_rows(inv: Inventory, settings: Settings, now: float) -> list[dict[str, Any]]:
    """One dict per VM (JSON-ready: morefs, ISO-8601 UTC times, ages in seconds), sorted by name."""
    found, policy = verdicts(inv, settings), Policy.from_settings(settings)
    return [_row(inv, vm, found[vm.moref], settings, policy, now)
            for vm in sorted(inv.vms.values(), key=lambda vm: (vm.name, vm.moref))]


def _row(inv: Inventory, vm: VmRecord, verdict: Verdict, settings: Settings, policy: Policy,
         now: float) -> dict[str, Any]:
    host = inv.hosts.get(vm.host or "")
    snap, snap_age, replicas = vm.newest_snapshot, snapshot_age(vm, now), inv.replicas_of(vm)
    replica = replicas[-1] if replicas else None
    target = rpo_target(settings, verdict.group) if verdict.protected else None
    strategy, why = failover_strategy(inv, vm, policy) if verdict.protected else ("none", "not protected")
    return {
        "name": vm.name, "moref": vm.moref, "protected": verdict.protected, "reason": verdict.reason,
        "group": verdict.group, "host": host.name if host else None, "host_moref": vm.host,
        "cluster": host.cluster if host else None, "folder": vm.folder_path,
        "rpo_target_seconds": target,
        "newest_snapshot": _point(snap.name, snap.moref, snap.created, snap_age, target)
        if snap is not None and snap_age is not None else None,
        "newest_replica": _point(replica.name, replica.moref, replica.replica.taken,
                                 age_seconds(replica.replica.taken, now), target)
        if replica is not None and replica.replica is not None else None,
        "strategy": str(strategy), "strategy_reason": why,
    }


def _point(name: str, moref: str, taken: datetime, seconds: float, target: float | None) -> dict[str, Any]:
    return {"name": name, "moref": moref, "taken": iso_utc(taken), "age_seconds": round(seconds, 1),
            "within_target": None if target is None else seconds <= target}


def protection_text(rows: list[dict[str, Any]]) -> str:
    shown = [(r["name"], "yes" if r["protected"] else "no", r["group"] or "-", r["reason"],
              _age_text(r["newest_snapshot"]), _age_text(r["newest_replica"]),
              age(r["rpo_target_seconds"]) if r["rpo_target_seconds"] else "-", r["strategy"]) for r in rows]
    protected = sum(1 for r in rows if r["protected"])
    return "\n".join([
        f"{len(rows)} VMs, {protected} protected (RPO = age of the newest snapshot or replica; '!' above target; "
        "IF ITS HOST FAILED = what the planner would do now)",
        render_table(("VM", "PROTECTED", "GROUP", "WHY", "SNAPSHOT RPO", "REPLICA RPO", "TARGET", "IF ITS HOST FAILED"),
                     shown),
    ])


def _age_text(point: dict[str, Any] | None) -> str:
    if point is None:
        return "none"
    return age(point["age_seconds"]) + ("!" if point["within_target"] is False else "")
