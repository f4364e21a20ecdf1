"""A loopback TCP proxy in front of vCenter that breaks the connection of one chosen SOAP call.

For tests of what the gateway does when the connection is lost after login. The proxy reads
each HTTP request whole, so it knows the SOAP operation (``RetrievePropertiesEx``, ``Fetch``,
``PowerOnVM_Task``...), and forwards it, unless a break is armed for that operation:

- ``reset``: the client's socket is closed with an RST (ConnectionResetError on the client);
- ``close``: closed cleanly without an answer (http.client.RemoteDisconnected);
- ``stall``: kept open without an answer, until the client gives up (its socket timeout).

A break fires once, before the request is forwarded (vCenter never sees it) or, with
``after_forwarding``, once vCenter has begun to answer (it did the work, the answer is lost).
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

How = Literal["reset", "close", "stall"]
_OPERATION = re.compile(rb"<(?:soapenv:)?Body[^>]*>\s*<(?:\w+:)?(\w+)")
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


def soap_operation(body: bytes) -> str | None:
    """The SOAP operation a request body calls, e.g. ``RetrievePropertiesEx``."""
    match = _OPERATION.search(body)
    return match.group(1).decode() if match else None


@dataclass
class _Break:
    operation: str
    how: How
    after_forwarding: bool
    times: int = 1  # how many requests for the operation in a row


@dataclass
class _Link:
    """One client connection and the proxy's own connection to the upstream server."""

    client: socket.socket
    upstream: socket.socket
    muted: bool = False  # upstream's answer is dropped instead of passed on
    answered: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            _close(sock)


class FlakyProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        assert upstream_host.startswith("127."), upstream_host  # loopback only
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.host, self.port = self._listener.getsockname()[:2]
        self.operations: list[str] = []  # every request seen, in order (SOAP operation, or method and path)
        self.broken = threading.Event()  # the armed break has fired
        self._armed: _Break | None = None
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="flaky-proxy", daemon=True)

    def __enter__(self) -> FlakyProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()

    def break_next(self, operation: str, how: How = "reset", after_forwarding: bool = False, times: int = 1) -> None:
        """Break the connection carrying the next request (or ``times`` requests) for ``operation``."""
        self.broken.clear()
        with self._lock:
            self._armed = _Break(operation, how, after_forwarding, times)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            try:
                link = _Link(client, socket.create_connection(self._upstream))
            except OSError:  # upstream is down: so is vCenter, as the client sees it
                _close(client)
                continue
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._answers, args=(link,), daemon=True).start()
            threading.Thread(target=self._requests, args=(link,), daemon=True).start()

    def _answers(self, link: _Link) -> None:
        """Pass upstream's answers on to the client (or drop them while muted)."""
        try:
            while data := link.upstream.recv(65536):
                if link.muted:
                    link.answered.set()
                else:
                    link.client.sendall(data)
        except OSError:
            pass
        finally:
            link.answered.set()
            if not link.muted:
                _close(link.client)

    def _requests(self, link: _Link) -> None:
        """Forward the client's requests one by one, until one is to be broken."""
        try:
            for head, body in _read_requests(link.client):
                operation = soap_operation(body) or head.split(b"\r\n", 1)[0].decode(errors="replace")
                self.operations.append(operation)
                armed = self._take(operation)
                if armed is None:
                    link.upstream.sendall(head + body)
                    continue
                if armed.after_forwarding:
                    link.muted = True
                    link.upstream.sendall(head + body)
                    link.answered.wait(30)
                self._break(link, armed.how)
                return
        except OSError:
            pass
        link.close()

    def _take(self, operation: str) -> _Break | None:
        with self._lock:
            armed, matches = self._armed, self._armed is not None and self._armed.operation == operation
            if matches and armed is not None:
                self._armed = replace(armed, times=armed.times - 1) if armed.times > 1 else None
        return armed if matches else None

    def _break(self, link: _Link, how: How) -> None:
        link.muted = True  # the client's socket is this thread's alone now
        if how == "reset":
            link.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            link.client.close()
        elif how == "close":
            _close(link.client)
        _close(link.upstream)
        self.broken.set()
        if how == "stall":
            while link.client.recv(65536):  # until the client gives up and closes
                pass
            link.client.close()


def _read_requests(sock: socket.socket) -> Iterator[tuple[bytes, bytes]]:
    """``(head, body)`` of each HTTP request on the connection, until the client closes it."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            if not (data := sock.recv(65536)):
                return
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        head += b"\r\n\r\n"
        match = _CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        while len(buffer) < length:
            if not (data := sock.recv(65536)):
                return
            buffer += data
        yield head, buffer[:length]
        buffer = buffer[length:]


def _close(sock: socket.socket) -> None:
    """Close a socket another thread may be blocked on (shutdown wakes it; close alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
