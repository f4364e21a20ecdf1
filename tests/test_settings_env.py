"""Settings from the environment: VSPHERE_DR_<SECTION>_<KEY>, Ansible's VMWARE_*, govc's GOVC_*, and
systemd's STATE_DIRECTORY; their precedence; secrets from the environment never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vsphere_dr.errors import SettingsError
from vsphere_dr.logging_setup import apply_settings
from vsphere_dr.settings import Settings, load_settings

SECRET = "Env-Secret-Passw0rd"


def settings_file(tmp_path: Path, vcenter: str = "host = file-vc\nuser = file-user\npassword = file-password\n",
                  extra: str = "") -> Path:
    path = tmp_path / "settings.ini"
    path.write_text(f"[vcenter]\n{vcenter}{extra}", encoding="utf-8")
    return path


def load(tmp_path: Path, env: dict[str, str], **kwargs: str) -> Settings:
    return load_settings(settings_file(tmp_path, **kwargs), environ=env)


def error_of(tmp_path: Path, env: dict[str, str], **kwargs: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, env, **kwargs)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    return str(caught.value)


def test_any_key_of_any_section_from_vsphere_dr_variables(tmp_path: Path) -> None:
    env = {"VSPHERE_DR_MONITORING_INTERVAL_SECONDS": "12", "VSPHERE_DR_VCENTER_PORT": "8443",
           "VSPHERE_DR_ADMIN_VCENTER_HOST": "admin-vc", "VSPHERE_DR_ADMIN_VCENTER_USER": "ops",
           "VSPHERE_DR_ADMIN_VCENTER_PASSWORD": SECRET}
    settings = load(tmp_path, env)
    assert settings.monitoring.interval_seconds == 12 and settings.vcenter.port == 8443
    assert settings.vcenter.host == "file-vc"  # ADMIN_VCENTER_HOST is not [vcenter] host
    assert settings.admin_vcenter is not None and settings.admin_vcenter.host == "admin-vc"
    assert settings.admin_vcenter.secret.get_secret_value() == SECRET


def test_variables_that_name_no_section_are_not_settings(tmp_path: Path) -> None:
    """VSPHERE_DR_CONFIG, and the password_env the docs suggest (VSPHERE_DR_PASSWORD), stay what they are."""
    env = {"VSPHERE_DR_CONFIG": "/elsewhere.ini", "VSPHERE_DR_PASSWORD": SECRET, "VSPHERE_DR_RECORD": "1"}
    settings = load(tmp_path, env, vcenter="host = vc\nuser = u\npassword_env = VSPHERE_DR_PASSWORD\n")
    assert settings.vcenter.secret.get_secret_value() == SECRET


@pytest.mark.parametrize(("env", "host"), [
    ({}, "file-vc"),
    ({"GOVC_URL": "govc-vc"}, "govc-vc"),
    ({"GOVC_URL": "govc-vc", "VMWARE_HOST": "ansible-vc"}, "ansible-vc"),
    ({"GOVC_URL": "govc-vc", "VMWARE_HOST": "ansible-vc", "VSPHERE_DR_VCENTER_HOST": "own-vc"}, "own-vc"),
])
def test_precedence_vsphere_dr_over_vmware_over_govc_over_the_file(tmp_path: Path, env: dict[str, str],
                                                                   host: str) -> None:
    assert load(tmp_path, env).vcenter.host == host


def test_ansible_variables_make_a_connection_without_a_password_in_the_file(tmp_path: Path) -> None:
    env = {"VMWARE_HOST": "vc.example.com", "VMWARE_USER": "svc-dr@vsphere.local", "VMWARE_PASSWORD": SECRET,
           "VMWARE_PORT": "8443", "VMWARE_VALIDATE_CERTS": "no"}
    path = tmp_path / "settings.ini"
    path.write_text("[monitoring]\ninterval_seconds = 30\n", encoding="utf-8")  # no [vcenter] at all
    vcenter = load_settings(path, environ=env).vcenter
    assert (vcenter.host, vcenter.port, vcenter.user, vcenter.verify_tls) == ("vc.example.com", 8443,
                                                                              "svc-dr@vsphere.local", False)
    assert vcenter.secret.get_secret_value() == SECRET


def test_a_password_from_the_environment_replaces_the_files_source_of_it(tmp_path: Path) -> None:
    """The file names a password_file that is not there (it would be an error); the environment's wins."""
    text = "host = vc\nuser = u\npassword_file = /nonexistent/password\n"
    settings = load(tmp_path, {"VMWARE_PASSWORD": SECRET}, vcenter=text)
    assert settings.vcenter.secret.get_secret_value() == SECRET and settings.vcenter.password_file is None
    from_file = load(tmp_path, {"VSPHERE_DR_VCENTER_PASSWORD_ENV": "MY_PW", "MY_PW": SECRET})
    assert from_file.vcenter.secret.get_secret_value() == SECRET and from_file.vcenter.password is None


