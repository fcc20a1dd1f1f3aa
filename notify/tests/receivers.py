"""Real receivers on loopback: a webhook endpoint that verifies Standard Webhooks signatures, and an SMTP server."""

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    id: str
    event: str
    body: dict
    verified: bool
    answered: int
    path: str = ""


@dataclass
class WebhookReceiver:
    """Answers each request with the next code of `script` (then `then`), and keeps what it got."""

    secret: str = ""
    script: list[int] = field(default_factory=list)
    then: int = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.then

    def delivered_ids(self) -> set[str]:
        return {r.id for r in self.received if r.verified and 200 <= r.answered < 300}


def _handler(receiver: WebhookReceiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name: value for name, value in self.headers.items()}
            verified = False
            if receiver.secret:
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
            code = receiver.answer()
            try:
                document = json.loads(body)
            except ValueError:
                document = {}
            with receiver.lock:
                receiver.received.append(Received(
                    id=self.headers.get("webhook-id", ""), event=self.headers.get("X-Ctrlready-Event", ""),
                    body=document, verified=verified, answered=code, path=self.path,
                ))
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


@contextlib.contextmanager
def webhook_receiver(receiver: WebhookReceiver, port: int = 0):
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
