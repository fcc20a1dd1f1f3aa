"""Dashboard, history, environment page and people page."""

import re
from datetime import timedelta

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.items import item_state_set
from checklists.models import ItemState
from checklists.selectors import deployment_digest, deployment_overview, deployment_snapshot, deployment_summaries
from core.models import Event


def _queries(client, url) -> int:
    client.get(url)
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


# --- Dashboard ---------------------------------------------------------------------


def test_dashboard_shows_latest_deployment_per_environment(client, people, deployment, environment, small_checklist):
    newer = deployment_create(
        environment=environment, checklist_slug=small_checklist.checklist.slug, release="v1.1.0",
        actor=people["engineer"], source="web",
    )
    item_state_set(deployment_id=newer.pk, key="rollback", state="failed", actor=people["engineer"], source="web")
    client.force_login(people["viewer"])
    html = client.get(reverse("dashboard")).content.decode()
    assert "ctrlchecks-api" in html and "staging" in html
    assert "v1.1.0" in html and "v1.0.0" not in html
    row = re.search(r'<tr data-environment="%d">.*?</tr>' % environment.pk, html, re.S).group(0)
    assert re.search(r'data-label="Failed" class="num c-failed">1<', row)
    assert re.search(r'data-label="Blocking" class="num c-blocking">5<', row)
    assert "Not ready" in row


def test_dashboard_summary_and_overview_agree_with_the_snapshot(people, ready_deployment, probe_result):
    item_state_set(deployment_id=ready_deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="web")
    ItemState.objects.filter(deployment=ready_deployment, item__key="health").update(
        last_passed_at=timezone.now() - timedelta(hours=3)
    )
    snapshot = deployment_snapshot(ready_deployment)
    summary = deployment_summaries([ready_deployment.pk])[ready_deployment.pk]
    overview = deployment_overview(ready_deployment)
    assert snapshot.progress["stale"] == 1
    for key, value in snapshot.progress.items():
        assert summary[key] == value == overview.progress[key], key
    assert [line.key for line in overview.blocking] == [row.item.key for row in snapshot.blocking]
    assert deployment_digest(ready_deployment) == snapshot.digest


def test_dashboard_counts_stale_items(client, people, ready_deployment, settings):
    settings.CTRLREADY_RESULT_TTL_MINUTES = 0
    summary = deployment_summaries([ready_deployment.pk])[ready_deployment.pk]
    assert summary["stale"] == 1 and summary["blocking"] == 1


def test_dashboard_shows_signed_off(client, people, ready_deployment):
    from checklists.signoffs import signoff_record

    signoff_record(
        deployment_id=ready_deployment.pk, role="lead", digest=deployment_snapshot(ready_deployment).digest,
        actor=people["lead"], source="api",
    )
    client.force_login(people["viewer"])
    assert "Signed off" in client.get(reverse("dashboard")).content.decode()


def test_dashboard_queries_do_not_grow_with_deployments(client, people, deployment, small_checklist):
    from checklists.models import Environment

    client.force_login(people["viewer"])
    before = _queries(client, reverse("dashboard"))
    for name in ("qa", "prod", "perf"):
        env = Environment.objects.create(service=deployment.environment.service, name=name, base_url="http://127.0.0.1:9")
        deployment_create(
            environment=env, checklist_slug=small_checklist.checklist.slug, release="r", actor=people["engineer"],
            source="web",
        )
    assert _queries(client, reverse("dashboard")) == before


def test_dashboard_environment_without_deployment(client, people, environment):
    client.force_login(people["viewer"])
    assert "No deployment yet" in client.get(reverse("dashboard")).content.decode()


# --- History -------------------------------------------------------------------------


def _history(client, deployment, query=""):
    return client.get(reverse("deployment-history", args=[deployment.pk]) + query).content.decode()


def test_history_is_newest_first(client, people, deployment):
    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="web")
    item_state_set(deployment_id=deployment.pk, key="nice", state="na", actor=people["lead"], source="api")
    client.force_login(people["viewer"])
    kinds = re.findall(r'<tr data-event-kind="([a-z_]+)"', _history(client, deployment))
    assert kinds == ["state", "state", "deployment_created"]
    html = _history(client, deployment)
    # Items by their text, linked; states as people read them.
    assert html.index(">Nice to have</a>") < html.index(">Rollback plan ready</a>")
    assert "Pending → N/A" in html and "Pending → Passed" in html


def test_history_filters_by_item_person_and_kind(client, people, deployment):
    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="web")
    item_state_set(deployment_id=deployment.pk, key="rollback", note="see wiki", actor=people["lead"], source="web")
    item_state_set(deployment_id=deployment.pk, key="nice", state="na", actor=people["lead"], source="web")
    client.force_login(people["viewer"])
    rows = lambda html: re.findall(r'<tr data-event-kind="([a-z_]+)"', html)  # noqa: E731
    assert rows(_history(client, deployment, "?item=rollback")) == ["note", "state"]
    assert rows(_history(client, deployment, "?person=lead")) == ["state", "note"]
    assert rows(_history(client, deployment, "?kind=note")) == ["note"]
    assert rows(_history(client, deployment, "?item=rollback&person=engineer")) == ["state"]
    assert "No event matches" in _history(client, deployment, "?person=nobody")


