"""The pages of assignees, comments, expiring waivers, due dates and /me/."""

from datetime import timedelta

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from checklists.assignments import item_assign
from checklists.comments import comment_add
from checklists.items import item_state_set
from checklists.models import ItemState
from conftest import make_user
from core.models import Event


def item_url(deployment, key):
    return reverse("item", args=[deployment.pk, key])


def page(client, deployment, query=""):
    return client.get(reverse("deployment", args=[deployment.pk]) + query).content.decode()


def row_html(html, key):
    start = html.index(f'<li id="item-{key}"')
    return html[start : html.index("</li>", start)]


def test_a_row_offers_take_and_taking_shows_the_assignee(client, people, deployment):
    client.force_login(people["engineer"])
    assert ">Take</button>" in row_html(page(client, deployment), "rollback")
    response = client.post(item_url(deployment, "rollback"), {"assignee": "engineer"})
    assert response.status_code == 302
    row = row_html(page(client, deployment), "rollback")
    assert 'data-assignee="engineer"' in row and "assigned to you" in row and ">Take</button>" not in row


def test_take_over_htmx_answers_with_the_row(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "rollback"), {"assignee": "engineer"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-assignee="engineer"' in response.content.decode()


def test_an_engineer_sees_no_take_on_someone_elses_item_and_a_viewer_none_at_all(client, people, deployment):
    item_assign(deployment_id=deployment.pk, key="rollback", assignee="lead", actor=people["lead"], source="web")
    client.force_login(people["engineer"])
    row = row_html(page(client, deployment), "rollback")
    assert "assigned to lead" in row and ">Take</button>" not in row
    client.force_login(people["viewer"])
    assert ">Take</button>" not in page(client, deployment)


def test_a_refused_assignment_is_shown_as_a_sentence(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "rollback"), {"assignee": "lead"})
    assert response.status_code == 403
    assert "Only a lead assigns an item to someone else" in response.content.decode()


def test_a_lead_assigns_from_the_item_page(client, people, deployment):
    client.force_login(people["lead"])
    assert 'name="assignee"' in client.get(item_url(deployment, "rollback")).content.decode()
    client.post(item_url(deployment, "rollback"), {"assignee": "viewer"})
    assert ItemState.objects.get(deployment=deployment, item__key="rollback").assignee_name == "viewer"


def test_the_assigned_to_me_filter(client, people, deployment):
    item_assign(deployment_id=deployment.pk, key="nice", assignee="engineer", actor=people["engineer"], source="web")
    client.force_login(people["engineer"])
    html = page(client, deployment, "?show=mine")
    assert 'id="item-nice"' in html and 'id="item-rollback"' not in html
    assert "Assigned to me" in page(client, deployment)


def test_the_page_query_count_stays_flat_with_assignees(client, people, seed_deployment, big_deployment):
    for deployment in (seed_deployment, big_deployment):
        for key in deployment.version.items.filter(has_children=False).values_list("key", flat=True)[:25]:
            item_assign(deployment_id=deployment.pk, key=key, assignee="engineer", actor=people["engineer"], source="web")
    client.force_login(people["engineer"])
    client.get(reverse("dashboard"))

    def count(deployment, query=""):
        reset_queries()
        with CaptureQueriesContext(connection) as context:
            assert client.get(reverse("deployment", args=[deployment.pk]) + query).status_code == 200
        return len(context.captured_queries)

    small, big = count(seed_deployment), count(big_deployment)
    assert 0 < small == big <= 20, (small, big)
    assert count(seed_deployment, "?show=mine") == count(big_deployment, "?show=mine") == small


def test_a_waiver_with_an_expiry_from_the_form_shows_until_when(client, people, deployment):
    client.force_login(people["lead"])
    response = client.post(item_url(deployment, "rollback"),
                           {"state": "waived", "note": "platform", "expires_at": "2099-03-04T05:06"})
    assert response.status_code == 302
    state = ItemState.objects.get(deployment=deployment, item__key="rollback")
    assert state.waiver_expires_at.isoformat().startswith("2099-03-04T05:06")
    assert "(until <time" in row_html(page(client, deployment), "rollback")


def test_an_expired_waiver_is_shown_expired_and_blocking(client, people, deployment, clock):
    item_state_set(deployment_id=deployment.pk, key="rollback", state="waived", note="later", waiver_for_days=1,
                   actor=people["lead"], source="web")
    clock(days=2)
    client.force_login(people["viewer"])
    row = row_html(page(client, deployment), "rollback")
    assert "(expired <time" in row and "blocks sign-off" in row


