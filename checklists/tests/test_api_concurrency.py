"""Concurrent ticks and sign-offs on PostgreSQL: no lost change, one event per change, one sign-off."""

import threading

import pytest
from django.db import connection, connections

from checklists.models import ItemState, SignOff
from checklists.selectors import deployment_snapshot
from checklists.services import checklist_import, deployment_create, item_state_set, signoff_record
from conftest import make_user
from core.actors import SYSTEM
from core.errors import Conflict
from core.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks are what is tested; SQLite serialises every writer (set DATABASE_URL to PostgreSQL)",
    ),
]


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """A transactional test flushes the tables, groups made by the migration included: make them again."""
    from django.contrib.auth.models import Group

    for name in ("viewer", "engineer", "lead", "admin"):
        Group.objects.get_or_create(name=name)


def run_together(jobs):
    """Start every job at the same moment in its own thread (own connection); return what each raised."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait(timeout=10)
            job()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def forty_items(people, environment):
    markdown = "# Forty\n\n## Ops\n\n" + "".join(f"- [ ] Item {n} {{#i{n}}}\n" for n in range(40))
    checklist_import(markdown=markdown, name="Forty", actor=SYSTEM, source="cli")
    return deployment_create(
        environment=environment, checklist_slug="forty", release="r1", actor=people["engineer"], source="api"
    )


def test_two_people_ticking_different_and_the_same_items_lose_nothing(people, forty_items):
    deployment = forty_items
    alice = people["engineer"]
    bob = make_user("bob", "engineer")
    last_event = Event.objects.latest("id").id

    def alice_ticks():  # i0..i19 passed
        for n in range(20):
            item_state_set(deployment_id=deployment.pk, key=f"i{n}", state="passed", actor=alice, source="api")

    def bob_ticks():  # i10..i29 passed (i10..i19 at the same time as alice), then notes on i0..i9
        for n in range(10, 30):
            item_state_set(deployment_id=deployment.pk, key=f"i{n}", state="passed", actor=bob, source="api")
        for n in range(10):
            item_state_set(deployment_id=deployment.pk, key=f"i{n}", note="seen by bob", actor=bob, source="api")

    assert run_together([alice_ticks, bob_ticks]) == [None, None]

    states = {s.item.key: s for s in ItemState.objects.filter(deployment=deployment).select_related("item")}
    assert {key for key, s in states.items() if s.state == "passed"} == {f"i{n}" for n in range(30)}
    assert all(states[f"i{n}"].note == "seen by bob" for n in range(10))
    events = Event.objects.filter(pk__gt=last_event)
    assert events.count() == 30 + 10
    ticks = list(events.filter(kind="state").values_list("item_key", flat=True))
    assert sorted(ticks) == sorted(f"i{n}" for n in range(30))  # exactly one event per item that changed
    assert events.filter(kind="note").count() == 10


def test_twenty_concurrent_signoffs_for_one_role_give_exactly_one(people, forty_items):
    deployment = forty_items
    for n in range(40):
        item_state_set(deployment_id=deployment.pk, key=f"i{n}", state="passed", actor=people["engineer"], source="api")
    digest = deployment_snapshot(deployment).digest
    leads = [make_user(f"lead{n}", "lead") for n in range(20)]

    def sign(user):
        return lambda: signoff_record(deployment_id=deployment.pk, role="lead", digest=digest, actor=user, source="api")

    outcomes = run_together([sign(user) for user in leads])

    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(outcome, Conflict) for outcome in outcomes if outcome is not None)
    assert SignOff.objects.filter(deployment=deployment).count() == 1
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="signoff").count() == 1
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="signed_off").count() == 1
    deployment.refresh_from_db()
    assert deployment.status == "signed_off"
