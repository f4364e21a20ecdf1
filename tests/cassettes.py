"""vcrpy set up for pyVmomi, so a session recorded against the simulator replays without it.

pyVmomi binds HTTPConnection at import time, so vcrpy must patch the names where pyVmomi looks
them up (custom_patches). Requests match on method, path and the SOAP operation, in recorded
order: session cookies, ports and timestamps differ between runs and are not matched. Passwords
and session cookies are scrubbed before anything is written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pyVim.connect
import pyVmomi.SoapAdapter
import vcr
from vcr.stubs import VCRHTTPConnection, VCRHTTPSConnection

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
RECORDING = os.environ.get("VSPHERE_DR_RECORD") == "1"
_OPERATION = re.compile(rb"<(?:soapenv:)?Body[^>]*>\s*<(?:\w+:)?(\w+)")
_PASSWORD = re.compile(rb"(<password\b[^>]*>).*?(</password>)", re.S)


def soap_operation(request: Any) -> bytes | None:
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    match = _OPERATION.search(body)
    return match.group(1) if match else None


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
