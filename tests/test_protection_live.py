"""Protection groups, `vsphere-dr protection` and the metrics, as an operator uses them on the simulator:
`protection --json` lists every VM with its reason; a custom attribute set in vCenter puts a VM in a
group; `once` writes the node_exporter textfile; `run` serves /metrics."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import settings_text
from tests.sim_world import (Client, client, example_topology_data, own_simulator, run_task, snapshot_trees,
                              wait_until, write_topology)
from tests.test_daemon_live import RunningDaemon, said
from vsphere_dr.journal import Journal
from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import Topology

pytestmark = pytest.mark.live
BACKING = {"vhost_backing": "esx-d2.lab.local = nested-esx-d2"}


def cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), *args],
                          capture_output=True, text=True, timeout=120)


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def by_vm(series: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {dict(labels)["vm"]: value for labels, value in series.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def attributed(sim: Simulator) -> Iterator[Simulator]:
    """The example lab, web-02 given the custom attribute dr-tier twice as a person would (the
    second value replaces the first, as in vCenter)."""
    with client(sim) as vc:
        manager = vc.content.customFieldsManager
        key = manager.AddCustomFieldDef(name="dr-tier", moType=vim.VirtualMachine).key
        manager.SetField(entity=vc.vm("web-02"), key=key, value="bronze")
        manager.SetField(entity=vc.vm("web-02"), key=key, value="gold")
    yield sim


def test_protection_json_lists_every_vm_with_its_reason_and_strategy(attributed: Simulator, write_settings,  # type: ignore[no-untyped-def]
                                                                     example_topology: Topology) -> None:
    result = cli(write_settings(attributed.host, attributed.port, inventory=BACKING), "protection", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows.keys() == {vm.name for vm in example_topology.vms()}
    for vm in example_topology.vms():
        row = rows[vm.name]
        assert row["moref"].startswith("vm-") and row["host"] == vm.host
        if not vm.ip:
            assert (row["protected"], row["reason"]) == (False, "no IP address (VMware Tools reports none)")
            assert row["strategy"] == "none"
        elif vm.name == "nested-esx-d2":
            assert row["protected"] and row["reason"].startswith("backing VM of nested host esx-d2.lab.local")
        else:
            assert (row["protected"], row["group"], row["reason"]) == (True, "default", "in group default")
            assert row["strategy"] in ("register", "replica", "vsphere_ha", "none")
    # web-01 shares ds-prod with two other hosts: its files would be registered on one of them.
    assert rows["web-01"]["strategy"] == "register"
    assert rows["web-01"]["folder"] == "/dc-lab/vm"
    snap = rows["web-01"]["newest_snapshot"]
    assert snap["name"] == "baseline" and snap["taken"].endswith("Z") and snap["within_target"] is True


def test_a_custom_attribute_and_a_name_pattern_choose_the_groups(attributed: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(attributed.host, attributed.port, inventory=BACKING, protection={"exclude": "edge-*"},
                          **{"protection.gold": {"attributes": "dr-tier = gold", "restart_priority": "high",
                                                 "rpo_target_seconds": 900},
                             "protection.web": {"vms": "web-*", "folders": "/dc-lab/vm"}})
    result = cli(path, "protection", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert (rows["web-02"]["group"], rows["web-02"]["rpo_target_seconds"]) == ("gold", 900)
    assert rows["web-01"]["group"] == "web"
    assert (rows["db-01"]["protected"], rows["db-01"]["reason"]) == (False, "in no protection group")
    edge = [row for name, row in rows.items() if name.startswith("edge-")]
    assert edge and all(row["reason"] == "excluded by [protection] exclude = edge-*" for row in edge)
    text = cli(path, "protection")
    assert text.returncode == 0 and any(line.startswith("web-02 ") and " gold " in line
                                        for line in text.stdout.splitlines())


def newest_snapshots(vc: Client) -> dict[str, float | None]:
    """Each VM's newest snapshot's time as vCenter shows it (pyVmomi), None for a VM without one."""
    return {vm.name: trees[-1].createTime.timestamp() if (trees := snapshot_trees(vm)) else None
            for vm in vc.every(vim.VirtualMachine)}


def assert_ages_are_vcenter_s(ages: dict[str, float], newest: dict[str, float | None], at: float) -> None:
    """Each VM's age as of ``at`` from its newest snapshot in vCenter, +Inf for none."""
    for name, age in ages.items():
        taken = newest[name]
        assert math.isinf(age) if taken is None else abs(age - (at - taken)) < 5, (name, age, taken)


