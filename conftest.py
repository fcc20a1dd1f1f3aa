"""Fixtures shared by every app's tests: people in each role, the seed checklist, a deployment."""

from pathlib import Path

import pytest

from core.actors import SYSTEM

SEED = Path(__file__).resolve().parent / "checklists" / "data" / "production-readiness-checklist.md"
ROLES = ("viewer", "engineer", "lead", "admin")


def pytest_configure(config):
    from django.conf import settings

    # Tests make many users; the production hasher's cost only slows them down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests queue runs when they mean to (a count of runs is what many of them check); the test of a new
    # deployment's first runs turns it back on.
    settings.CTRLREADY_RUN_ON_CREATE = False


def make_user(username: str, role: str | None):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])  # flushed by transactional tests
    return user


@pytest.fixture
def queue():
    """A task queue of the test's own on the real Redis, for a real worker (probes/tests/worker.py) to serve."""
    import uuid

    from django.db import connection

    from ctrlready.celery import app
    from probes.tests.worker import require_worker_services

    require_worker_services(connection)
    name = f"test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = previous


@pytest.fixture(autouse=True)
def queue_reachable_again():
    """A publish that failed in one test (a stopped Redis) must not make the next skip the broker (core.queue)."""
    from core import queue

    queue._failed_at = None
    yield
    queue._failed_at = None


@pytest.fixture
def people(db):
    """One user per role, plus `outsider` who has none."""
    users = {role: make_user(role, role) for role in ROLES}
    users["outsider"] = make_user("outsider", None)
    return users


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def environment(db):
    from checklists.models import Environment, Service

    service = Service.objects.create(name="ctrlchecks-api")
    return Environment.objects.create(
        service=service, name="staging", base_url="http://127.0.0.1:9", allowed_hosts=[]
    )


@pytest.fixture
def small_checklist(db):
    """A short checklist with a manual item, an optional one, a parent with children and an automated one."""
    from checklists.imports import checklist_import

    text = """# Small checklist

## Ops

- [ ] Rollback plan ready {#rollback}
- [ ] Alerts configured for: {#alerts}
  - [ ] Service down {#alerts-down}
  - [ ] High error rate {#alerts-errors}
- [ ] Health answers {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
  -->

## Extras (Optional)

- [ ] Nice to have {#nice}
"""
    return checklist_import(markdown=text, name="Small checklist", actor=SYSTEM, source="cli").version


@pytest.fixture
def deployment(people, environment, small_checklist):
    from checklists.deployments import deployment_create

    return deployment_create(
        environment=environment,
        checklist_slug=small_checklist.checklist.slug,
        release="v1.0.0",
        actor=people["engineer"],
        source="api",
    )


class ApiCaller:
    """Calls /api/v1/ as a person with their own API token: `api.post("lead", "deployments/1/reopen", {...})`.

    `who` is a key of `people`, a User, or None (no Authorization header).
    """

    def __init__(self, client, people):
        self.client = client
        self.people = people
        self.tokens = {}

    def token(self, who) -> str:
        from core.tokens import api_token_create

        user = self.people[who] if isinstance(who, str) else who
        if user.pk not in self.tokens:
            self.tokens[user.pk] = api_token_create(user=user, name="tests")
        return self.tokens[user.pk]

    def _headers(self, who) -> dict:
        return {} if who is None else {"HTTP_AUTHORIZATION": f"Bearer {self.token(who)}"}

    def get(self, who, path: str, **params):
        return self.client.get(f"/api/v1/{path}", params, **self._headers(who))

    def post(self, who, path: str, body=None, **extra):
        return self._send(self.client.post, who, path, body, **extra)

    def put(self, who, path: str, body=None, **extra):
        return self._send(self.client.put, who, path, body, **extra)

    def _send(self, method, who, path: str, body, **extra):
        import json

        data = body if isinstance(body, (str, bytes)) else json.dumps(body if body is not None else {})
        return method(f"/api/v1/{path}", data, content_type="application/json", **self._headers(who), **extra)


