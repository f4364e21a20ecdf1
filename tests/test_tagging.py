"""The tagging service's answers as vsphere-dr reports them: a stub REST server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vsphere_dr.errors import AuthenticationError, VSphereFault
from vsphere_dr.gateway.tagging import TagReader
from vsphere_dr.settings import VCenterSettings

SECRET = "s3cret-Pa55"


class Stub(BaseHTTPRequestHandler):
    """Answers the login with ``login`` and everything else with ``other`` (status, JSON body)."""

    login: tuple[int, object] = (200, {"value": "session-1"})
    other: tuple[int, object] = (200, {"value": []})
    seen: list[tuple[str, str]] = []

    def _answer(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:  # noqa: N802 (http.server's names)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(("POST", self.path))
        self._answer(*(self.login if self.path == "/rest/com/vmware/cis/session" else self.other))

    def do_DELETE(self) -> None:  # noqa: N802
        self.seen.append(("DELETE", self.path))
        self._answer(200, None)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Stub.login, Stub.other, Stub.seen = (200, {"value": "session-1"}), (200, {"value": []}), []
    running = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def reader(server: ThreadingHTTPServer) -> TagReader:
    return TagReader(VCenterSettings(host="127.0.0.1", port=server.server_address[1], user="admin",
                                     password=SECRET, insecure_http=True))


def test_a_refused_login_names_the_user_never_the_password(server: ThreadingHTTPServer) -> None:
    Stub.login = (401, {"type": "com.vmware.vapi.std.errors.unauthenticated"})
    with pytest.raises(AuthenticationError, match="refused the login of user 'admin'") as caught:
        reader(server).vm_tags(["vm-1"])
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__cause__)


def test_no_tagging_service_says_so(server: ThreadingHTTPServer) -> None:
    Stub.login = (404, None)
    with pytest.raises(VSphereFault, match="has no vAPI tagging service .HTTP 404.: tags need a vCenter Server"):
        reader(server).vm_tags(["vm-1"])


def test_a_refusal_carries_the_vapi_error_type_and_the_session_is_closed(server: ThreadingHTTPServer) -> None:
    Stub.other = (403, {"type": "com.vmware.vapi.std.errors.unauthorized", "value": {"messages": []}})
    with pytest.raises(VSphereFault, match="listing the VMs' tags: .* answered HTTP 403 "
                                           "com.vmware.vapi.std.errors.unauthorized") as caught:
        reader(server).vm_tags(["vm-1"])
    assert caught.value.fault_type == "unauthorized"
    assert Stub.seen[-1] == ("DELETE", "/rest/com/vmware/cis/session")


def test_vms_without_tags_are_left_out_and_requests_are_counted(server: ThreadingHTTPServer) -> None:
    Stub.other = (200, {"value": [{"object_id": {"id": "vm-1", "type": "VirtualMachine"}, "tag_ids": None}]})
    tags = reader(server)
    assert tags.vm_tags(["vm-1"]) == {}
    assert tags.round_trips == 3  # login, the list, logout