def test_once_writes_the_textfile_with_vcenter_s_snapshot_ages(attributed: Simulator, write_settings,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "vsphere-dr.prom"
    prom.parent.mkdir()
    path = write_settings(attributed.host, attributed.port, inventory=BACKING, metrics={"textfile": str(prom)})
    result = cli(path, "once", "--module", "snapshot_creator")
    assert result.returncode == 0, result.stderr
    found = samples(prom.read_text(encoding="utf-8"))
    written = prom.stat().st_mtime
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        recorded = {row.vm_name: row.newest_at for row in journal.snapshot_status()}
    finally:
        journal.close()
    with client(attributed) as vc:
        newest = newest_snapshots(vc)
    ages = by_vm(found["vsphere_dr_snapshot_age_seconds"])
    protected = {name for name, flag in by_vm(found["vsphere_dr_protected"]).items() if flag == 1}
    assert recorded and recorded.keys() <= ages.keys() == protected
    assert_ages_are_vcenter_s(ages, newest, written)
    assert all(recorded[name] == newest[name] for name in recorded), "just after a round the journal agrees"
    assert by_vm(found["vsphere_dr_protected"])["web-01"] == 1
    assert found["vsphere_dr_vcenter_round_trips_total"][()] > 0
    success = {dict(k)["module"]: v for k, v in found["vsphere_dr_module_last_success_timestamp_seconds"].items()}
    assert abs(success["snapshot_creator"] - written) < 30
    assert sorted(p.name for p in prom.parent.iterdir()) == ["vsphere-dr.prom"]  # no temporary file left


def test_a_snapshot_deleted_in_vcenter_leaves_the_metric_and_protection_agreeing(
        vcsim_binary: Path, tmp_path: Path, write_settings) -> None:  # type: ignore[no-untyped-def]
    """After a snapshot round a person deletes web-01's new snapshot (its baseline remains) and
    every snapshot of db-01 in vCenter. The next `once` writes the textfile and `protection`
    prints its report: both give web-01 its baseline's age and db-01 none, while the journal
    still holds the deleted snapshots."""
    prom = tmp_path / "vsphere-dr.prom"
    with own_simulator(vcsim_binary, write_topology(tmp_path, example_topology_data())) as sim:
        path = write_settings(sim.host, sim.port, inventory=BACKING, metrics={"textfile": str(prom)})
        assert cli(path, "once", "--module", "snapshot_creator").returncode == 0
        with client(sim) as vc:
            web = vc.vm("web-01")
            run_task(snapshot_trees(web)[-1].snapshot.RemoveSnapshot_Task(removeChildren=False))
            run_task(vc.vm("db-01").RemoveAllSnapshots_Task())
            newest = newest_snapshots(vc)
        result = cli(path, "once", "--module", "availability_administrator")
        assert result.returncode == 0, result.stderr
        ages, written = by_vm(samples(prom.read_text(encoding="utf-8"))["vsphere_dr_snapshot_age_seconds"]), \
            prom.stat().st_mtime
        shown = cli(path, "protection", "--json")
        read = time.time()
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        recorded = {row.vm_name: row.newest_at for row in journal.snapshot_status()}
    finally:
        journal.close()
    assert newest["web-01"] is not None and newest["db-01"] is None
    assert_ages_are_vcenter_s({"web-01": ages["web-01"], "db-01": ages["db-01"]}, newest, written)
    assert rows["web-01"]["newest_snapshot"]["name"] == "baseline" and rows["db-01"]["newest_snapshot"] is None
    assert abs(rows["web-01"]["newest_snapshot"]["age_seconds"] - (read - newest["web-01"])) < 5
    assert recorded["web-01"] > newest["web-01"] and recorded["db-01"] is not None, "the journal kept the deleted ones"


def test_run_serves_metrics(attributed: Simulator, tmp_path: Path) -> None:
    port = free_port()
    settings = tmp_path / "settings.ini"
    settings.write_text(settings_text(attributed.host, attributed.port, inventory=BACKING, logging={"format": "json"},
                                      metrics={"listen": f"127.0.0.1:{port}"}), encoding="utf-8")
    daemon = RunningDaemon(settings)
    try:
        daemon.wait_for(said(f"metrics: http://127.0.0.1:{port}/metrics"), 30)
        daemon.wait_for(said("health_administrator done"), 60)

        def scraped() -> dict[str, Any] | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                found = samples(answer.read().decode())
            return found if "vsphere_dr_sweep_duration_seconds" in found else None

        found = wait_until(scraped, 20)
        assert found["vsphere_dr_sweep_duration_seconds"][()] > 0
        assert found["vsphere_dr_incidents_open"][()] == 0
        assert found["vsphere_dr_incidents_needing_person"][()] == 0
        assert by_vm(found["vsphere_dr_protected"])["web-02"] == 1
        assert found["vsphere_dr_vcenter_round_trips_total"][()] > 0
        assert "health_administrator" in {dict(k)["module"] for k in
                                          found["vsphere_dr_module_last_success_timestamp_seconds"]}
        for name in ("vsphere_dr_snapshot_age_seconds", "vsphere_dr_protection_info", "vsphere_dr_rpo_target_seconds"):
            assert name in found, name
    finally:
        assert daemon.terminate() == 0
    with pytest.raises(OSError):  # stopped with the daemon
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_setting_a_custom_attribute_again_replaces_its_value(attributed: Simulator) -> None:
    """As in vCenter, an entity holds one value per custom attribute (govmomi 0.24.2 appended one)."""
    with client(attributed) as vc:
        values = [(v.key, v.value) for v in vc.vm("web-02").customValue]
    assert len(values) == 1 and values[0][1] == "gold"


def tag(sim: Simulator, vm_moref: str, category: str, name: str) -> None:
    """Attach a tag as a person would, through the vAPI REST service (created when missing)."""
    import base64
    import http.client

    def call(method: str, path: str, body: object = None, session: str = "") -> Any:
        conn = http.client.HTTPConnection(sim.host, sim.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        headers.update({"vmware-api-session-id": session} if session else
                       {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()})
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = conn.getresponse().read()
        conn.close()
        return json.loads(answer)["value"] if answer else None

    session = call("POST", "/rest/com/vmware/cis/session")
    categories = {call("GET", f"/rest/com/vmware/cis/tagging/category/id:{c}", session=session)["name"]: c
                  for c in call("GET", "/rest/com/vmware/cis/tagging/category", session=session) or []}
    cid = categories.get(category) or call("POST", "/rest/com/vmware/cis/tagging/category", {"create_spec": {
        "name": category, "description": "", "cardinality": "SINGLE", "associable_types": ["VirtualMachine"]}},
        session)
    tid = call("POST", "/rest/com/vmware/cis/tagging/tag", {"create_spec": {"name": name, "description": "",
                                                                            "category_id": cid}}, session)
    call("POST", f"/rest/com/vmware/cis/tagging/tag-association/id:{tid}?~action=attach",
         {"object_id": {"id": vm_moref, "type": "VirtualMachine"}}, session)


def test_a_vcenter_tag_chooses_a_group(attributed: Simulator, write_settings) -> None:  # type: ignore[no-untyped-def]
    with client(attributed) as vc:
        db = vc.vm("db-01")._moId
        edge = vc.vm("edge-01")._moId
    tag(attributed, db, "dr-plan", "tier-1")
    tag(attributed, edge, "backup", "none")
    path = write_settings(attributed.host, attributed.port, inventory=BACKING, protection={"exclude_tags": "backup = no*"},
                          **{"protection.tier1": {"tags": "dr-plan = tier-*"}, "protection.rest": {}})
    result = cli(path, "protection", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["db-01"]["group"] == "tier1"
    assert (rows["edge-01"]["protected"], rows["edge-01"]["reason"]) == (False,
                                                                          "excluded by [protection] exclude_tags = backup=no*")
    assert rows["web-01"]["group"] == "rest"


def test_a_refused_tagging_login_is_a_login_error(vcsim_binary: Path, topology: Path, write_settings) -> None:  # type: ignore[no-untyped-def]
    """With -username/-password the REST login checks them as /sdk does: a wrong password exits 5."""
    from tests.sim_world import own_simulator

    with own_simulator(vcsim_binary, topology, ["-username", "admin", "-password", "test-password"]) as sim:
        path = write_settings(sim.host, sim.port, **{"protection.t": {"tags": "a = b"}})
        assert cli(path, "protection").returncode == 0
        text = path.read_text().replace("password = test-password", "password = wrong-one")
        path.write_text(text)
        result = cli(path, "protection")
    assert result.returncode == 5, result.stderr
    assert "refused the login" in result.stderr and "wrong-one" not in result.stderr