def test_a_proposed_waiver_offers_approval_to_another_lead_only(client, people, deployment, settings):
    settings.CTRLREADY_WAIVER_APPROVAL = True
    item_state_set(deployment_id=deployment.pk, key="rollback", state="waived", note="platform",
                   actor=people["lead"], source="web")
    client.force_login(people["lead"])
    row = row_html(page(client, deployment), "rollback")
    assert "proposed: waits for another lead" in row and "Approve waiver" not in row
    refused = client.post(reverse("item-approve", args=[deployment.pk, "rollback"]))
    assert refused.status_code == 403
    assert "another lead must approve it" in refused.content.decode()
    make_user("lead2", "lead")
    client.force_login(people["admin"])
    assert "Approve waiver" in row_html(page(client, deployment), "rollback")
    assert client.post(reverse("item-approve", args=[deployment.pk, "rollback"])).status_code == 302
    assert "proposed" not in row_html(page(client, deployment), "rollback")


def test_a_comment_from_the_item_page_shows_in_the_thread_and_the_history(client, people, deployment):
    client.force_login(people["engineer"])
    item_page = client.get(item_url(deployment, "rollback")).content.decode()
    assert 'id="comments"' in item_page and 'name="text"' in item_page
    response = client.post(reverse("item-comment", args=[deployment.pk, "rollback"]),
                           {"text": "Drill **done** @lead <script>alert(1)</script>"})
    assert response.status_code == 302 and response["Location"].endswith("#comments")
    thread = client.get(item_url(deployment, "rollback")).content.decode()
    assert "Drill <strong>done</strong> @lead" in thread and "<script>alert" not in thread
    history = client.get(reverse("deployment-history", args=[deployment.pk])).content.decode()
    assert "Drill <strong>done</strong>" in history and "<script>alert" not in history
    assert Event.objects.filter(kind=Event.Kind.MENTIONED, data__user="lead").exists()


def test_a_viewer_has_no_comment_form_and_cannot_post_one(client, people, deployment):
    comment_add(deployment_id=deployment.pk, key="rollback", text="hello", actor=people["engineer"], source="web")
    client.force_login(people["viewer"])
    item_page = client.get(item_url(deployment, "rollback")).content.decode()
    assert "hello" in item_page and 'name="text"' not in item_page
    assert client.post(reverse("item-comment", args=[deployment.pk, "rollback"]), {"text": "x"}).status_code == 403


def test_due_shows_as_a_countdown_on_the_deployment_page_and_the_dashboard(client, people, deployment):
    deployment.due_at = timezone.now() + timedelta(hours=5, minutes=1)
    deployment.save(update_fields=["due_at"])
    client.force_login(people["viewer"])
    assert "(in 5\xa0hours" in page(client, deployment)
    assert "in 5\xa0hours" in client.get(reverse("dashboard")).content.decode()


def test_the_environment_form_starts_a_deployment_with_a_due_time(client, people, environment, small_checklist):
    client.force_login(people["engineer"])
    response = client.post(reverse("environment-deploy", args=[environment.pk]), {
        "checklist": small_checklist.checklist.slug, "release": "v7", "due_at": "2099-05-06T07:08",
    })
    assert response.status_code == 302
    assert environment.deployments.get(release="v7").due_at.isoformat().startswith("2099-05-06T07:08")


def test_me_lists_my_items_and_what_waits_for_my_signoff_soonest_due_first(client, people, environment, small_checklist):
    from checklists.deployments import deployment_create

    later = deployment_create(environment=environment, checklist_slug=small_checklist.checklist.slug, release="later",
                              due_at=timezone.now() + timedelta(days=3), actor=people["engineer"], source="web")
    sooner = deployment_create(environment=environment, checklist_slug=small_checklist.checklist.slug, release="sooner",
                               due_at=timezone.now() + timedelta(hours=3), actor=people["engineer"], source="web")
    for deployment in (later, sooner):
        item_assign(deployment_id=deployment.pk, key="rollback", assignee="engineer", actor=people["engineer"], source="web")
    client.force_login(people["engineer"])
    html = client.get(reverse("me")).content.decode()
    items = html[html.index('id="my-items"'):html.index('id="my-signoffs-title"')]
    assert items.index(f'data-deployment="{sooner.pk}"') < items.index(f'data-deployment="{later.pk}"')
    assert "No open deployment waits for a sign-off in a role you hold." in html
    client.force_login(people["lead"])
    html = client.get(reverse("me")).content.decode()
    assert "Nothing is assigned to you." in html
    signoffs = html[html.index('id="my-signoffs"'):]
    assert signoffs.index(f'data-deployment="{sooner.pk}"') < signoffs.index(f'data-deployment="{later.pk}"')


def test_me_needs_a_login(client):
    assert client.get(reverse("me")).status_code == 302
