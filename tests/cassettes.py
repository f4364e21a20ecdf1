"""vcrpy set up for pyVmomi, so a session recorded against the simulator replays without it.

pyVmomi binds HTTPConnection at import time, so vcrpy must patch the names where pyVmomi looks
them up (custom_patches). Requests match on method, path and the SOAP operation, in recorded
order: session cookies, ports and timestamps differ between runs and are not matched. Passwords
and session cookies are scrubbed before anything is written.

``RecordedVCenter`` serves a cassette over a real loopback socket instead, for tests that need
one (tests/flaky_proxy.py breaks connections in front of it).
"""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyVim.connect
import pyVmomi.SoapAdapter
import vcr
import yaml
from vcr.stubs import VCRHTTPConnection, VCRHTTPSConnection

from tests.flaky_proxy import soap_operation as operation_in

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
RECORDING = os.environ.get("VSPHERE_DR_RECORD") == "1"
_PASSWORD = re.compile(rb"(<password\b[^>]*>).*?(</password>)", re.S)


def soap_operation(request: Any) -> str | None:
    return operation_in(_bytes(request.body))


def _bytes(body: str | bytes | None) -> bytes:
    return body.encode() if isinstance(body, str) else body or b""


def _same_operation(r1: Any, r2: Any) -> None:
    assert soap_operation(r1) == soap_operation(r2), f"{soap_operation(r1)!r} != {soap_operation(r2)!r}"


def _scrub_request(request: Any) -> Any:
    if request.body:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.body = _PASSWORD.sub(rb"\1***\2", body)
    request.headers.pop("Cookie", None)
    request.headers.pop("cookie", None)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in [n for n in headers if n.lower() == "set-cookie"]:
        del headers[name]
    return response


def pyvmomi_vcr() -> vcr.VCR:
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORDING else "none",
        match_on=("method", "path", "soap_operation"),
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        custom_patches=(
            (pyVim.connect, "HTTPConnection", VCRHTTPConnection),
            (pyVim.connect, "HTTPSConnection", VCRHTTPSConnection),
            (pyVmomi.SoapAdapter, "HTTPConnection", VCRHTTPConnection),
            (pyVmomi.SoapAdapter, "HTTPSConnection", VCRHTTPSConnection),
        ),
    )
    recorder.register_matcher("soap_operation", _same_operation)
    return recorder


Answer = tuple[int, dict[str, str], bytes]


class RecordedVCenter:
    """A loopback HTTP server answering each request with the cassette's first recorded answer to
    the same method, path and SOAP operation; 501 for a request the cassette never saw."""

    def __init__(self, cassette: str) -> None:
        self.answers = _answers(CASSETTES / cassette)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.answers))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]

    def __enter__(self) -> RecordedVCenter:
        threading.Thread(target=self._server.serve_forever, name="recorded-vcenter", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _answers(path: Path) -> dict[tuple[str, str, str | None], Answer]:
    found: dict[tuple[str, str, str | None], Answer] = {}
    for interaction in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
        request, response = interaction["request"], interaction["response"]
        key = (request["method"], urlsplit(request["uri"]).path, operation_in(_bytes(request["body"])))
        headers = {name: values[0] for name, values in response["headers"].items()
                   if name.lower() not in ("content-length", "transfer-encoding", "date")}
        found.setdefault(key, (response["status"]["code"], headers, _bytes(response["body"]["string"])))
    return found


def _handler(answers: dict[tuple[str, str, str | None], Answer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as vCenter: one connection carries many calls

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def _answer(self, body: bytes) -> None:
            status, headers, content = answers.get((self.command, self.path, operation_in(body)),
                                                   (501, {}, b"not in the cassette"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    return Handler
