"""Real servers on loopback for the runner tests: HTTP(S), DNS and OpenSSH's sshd.

Each is a context manager; conftest.py turns them into fixtures.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

TOKEN = "s3cret-token-123"
#: The password /login takes, and the client secret /oauth/token takes (client id `ctrlready`).
PASSWORD = "pa55-word-for-tests"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: "RecordingServer"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def _handle(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record(self.command, self.path, dict(self.headers.items()), body)
        route = url.path
        if route == "/health":
            self._send(200, {"status": "ok", "version": "1.4.2", "checks": [{"name": "db", "ok": True}]})
        elif route.startswith("/status/"):
            self._send(int(route.rsplit("/", 1)[1]), {"status": "as asked"})
        elif route == "/slow":
            time.sleep(float(query.get("s", "2")))
            self._send(200, {"status": "slow"})
        elif route == "/say":  # the `text` query parameter, decoded, as plain text
            self._send(200, query.get("text", ""), content_type="text/plain; charset=utf-8")
        elif route == "/raw":  # the request target exactly as it arrived (percent-encoding kept)
            self._send(200, self.path, content_type="text/plain; charset=utf-8")
        elif route == "/b64":  # `pad` then the base64 of `text`, as a token service might wrap it
            encoded = base64.b64encode(query.get("text", "").encode()).decode()
            self._send(200, query.get("pad", "") + encoded, content_type="text/plain; charset=utf-8")
        elif route == "/login" and self.command == "POST":  # a fresh token for the right password
            given = json.loads(body or b"{}")
            if given.get("password") == PASSWORD:
                self._send(200, {"access_token": self.server.issue(), "token_type": "bearer"})
            else:
                self._send(401, {"error": "bad password"})
        elif route == "/oauth/token" and self.command == "POST":  # client credentials, the client in Basic auth
            expected = "Basic " + base64.b64encode(f"ctrlready:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == expected and b"grant_type=client_credentials" in body:
                self._send(200, {"access_token": self.server.issue(), "token_type": "bearer", "expires_in": 60})
            else:
                self._send(401, {"error": "invalid_client"})
        elif route == "/private":  # only with a token /login or /oauth/token issued; echoes it, as some APIs do
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in self.server.issued:
                self._send(200, {"status": "ok", "you": token})
            else:
                self._send(401, {"error": "unauthorized"})
        elif route == "/flaky":  # 503 on the first call for each `id`, 200 afterwards
            first = self.server.first_call(query.get("id", ""))
            self._send(503 if first else 200, {"status": "warming up" if first else "ok"})
        elif route == "/text":
            self._send(200, "hello, this is not json", content_type="text/plain; charset=utf-8")
        elif route == "/redirect":
            self._send(302, "", headers={"Location": query.get("to", "/health")})
        elif route == "/loop":
            self._send(302, "", headers={"Location": "/loop"})
        elif route == "/secure":
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                self._send(200, {"status": "ok", "token_seen": TOKEN})
            else:
                self._send(401, {"error": "unauthorized"})
        elif route == "/echo":
            self._send(
                200,
                {
                    "method": self.command,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                },
            )
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status, payload, *, content_type="application/json", headers=None):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", "ctrlready-tests")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, _Handler)
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.issued: list[str] = []

    def issue(self) -> str:
        token = "tok_" + os.urandom(16).hex()
        with self._lock:
            self.issued.append(token)
        return token

    def first_call(self, key: str) -> bool:
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
            return first

    def handle_error(self, request, client_address):  # probes hang up early on purpose
        pass

    def record(self, method, path, headers, body):
        with self._lock:
            self.requests.append((method, path, headers, body))

    def paths(self) -> list[str]:
        with self._lock:
            return [path for _, path, _, _ in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


@dataclass
class HTTPServerInfo:
    server: RecordingServer
    port: int
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_via(self, host: str) -> str:
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def paths(self) -> list[str]:
        return self.server.paths()


@contextmanager
def http_server(ssl_context: ssl.SSLContext | None = None):
    """A threaded HTTP (or, given a context, HTTPS) server on 127.0.0.1 with the test routes."""
    server = RecordingServer(("127.0.0.1", 0))
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HTTPServerInfo(server, server.server_address[1], "https" if ssl_context else "http")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def server_ssl_context(cert) -> ssl.SSLContext:
    """A server context for a trustme LeafCert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


