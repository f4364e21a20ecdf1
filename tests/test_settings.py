"""settings.ini validation: every kind of bad value is named with its section, key and reason."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.inventory_administrator import InventoryAdministrator
from vsphere_dr.app.cli import main
from vsphere_dr.errors import SettingsError
from vsphere_dr.settings import is_secret_key, load_settings

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Very-Secret-Passw0rd"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.ini"
    path.write_text(text, encoding="utf-8")
    return path


def vcenter(**values: object) -> str:
    base = {"host": "127.0.0.1", "user": "admin", "password": SECRET, "insecure_http": "true"}
    base.update(values)
    return "[vcenter]\n" + "".join(f"{k} = {v}\n" for k, v in base.items() if v is not None)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return str(caught.value)


def test_shipped_settings_are_valid() -> None:
    settings = load_settings(ROOT / "settings.ini")
    assert settings.vcenter.port == 18989
    assert settings.snapshots.keep >= 1
    assert settings.recovery.restart_priority["db-*"] == "high"
    assert settings.journal.path.is_absolute() and settings.journal.path.parent.name == "var"


def test_defaults_fill_missing_sections(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, vcenter()))
    assert settings.monitoring.probe == "tcp"
    assert settings.vcenter.verify_tls is True
    assert settings.vcenter.secret.get_secret_value() == SECRET


@pytest.mark.parametrize(("text", "expected"), [
    (vcenter(port="http"), "[vcenter] port = 'http': Input should be a valid integer"),
    (vcenter(port="70000"), "[vcenter] port = '70000': Input should be less than or equal to 65535"),
    (vcenter(verify_tls="perhaps"), "[vcenter] verify_tls = 'perhaps': Input should be a valid boolean"),
    (vcenter(host="https://vc/"), "[vcenter] host = 'https://vc/'"),
    (vcenter(thumbprint="12:34"), "[vcenter] thumbprint = '12:34': must be the SHA-1, SHA-256 or SHA-512"),
    (vcenter(user=None), "[vcenter] user: required key is missing"),
    (vcenter(colour="blue"), "[vcenter] colour: unknown key (misspelt?)"),
    (vcenter() + "[monitor]\ninterval_seconds = 5\n", "[monitor] unknown section"),
    ("[monitoring]\ninterval_seconds = 5\n", "[vcenter] missing section"),
    (vcenter() + "[monitoring]\ninterval_seconds = soon\n", "[monitoring] interval_seconds = 'soon': Input should be a valid number"),
    (vcenter() + "[monitoring]\ninterval_seconds = 0\n", "[monitoring] interval_seconds = '0': Input should be greater than or equal to 1"),
    (vcenter() + "[monitoring]\nprobe = udp\n", "[monitoring] probe = 'udp': Input should be 'tcp' or 'icmp'"),
    (vcenter() + "[monitoring]\ninterval_seconds = 5\nprobe_timeout_seconds = 5\n",
     "[monitoring] probe_timeout_seconds must be shorter than interval_seconds"),
    (vcenter() + "[snapshots]\nkeep = 0\n", "[snapshots] keep = '0': Input should be greater than or equal to 1"),
    (vcenter() + "[snapshots]\nprefix = my snaps\n", "[snapshots] prefix = 'my snaps'"),
    (vcenter() + "[recovery]\nrestart_priority = db-* = urgent\n", "[recovery] restart_priority = 'db-* = urgent'"),
    (vcenter() + "[recovery]\nrestart_priority = db-*\n", "expected 'name = value' items, got 'db-*'"),
    (vcenter() + "[inventory]\nspare_hosts = esx-9\n", "[inventory] spare_hosts are listed but neither"),
    (vcenter() + "[inventory]\nspare_hosts = esx-9, esx-8\nspare_host_password_env = PW\n"
     "spare_host_thumbprints = esx-9 = " + "ab" * 20 + "\n",
     "[inventory] spare host esx-8 without a certificate thumbprint in spare_host_thumbprints: vCenter would be asked"
     " to trust whatever certificate the host presents"),
    (vcenter() + "[inventory]\nspare_hosts = esx-9\nspare_host_password_env = PW\n"
     "spare_host_thumbprints = esx-9 = ab:cd\n",
     "[inventory] spare_host_thumbprints = 'esx-9 = ab:cd': esx-9: not a certificate thumbprint"),
    (vcenter() + "[inventory]\nspare_hosts = esx-9\nspare_host_password_env = PW\nspare_host_thumbprints =\n"
     "    esx-9 = " + "ab" * 20 + "\n    esx-7 = " + "cd" * 20 + "\n",
     "[inventory] spare_host_thumbprints names esx-7, not in spare_hosts"),
    (vcenter() + "[logging]\nformat = xml\n", "[logging] format = 'xml': Input should be 'plain' or 'json'"),
    (vcenter(insecure_http="true", thumbprint="ab" * 32), "insecure_http and thumbprint exclude each other"),
    ("[vcenter\nhost = x\n", "not a valid ini file"),
])
def test_bad_value_is_named(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


def test_spare_host_thumbprints_are_given_to_vcenter_as_vsphere_writes_them(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, vcenter() + "[inventory]\nspare_hosts = esx-9, esx-8\n"
                                   "spare_host_password_env = PW\nspare_host_thumbprints =\n"
                                   "    esx-9 = " + "5c" * 20 + "\n    esx-8 = " + "0A:" * 31 + "0A\n"))
    assert settings.inventory.spare_host_thumbprint("esx-9") == "5C:" * 19 + "5C"
    assert settings.inventory.spare_host_thumbprint("esx-8") == "0A:" * 31 + "0A"  # a SHA-256 one


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(tmp_path, vcenter(port="x") + "[monitoring]\nprobe = udp\n")
    assert "[vcenter] port" in message and "[monitoring] probe" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "absent.ini")


@pytest.mark.parametrize(("values", "expected"), [
    ({"password": None}, "set exactly one of password, password_env, password_file for vCenter (found none)"),
    ({"password_env": "VSPHERE_DR_TEST_PW"}, "found password, password_env"),
    ({"password": None, "password_env": "VSPHERE_DR_TEST_UNSET"}, "VSPHERE_DR_TEST_UNSET, which is not set"),
    ({"password": None, "password_file": "nowhere/pw"}, "cannot be read: No such file or directory"),
])
def test_password_sources(tmp_path: Path, values: dict[str, object], expected: str) -> None:
    assert expected in error_of(tmp_path, vcenter(**values))


def test_password_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSPHERE_DR_TEST_PW", "from-env")
    settings = load_settings(write(tmp_path, vcenter(password=None, password_env="VSPHERE_DR_TEST_PW")))
    assert settings.vcenter.secret.get_secret_value() == "from-env"
    (tmp_path / "pw").write_text("from-file\n")
    settings = load_settings(write(tmp_path, vcenter(password=None, password_file="pw")))
    assert settings.vcenter.secret.get_secret_value() == "from-file"


def test_password_never_shown(tmp_path: Path) -> None:
    message = error_of(tmp_path, vcenter(port="x") + "[inventory]\nspare_hosts = a\n")
    settings = load_settings(write(tmp_path, vcenter()))
    for text in (message, repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text


# What follows: a value that may be a secret (an unknown or misspelt key's, a key named like a
# secret, a line that does not parse) shows in no message, log line or chained exception.
LEAK = "Zq7LeakMeNot"
GOOD = {
    "vcenter": ["host = 127.0.0.1", "user = admin", f"password = {SECRET}", "insecure_http = true"],
    "admin_vcenter": ["host = 127.0.0.2", "user = admin", f"password = {SECRET}", "insecure_http = true"],
    "inventory": ["spare_hosts = esx-9", "spare_host_password_env = VSPHERE_DR_TEST_SPARE",
                  "spare_host_password_file = spare-pw", "spare_host_thumbprints = esx-9 = " + "AB:" * 19 + "AB"],
    "monitoring": ["interval_seconds = 30"],
}
MISSPELT = ("passwrod", "pasword", "Password2", "spare_host_password", "api_token", "secret_key", "colour")


def good_with(section: str = "", line: str = "") -> str:
    """The GOOD file, with ``line`` right after the header of ``section``."""
    return "".join(f"[{name}]\n" + (f"{line}\n" if name == section else "") + "".join(f"{k}\n" for k in keys)
                   for name, keys in GOOD.items())


def leaky_cases() -> Iterator[object]:
    for section in GOOD:
        for key in MISSPELT:
            yield pytest.param(good_with(section, f"{key} = {LEAK}"),
                               f"[{section}] {key.lower()}: unknown key (misspelt?", id=f"{section}.{key}")
    yield pytest.param(f"[DEFAULT]\npasswrod = {LEAK}\n" + good_with(), "[vcenter] passwrod: unknown key",
                       id="DEFAULT.passwrod")
    yield pytest.param(good_with("vcenter", f"password {LEAK}"), "line 2", id="no-delimiter")
    yield pytest.param(good_with("vcenter", f"password {LEAK}=x"), "[vcenter] password", id="space-in-key")
    yield pytest.param(f"password = {LEAK}\n" + good_with(), "line 1", id="before-first-section")
    yield pytest.param(good_with("vcenter", f"password = {LEAK}"), "'password' in section 'vcenter' already exists",
                       id="duplicate")
    yield pytest.param(good_with("vcenter", "password_env = VSPHERE_DR_TEST_PW").replace(SECRET, LEAK),
                       "found password, password_env", id="two-sources")


LEAKY = list(leaky_cases())


def texts_of(exc: BaseException | None) -> Iterator[str]:
    """str() of the exception and of every exception chained to it, shown in a traceback or not."""
    if exc is not None:
        yield str(exc)
        yield from texts_of(exc.__cause__)
        yield from texts_of(exc.__context__)


def assert_hidden(*texts: str) -> None:
    for text in texts:
        assert LEAK.lower() not in text.lower()


@pytest.mark.parametrize("name", ["password", "password_env", "spare_host_password_file", "API_TOKEN",
                                  "secret_key", "Password2", "monkey"])
def test_named_like_a_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["user", "host", "thumbprint", "keep", "vhost_backing"])
def test_not_named_like_a_secret(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(("text", "expected"), LEAKY)
def test_secret_not_in_the_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert_hidden(*texts_of(caught.value))
    assert expected in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), LEAKY)
def test_secret_not_on_the_command_line(tmp_path: Path, text: str, expected: str,
                                        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        code = main(["--config", str(write(tmp_path, text)), "check-config"])
    out, err = capsys.readouterr()
    assert_hidden(out, err, caplog.text)
    assert code == 2 and err.startswith("vsphere-dr: error: ") and expected in err


@pytest.mark.parametrize(("text", "expected"), LEAKY)
def test_secret_not_in_the_hot_reload_log(tmp_path: Path, text: str, expected: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, good_with())
    admin = InventoryAdministrator(path)
    write(tmp_path, text)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    with caplog.at_level(logging.DEBUG):
        assert admin.refresh() is False
    assert_hidden(caplog.text)
    assert "settings edit rejected" in caplog.text and expected in caplog.text


def test_unknown_key_hints_the_closest_known_one(tmp_path: Path) -> None:
    assert "[vcenter] passwrod: unknown key (misspelt? closest known: password)" in error_of(
        tmp_path, good_with("vcenter", f"passwrod = {LEAK}"))


def test_password_file_not_text(tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(LEAK.encode() + b"\xff\xfe")
    message = error_of(tmp_path, vcenter(password=None, password_file="pw"))
    assert "password_file" in message and "is not UTF-8 text" in message and "0xff" not in message


def test_settings_file_not_text(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_bytes(good_with("vcenter", f"passwrod = {LEAK}").encode() + b"\xff\n")
    with pytest.raises(SettingsError, match="not UTF-8 text") as caught:
        load_settings(path)
    assert_hidden(*texts_of(caught.value))
