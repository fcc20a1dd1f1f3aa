"""What the network probes of one batch share: one event loop, one semaphore, the httpx client, and the
addresses its host names were checked at.

A name is resolved once per batch, when it is checked; every connection to it goes to that address
(`PinnedBackend` under httpx, the address itself for tls, tcp and postgres). A name whose answer changes
a moment later (DNS rebinding) is never connected to at its new address.

Pure Python: no Django.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import httpcore
import httpx

from probes.runners.base import HostNotAllowed, ProbeFailure, Target, check_host, resolve_host


class NetworkContext:
    """Shared state of a batch's network probes, used from inside its event loop."""

    def __init__(self, target: Target, *, max_concurrency: int, load_concurrency: int = 0) -> None:
        self.target = target
        self.semaphore = asyncio.Semaphore(max_concurrency)
        #: Load probes run one at a time, so they do not measure each other.
        self.load_lock = asyncio.Lock()
        # The pool is larger than what the semaphore lets through, so no probe waits on the pool.
        pool = max_concurrency + load_concurrency + 4
        self.limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.dns_cache: dict = {}
        #: (host, port) → the address it was checked at; the only address connected to for it.
        self.pins: dict[tuple[str, int], str] = {}
        self._lookups: dict[tuple[str, int], asyncio.Future] = {}
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._ssl_context: ssl.SSLContext | ProbeFailure | None = None
        self._resolver = None

    # --- TLS -------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying context: the system CAs, certifi's, and the environment's ``ca_bundle``."""
        if self._ssl_context is None:
            self._ssl_context = make_ssl_context(self.target.ca_bundle)
        if isinstance(self._ssl_context, ProbeFailure):
            raise self._ssl_context
        return self._ssl_context

    # --- HTTP ------------------------------------------------------------

    def client(self, *, verify: bool) -> httpx.AsyncClient:
        """The batch's client; a second one exists only if some probe turns TLS verification off."""
        client = self._clients.get(verify)
        if client is None:
            verify_with = self.ssl_context() if verify else False
            client = httpx.AsyncClient(
                transport=PinnedTransport(self.pins, verify=verify_with, limits=self.limits),
                verify=verify_with,
                limits=self.limits,
                timeout=httpx.Timeout(10.0),
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[verify] = client
        return client

    async def allow(self, url: httpx.URL, timeout: float) -> None:
        """Refuse a URL whose host is outside the environment or resolves to nothing; before any connection."""
        if url.scheme not in ("http", "https"):
            raise ProbeFailure(f"The URL `{url}` is not http or https; probes only speak those.")
        port = url.port or (443 if url.scheme == "https" else 80)
        await self.resolve(url.host, port, timeout)

    async def resolve(self, host: str, port: int, timeout: float) -> str:
        """Check the host, resolve it (once per batch) and pin the address connections to it will use."""
        check_host(host, self.target)
        key = (host.lower().strip("[]"), port)
        if key not in self.pins:
            # Probes of the batch asking at once share one lookup: two would be two chances to rebind.
            lookup = self._lookups.get(key)
            if lookup is None:
                servers = self.resolver() if self.target.dns_servers else None
                lookup = asyncio.ensure_future(resolve_host(host, port, timeout, self.dns_cache, resolver=servers))
                self._lookups[key] = lookup
            addresses = await asyncio.shield(lookup)
            self.pins.setdefault(key, addresses[0])
        return self.pins[key]

    # --- DNS -------------------------------------------------------------

    def resolver(self):
        if self._resolver is None:
            import dns.asyncresolver
            import dns.resolver

            servers = self.target.dns_servers
            try:
                resolver = dns.asyncresolver.Resolver(configure=not servers)
            except dns.resolver.NoResolverConfiguration:
                raise ProbeFailure("The probe worker has no DNS server configured.") from None
            if servers:
                addresses, port = [], 53
                for server in servers:
                    host, port = _split_server(server)
                    addresses.append(host)
                resolver.nameservers = addresses
                resolver.port = port
            resolver.cache = None
            self._resolver = resolver
        return self._resolver

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects a host name only to the address it was checked at; a name never checked is refused."""

    def __init__(self, pins: dict[tuple[str, int], str]) -> None:
        self.pins = pins
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = self.pins.get((host.lower().strip("[]"), port))
        if address is None:
            raise HostNotAllowed(f"The host `{host}` was not checked before connecting; the probe is refused.")
        return await self._backend.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise HostNotAllowed("Probes do not connect to Unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool given the pinning network backend (TLS still checks the name)."""

    def __init__(self, pins: dict[tuple[str, int], str], *, verify, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: rebuild it with ours.
        pool = self._pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(pins),
        )


@functools.lru_cache(maxsize=16)
def make_ssl_context(ca_bundle: str | None) -> ssl.SSLContext | ProbeFailure:
    """Loading the CA stores takes tens of milliseconds, so each distinct bundle is loaded once per process.

    The returned context is shared between batches and threads and must not be modified.
    """
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        pass
    if ca_bundle:
        try:
            context.load_verify_locations(cadata=ca_bundle)
        except (ssl.SSLError, ValueError, TypeError):
            return ProbeFailure("The environment's CA bundle is not valid PEM; an admin must fix it.")
    return context


def _split_server(server: str) -> tuple[str, int]:
    server = server.strip()
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53
