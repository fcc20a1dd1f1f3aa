"""A small stand-in for the seed checklist's FastAPI backend, so the demo's probes see something real.

It answers like the backend would, with a few honest faults, so that in the `local-demo`
environment some probes pass and some fail:

- `GET /health` → `{"status": "ok"}`; `GET /health/ollama` → 503, Ollama is not running here;
- `GET /version` → `{"version": "v1.0.0-demo"}`, the release the demo deployment is of;
- `GET /workflows`, `GET /workflow-status/<id>`, `POST /generate-workflow` need `Authorization: Bearer <token>`;
- `POST /execute-workflow`, `POST /chat-api` with the token; `POST /webhook-trigger/<id>` needs a valid
  `X-Webhook-Signature` (none is valid here: 401); `GET /admin/users` is 401 without a token, 403 with
  the demo (non-admin) token;
- every answer carries an `X-Request-ID`;
- CORS answers `Access-Control-Allow-Origin: *` — the checklist forbids that, so its probes fail.

Beside it, a DNS server (UDP, `--dns-port`) answers the demo's domain, `api.local-demo.test`, with
127.0.0.1, so the checklist's DNS items see a real answer; every other name is unknown to it.

Run: python -m demo.target --port 8001 --token demo-token --dns-port 8053
"""

import argparse
import json
import socket
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The release the demo target runs, and the demo deployment is of: `GET /version` reports it.
DEMO_RELEASE = "v1.0.0-demo"


class DemoHandler(BaseHTTPRequestHandler):
    token = "demo-token"
    release = DEMO_RELEASE
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the dashboard's own logs matter here
        pass

    def _send(self, status: int, body: dict, extra_headers: dict | None = None) -> None:
        # A 204 has no body: bytes after it would be read as the start of the next answer on the connection.
        payload = b"" if status == HTTPStatus.NO_CONTENT else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("X-Request-ID", uuid.uuid4().hex)
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _authorised(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.token}"

    def do_OPTIONS(self):
        self._send(HTTPStatus.NO_CONTENT, {}, {"Access-Control-Allow-Methods": "GET, POST"})

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self._send(200, {"status": "ok"})
        if path == "/version":
            return self._send(200, {"version": self.release})
        if path == "/health/ollama":
            return self._send(503, {"status": "unavailable", "detail": "Ollama is not running on this host"})
        if path == "/admin/users":
            return self._send(403 if self._authorised() else 401, {"detail": "Admins only"})
        if path == "/workflows" or path.startswith("/workflow-status/"):
            if not self._authorised():
                return self._send(401, {"detail": "Not authenticated"})
            if path == "/workflows":
                return self._send(200, {"workflows": [{"id": "demo", "name": "Demo workflow"}]})
            return self._send(200, {"job_id": path.rsplit("/", 1)[-1], "status": "completed"})
        return self._send(404, {"detail": "Not Found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/generate-workflow":
            if not self._authorised():
                return self._send(401, {"detail": "Not authenticated"})
            try:
                json.loads(body or b"")
            except ValueError:
                return self._send(400, {"detail": "The request body must be JSON."})
            return self._send(202, {"job_id": "demo-job"})
        if self.path.startswith("/webhook-trigger/"):
            return self._send(401, {"detail": "The webhook signature is missing or wrong."})
        if self.path in ("/execute-workflow", "/chat-api"):
            if not self._authorised():
                return self._send(401, {"detail": "Not authenticated"})
            if self.path == "/chat-api":
                return self._send(200, {"reply": "pong"})
            return self._send(202, {"execution_id": "demo-execution"})
        return self._send(404, {"detail": "Not Found"})


def serve(port: int, token: str, host: str = "127.0.0.1", release: str = DemoHandler.release) -> ThreadingHTTPServer:
    handler = type("Handler", (DemoHandler,), {"token": token, "release": release})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


DEMO_DOMAIN = "api.local-demo.test"
DEMO_ADDRESS = "127.0.0.1"


def dns_serve(port: int, names: dict[str, str], host: str = "127.0.0.1") -> threading.Thread:
    """A tiny authoritative DNS server on UDP: `names` ({"api.local-demo.test": "127.0.0.1"}) answer A queries."""
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    zone = {name.rstrip(".").lower() + ".": address for name, address in names.items()}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))

    def serve() -> None:
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                query = dns.message.from_wire(data)
            except Exception:  # not a DNS query: drop it
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower()
            if name not in zone:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", [zone[name]]))
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, name="demo-dns", daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--release", default=DemoHandler.release, help="what `GET /version` reports")
    parser.add_argument("--dns-port", type=int, default=0, help="also answer DNS for the demo domain on this UDP port")
    args = parser.parse_args()
    if args.dns_port:
        dns_serve(args.dns_port, {DEMO_DOMAIN: DEMO_ADDRESS})
    server = serve(args.port, args.token, release=args.release)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