@pytest.fixture
def api(client, people):
    """The JSON API as each person in `people` (see ApiCaller)."""
    return ApiCaller(client, people)


# --- Pages (views and browser tests) ------------------------------------------


def _repeat_checklist(text: str, copies: int) -> str:
    """The seed checklist `copies` times over, each copy's top-level sections renamed so keys stay unique."""
    title, _, body = text.partition("\n")
    parts = []
    for copy in range(1, copies + 1):
        lines = [f"{line} — part {copy}" if line.startswith("## ") else line for line in body.split("\n")]
        parts.append("\n".join(lines))
    return title + "\n" + "\n".join(parts)


@pytest.fixture
def seed_deployment(people, environment, seed_text):
    """An open deployment of the 229-item seed checklist."""
    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import

    version = checklist_import(markdown=seed_text, name="Production readiness", actor=SYSTEM, source="cli").version
    return deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v2.0.0",
        actor=people["engineer"], source="api",
    )


@pytest.fixture
def big_deployment(people, environment, seed_text):
    """An open deployment of a 2,290-item checklist: the seed ten times over."""
    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import

    version = checklist_import(
        markdown=_repeat_checklist(seed_text, 10), name="Big readiness", actor=SYSTEM, source="cli"
    ).version
    return deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v3.0.0",
        actor=people["engineer"], source="api",
    )


@pytest.fixture
def broker_up(monkeypatch):
    """Run requests see a reachable queue; nothing is published (tests never commit)."""
    monkeypatch.setattr("probes.services.broker_reachable", lambda timeout=2.0: True)


@pytest.fixture
def broker_down(monkeypatch):
    monkeypatch.setattr("probes.services.broker_reachable", lambda timeout=2.0: False)


@pytest.fixture
def report_queue(monkeypatch):
    """PDF drawings see a reachable queue; the ids of the report files sent to it are listed here, and
    nothing is published (a test draws them by calling the task, or lets a real worker do it)."""
    sent: list[int] = []

    def send(name, *, args=(), **options):
        assert name == "checklists.draw_report", name
        sent.append(*args)

    monkeypatch.setattr("checklists.report_files.broker_reachable", lambda timeout=2.0: True)
    monkeypatch.setattr("checklists.report_files.task_send", send)
    return sent


@pytest.fixture
def probe_result(people, broker_up):
    """`probe_result(deployment, key, "passed"|"failed"|None)`: request a run, and finish it unless None."""
    from checklists.conditions import ConditionResult
    from probes.models import ProbeRun
    from probes.runners.base import Observation
    from probes.services import results_record, runs_request

    def record(deployment, key: str, status: str | None, *, duration_ms: int = 42, observed=200, message=None):
        runs_request(deployment_id=deployment.pk, keys=[key], actor=people["engineer"], source="api")
        run = ProbeRun.objects.filter(deployment=deployment, item__key=key).order_by("-id").first()
        if status is not None:
            ok = status == "passed"
            results_record({run.pk: Observation(
                status=status, duration_ms=duration_ms,
                message=message if message is not None else "" if ok else "The health check answered 503.",
                conditions=[ConditionResult("[STATUS] == 200", ok, observed)],
            )})
            run.refresh_from_db()
        return run

    return record


@pytest.fixture
def ready_deployment(deployment, people, probe_result):
    """The small checklist's deployment with nothing blocking: manual items ticked, the probe passed."""
    from checklists.items import item_state_set

    for key in ("rollback", "alerts-down", "alerts-errors"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    probe_result(deployment, "health", "passed")
    return deployment


@pytest.fixture
def fernet_key(settings):
    """A fresh CTRLREADY_SECRET_KEYS, so secrets can be stored in the test."""
    from cryptography.fernet import Fernet

    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode()]
    return settings.CTRLREADY_SECRET_KEYS[0]
