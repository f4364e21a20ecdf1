"""docs/deploy/ stays in sync with the CLI: the unit's ExecStart and every crontab command parse.

Each command line is run through the real argument parser, so a renamed command, option or module
fails here instead of on an operator's machine; and every module of the CLI has a crontab line.
"""

from __future__ import annotations

import argparse
import configparser
import re
import shlex
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from vsphere_dr.app import cli
from vsphere_dr.app.module_registry import MODULES
from vsphere_dr.settings import VCenterSettings

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy"
SETTINGS = "/etc/vsphere-dr/settings.ini"
ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def vsphere_dr_args(command: list[str]) -> list[str]:
    """The arguments given to the vsphere-dr program in a command line."""
    programs = [i for i, word in enumerate(command) if Path(word).name == "vsphere-dr"]
    assert programs, f"no vsphere-dr in {command}"
    return command[programs[0] + 1:]


def parse(args: list[str]) -> argparse.Namespace:
    """What vsphere-dr would make of ``args``; fails the test where argparse would exit."""
    try:
        return cli.build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"vsphere-dr refuses {shlex.join(args)}")


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(DEPLOY / "vsphere-dr.service", encoding="utf-8")
    return parser


def crontab_lines() -> list[tuple[str, str, list[str]]]:
    """(schedule, user, command) of each job line of the /etc/cron.d file."""
    jobs = []
    for line in (DEPLOY / "crontab").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ENV_LINE.match(line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"not 'minute hour day month weekday user command': {line}"
        jobs.append((" ".join(fields[:5]), fields[5], shlex.split(fields[6])))
    return jobs


def test_unit_runs_the_daemon_with_the_system_settings() -> None:
    service = unit()["Service"]
    args = parse(vsphere_dr_args(shlex.split(service["ExecStart"])))
    assert (args.command, str(args.config)) == ("run", SETTINGS)
    assert service["Type"] == "notify" and service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "vsphere-dr"  # $STATE_DIRECTORY: where the journal goes by default
    assert service["KillSignal"] == "SIGTERM" and service["User"] not in ("", "root")


def test_unit_watchdog_leaves_room_for_the_main_loop() -> None:
    """The main loop pings at half of WatchdogSec, and wakes at least every 0.5 s to do so."""
    assert int(unit()["Service"]["WatchdogSec"]) >= 10


def test_unit_gives_the_login_time_to_be_retried_before_ready() -> None:
    fields = VCenterSettings.model_fields
    attempts, timeout = fields["connect_attempts"].default, fields["connect_timeout_seconds"].default
    backoff = fields["retry_backoff_seconds"].default * (2 ** (attempts - 1) - 1)  # 2 s, then 4 s, ...
    assert int(unit()["Service"]["TimeoutStartSec"]) > attempts * timeout + backoff


def test_unit_waits_longer_than_a_vcenter_task_before_killing() -> None:
    """On SIGTERM the task in flight is finished: TimeoutStopSec must outlast the task timeout."""
    task_timeout = VCenterSettings.model_fields["task_timeout_seconds"].default
    assert int(unit()["Service"]["TimeoutStopSec"]) > task_timeout


def test_unit_does_not_restart_on_invalid_settings() -> None:
    assert {str(cli.EXIT_SETTINGS), str(cli.EXIT_LOGIN)} <= set(unit()["Service"]["RestartPreventExitStatus"].split())


def test_unit_restarts_a_run_refused_by_the_lock() -> None:
    """Exit 4 means a `once` held the journal's lock: it ends soon, and `run` must come back after it."""
    service = unit()["Service"]
    assert service["Restart"] == "on-failure" and int(service["RestartSec"]) > 0
    assert str(cli.EXIT_BUSY) not in service["RestartPreventExitStatus"].split()


def test_crontab_names_every_exit_code() -> None:
    comment = (DEPLOY / "crontab").read_text(encoding="utf-8").split("# Exit codes:")[1].split("\nSHELL=")[0]
    codes = (cli.EXIT_OK, cli.EXIT_FAULT, cli.EXIT_SETTINGS, cli.EXIT_UNREACHABLE, cli.EXIT_BUSY, cli.EXIT_LOGIN)
    assert all(re.search(rf"\b{code} ", comment) for code in codes), comment


def test_every_crontab_command_parses_and_runs_one_module_under_flock() -> None:
    jobs = crontab_lines()
    assert jobs
    for schedule, user, command in jobs:
        CronTrigger.from_crontab(schedule)
        assert user == unit()["Service"]["User"]
        assert command[:2] == ["flock", "-n"], "runs of a module must not overlap"
        args = parse(vsphere_dr_args(command))
        assert (args.command, str(args.config)) == ("once", SETTINGS)
        assert command[2].endswith(f"-{args.module}.lock"), "one lock per module, as `run` has"


def test_every_module_has_a_crontab_line() -> None:
    """Read at run time: a module added to the CLI demands its line here."""
    scheduled = [parse(vsphere_dr_args(command)).module for _, _, command in crontab_lines()]
    assert sorted(scheduled) == sorted(MODULES)


def test_the_alert_rules_are_prometheus_rules_on_metrics_vsphere_dr_exports(tmp_path: Path) -> None:
    """docs/deploy/vsphere-dr.rules.yml parses as a Prometheus rules file (groups of named rules,
    each alert with an expression and string labels and annotations), and every vsphere_dr_ metric
    it names is one the collector exports."""
    import yaml
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from vsphere_dr.journal import Journal
    from vsphere_dr.metrics import DrCollector, registry_of
    from vsphere_dr.settings import Settings

    rules = yaml.safe_load((DEPLOY / "vsphere-dr.rules.yml").read_text(encoding="utf-8"))
    assert set(rules) == {"groups"}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert all(set(group) <= {"name", "interval", "rules"} and group["name"] for group in rules["groups"])
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["alert"], str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert re.fullmatch(r"\d+[smhd]", rule.get("for", "0s")), rule["for"]
        assert all(isinstance(v, str) for v in {**rule.get("labels", {}), **rule.get("annotations", {})}.values())
    named = {name for rule in alerts for name in re.findall(r"\bvsphere_dr_[a-z_]+", rule["expr"])}
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        journal.run_started("health_administrator")
        journal.run_finished("health_administrator", "ok")
        settings = Settings.model_validate({"vcenter": {"host": "vc", "user": "u", "password": "p"}})
        text = generate_latest(registry_of(DrCollector(journal, lambda: settings, lambda: None, lambda: 0))).decode()
    finally:
        journal.close()
    exported = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples} | \
        {family.name for family in text_string_to_metric_families(text)}
    assert named and named <= exported, named - exported
    assert {"VsphereDrSnapshotRpoAboveTarget", "VsphereDrIncidentNeedsPerson", "VsphereDrModuleFailing"} <= \
        {rule["alert"] for rule in alerts}