# --- DNS ---------------------------------------------------------------------


@dataclass
class DNSServerInfo:
    port: int
    records: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def dns_server(records: dict[tuple[str, str], list[str]]):
    """A UDP DNS server on 127.0.0.1 answering from ``{(name, type): [rdata text]}``; unknown names are NXDOMAIN."""
    zone = {(name.rstrip(".").lower() + ".", kind): values for (name, kind), values in records.items()}
    names = {name for name, _ in zone}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            if name not in names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif (name, kind) in zone:
                rrset = dns.rrset.from_text_list(question.name, 60, "IN", kind, zone[(name, kind)])
                response.answer.append(rrset)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield DNSServerInfo(sock.getsockname()[1], zone)
    finally:
        stop.set()
        thread.join(2)
        sock.close()


# --- sshd --------------------------------------------------------------------

SSHD = "/usr/sbin/sshd"


class SSHDUnavailable(Exception):
    """sshd is not installed or would not start here; tests skip with this message."""


@dataclass
class SSHDInfo:
    host: str
    port: int
    username: str
    host_key: str  # "ssh-ed25519 AAAA..."
    keys: dict[str, str]  # "ed25519" / "rsa" / "ecdsa" → private key text
    log: Path


def _keygen(path: Path, kind: str, *extra: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path), *extra],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def _public_line(path: Path) -> str:
    return " ".join(path.read_text().split()[:2])


@contextmanager
def sshd(directory: Path):
    """A real OpenSSH sshd on 127.0.0.1 with a fresh ed25519 host key and three authorised user keys."""
    if not os.path.exists(SSHD):
        raise SSHDUnavailable("sshd not installed: apt-get install openssh-server")
    if shutil.which("ssh-keygen") is None:
        raise SSHDUnavailable("ssh-keygen not installed: apt-get install openssh-client")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    _keygen(host_key, "ed25519")
    keys = {}
    authorized = []
    for kind, extra in (("ed25519", ()), ("rsa", ("-b", "2048", "-m", "PEM")), ("ecdsa", ("-b", "256", "-m", "PEM"))):
        path = directory / f"user_{kind}"
        _keygen(path, kind, *extra)
        keys[kind] = path.read_text()
        authorized.append(_public_line(path.with_suffix(".pub")))
    (directory / "authorized_keys").write_text("\n".join(authorized) + "\n")
    username = getpass.getuser()
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                f"AllowUsers {username}",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UseDNS no",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    log = directory / "sshd.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise SSHDUnavailable(f"sshd would not start: {log.read_text().strip()[:300]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SSHDUnavailable("sshd did not listen within 10 s") from None
                time.sleep(0.05)
        yield SSHDInfo("127.0.0.1", port, username, _public_line(host_key.with_suffix(".pub")), keys, log)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def other_host_key(directory: Path) -> str:
    """A freshly generated ed25519 public key line, to pin where the real key is expected."""
    path = directory / "other_host_key"
    _keygen(path, "ed25519")
    return _public_line(path.with_suffix(".pub"))


@contextmanager
def flipping_dns_server(name: str, first: str, then: str):
    """A DNS server whose A answer for `name` is `first` once, then `then` for every later query: a rebinding."""
    queries: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()
    wanted = name.rstrip(".").lower() + "."

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            if question.name.to_text().lower() == wanted and question.rdtype == dns.rdatatype.A:
                address = first if not queries else then
                queries.append(address)
                response.answer.append(dns.rrset.from_text_list(question.name, 0, "IN", "A", [address]))
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield DNSServerInfo(sock.getsockname()[1], {"answered": queries})
    finally:
        stop.set()
        thread.join(2)
        sock.close()
