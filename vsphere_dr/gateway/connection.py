"""One logged-in session with vCenter: TLS policy, bounded retries, re-login on expiry.

It is also the boundary of all SOAP traffic after login: a connection lost during any call
becomes VCenterUnreachable (see ``_guard``).

Threads share one session (the parallel recoveries). pyVmomi's SoapStubAdapter takes an HTTP
connection from a pool guarded by a lock for each call, so concurrent calls on one stub each use
their own connection (pyVmomi SoapAdapter.py GetConnection/ReturnConnection); what is not safe to
share is a PropertyCollector's filters and waits (vmware/pyvmomi#868), which is why task waits
use a collector of their own (tasks.py). What this class changes (login, re-login, the round-trip
count) happens under its own lock.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from vsphere_dr.errors import AuthenticationError, SessionExpired, VCenterUnreachable
from vsphere_dr.gateway.faults import translate
from vsphere_dr.gateway.tls import pinned_context, verifying_context
from vsphere_dr.settings import VCenterSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
_NETWORK_ERRORS = (OSError, http.client.HTTPException)
# Idle HTTP connections a session keeps (pyVmomi's default is 5): one per concurrent recovery
# thread ([recovery] max_parallel is at most 64), so that parallel calls do not open a new
# connection each time.
POOL_SIZE = 66
# Reads that change nothing in vCenter: the only calls repeated after a lost connection.
_SAFE_TO_REPEAT = frozenset({"RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "RetrieveProperties",
                             "RetrieveServiceContent", "Fetch", "CurrentTime", "QueryPerf",
                             "QueryAvailablePerfMetric", "QueryPerfCounterByLevel", "ReadNextEvents"})


class VCenterSession:
    """Connects on demand, counts SOAP round trips, and logs in again when the session expires."""

    def __init__(self, settings: VCenterSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._sleep = sleep
        self._si: vim.ServiceInstance | None = None
        self._content: vim.ServiceInstanceContent | None = None
        self._lock = threading.RLock()
        self.round_trips = 0
        self.logins = 0  # successful logins so far: objects made in one session end with it

    @property
    def where(self) -> str:
        scheme = "http" if self._settings.insecure_http else "https"
        return f"{scheme}://{self._settings.host}:{self._settings.port}"

    def content(self) -> vim.ServiceInstanceContent:
        """The service content of the live session, connecting (with bounded retries) if needed.

        Cached: every read of ``si.content`` would otherwise be a round trip of its own. A lost
        connection while reading it leaves the logged-in session for the next try.
        """
        with self._lock:
            if self._si is None:
                self._si = self._connect_with_retries()
                self.logins += 1
            if self._content is None:
                self._content = self._si.RetrieveContent()
            return self._content

    def managed(self, kind: type, moref: str) -> Any:
        """A pyVmomi reference to the managed object ``moref`` of type ``kind`` on this session."""
        self.content()
        assert self._si is not None
        return kind(moref, self._si._stub)

    def call(self, fn: Callable[[vim.ServiceInstanceContent], T], doing: str) -> T:
        """Run ``fn`` against the service instance; after an expired session, log in and retry once.

        Only for reads and for calls that are safe to repeat. A lost connection (VCenterUnreachable,
        raised by the stub wrapper) is reported, never retried: in the middle of a task-starting
        call the task may have started.
        """
        content = self.content()
        try:
            return fn(content)
        except (vim.fault.NotAuthenticated, SessionExpired):
            with self._lock:
                if self._content is content:  # not logged in again by another thread meanwhile
                    log.info("vCenter session expired while %s; logging in again", doing)
                    self._si = self._content = None
            return fn(self.content())

    def close(self) -> None:
        with self._lock:
            if self._si is not None:
                try:
                    Disconnect(self._si)
                except (vmodl.MethodFault, *_NETWORK_ERRORS) as exc:
                    log.debug("logout from %s failed (ignored): %s", self.where, exc)
                self._si = self._content = None

    def _count(self) -> None:
        with self._lock:
            self.round_trips += 1

    def _connect_with_retries(self) -> vim.ServiceInstance:
        attempts = self._settings.connect_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._connect_once()
            except ssl.SSLCertVerificationError as exc:
                raise VCenterUnreachable(
                    f"TLS certificate of vCenter at {self.where} is not trusted ({exc.verify_message}); "
                    "install its CA, or pin it with [vcenter] thumbprint") from exc
            except vim.fault.InvalidLogin as fault:  # carries no password (tests check the chain)
                raise AuthenticationError(
                    f"vCenter at {self.where} refused the login of user "
                    f"{self._settings.user!r}: check [vcenter] user and password") from fault
            except vim.fault.HostConnectFault as fault:  # pyVim's wrapping of a network error during login
                last = fault.__context__ or fault
            except vmodl.MethodFault as fault:
                raise translate(fault, f"logging in to {self.where}") from fault
            except Exception as exc:  # network errors; pyVmomi raises a bare Exception for "not a VIM server"
                last = exc
            if attempt < attempts:
                pause = self._settings.retry_backoff_seconds * 2 ** (attempt - 1)
                log.warning("vCenter at %s unreachable (attempt %d of %d): %s; retrying in %.1f s",
                            self.where, attempt, attempts, _reason(last), pause)
                self._sleep(pause)
        raise VCenterUnreachable(
            f"cannot reach vCenter at {self.where} after {attempts} attempt(s): {_reason(last)}") from last

    def _connect_once(self) -> vim.ServiceInstance:
        s = self._settings
        options: dict[str, Any] = {"protocol": "http" if s.insecure_http else "https"}
        if s.thumbprint:
            options.update(sslContext=pinned_context(s.thumbprint))
        elif not s.verify_tls and not s.insecure_http:
            log.warning("TLS certificate of %s is NOT verified ([vcenter] verify_tls = false)", self.where)
            options.update(disableSslCertValidation=True)
        elif not s.insecure_http:
            options.update(sslContext=verifying_context())
        si = SmartConnect(host=s.host, port=s.port, user=s.user, pwd=s.secret.get_secret_value(),
                          httpConnectionTimeout=s.connect_timeout_seconds, **options)
        self._guard(si._stub)
        return si

    def _guard(self, stub: Any) -> None:
        """Count every SOAP call made through this session (the benchmark and tests read it), and
        turn a connection lost during one into VCenterUnreachable.

        After such an error pyVmomi's stub closes its pooled HTTP connections and opens a new one on
        the next call, so the session (its cookie) stays usable: no need to log in again.
        """
        invoke, access = stub.InvokeMethod, stub.InvokeAccessor
        stub.poolSize = POOL_SIZE

        def invoke_method(mo: Any, info: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
            self._count()
            calling = _soap_call(info, args)
            with self._connection_errors_reported(calling, getattr(info, "isTask", False)):
                try:
                    return invoke(mo, info, args, *rest, **kwargs)
                except _NETWORK_ERRORS as exc:
                    if info.wsdlName not in _SAFE_TO_REPEAT:
                        raise
                    # Most often a pooled keep-alive connection vCenter closed while idle between
                    # sweeps: a read is repeated once on a new connection, nothing else is.
                    log.debug("connection lost during %s (%s): reading once more", calling, _reason(exc))
                    self._count()
                    return invoke(mo, info, args, *rest, **kwargs)

        def invoke_accessor(mo: Any, info: Any) -> Any:
            # pyVmomi reads a property as a "Fetch" through InvokeMethod; this holds for a stub that does not.
            with self._connection_errors_reported(f"Fetch of {info.name}"):
                return access(mo, info)

        stub.InvokeMethod = invoke_method
        stub.InvokeAccessor = invoke_accessor

    @contextmanager
    def _connection_errors_reported(self, calling: str, starts_task: bool = False) -> Iterator[None]:
        try:
            yield
        except _NETWORK_ERRORS as exc:
            note = "; the task may have started in vCenter" if starts_task else ""
            raise VCenterUnreachable(f"lost the connection to vCenter at {self.where} during {calling}: "
                                     f"{_reason(exc)}{note}") from exc


def _soap_call(info: Any, args: Any) -> str:
    """The SOAP method's name; for a property read (pyVmomi's Fetch), with the property's."""
    if info.wsdlName == "Fetch" and args:
        return f"Fetch of {args[0]}"
    return str(info.wsdlName)


def _reason(exc: BaseException) -> str:
    """An OSError's text without its errno, a fault's message, else whatever the exception says."""
    return getattr(exc, "strerror", None) or getattr(exc, "msg", None) or str(exc) or type(exc).__name__
