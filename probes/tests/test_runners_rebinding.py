"""DNS rebinding: a name whose answer changes between the check and the connection is connected to only at
the address it was checked at — for http, load and tcp probes alike — and the second address sees nothing."""

import socket
import threading

import pytest

from probes.runners import Target, run_batch
from probes.tests import servers


@pytest.fixture
def two_addresses():
    """The test HTTP server on 127.0.0.1:P, and a bare listener on 127.0.0.2:P that counts who connects."""
    server = servers.RecordingServer(("127.0.0.1", 0))
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    other = socket.socket()
    try:
        other.bind(("127.0.0.2", port))
    except OSError:
        server.shutdown()
        pytest.skip("127.0.0.2 is not usable here")
    other.listen(16)
    other.settimeout(0.2)
    try:
        yield server, other, port
    finally:
        server.shutdown()
        server.server_close()
        other.close()


def test_a_name_that_rebinds_is_never_connected_to_at_its_new_address(two_addresses):
    server, other, port = two_addresses
    with servers.flipping_dns_server("app.test", first="127.0.0.1", then="127.0.0.2") as dns:
        target = Target(f"http://app.test:{port}", dns_servers=(dns.address,))
        results = run_batch(
            {
                "http": {"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200"]},
                "again": {"type": "http", "request": "GET /health?again=1", "expect": ["[STATUS] == 200"]},
                "load": {"type": "load", "request": "GET /health", "requests": 20, "concurrency": 5,
                         "expect": ["[SUCCESS_RATE] == 1"]},
                "tcp": {"type": "tcp", "port": port, "expect": ["[CONNECTED] == true"]},
            },
            target,
        )
        answered = list(dns.records["answered"])
    for key, observation in results.items():
        assert observation.status == "passed", (key, observation.message)
    assert answered == ["127.0.0.1"], "the name was looked up once, when it was checked"
    assert "/health?again=1" in server.paths()
    with pytest.raises(TimeoutError):
        other.accept()  # no connection, not one packet of a request, reached the second address


def test_an_address_the_name_was_not_checked_at_is_refused(http_server):
    import asyncio

    from probes.runners.base import HostNotAllowed
    from probes.runners.context import PinnedBackend

    backend = PinnedBackend({("127.0.0.1", http_server.port): "127.0.0.1"})

    async def connect(host):
        stream = await backend.connect_tcp(host, http_server.port, timeout=2)
        await stream.aclose()

    asyncio.run(connect("127.0.0.1"))
    with pytest.raises(HostNotAllowed):
        asyncio.run(connect("localhost"))
