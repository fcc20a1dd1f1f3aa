"""R2: with Redis stopped, ticks and sign-offs work, runs answer 503; once it is back, runs work again."""

import shutil
import socket
import subprocess
import time

import pytest
from kombu import pools

from probes.models import ProbeRun

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (apt-get install redis-server)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, so stopping it disturbs nothing else."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def redis_broker():
    from ctrlready.celery import app

    redis = PrivateRedis()
    redis.start()
    def use(url):
        # kombu keeps one connection pool and one producer pool per broker URL, process-wide: close and
        # forget them all, or later tests publish into a pool closed here (or to this test's stopped server).
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = url

    original = app.conf.broker_url
    use(f"redis://127.0.0.1:{redis.port}/0")
    try:
        yield redis
    finally:
        use(original)
        if redis.process.poll() is None:
            redis.stop()


def test_redis_down_ticks_and_signoffs_work_runs_answer_503_and_recover(api, deployment, redis_broker, django_capture_on_commit_callbacks):
    url = f"deployments/{deployment.pk}/runs"
    redis_broker.stop()

    assert api.post("engineer", url, {}).status_code == 503
    assert not ProbeRun.objects.exists()
    for key in ("rollback", "alerts-down", "alerts-errors"):
        assert api.post("engineer", f"deployments/{deployment.pk}/items/{key}", {"state": "passed"}).status_code == 200
    waived = api.post("lead", f"deployments/{deployment.pk}/items/health", {"state": "waived", "note": "checked by hand"})
    assert waived.status_code == 200
    assert api.get("viewer", f"deployments/{deployment.pk}").status_code == 200

    redis_broker.start()  # the same port: the pooled connections must reconnect
    api.post("lead", f"deployments/{deployment.pk}/items/health", {"state": "pending"})
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("engineer", url, {})
    assert response.status_code == 202 and response.json() == {"queued": 1}
    run = ProbeRun.objects.get()
    assert run.status == "queued"  # published: the queue accepted it rather than ending it as an error

    redis_broker.stop()
    api.post("lead", f"deployments/{deployment.pk}/items/health", {"state": "waived", "note": "checked by hand"})
    digest = api.get("lead", f"deployments/{deployment.pk}").json()["digest"]
    signed = api.post("lead", f"deployments/{deployment.pk}/signoffs", {"role": "lead", "digest": digest, "comment": "ok"})
    assert signed.status_code == 201, signed.json()


def test_redis_down_a_new_deployment_is_still_created_and_its_probes_wait_for_the_recheck(
    api, deployment, redis_broker, settings, caplog, django_capture_on_commit_callbacks
):
    settings.CTRLREADY_RUN_ON_CREATE = True
    redis_broker.stop()
    body = {"environment": deployment.environment_id, "checklist": deployment.version.checklist.slug, "release": "v2"}
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("engineer", "deployments", body)
    assert created.status_code == 201, created.json()
    assert time.monotonic() - started < 10  # one attempt to publish, not the broker's retries
    assert not ProbeRun.objects.filter(deployment_id=created.json()["id"]).exists()
    assert "probes run at the next re-check" in caplog.text


def test_after_a_failed_publish_what_can_wait_skips_the_broker_for_a_while(redis_broker, monkeypatch):
    from core import queue

    redis_broker.stop()
    with pytest.raises(Exception):  # noqa: B017 (whatever the client raises for a refused connection)
        queue.task_offer("ctrlready.nothing", retry=False)
    # Moments later it does not even try (trying would raise again): the caller leaves the work to its sweep.
    assert queue.task_offer("ctrlready.nothing", retry=False) is False
    monkeypatch.setattr(queue, "QUIET_SECONDS", 0.0)
    with pytest.raises(Exception):  # noqa: B017 - once the quiet time is over, it tries again
        queue.task_offer("ctrlready.nothing", retry=False)
    monkeypatch.setattr(queue, "QUIET_SECONDS", 30.0)

    redis_broker.start()
    queue.task_send("ctrlready.nothing", retry=False)  # what the sweep does: it always tries, and it works
    assert queue.task_offer("ctrlready.nothing", retry=False) is True


def test_with_redis_down_only_the_first_change_waits_for_the_queue(
    api, people, deployment, redis_broker, settings, caplog, fernet_key, django_capture_on_commit_callbacks
):
    from notify.models import Delivery
    from notify.services import subscription_create

    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True
    subscription_create(channel="webhook", target="http://127.0.0.1:9/hook", actor=people["admin"])
    redis_broker.stop()
    base = f"deployments/{deployment.pk}/items"
    with caplog.at_level("WARNING", logger="notify.outbox"), django_capture_on_commit_callbacks(execute=True):
        for key in ("rollback", "alerts-down"):
            assert api.post("engineer", f"{base}/{key}", {"state": "failed"}).status_code == 200

    said = [record.getMessage() for record in caplog.records if record.name == "notify.outbox"]
    assert said == [
        "notifications left for the sweep: the queue cannot be reached (OperationalError)",
        "notifications left for the sweep: the queue was unreachable moments ago",
    ]
    assert set(Delivery.objects.values_list("kind", "status")) == {("item_failed", "pending")}
    assert Delivery.objects.count() == 2
