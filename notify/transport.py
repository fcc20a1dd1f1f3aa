"""An HTTP client that checks the target's address when it connects (see `core.addresses`).

httpx resolves nothing itself here: the network backend resolves the host once, refuses private and
loopback addresses (unless CTRLREADY_WEBHOOK_ALLOW_PRIVATE), and connects to the address it checked.
TLS still verifies the certificate against the host name.
"""

from functools import cache

import httpcore
import httpx

from core.addresses import AddressRefused, resolve_checked

TIMEOUT_SECONDS = 10.0


class CheckedBackend(httpcore.NetworkBackend):
    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = resolve_checked(host, port, allow_private=self.allow_private)
        return self._backend.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("Notifications are not sent to Unix sockets.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend: rebuild it with ours.
        pool = self._pool
        self._pool = httpcore.ConnectionPool(
            ssl_context=pool._ssl_context, max_connections=20, max_keepalive_connections=10,
            http1=True, http2=False, network_backend=CheckedBackend(allow_private=allow_private),
        )


@cache
def client(*, allow_private: bool) -> httpx.Client:
    """One client per process (and setting): its TLS context and connections are reused."""
    return httpx.Client(
        transport=CheckedTransport(allow_private=allow_private), timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False, trust_env=False,
    )
