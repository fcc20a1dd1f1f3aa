"""Fixtures for the probe tests: real servers on loopback. No Django here."""

import pytest
import trustme

from probes.tests import servers


@pytest.fixture(scope="session")
def http_server():
    with servers.http_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _forget_requests(request):
    """Each test sees only the requests it caused."""
    for name in ("http_server", "https_server", "wrong_name_https_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).server.clear()
    yield


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def https_server(ca):
    """HTTPS with a certificate for 127.0.0.1 and localhost, signed by the test CA."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    with servers.http_server(servers.server_ssl_context(cert)) as server:
        yield server


@pytest.fixture(scope="session")
def wrong_name_https_server(ca):
    """HTTPS whose certificate, signed by the test CA, names another host."""
    cert = ca.issue_cert("other.example")
    with servers.http_server(servers.server_ssl_context(cert)) as server:
        yield server


@pytest.fixture(scope="session")
def ca_pem(ca):
    return ca.cert_pem.bytes().decode()


@pytest.fixture(scope="session")
def dns_server():
    records = {
        ("app.test", "A"): ["127.0.0.1", "127.0.0.2"],
        ("app.test", "AAAA"): ["::1"],
        ("www.app.test", "CNAME"): ["app.test."],
        ("app.test", "MX"): ["10 mail.app.test."],
        ("app.test", "TXT"): ['"v=spf1 -all"'],
        ("empty.test", "TXT"): ['"only txt"'],
    }
    with servers.dns_server(records) as server:
        yield server


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    try:
        with servers.sshd(tmp_path_factory.mktemp("sshd")) as info:
            yield info
    except servers.SSHDUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def unused_port():
    """A port on 127.0.0.1 where nothing listens."""
    return servers.free_port()


@pytest.fixture(scope="session")
def sshd_pair(tmp_path_factory):
    """Two real sshd instances on two ports, each with its own host key: a `web` and a `worker` host."""
    try:
        with servers.sshd(tmp_path_factory.mktemp("sshd-web")) as web, servers.sshd(tmp_path_factory.mktemp("sshd-worker")) as worker:
            yield web, worker
    except servers.SSHDUnavailable as exc:
        pytest.skip(str(exc))
