"""Every open deployment page learns of others' changes: the change log (core.live) and the poll's answer."""

import re

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklists.items import item_state_set
from checklists.signoffs import signoff_record
from checklists.tests.test_views_deployment import HX, keys_in, row_html
from core import live
from core.live import live_changes, live_touch, live_version


def since_of(html: str) -> int:
    return int(re.search(r'id="live-since" name="since" value="(\d+)"', html).group(1))


def poll(client, deployment, since: int, extra: str = ""):
    return client.get(reverse("deployment", args=[deployment.pk]) + f"?part=changes&since={since}{extra}", **HX)


@pytest.fixture(params=["redis", "memory"])
def store(request, settings):
    """The log as production keeps it (Redis, when REDIS_URL is set) and as a lone process does."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs REDIS_URL")
    else:
        settings.REDIS_URL = ""
        live._stores.pop("", None)
    return request.param


def test_log_names_the_keys_changed_after_a_version(db, store, django_capture_on_commit_callbacks):
    start = live_version(10**9)
    with django_capture_on_commit_callbacks(execute=True):
        live_touch(10**9, ["a", "b"])
        live_touch(10**9, ["b"])  # one transaction: one version
    middle = live_version(10**9)
    assert middle == start + 1
    with django_capture_on_commit_callbacks(execute=True):
        live_touch(10**9, ["c"])
    assert live_changes(10**9, middle).keys == {"c"}
    changes = live_changes(10**9, start)
    assert changes.keys == {"a", "b", "c"} and not changes.everything and changes.version == middle + 1
    assert live_changes(10**9, middle + 1).none


def test_log_asks_for_everything_on_a_lock_or_when_the_page_is_ahead_of_it(db, store, django_capture_on_commit_callbacks):
    version = live_version(10**9 + 1)
    with django_capture_on_commit_callbacks(execute=True):
        live_touch(10**9 + 1, everything=True)
    assert live_changes(10**9 + 1, version).everything
    assert live_changes(10**9 + 1, version + 50).everything  # the log was lost: the page renders everything


def test_rolled_back_change_tells_no_page(db, store):
    version = live_version(10**9 + 2)
    live_touch(10**9 + 2, ["x"])  # inside the test's transaction, never committed
    assert live_version(10**9 + 2) == version


def test_page_asks_for_changes_every_second_and_hears_nothing_when_nothing_changed(client, people, deployment):
    client.force_login(people["viewer"])
    html = client.get(reverse("deployment", args=[deployment.pk])).content.decode()
    since = since_of(html)
    assert f"?part=changes&amp;since={since}" in html and 'hx-trigger="every 1s"' in html
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        response = poll(client, deployment, since)
    assert response.status_code == 204 and response.content == b""
    assert not any("checklists_itemstate" in query["sql"] for query in context.captured_queries)
    assert len(context.captured_queries) <= 4  # the session, the person, the deployment, their roles


def test_another_persons_tick_comes_back_as_its_row_and_the_panels(
    client, people, deployment, django_capture_on_commit_callbacks
):
    client.force_login(people["viewer"])
    since = since_of(client.get(reverse("deployment", args=[deployment.pk])).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    response = poll(client, deployment, since)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"')
    assert keys_in(html) == {"rollback"}
    row = row_html(html, "rollback")
    assert 'data-item-state="passed"' in row and 'hx-swap-oob="true"' in row
    for region in ('id="summary"', 'id="filters"', 'id="progress-summary"', 'id="signoff"', 'id="progress-section-'):
        assert region in html, region
    assert "Changed by others:" in html and "(engineer)" in html
    assert since_of(html) > since
    assert poll(client, deployment, since_of(html)).status_code == 204


def test_probe_result_that_keeps_the_state_still_brings_the_new_run(
    client, people, deployment, probe_result, django_capture_on_commit_callbacks
):
    probe_result(deployment, "health", "passed")
    client.force_login(people["viewer"])
    since = since_of(client.get(reverse("deployment", args=[deployment.pk])).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        probe_result(deployment, "health", "passed", duration_ms=777)
    html = poll(client, deployment, since).content.decode()
    assert "777 ms" in row_html(html, "health") or "0.8 s" in row_html(html, "health")


def test_runs_in_flight_count_down_with_new_failures(client, people, deployment, probe_result, django_capture_on_commit_callbacks):
    client.force_login(people["viewer"])
    since = since_of(client.get(reverse("deployment", args=[deployment.pk])).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        run = probe_result(deployment, "health", None)
    html = poll(client, deployment, since).content.decode()
    assert "1 probe run in progress" in html and "&amp;batch=1&amp;failed=0" in html
    from probes.runners.base import Observation
    from probes.services import results_record

    with django_capture_on_commit_callbacks(execute=True):
        results_record({run.pk: Observation(status="failed", message="503", duration_ms=5)})
    html = poll(client, deployment, since_of(html), "&batch=2&failed=0").content.decode()
    assert "in progress" not in html and "batch=" not in html  # nothing in flight: the count is done
    assert 'data-item-state="failed"' in row_html(html, "health")


def test_lock_by_a_lead_swaps_the_whole_page(client, people, ready_deployment, django_capture_on_commit_callbacks):
    from checklists.selectors import deployment_digest

    client.force_login(people["engineer"])
    html = client.get(reverse("deployment", args=[ready_deployment.pk])).content.decode()
    assert "Mark passed" in html or "Back to pending" in html
    with django_capture_on_commit_callbacks(execute=True):
        signoff_record(
            deployment_id=ready_deployment.pk, role="lead", digest=deployment_digest(ready_deployment),
            actor=people["lead"], source="api",
        )
    response = poll(client, ready_deployment, since_of(html))
    assert response["HX-Retarget"] == "#deployment-page" and response["HX-Reswap"] == "outerHTML"
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="deployment-page">')
    assert "Signed off and locked" in body and "Back to pending" not in body


def test_poll_answer_reads_the_same_queries_for_229_and_2290_items(
    client, people, seed_deployment, big_deployment, django_capture_on_commit_callbacks
):
    client.force_login(people["lead"])
    client.get(reverse("dashboard"))
    counts = []
    for deployment in (seed_deployment, big_deployment):
        since = live_version(deployment.pk)
        key = deployment.version.items.filter(probe__isnull=True, has_children=False).order_by("position")[0].key
        with django_capture_on_commit_callbacks(execute=True):
            item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
        reset_queries()
        with CaptureQueriesContext(connection) as context:
            response = poll(client, deployment, since)
        assert response.status_code == 200 and keys_in(response.content.decode()) == {key}
        counts.append(len(context.captured_queries))
    assert counts[0] == counts[1], counts


def test_pages_are_never_stored_and_go_out_compressed(client, people, seed_deployment):
    client.force_login(people["viewer"])
    response = client.get(reverse("deployment", args=[seed_deployment.pk]), HTTP_ACCEPT_ENCODING="gzip")
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Encoding"] == "gzip" and len(response.content) < 60_000


def test_pages_asking_the_same_share_one_rendered_answer_without_a_csrf_token_of_its_own(
    client, people, deployment, django_capture_on_commit_callbacks
):
    from django.test import Client

    from conftest import make_user

    client.force_login(people["viewer"])
    since = since_of(client.get(reverse("deployment", args=[deployment.pk])).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    first = poll(client, deployment, since).content
    other = Client()  # the same person's second tab: rows say "assigned to you" and the chips count their items,
    other.force_login(people["viewer"])  # so what is shared is shared between one person's pages
    other.get("/")
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        second = poll(other, deployment, since).content
    assert second == first
    assert not any("checklists_itemstate" in query["sql"] for query in context.captured_queries)
    engineer = Client()
    engineer.force_login(people["engineer"])
    engineer.get("/")
    answer = poll(engineer, deployment, since).content
    assert answer != first and b"Back to pending" in answer  # what a person may do is part of the question
    colleague = Client()
    colleague.force_login(make_user("viewer2", "viewer"))
    colleague.get("/")
    with CaptureQueriesContext(connection) as context:
        poll(colleague, deployment, since)
    assert any("checklists_itemstate" in query["sql"] for query in context.captured_queries)  # rendered for them
    assert not re.search(rb'name="csrfmiddlewaretoken" value="[^"]+"', answer)  # htmx sends the page's own
