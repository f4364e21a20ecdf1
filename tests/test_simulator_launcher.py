"""`python -m vsphere_dr.simulator` without a simulator binary: a message saying how to get one, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsphere_dr.simulator import launcher

TOPOLOGY = Path(__file__).resolve().parents[1] / "tools" / "vcsim" / "example-topology.json"


def test_from_a_clone_it_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(launcher, "DEFAULT_BINARY", tmp_path / "build" / "vcsim")
    assert launcher.main(["--topology", str(TOPOLOGY), "--binary", str(tmp_path / "build" / "vcsim"), "--", "true"]) == 2
    assert f"build it with `make -C {launcher.CHECKOUT} vcsim`" in capsys.readouterr().err


def test_an_installed_package_says_where_a_simulator_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "CHECKOUT", tmp_path)  # site-packages: no tools/vcsim beside it
    monkeypatch.setattr(launcher, "DEFAULT_BINARY", tmp_path / "build" / "vcsim")
    message = launcher.missing_binary(launcher.DEFAULT_BINARY)
    assert "this installed package has no simulator" in message and "VSPHERE_DR_VCSIM=" in message


def test_vsphere_dr_vcsim_names_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VSPHERE_DR_VCSIM", str(tmp_path / "my-vcsim"))
    assert launcher.simulator_binary() == tmp_path / "my-vcsim"
    assert launcher.main(["--topology", str(TOPOLOGY), "--", "true"]) == 2
    assert f"no simulator at {tmp_path / 'my-vcsim'} ($VSPHERE_DR_VCSIM or --binary)" in capsys.readouterr().err
