"""The command line as an operator meets it: where settings are found, `--config` anywhere, `init-config`,
files that cannot be written, and bad input that ends in a message rather than a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsphere_dr.app.cli import EXIT_OK, EXIT_SETTINGS, main
from vsphere_dr.app.config_search import search_path, settings_path
from vsphere_dr.app.sample_settings import sample_text
from vsphere_dr.app.state_paths import why_not_writable
from vsphere_dr.errors import SettingsError
from vsphere_dr.settings import Settings, load_settings


def test_config_named_before_or_after_the_command(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_settings()
    assert main(["--config", str(path), "status", "--json"]) == EXIT_OK
    before = json.loads(capsys.readouterr().out)
    assert main(["status", "--json", "--config", str(path)]) == EXIT_OK
    after = json.loads(capsys.readouterr().out)
    assert [m["module"] for m in before["modules"]] == [m["module"] for m in after["modules"]]


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config, then $VSPHERE_DR_CONFIG, then the first of ./settings.ini, ~/.config/..., /etc/..."""
    monkeypatch.chdir(tmp_path)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    user = tmp_path / "xdg" / "vsphere-dr" / "settings.ini"
    assert search_path(env)[:2] == [Path("settings.ini"), user]
    assert search_path(env)[2] == Path("/etc/vsphere-dr/settings.ini")
    user.parent.mkdir(parents=True)
    user.write_text("", encoding="utf-8")
    assert settings_path(None, env) == user
    (tmp_path / "settings.ini").write_text("", encoding="utf-8")
    assert settings_path(None, env) == Path("settings.ini")
    assert settings_path(None, {**env, "VSPHERE_DR_CONFIG": "/x.ini"}) == Path("/x.ini")
    assert settings_path(Path("/given.ini"), {**env, "VSPHERE_DR_CONFIG": "/x.ini"}) == Path("/given.ini")


def test_no_settings_file_anywhere_lists_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    if Path("/etc/vsphere-dr/settings.ini").exists():
        pytest.skip("this machine has /etc/vsphere-dr/settings.ini")
    with pytest.raises(SettingsError) as caught:
        settings_path(None, env)
    message = str(caught.value)
    for place in search_path(env):
        assert str(place) in message
    assert "init-config" in message


def test_init_config_writes_a_sample_the_real_loader_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "settings.ini"
    assert main(["init-config", str(target)]) == EXIT_OK
    assert target.read_text(encoding="utf-8") == sample_text()
    assert (target.stat().st_mode & 0o077) == 0o040  # no password can leak to other users
    monkeypatch.setenv("VSPHERE_DR_PASSWORD", "from-the-environment-file")
    settings = load_settings(target)
    assert settings.vcenter.host == "vcenter.example.com" and settings.vcenter.verify_tls is True
    assert settings.vcenter.secret.get_secret_value() == "from-the-environment-file"
    assert settings.journal.path == Path("/var/lib/vsphere-dr/vsphere-dr.sqlite")  # the unit's StateDirectory
    # every line that is not a comment sets a key of a known section (load_settings refuses others)
    assert all(line.strip("[]") in Settings.model_fields for line in target.read_text().splitlines()
               if line.startswith("["))


def test_init_config_never_replaces_a_file_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "settings.ini"
    target.write_text("mine", encoding="utf-8")
    assert main(["init-config", str(target)]) == EXIT_SETTINGS
    assert "exists: not replaced (--force replaces it)" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "mine"
    assert main(["init-config", "--force", str(target)]) == EXIT_OK
    assert target.read_text(encoding="utf-8") == sample_text()


