"""vCenter tags: the vSphere Automation (vAPI) tagging service over REST, as tags are not in the
SOAP API. Read only when a protection group chooses VMs by tag.

One read: log in (``POST /rest/com/vmware/cis/session``, basic auth), one
``list-attached-tags-on-objects`` for every VM at once, one read per distinct tag and per
category, log out. The connection follows the [vcenter] TLS policy (CA verification, a pinned
thumbprint, or plain http for simulators) with the same contexts as the SOAP session. HTTP
answers become our exceptions: 401 on login AuthenticationError, any other refusal VSphereFault
with the vAPI error type, a network error VCenterUnreachable. The password is sent in the
Authorization header only and appears in no message.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
from typing import Any
from urllib.parse import quote

from vsphere_dr.errors import AuthenticationError, VCenterUnreachable, VSphereFault
from vsphere_dr.gateway.tls import pinned_context, verifying_context
from vsphere_dr.settings import VCenterSettings

log = logging.getLogger(__name__)
SESSION = "/rest/com/vmware/cis/session"
ATTACHED = "/rest/com/vmware/cis/tagging/tag-association?~action=list-attached-tags-on-objects"
TAG = "/rest/com/vmware/cis/tagging/tag/id:{}"
CATEGORY = "/rest/com/vmware/cis/tagging/category/id:{}"
SESSION_HEADER = "vmware-api-session-id"
_NETWORK_ERRORS = (OSError, http.client.HTTPException)

Tags = tuple[tuple[str, str], ...]  # (category name, tag name), sorted


class TagReader:
    """The tags of many VMs in one pass; counts its HTTP requests in ``round_trips``."""

    def __init__(self, settings: VCenterSettings) -> None:
        self._settings = settings
        self.round_trips = 0

    @property
    def where(self) -> str:
        s = self._settings
        return f"{'http' if s.insecure_http else 'https'}://{s.host}:{s.port}"

    def vm_tags(self, morefs: list[str]) -> dict[str, Tags]:
        """Each VM's tags as (category, tag) names; VMs without tags are left out."""
        connection = self._connection()
        try:
            session = self._login(connection)
            try:
                return self._read(connection, session, morefs)
            finally:
                self._logout(connection, session)
        except _NETWORK_ERRORS as exc:
            raise VCenterUnreachable(f"lost the connection to vCenter's tagging service at {self.where}: "
                                     f"{getattr(exc, 'strerror', None) or exc}") from exc
        finally:
            connection.close()

    def _read(self, connection: http.client.HTTPConnection, session: str, morefs: list[str]) -> dict[str, Tags]:
        body = {"object_ids": [{"id": moref, "type": "VirtualMachine"} for moref in morefs]}
        attached = self._request(connection, "POST", ATTACHED, session, body, "listing the VMs' tags")
        ids = {tag for item in attached or () for tag in item.get("tag_ids") or ()}
        tags = {tag: self._request(connection, "GET", TAG.format(quote(tag, safe=":")), session,
                                   doing=f"reading tag {tag}") for tag in sorted(ids)}
        categories = {cid: self._request(connection, "GET", CATEGORY.format(quote(cid, safe=":")), session,
                                         doing=f"reading category {cid}")["name"]
                      for cid in sorted({tag["category_id"] for tag in tags.values()})}
        return {item["object_id"]["id"]: tuple(sorted((categories[tags[t]["category_id"]], tags[t]["name"])
                                                      for t in item["tag_ids"]))
                for item in attached or () if item.get("tag_ids")}

    def _connection(self) -> http.client.HTTPConnection:
        s, timeout = self._settings, self._settings.connect_timeout_seconds
        if s.insecure_http:
            return http.client.HTTPConnection(s.host, s.port, timeout=timeout)
        if s.thumbprint:
            context = pinned_context(s.thumbprint)
        elif not s.verify_tls:
            context = verifying_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # [vcenter] verify_tls = false
        else:
            context = verifying_context()
        return http.client.HTTPSConnection(s.host, s.port, timeout=timeout, context=context)

    def _login(self, connection: http.client.HTTPConnection) -> str:
        s = self._settings
        token = base64.b64encode(f"{s.user}:{s.secret.get_secret_value()}".encode()).decode()
        status, answer = self._send(connection, "POST", SESSION, {"Authorization": f"Basic {token}"}, None)
        if status == 401:
            raise AuthenticationError(f"vCenter's tagging service at {self.where} refused the login of user "
                                      f"{s.user!r}: check [vcenter] user and password")
        return str(self._value(status, answer, "logging in to the tagging service"))

    def _logout(self, connection: http.client.HTTPConnection, session: str) -> None:
        try:
            self._send(connection, "DELETE", SESSION, {SESSION_HEADER: session}, None)
        except _NETWORK_ERRORS as exc:
            log.debug("logout from the tagging service at %s failed (ignored): %s", self.where, exc)

    def _request(self, connection: http.client.HTTPConnection, method: str, path: str, session: str,
                 body: Any = None, doing: str = "") -> Any:
        status, answer = self._send(connection, method, path, {SESSION_HEADER: session}, body)
        return self._value(status, answer, doing)

    def _send(self, connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[int, Any]:
        self.round_trips += 1
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={**headers, "Accept": "application/json",
                                                                 "Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None

    def _value(self, status: int, answer: Any, doing: str) -> Any:
        if status == 200 and isinstance(answer, dict) and "value" in answer:
            return answer["value"]
        kind = answer.get("type", "") if isinstance(answer, dict) else ""
        if status == 404 and not kind:
            raise VSphereFault(f"{doing}: {self.where} has no vAPI tagging service (HTTP 404): tags need a "
                               "vCenter Server, not an ESXi host", "NotSupported")
        raise VSphereFault(f"{doing}: the tagging service at {self.where} answered HTTP {status}"
                           f"{' ' + kind if kind else ''}", kind.rsplit(".", 1)[-1] or f"HTTP{status}")
