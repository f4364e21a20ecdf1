"""Shared fixtures: the bundled simulator, the example topology, settings files for tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vsphere_dr.simulator.launcher import DEFAULT_BINARY, Simulator
from vsphere_dr.simulator.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_TOPOLOGY = ROOT / "tools" / "vcsim" / "example-topology.json"


# The environment a developer's shell may carry that would change what the tests read (settings
# overrides, a settings file, systemd's variables): removed for every test, which sets what it needs.
FOREIGN_ENV = ("VMWARE_", "GOVC_", "VSPHERE_DR_CONFIG", "VSPHERE_DR_VCSIM", "STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from vsphere_dr.settings import Settings

    own = tuple(f"VSPHERE_DR_{section.upper()}_" for section in Settings.model_fields)
    for name in list(os.environ):
        if name.startswith(FOREIGN_ENV + own):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    """build/vcsim, built by `make vcsim` if it is missing or older than its sources."""
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "vcsim"], check=True,
                   stdout=subprocess.DEVNULL)
    assert DEFAULT_BINARY.exists()
    return DEFAULT_BINARY


@pytest.fixture(scope="session")
def example_topology() -> Topology:
    return Topology.load(EXAMPLE_TOPOLOGY)


@pytest.fixture(scope="module")
def sim(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The example topology in a simulator of its own, shared by the tests of one module.

    Its probe port is a free one, so that simulators running meanwhile (another test run, a
    `make demo`) never collide on the loopback listeners. Only for tests that read; a test that
    changes the world starts its own.
    """
    from tests.sim_world import example_topology_data, write_topology

    topology = write_topology(tmp_path_factory.mktemp("sim"), example_topology_data())
    with Simulator(topology, binary=vcsim_binary) as running:
        yield running


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    """A copy of the example topology with a free probe port, for a test that changes the world."""
    from tests.sim_world import example_topology_data, write_topology

    return write_topology(tmp_path, example_topology_data())


@pytest.fixture
def own(vcsim_binary: Path, topology: Path) -> Iterator[Simulator]:
    """A simulator of the test's own (modules may override it, e.g. with another scope)."""
    with Simulator(topology, binary=vcsim_binary) as running:
        yield running


@pytest.fixture
def vc(own: Simulator) -> Iterator[Any]:
    """A pyVmomi session on ``own``, acting as a person would."""
    from tests.sim_world import client

    with client(own) as c:
        yield c


def settings_text(host: str, port: int, **sections: dict[str, object]) -> str:
    """A settings.ini for a test: the simulator's address plus any section overrides."""
    merged: dict[str, dict[str, object]] = {
        "vcenter": {"host": host, "port": port, "user": "admin", "password": "test-password",
                    "insecure_http": "true", "connect_attempts": 2, "retry_backoff_seconds": 0.05},
        "journal": {"path": "journal.sqlite"},
        # No /metrics listener unless a test asks for one: tests running at once would share the port.
        "metrics": {"listen": ""},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                     for name, values in merged.items())


@pytest.fixture
def write_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a settings.ini into the test's directory and return its path."""

    def write(host: str = "127.0.0.1", port: int = 9, **sections: dict[str, object]) -> Path:
        path = tmp_path / "settings.ini"
        path.write_text(settings_text(host, port, **sections), encoding="utf-8")
        return path

    return write