def test_govc_url_with_credentials_port_and_path(tmp_path: Path) -> None:
    vcenter = load(tmp_path, {"GOVC_URL": "https://svc%40vsphere.local:p%40ss:w@vc.example.com:8443/sdk"}).vcenter
    assert (vcenter.host, vcenter.port, vcenter.user) == ("vc.example.com", 8443, "svc@vsphere.local")
    assert vcenter.secret.get_secret_value() == "p@ss:w" and vcenter.insecure_http is False


def test_govc_defaults_and_overrides(tmp_path: Path) -> None:
    """govc: scheme https and path /sdk by default; GOVC_USERNAME and GOVC_PASSWORD override the URL's;
    GOVC_INSECURE=1 or true skips the certificate check; http:// is plain http."""
    env = {"GOVC_URL": "old:old-password@vc.example.com", "GOVC_USERNAME": "new", "GOVC_PASSWORD": SECRET,
           "GOVC_INSECURE": "TRUE"}
    vcenter = load(tmp_path, env, vcenter="").vcenter
    assert (vcenter.host, vcenter.port, vcenter.user, vcenter.verify_tls) == ("vc.example.com", 443, "new", False)
    assert vcenter.secret.get_secret_value() == SECRET
    assert load(tmp_path, {"GOVC_INSECURE": "0"}).vcenter.verify_tls is True
    assert load(tmp_path, {"GOVC_URL": "http://127.0.0.1:18989/sdk"}).vcenter.insecure_http is True


@pytest.mark.parametrize(("url", "problem"), [
    ("https://u:" + SECRET + "@vc:99999/sdk", "GOVC_URL is not a valid URL"),
    ("https://u:" + SECRET + "@vc/api", "GOVC_URL has a path other than /sdk"),
    ("ftp://u:" + SECRET + "@vc/sdk", "GOVC_URL is not an http(s) URL"),
])
def test_a_bad_govc_url_is_named_never_quoted(tmp_path: Path, url: str, problem: str) -> None:
    message = error_of(tmp_path, {"GOVC_URL": url})
    assert problem in message and SECRET not in message


def test_a_bad_value_names_the_variable_it_came_from(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"VSPHERE_DR_VCENTER_PORT": "http", "VMWARE_VALIDATE_CERTS": "perhaps"})
    assert "[vcenter] port = 'http' (from the environment: VSPHERE_DR_VCENTER_PORT)" in message
    assert "[vcenter] verify_tls = 'perhaps' (from the environment: VMWARE_VALIDATE_CERTS)" in message


def test_secrets_from_the_environment_never_appear_in_errors(tmp_path: Path) -> None:
    # A misspelt key: named, with the closest known one, never its value.
    message = error_of(tmp_path, {"VSPHERE_DR_VCENTER_PASWORD": SECRET})
    assert "[vcenter] pasword: unknown key (misspelt? closest known: password)" in message
    assert "VSPHERE_DR_VCENTER_PASWORD" in message and SECRET not in message
    # Two sources from the same layer: refused by name.
    message = error_of(tmp_path, {"VSPHERE_DR_VCENTER_PASSWORD": SECRET, "VSPHERE_DR_VCENTER_PASSWORD_FILE": SECRET})
    assert "set exactly one of password, password_env, password_file" in message and SECRET not in message


def test_a_password_from_the_environment_is_masked_in_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_settings(load(tmp_path, {"GOVC_URL": f"u:{SECRET}@vc"}))
    logging.getLogger("test").warning("a library echoed %s back", SECRET)
    logged = capsys.readouterr().err
    assert "a library echoed *** back" in logged and SECRET not in logged


def test_journal_and_models_in_the_state_directory(tmp_path: Path) -> None:
    """systemd's StateDirectory=: the journal (and the models beside it) go there unless [journal] path says."""
    settings = load(tmp_path, {"STATE_DIRECTORY": "/var/lib/vsphere-dr:/var/lib/other"})
    assert settings.journal.path == Path("/var/lib/vsphere-dr/vsphere-dr.sqlite")
    assert settings.health.model_file(settings.journal) == Path("/var/lib/vsphere-dr/health-models.pkl")
    pinned = load(tmp_path, {"STATE_DIRECTORY": "/var/lib/vsphere-dr"}, extra="[journal]\npath = j.sqlite\n")
    assert pinned.journal.path == tmp_path / "j.sqlite"


def test_without_a_state_directory_the_journal_is_beside_the_settings_file(tmp_path: Path) -> None:
    assert load(tmp_path, {}).journal.path == tmp_path / "var" / "vsphere-dr.sqlite"


def test_sections_added_later_take_overrides_too(tmp_path: Path) -> None:
    settings = load(tmp_path, {"VSPHERE_DR_METRICS_LISTEN": "127.0.0.1:9999", "VSPHERE_DR_METRICS_TEXTFILE": "m.prom"})
    assert settings.metrics.listen_address() == ("127.0.0.1", 9999)
    assert settings.metrics.textfile == tmp_path / "m.prom"  # relative to the settings file, as in it
