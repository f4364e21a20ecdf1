"""Start and stop the bundled vcsim simulator (tools/vcsim) for the demo, the tests and benchmarks.

    python -m vsphere_dr.simulator --topology FILE [--listen 127.0.0.1:PORT] -- COMMAND [ARGS...]

starts the simulator, runs COMMAND while it is up, stops it, and exits with COMMAND's status.

The simulator is a Go program built from the repository's tools/vcsim (``make vcsim`` writes
build/vcsim); it is not in the wheel. From an installed package, point $VSPHERE_DR_VCSIM (or
--binary) at a build of it; without one, this says how to make one and exits 2.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, when the package runs from a clone
DEFAULT_BINARY = CHECKOUT / "build" / "vcsim"
BINARY_ENV = "VSPHERE_DR_VCSIM"


def simulator_binary() -> Path:
    """$VSPHERE_DR_VCSIM when set, else the clone's build/vcsim."""
    return Path(os.environ[BINARY_ENV]) if os.environ.get(BINARY_ENV) else DEFAULT_BINARY


def missing_binary(binary: Path) -> str:
    """What to do when there is no simulator at ``binary``: in a clone, build it; else, where one comes from."""
    if binary != DEFAULT_BINARY:
        return (f"no simulator at {binary} (${BINARY_ENV} or --binary): build one in a clone of the vsphere-dr "
                "repository with `make vcsim`, which writes build/vcsim")
    if (CHECKOUT / "tools" / "vcsim").is_dir():
        return (f"no simulator at {binary}: build it with `make -C {CHECKOUT} vcsim` "
                "(installs Go and govmomi if missing)")
    return ("this installed package has no simulator: it is built from the vsphere-dr repository's tools/vcsim. "
            f"In a clone of it run `make vcsim`, then set {BINARY_ENV}=/path/to/the/clone/build/vcsim "
            "(or pass --binary)")


def free_port() -> int:
    """A loopback TCP port nothing listens on at the moment (for a simulator's probe listeners,
    or for a test that needs a closed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_URL = re.compile(r"^(?P<scheme>https?)://(?:[^@/]*@)?(?P<host>[0-9.]+):(?P<port>\d+)/sdk\s*$")


class SimulatorError(RuntimeError):
    """The simulator did not start, or printed something other than its SDK URL."""


class Simulator:
    """A running build/vcsim process; stopped with SIGTERM on exit."""

    def __init__(self, topology: Path, listen: str = "127.0.0.1:0", binary: Path = DEFAULT_BINARY,
                 extra_args: Sequence[str] = ()) -> None:
        self.topology, self.listen, self.binary = topology, listen, binary
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[str] | None = None
        self.scheme, self.host, self.port = "http", "", 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/sdk"

    def start(self, timeout: float = 120.0) -> Simulator:
        if not self.binary.is_file():
            raise SimulatorError(missing_binary(self.binary))
        if not self.topology.is_file():
            raise SimulatorError(f"no topology file at {self.topology}")
        args = [str(self.binary), "-listen", self.listen, "-topology", str(self.topology), *self.extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        first_line = self._first_line(timeout)
        match = _URL.match(first_line)
        if not match:
            self.stop()
            raise SimulatorError(f"simulator did not start (first line: {first_line!r}); see its stderr above")
        self.scheme, self.host, self.port = match["scheme"], match["host"], int(match["port"])
        return self

    def _first_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return lines[0] if lines else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsphere_dr.simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", type=Path, required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--binary", type=Path, default=simulator_binary(),
                        help=f"the simulator (default: ${BINARY_ENV}, else build/vcsim of the clone)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run while the simulator is up, after --")
    try:
        with Simulator(args.topology, args.listen, args.binary) as sim:
            print(f"simulator up at {sim.url}", file=sys.stderr, flush=True)
            env = {**os.environ, "VCSIM_URL": sim.url}
            return subprocess.call(command, env=env)
    except SimulatorError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
