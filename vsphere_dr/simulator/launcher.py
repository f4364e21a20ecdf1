"""Start and stop the bundled vcsim simulator (tools/vcsim) for the demo, the tests and benchmarks.

    python -m vsphere_dr.simulator --topology FILE [--listen 127.0.0.1:PORT] -- COMMAND [ARGS...]

starts the simulator, runs COMMAND while it is up, stops it, and exits with COMMAND's status.
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

DEFAULT_BINARY = Path(__file__).resolve().parents[2] / "build" / "vcsim"


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
        if not self.binary.exists():
            raise SimulatorError(f"{self.binary} does not exist: run `make vcsim` first")
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
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run while the simulator is up, after --")
    with Simulator(args.topology, args.listen, args.binary) as sim:
        print(f"simulator up at {sim.url}", file=sys.stderr, flush=True)
        env = {**os.environ, "VCSIM_URL": sim.url}
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
