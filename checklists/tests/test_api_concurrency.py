"""Concurrent ticks and sign-offs on PostgreSQL: no lost change, one event per change, one sign-off."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, connections

from checklists.deployments import deployment_create
from checklists.facts import ready_recheck
from checklists.imports import checklist_import
from checklists.items import item_state_set
from checklists.models import ItemState, SignOff
from checklists.selectors import deployment_snapshot
from checklists.signoffs import DigestMoved, signoff_record
from conftest import make_user
from core.actors import SYSTEM
from core.errors import Conflict
from core.models import Event, Membership, Team
from core.teams import membership_set

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


@contextmanager
def pause_after(statement: str, wait):
    """In this thread, call `wait()` once, right after the first statement that starts with `statement` ran
    (still inside its transaction, holding whatever locks it took)."""
    waited = []

    def hook(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not waited and sql.startswith(statement):
            waited.append(True)
            wait()
        return result

    with connection.execute_wrapper(hook):
        yield


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


def _pass_all_but(deployment, actor, keys):
    for n in range(40):
        if f"i{n}" not in keys:
            item_state_set(deployment_id=deployment.pk, key=f"i{n}", state="passed", actor=actor, source="api")


def test_two_ticks_clearing_the_last_two_blockers_together_append_ready_for_signoff_once(people, forty_items):
    deployment = forty_items
    _pass_all_but(deployment, people["engineer"], {"i38", "i39"})
    bob = make_user("bob", "engineer")
    # Both ticks have written their item and asked whether anything else blocks before either commits:
    # each sees the other's item still pending. (With the deployment's row taken `FOR UPDATE`, the
    # second would wait for the first's lock and this barrier would time out.)
    both_written = threading.Barrier(2)

    def tick(key, actor):
        def job():
            with pause_after('INSERT INTO "core_event"', lambda: both_written.wait(timeout=10)):
                item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=actor, source="api")
        return job

    assert run_together([tick("i38", people["engineer"]), tick("i39", bob)]) == [None, None]

    assert not ItemState.objects.filter(deployment=deployment).exclude(state="passed").exists()
    ready = Event.objects.filter(deployment_ref=deployment.pk, kind="ready_for_signoff")
    assert ready.count() == 1
    assert ready.get().pk > Event.objects.filter(deployment_ref=deployment.pk, item_key__in=["i38", "i39"]).latest("pk").pk


def test_two_children_ticked_together_leave_their_parent_passed(people, environment):
    markdown = "# Nested\n\n## Ops\n\n- [ ] Parent {#p}\n  - [ ] Left {#l}\n  - [ ] Right {#r}\n"
    checklist_import(markdown=markdown, name="Nested", actor=SYSTEM, source="cli")
    deployment = deployment_create(
        environment=environment, checklist_slug="nested", release="r1", actor=people["engineer"], source="api"
    )
    both_written = threading.Barrier(2)  # both children updated, neither committed, before either asks its parent

    def tick(key):
        def job():
            with pause_after('UPDATE "checklists_itemstate"', lambda: both_written.wait(timeout=10)):
                item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
        return job

    assert run_together([tick("l"), tick("r")]) == [None, None]

    states = dict(ItemState.objects.filter(deployment=deployment).values_list("item__key", "state"))
    assert states == {"p": "passed", "l": "passed", "r": "passed"}
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="state", item_key="p", after="passed").count() == 1
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="ready_for_signoff").count() == 1


def test_a_signoff_waits_for_a_tick_in_flight_and_then_refuses_the_state_it_no_longer_shows(people, forty_items):
    deployment = forty_items
    _pass_all_but(deployment, people["engineer"], set())
    digest = deployment_snapshot(deployment).digest  # what the lead looked at
    signing = threading.Event()

    def hold_until_the_signoff_waits():
        assert signing.wait(timeout=10)
        time.sleep(0.5)  # the sign-off is now asking for the deployment's row, which this tick holds

    def tick():
        with pause_after('UPDATE "checklists_itemstate"', hold_until_the_signoff_waits):
            item_state_set(deployment_id=deployment.pk, key="i0", state="na", note="no longer applies",
                           actor=people["engineer"], source="api")

    def sign():
        time.sleep(0.2)  # the tick has its lock
        signing.set()
        signoff_record(deployment_id=deployment.pk, role="lead", digest=digest, actor=people["lead"], source="api")

    tick_outcome, sign_outcome = run_together([tick, sign])

    assert tick_outcome is None
    assert isinstance(sign_outcome, DigestMoved)
    assert not SignOff.objects.filter(deployment=deployment).exists()
    assert ItemState.objects.get(deployment=deployment, item__key="i0").state == "na"


def test_a_ready_recheck_appends_once_however_many_ask(people, forty_items):
    deployment = forty_items
    _pass_all_but(deployment, people["engineer"], {"i39"})
    tick = Event.objects.filter(deployment_ref=deployment.pk).latest("pk")
    recheck = dict(deployment_id=deployment.pk, after=tick.pk, actor=people["engineer"], source="api")
    assert ready_recheck(**recheck) is False  # i39 still blocks
    # i39 passed by a change the tick above never saw (its commit came after the tick's question)
    ItemState.objects.filter(deployment=deployment, item__key="i39").update(state="passed")

    assert ready_recheck(**recheck) is True
    assert ready_recheck(**recheck) is False  # the other change's re-check, or this one's again
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="ready_for_signoff").count() == 1


def test_two_admins_demoting_each_other_at_once_leave_the_team_one_admin():
    team = Team.objects.create(slug="platform", name="Platform")
    ann, bob = make_user("ann", None), make_user("bob", None)
    Membership.objects.bulk_create([Membership(team=team, user=ann, role="admin"), Membership(team=team, user=bob, role="admin")])

    def demote(user, actor):
        return lambda: membership_set(team=team, user=user, role="viewer", actor=actor, source="api")

    outcomes = run_together([demote(bob, ann), demote(ann, bob)])

    assert sum(outcome is None for outcome in outcomes) == 1
    assert [str(o) for o in outcomes if o is not None][0].endswith("or nobody could manage its members.")
    assert Membership.objects.filter(team=team, role="admin").count() == 1
