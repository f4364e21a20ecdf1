"""JSON log lines carry what they are about (vm, moref, incident, action, module) as fields of their own."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.recovery_lab import CASES, NOW, Clock, journal, tools
from vsphere_dr.executor import Executor
from vsphere_dr.logging_setup import JsonLines, fields

RESTART = next(c for c in CASES if c.name == "restart_from_snapshot")


def as_json(record: logging.LogRecord) -> dict[str, object]:
    return json.loads(JsonLines().format(record))


def test_fields_become_keys_of_the_json_line() -> None:
    logger = logging.getLogger("test.fields")
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "web-01: %s", ("refused",), None,
                               extra=fields(vm="web-01", moref="vm-42", module="snapshot_creator"))
    entry = as_json(record)
    assert entry["message"] == "web-01: refused"
    assert (entry["vm"], entry["moref"], entry["module"]) == ("web-01", "vm-42", "snapshot_creator")
    assert "incident" not in entry and "action" not in entry  # only those given
    assert str(entry["time"]).endswith("+00:00")  # UTC, saying so


def test_a_recovery_logs_its_vm_action_and_incident(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vsphere_dr.executor")
    vc, act = RESTART.build()
    clock = Clock()
    j = journal(tmp_path, clock)
    assert Executor(tools(vc, clock), j).execute(act, NOW).state == "done"
    (incident,) = j.incidents()
    entries = [as_json(r) for r in caplog.records if r.name == "vsphere_dr.executor"]
    assert [e["message"].split(" ")[0] for e in entries] == ["recovering", "recovered"]
    for entry in entries:
        assert (entry["vm"], entry["moref"], entry["action"], entry["incident"]) == (
            act.name, act.target, "restart_from_snapshot", incident.id)
