"""TLS policy for the vCenter connection: CA verification, or a pinned certificate fingerprint.

pyVmomi checks a ``thumbprint`` only after CA verification has failed, and not at all during
its version discovery; a pin must hold on every connection, so it is enforced here, in the
handshake of every socket the context creates.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from typing import Any

_ALGORITHMS = {40: "sha1", 64: "sha256", 128: "sha512"}


class PinMismatch(ssl.SSLCertVerificationError):
    """The server's certificate is not the pinned one."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"certificate fingerprint {got} does not match the pinned {expected}")
        self.verify_message = "its fingerprint does not match [vcenter] thumbprint"


def verifying_context() -> ssl.SSLContext:
    """Verify the certificate chain and host name against the system's CAs."""
    return ssl.create_default_context()


def pinned_context(thumbprint: str) -> ssl.SSLContext:
    """Accept exactly the certificate whose SHA-1/256/512 fingerprint is ``thumbprint`` (hex)."""
    expected = thumbprint.replace(":", "").lower()
    algorithm = _ALGORITHMS[len(expected)]

    class PinnedSocket(ssl.SSLSocket):
        def do_handshake(self, *args: Any, **kwargs: Any) -> None:
            super().do_handshake(*args, **kwargs)
            got = hashlib.new(algorithm, self.getpeercert(binary_form=True) or b"").hexdigest()
            if not hmac.compare_digest(got, expected):
                self.close()
                raise PinMismatch(expected, got)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the pin identifies the server, whatever name it presents
    context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = PinnedSocket
    return context
