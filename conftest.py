"""Fixtures shared by every app's tests: people in each role, the seed checklist, a deployment."""

from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parent / "checklists" / "data" / "production-readiness-checklist.md"
ROLES = ("viewer", "engineer", "lead", "admin")


def pytest_configure(config):
    from django.conf import settings

    # Tests make many users; the production hasher's cost only slows them down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


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
    from probes.models import Environment, Service

    service = Service.objects.create(name="ctrlchecks-api")
    return Environment.objects.create(
        service=service, name="staging", base_url="http://127.0.0.1:9", allowed_hosts=[]
    )


@pytest.fixture
def small_checklist(db):
    """A short checklist with a manual item, an optional one, a parent with children and an automated one."""
    from checklists.services import checklist_import

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
    return checklist_import(markdown=text, name="Small checklist", source="cli").version


@pytest.fixture
def deployment(people, environment, small_checklist):
    from checklists.services import deployment_create

    return deployment_create(
        environment=environment,
        checklist_slug=small_checklist.checklist.slug,
        release="v1.0.0",
        actor=people["engineer"],
        source="api",
    )