def test_files_that_cannot_be_written_are_named_with_the_reason(tmp_path: Path, write_settings,  # type: ignore[no-untyped-def]
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    path = write_settings(journal={"path": str(blocker / "journal.sqlite")},
                          logging={"file": str(tmp_path)}, health={"model_path": str(tmp_path / "ok" / "m.pkl")})
    for command in (["check-config"], ["run"], ["once"], ["status"], ["incidents", "--json"]):
        assert main(["--config", str(path), *command]) == EXIT_SETTINGS, command
        err = capsys.readouterr().err
        assert f"[journal] path = {blocker / 'journal.sqlite'}: {blocker} is not a directory" in err
        assert f"[logging] file = {tmp_path}: is a directory" in err
        assert "model_path" not in err  # a missing directory that can be created is fine
    assert not (tmp_path / "ok").exists()  # checking creates nothing


def test_a_history_directory_that_is_a_file_is_named_before_the_command_runs(
        write_settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """The health models' ring files go in <model_path>.history/: a file in its place is refused
    up front (exit 2, the path named), as an unwritable models file is, not at the first sample."""
    models = tmp_path / "m.pkl"
    (tmp_path / "m.pkl.history").write_text("", encoding="utf-8")
    path = write_settings(health={"model_path": str(models)})
    assert main(["--config", str(path), "once"]) == EXIT_SETTINGS
    assert f"[health] model_path's history directory = {tmp_path / 'm.pkl.history'}: is not a directory" in \
        capsys.readouterr().err


def test_why_not_writable() -> None:
    assert why_not_writable(Path("/proc/vsphere-dr/journal.sqlite")) is not None  # cannot create in /proc
    assert why_not_writable(Path("/etc/passwd/x")) == "/etc/passwd is not a directory"


def test_check_config_json_names_the_files_it_checked(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Without a vCenter it ends at the login (exit 3) but has checked and named the files first."""
    path = write_settings()
    assert main(["check-config", "--json", "--config", str(path)]) == 3
    assert "vCenter" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["status", "--no-such-option"],
    ["--config"],
    ["frobnicate"],
    ["once", "--module", "nope"],
    ["once", "--wait-lock", "soon"],
])
def test_bad_command_lines_get_usage_not_a_traceback(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's exit; any other exception fails the test
        main(args)
    assert exited.value.code == 2 and "usage: vsphere-dr" in capsys.readouterr().err


@pytest.mark.parametrize("settings", [
    "[vcenter]\nhost = vc\n",  # user and password missing
    "not an ini file",
    "",
])
@pytest.mark.parametrize("command", [["status"], ["inventory", "--json"], ["check-config"], ["run"]])
def test_bad_settings_get_a_message_not_a_traceback(tmp_path: Path, settings: str, command: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "settings.ini"
    path.write_text(settings, encoding="utf-8")
    assert main(["--config", str(path), *command]) == EXIT_SETTINGS
    assert capsys.readouterr().err.startswith("vsphere-dr: error: ")


def test_a_missing_settings_file_named_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VSPHERE_DR_CONFIG", str(tmp_path / "nope.ini"))
    assert main(["status"]) == EXIT_SETTINGS
    assert f"{tmp_path / 'nope.ini'}: cannot read settings file" in capsys.readouterr().err


def test_json_times_are_iso_utc_text_and_vms_have_morefs(write_settings, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from vsphere_dr.journal import Journal

    path = write_settings()
    journal = Journal(path.parent / "journal.sqlite")
    incident = journal.open_incident("vm-42", "web-01", "not responding", 1_764_580_507.25)
    journal.close_incident(incident, "recovered", "restarted", recovered_at=1_764_580_567.0)
    journal.record_snapshot_status("vm-42", "web-01", 1_764_576_907.0, "")
    journal.close()
    assert main(["incidents", "--json", "--config", str(path)]) == EXIT_OK
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["vm"], row["detected_at"], row["recovered_at"]) == ("vm-42", "2025-12-01T09:15:07Z",
                                                                    "2025-12-01T09:16:07Z")
    assert row["rto_seconds"] == pytest.approx(59.75)
    assert main(["status", "--json", "--config", str(path)]) == EXIT_OK
    (snapshot,) = json.loads(capsys.readouterr().out)["snapshots"]
    assert (snapshot["vm"], snapshot["vm_name"], snapshot["newest"]) == ("vm-42", "web-01", "2025-12-01T08:15:07Z")


def test_a_journal_path_naming_another_file_is_a_settings_error(write_settings, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a database, but someone's notes\n" * 100, encoding="utf-8")
    path = write_settings(journal={"path": str(other)})
    assert main(["status", "--config", str(path)]) == EXIT_SETTINGS
    assert f"[journal] path = {other}: cannot be used as the journal: file is not a database" in capsys.readouterr().err
    assert other.read_text(encoding="utf-8").startswith("not a database")  # left as it was


def test_plan_json_shows_times_as_iso_text() -> None:
    from vsphere_dr.plan import Action, ActionKind, Plan
    from vsphere_dr.recoveries.restart_from_snapshot import RestartParams

    params = RestartParams(snapshot="snapshot-7", snapshot_name="vsphere-dr-x", snapshot_created=1_764_580_507.0,
                           host="host-1")
    plan = Plan((Action(ActionKind.RESTART_FROM_SNAPSHOT, "vm-42", "web-01", "step 3", "not responding",
                        params=params),))
    (shown,) = plan.as_dict()["actions"]
    assert (shown["target"], shown["params"]["snapshot_created"]) == ("vm-42", "2025-12-01T09:15:07Z")
    assert params.as_json()["snapshot_created"] == 1_764_580_507.0  # the journal keeps epoch seconds


def test_the_metrics_textfile_is_checked_too(write_settings, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    path = write_settings(metrics={"listen": "", "textfile": str(blocker / "vsphere-dr.prom")})
    assert main(["once", "--config", str(path)]) == EXIT_SETTINGS
    assert f"[metrics] textfile = {blocker / 'vsphere-dr.prom'}: {blocker} is not a directory" in capsys.readouterr().err
