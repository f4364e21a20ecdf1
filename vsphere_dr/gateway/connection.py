"""One logged-in session with vCenter: TLS policy, bounded retries, re-login on expiry."""

from __future__ import annotations

import http.client
import logging
import ssl
import time
from collections.abc import Callable
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


class VCenterSession:
    """Connects on demand, counts SOAP round trips, and logs in again when the session expires."""

    def __init__(self, settings: VCenterSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._sleep = sleep
        self._si: vim.ServiceInstance | None = None
        self._content: vim.ServiceInstanceContent | None = None
        self.round_trips = 0

    @property
    def where(self) -> str:
        scheme = "http" if self._settings.insecure_http else "https"
        return f"{scheme}://{self._settings.host}:{self._settings.port}"

    def content(self) -> vim.ServiceInstanceContent:
        """The service content of the live session, connecting (with bounded retries) if needed.

        Cached: every read of ``si.content`` would otherwise be a round trip of its own.
        """
        if self._si is None or self._content is None:
            self._si = self._connect_with_retries()
            self._content = self._si.RetrieveContent()
        return self._content

    def managed(self, kind: type, moref: str) -> Any:
        """A pyVmomi reference to the managed object ``moref`` of type ``kind`` on this session."""
        self.content()
        assert self._si is not None
        return kind(moref, self._si._stub)

    def call(self, fn: Callable[[vim.ServiceInstanceContent], T], doing: str) -> T:
        """Run ``fn`` against the service instance; after an expired session, log in and retry once.

        Only for reads and for calls that are safe to repeat: a lost connection in the middle of a
        task-starting call is reported, not retried, because the task may have started.
        """
        try:
            return fn(self.content())
        except (vim.fault.NotAuthenticated, SessionExpired):
            log.info("vCenter session expired while %s; logging in again", doing)
            self._si = self._content = None
            return fn(self.content())

    def close(self) -> None:
        if self._si is not None:
            try:
                Disconnect(self._si)
            except (vmodl.MethodFault, *_NETWORK_ERRORS) as exc:
                log.debug("logout from %s failed (ignored): %s", self.where, exc)
            self._si = self._content = None

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
        self._count_round_trips(si)
        return si

    def _count_round_trips(self, si: vim.ServiceInstance) -> None:
        """Count every SOAP call made through this session (the benchmark and tests read it)."""
        stub = si._stub
        invoke = stub.InvokeMethod

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return invoke(*args, **kwargs)

        stub.InvokeMethod = counted


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text