def test_history_pages_by_keyset_older_and_newer(client, people, deployment):
    for index in range(60):
        item_state_set(
            deployment_id=deployment.pk, key="rollback", note=f"note {index}", actor=people["engineer"], source="web"
        )
    client.force_login(people["viewer"])
    first = _history(client, deployment, "?kind=note")
    assert first.count('data-event-kind="note"') == 50 and "note 59" in first and "note 9<" not in first
    older = re.search(r'href="(\?kind=note&amp;before=\d+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "Newer" not in first
    second = _history(client, deployment, older)
    assert second.count('data-event-kind="note"') == 10 and "note 0" in second and "note 10<" not in second
    assert 'rel="next"' not in second  # nothing older
    newer = re.search(r'href="(\?kind=note&amp;after=\d+)" rel="prev"', second).group(1).replace("&amp;", "&")
    assert _history(client, deployment, newer).count('data-event-kind="note"') == 50


def test_history_queries_do_not_grow_with_events(client, people, deployment):
    client.force_login(people["viewer"])
    url = reverse("deployment-history", args=[deployment.pk])
    before = _queries(client, url)
    for index in range(120):
        key = ("rollback", "alerts-down", "alerts-errors")[index % 3]
        item_state_set(deployment_id=deployment.pk, key=key, note=f"note {index}", actor=people["engineer"], source="web")
    oldest = Event.objects.filter(deployment_ref=deployment.pk).order_by("at", "id").values_list("pk", flat=True)[5]
    assert _queries(client, url) == before
    assert _queries(client, url + f"?kind=note&before={oldest}") == before + 1  # the cursor's own row, at any depth


def test_environment_page_queries_do_not_grow_with_deployments(client, people, environment, deployment, small_checklist):
    client.force_login(people["viewer"])
    url = reverse("environment", args=[environment.pk])
    before = _queries(client, url)
    for release in ("r2", "r3", "r4"):
        deployment_create(
            environment=environment, checklist_slug=small_checklist.checklist.slug, release=release,
            actor=people["engineer"], source="web",
        )
    assert _queries(client, url) == before


def test_history_survives_a_renamed_user(client, people, deployment):
    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="web")
    people["engineer"].username = "renamed"
    people["engineer"].save()
    client.force_login(people["viewer"])
    assert "<td data-label=\"Who\">engineer</td>" in _history(client, deployment)


# --- Environment page -------------------------------------------------------------------


def test_environment_page_shows_settings_and_secret_names_never_values(client, people, environment, deployment, fernet_key):
    from checklists.environments import secret_set

    environment.variables = {"APP_DIR": "/srv/app"}
    environment.allowed_hosts = ["db.internal"]
    environment.save()
    secret_set(environment=environment, name="API_TOKEN", value="s3cr3t-value", actor=people["admin"], source="web")
    client.force_login(people["viewer"])
    html = client.get(reverse("environment", args=[environment.pk])).content.decode()
    assert "API_TOKEN" in html and "s3cr3t-value" not in html
    assert "APP_DIR" in html and "/srv/app" in html and "db.internal" in html
    assert "v1.0.0" in html and "Open" in html


def test_environment_lists_deployments_newest_first_with_outcome(client, people, environment, ready_deployment, small_checklist):
    from checklists.signoffs import signoff_record

    signoff_record(
        deployment_id=ready_deployment.pk, role="lead", digest=deployment_snapshot(ready_deployment).digest,
        actor=people["lead"], source="api",
    )
    deployment_create(
        environment=environment, checklist_slug=small_checklist.checklist.slug, release="v2.0.0",
        actor=people["engineer"], source="web",
    )
    client.force_login(people["viewer"])
    html = client.get(reverse("environment", args=[environment.pk])).content.decode()
    assert html.index("v2.0.0") < html.index("v1.0.0")
    assert "Signed off" in html and "5/6" in html


def test_new_deployment_form_only_for_engineers(client, people, environment, small_checklist):
    client.force_login(people["viewer"])
    assert "Start deployment" not in client.get(reverse("environment", args=[environment.pk])).content.decode()
    client.force_login(people["engineer"])
    assert "Start deployment" in client.get(reverse("environment", args=[environment.pk])).content.decode()


def test_new_deployment_without_release_is_refused(client, people, environment, small_checklist):
    client.force_login(people["engineer"])
    response = client.post(
        reverse("environment-deploy", args=[environment.pk]), {"checklist": small_checklist.checklist.slug, "release": ""}
    )
    assert response.status_code == 400 and "Release" in response.content.decode()


def test_new_deployment_is_recorded_from_the_web(client, people, environment, small_checklist):
    client.force_login(people["engineer"])
    client.post(
        reverse("environment-deploy", args=[environment.pk]),
        {"checklist": small_checklist.checklist.slug, "release": "v7"},
    )
    assert Event.objects.filter(kind="deployment_created", source="web", actor_name="engineer").exists()


# --- People ----------------------------------------------------------------------------


def test_people_page_lists_users_per_role(client, people):
    client.force_login(people["admin"])
    html = client.get(reverse("people")).content.decode()
    for role in ("viewer", "engineer", "lead", "admin"):
        section = html.split(f'id="role-{role}"')[1].split("</section>")[0]
        assert f"<li>{role}" in section
    assert "<li>outsider</li>" in html.split('id="role-none"')[1]
