"""A deployment's history read by keyset: every event once, in order, whatever the page's depth."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.selectors import deployment_events_page
from core.actors import SYSTEM
from core.events import event_fields
from core.models import Event


def add_events(deployment, people, count: int, *, same_moment_every: int = 1) -> list[int]:
    """`count` events, oldest first; every `same_moment_every` of them share one timestamp."""
    items = list(deployment.version.items.order_by("position"))
    start = timezone.now() - timedelta(days=30)
    created = Event.objects.bulk_create(
        Event(**event_fields(
            kind=("note", "state", "probe_result", "run_requested")[n % 4], source="api",
            actor=(people["engineer"], people["lead"], SYSTEM)[n % 3], deployment=deployment,
            item=items[n % len(items)], before="pending", after="passed", note=f"event {n}",
        ))
        for n in range(count)
    )
    for n, event in enumerate(created):  # auto_now_add stamped them all now: put each back at its moment
        event.at = start + timedelta(seconds=n // same_moment_every)
    Event.objects.bulk_update(created, ["at"], batch_size=500)
    return [event.pk for event in created]


def walk_older(deployment, **filters):
    pages, before = [], None
    while True:
        page = deployment_events_page(deployment_id=deployment.pk, filters=filters or None, before=before, per_page=7)
        pages.append(page)
        if page.older is None:
            return pages
        before = page.older


def own_events(deployment) -> list[int]:
    return list(Event.objects.filter(deployment_ref=deployment.pk).order_by("-at", "-id").values_list("id", flat=True))


@pytest.mark.parametrize("same_moment_every", [1, 5])
def test_walking_older_reads_every_event_once_newest_first(deployment, people, same_moment_every):
    add_events(deployment, people, 40, same_moment_every=same_moment_every)
    pages = walk_older(deployment)
    read = [event.pk for page in pages for event in page.events]
    assert read == own_events(deployment)  # 41 with the deployment's creation, ties broken by id
    assert [len(page.events) for page in pages] == [7] * 5 + [6]
    assert pages[0].newer is None and all(page.newer == page.events[0].pk for page in pages[1:])


def test_walking_newer_gives_back_the_same_pages(deployment, people):
    add_events(deployment, people, 30, same_moment_every=3)
    pages = walk_older(deployment)
    back, after = [], pages[-1].newer
    while after is not None:
        page = deployment_events_page(deployment_id=deployment.pk, after=after, per_page=7)
        back.append([event.pk for event in page.events])
        after = page.newer
    assert back[::-1] == [[event.pk for event in page.events] for page in pages[:-1]]


def test_filters_hold_on_every_page(deployment, people):
    add_events(deployment, people, 60)
    notes_by_lead = walk_older(deployment, kind="note", person="lead")
    read = [event for page in notes_by_lead for event in page.events]
    expected = Event.objects.filter(deployment_ref=deployment.pk, kind="note", actor_name="lead").order_by("-at", "-id")
    assert [event.pk for event in read] == list(expected.values_list("id", flat=True)) and read
    by_item = walk_older(deployment, item="rollback", person="")
    assert {event.item_key for page in by_item for event in page.events} == {"rollback"}


def test_a_cursor_from_another_deployment_gives_the_newest_page(deployment, people, small_checklist):
    from checklists.deployments import deployment_create

    other = deployment_create(
        environment=deployment.environment, checklist_slug=small_checklist.checklist.slug, release="v9",
        actor=people["engineer"], source="api",
    )
    add_events(deployment, people, 10)
    foreign = Event.objects.filter(deployment_ref=other.pk).first().pk
    newest = deployment_events_page(deployment_id=deployment.pk, per_page=7)
    assert deployment_events_page(deployment_id=deployment.pk, before=foreign, per_page=7) == newest
    assert deployment_events_page(deployment_id=deployment.pk, before=10**9, per_page=7) == newest


@pytest.mark.parametrize("count", [200, 2000])
def test_any_page_takes_two_queries_however_long_the_history(deployment, people, count, django_assert_num_queries):
    ids = add_events(deployment, people, count)
    with django_assert_num_queries(1):
        deployment_events_page(deployment_id=deployment.pk)
    with django_assert_num_queries(2):
        oldest = deployment_events_page(deployment_id=deployment.pk, before=ids[60])
    assert [event.pk for event in oldest.events] == ids[59::-1][:50]
    with django_assert_num_queries(2):
        deployment_events_page(deployment_id=deployment.pk, filters={"kind": "note"}, after=ids[10])
