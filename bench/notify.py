"""P5: an event → its webhook received, through the real path; a receiver down, then up; a rolled-back change.

Real path: POST /api/v1/deployments/<id>/items/<key> (an item fails) → the outbox row written in the
tick's transaction → Redis → a Celery worker process → an HTTP POST signed with Standard Webhooks →
a receiver on loopback that verifies the signature and notes when each delivery arrived.

1. Latency: EVENTS ticks, one every 50 ms, each failing another item (one `item_failed` each): the time
   from sending the tick to the receiver getting its delivery; p50/p95/max.
2. Receiver down: the receiver is stopped for DOWN seconds while DOWN_EVENTS items fail, then started
   again on the same port. Every delivery must arrive, each under one id whatever its attempts, none lost.
   The backoff is scaled with DOWN (BACKOFF = DOWN / 30, i.e. 10 s for the 5 minutes SPEC names).
3. A change that rolled back: nothing reaches the receiver.

    .venv/bin/python bench/notify.py            (needs the local PostgreSQL and Redis; ~2 minutes)
    BENCH_NOTIFY_DOWN=300 .venv/bin/python bench/notify.py   (SPEC's 5 minutes, backoff 10 s)
"""

import json
import os
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _setup import django_on_bench_database

EVENTS = int(os.environ.get("BENCH_NOTIFY_EVENTS", 200))
DOWN = float(os.environ.get("BENCH_NOTIFY_DOWN", 30))
DOWN_EVENTS = 50
BACKOFF = DOWN / 30


class Receiver:
    def __init__(self, secret: str):
        from standardwebhooks.webhooks import Webhook

        self.webhook = Webhook(secret)
        self.arrived: dict[str, float] = {}  # item key → first arrival (time.time)
        self.ids: dict[str, set[str]] = {}  # item key → webhook ids seen
        self.delivered: list[str] = []  # webhook ids answered 2xx
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.server = None
        self.port = 0

    def start(self, port: int = 0) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    document = receiver.webhook.verify(body, dict(self.headers.items()))
                except Exception:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    document = json.loads(body)
                key = (document.get("item") or {}).get("key", "")
                with receiver.lock:
                    receiver.arrived.setdefault(key, at)
                    receiver.ids.setdefault(key, set()).add(self.headers["webhook-id"])
                    receiver.delivered.append(self.headers["webhook-id"])
                self.send_response(204)
                # No keep-alive: a stopped receiver must refuse the next request, not answer it on an old connection.
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def checklist(n: int) -> str:
    lines = ["# Notify bench", "", "## Items", ""]
    lines += [f"- [ ] Manual item {i} {{#item-{i}}}" for i in range(n)]
    return "\n".join(lines) + "\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    from cryptography.fernet import Fernet

    os.environ["CTRLREADY_SECRET_KEYS"] = Fernet.generate_key().decode()
    os.environ["CTRLREADY_WEBHOOK_ALLOW_PRIVATE"] = "1"
    os.environ["CTRLREADY_DELIVERY_BACKOFF_SECONDS"] = str(BACKOFF)
    os.environ["CTRLREADY_DELIVERY_ATTEMPTS"] = "12"
    django_on_bench_database("ctrlready_bench_notify")
    from django.db import connection, transaction
    from django.test import Client

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.items import item_state_set
    from checklists.models import Environment, Service
    from conftest import make_user
    from core.actors import SYSTEM
    from core.tokens import api_token_create
    from ctrlready.celery import app
    from notify.models import Delivery
    from notify.services import subscription_create
    from probes.tests.worker import Worker, wait_until

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    engineer = make_user("bench-engineer", "engineer")
    admin = make_user("bench-admin", "admin")
    token = api_token_create(user=engineer)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    total = EVENTS + DOWN_EVENTS + 1
    version = checklist_import(markdown=checklist(total), name="notify bench", actor=SYSTEM, source="cli").version
    environment = Environment.objects.create(
        service=Service.objects.create(name="bench-svc"), name="staging", base_url="http://127.0.0.1:9"
    )
    deployment = deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=engineer, source="api"
    )
    receiver = Receiver("whsec_placeholderAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    receiver.start()
    created = subscription_create(
        channel="webhook", target=f"http://127.0.0.1:{receiver.port}/hook", events=["item_failed"], actor=admin
    )
    from standardwebhooks.webhooks import Webhook

    receiver.webhook = Webhook(created.secret)
    worker = Worker(connection, queue, concurrency=4)
    worker.start()

    def fail(i: int) -> float:
        sent = time.time()
        response = client.post(
            f"/api/v1/deployments/{deployment.pk}/items/item-{i}", json.dumps({"state": "failed"}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return sent

    try:
        # 1. Latency.
        sent = {}
        for i in range(EVENTS):
            sent[f"item-{i}"] = fail(i)
            time.sleep(0.05)
        assert wait_until(lambda: len(receiver.arrived) >= EVENTS, timeout=60), f"only {len(receiver.arrived)} arrived"
        latencies = [(receiver.arrived[key] - at) * 1000 for key, at in sent.items()]
        print(f"P5 latency, {EVENTS} events (tick sent → webhook received, ms): p50 {statistics.median(latencies):.0f}, "
              f"p95 {percentile(latencies, 95):.0f}, max {max(latencies):.0f}; bad signatures {receiver.bad_signatures}")

        # 2. The receiver down, then up on the same port.
        port = receiver.port
        receiver.stop()
        down_at = time.time()
        keys = []
        for i in range(EVENTS, EVENTS + DOWN_EVENTS):
            fail(i)
            keys.append(f"item-{i}")
        time.sleep(max(0.0, DOWN - (time.time() - down_at)))
        receiver.start(port)
        up_at = time.time()
        arrived = wait_until(lambda: all(key in receiver.arrived for key in keys), timeout=DOWN * 3 + 60, interval=0.5)
        last = max(receiver.arrived[key] for key in keys if key in receiver.arrived) - up_at
        down_ids = {i for key in keys for i in receiver.ids.get(key, ())}
        rows = Delivery.objects.filter(event__item_key__in=keys)
        attempts = sorted(rows.values_list("attempts", flat=True))
        print(f"Receiver down {DOWN:.0f} s (backoff {BACKOFF:g} s): {sum(key in receiver.arrived for key in keys)}/{len(keys)} "
              f"delivered, the last {last:.1f} s after it was back; one id per delivery: "
              f"{all(len(receiver.ids.get(key, ())) == 1 for key in keys)}; ids = delivery ids: "
              f"{down_ids == {str(pk) for pk in rows.values_list('pk', flat=True)}}; "
              f"attempts per delivery {attempts[0]}–{attempts[-1]}; duplicates received {len(receiver.delivered) - len(set(receiver.delivered))}")
        assert arrived

        # 3. A change that rolled back.
        before = len(receiver.delivered)
        try:
            with transaction.atomic():
                item_state_set(deployment_id=deployment.pk, key=f"item-{total - 1}", state="failed", actor=engineer, source="api")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        time.sleep(3)
        print(f"Rolled-back change: {len(receiver.delivered) - before} deliveries received, "
              f"{Delivery.objects.filter(event__item_key=f'item-{total - 1}').count()} written")
    finally:
        worker.stop()
        receiver.server.server_close()


if __name__ == "__main__":
    main()
