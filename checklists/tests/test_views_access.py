"""Who may open which page and use which action: every role, an outsider and an anonymous visitor."""

import pytest
from django.urls import reverse

from checklists.models import Deployment, ItemState

ALL = ("viewer", "engineer", "lead", "admin")
READ_PAGES = ("dashboard", "deployment", "item", "history", "environment", "checklists", "checklist", "diff")
ADMIN_PAGES = ("people", "environment-new", "environment-edit")


@pytest.fixture
def urls(deployment, environment, small_checklist):
    slug = small_checklist.checklist.slug
    return {
        "dashboard": reverse("dashboard"),
        "deployment": reverse("deployment", args=[deployment.pk]),
        "item": reverse("item", args=[deployment.pk, "rollback"]),
        "history": reverse("deployment-history", args=[deployment.pk]),
        "environment": reverse("environment", args=[environment.pk]),
        "checklists": reverse("checklists"),
        "checklist": reverse("checklist", args=[slug]),
        "diff": reverse("checklist-diff", args=[slug]) + "?from=1&to=1",
        "people": reverse("people"),
        "environment-new": reverse("environment-new"),
        "environment-edit": reverse("environment-edit", args=[environment.pk]),
    }


@pytest.mark.parametrize("page", READ_PAGES + ADMIN_PAGES)
def test_anonymous_visitor_is_sent_to_login(client, urls, page):
    response = client.get(urls[page])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


#: Pages of one service's things: someone who may not read them is told there is nothing there (404).
OWNED_PAGES = ("deployment", "item", "history", "environment", "environment-edit")


@pytest.mark.parametrize("page", sorted(set(READ_PAGES + ADMIN_PAGES) - set(OWNED_PAGES)))
def test_outsider_without_role_is_refused_every_shared_page(client, people, urls, page):
    client.force_login(people["outsider"])
    response = client.get(urls[page])
    assert response.status_code == 403
    assert b"role" in response.content and b"ask" in response.content


@pytest.mark.parametrize("page", OWNED_PAGES)
def test_outsider_without_role_finds_nothing_on_a_service_page(client, people, urls, page):
    client.force_login(people["outsider"])
    response = client.get(urls[page])
    assert response.status_code == 404
    assert b"belongs to a team you are not in" in response.content


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("page", READ_PAGES)
def test_every_role_reads_every_page(client, people, urls, role, page):
    client.force_login(people[role])
    assert client.get(urls[page]).status_code == 200


@pytest.mark.parametrize("role", ("viewer", "engineer", "lead"))
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_are_refused_below_admin(client, people, urls, role, page):
    client.force_login(people[role])
    response = client.get(urls[page])
    assert response.status_code == 403
    assert b"admin role" in response.content


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_opens_admin_pages(client, people, urls, page):
    client.force_login(people["admin"])
    assert client.get(urls[page]).status_code == 200


def test_login_page_renders_and_logs_in(client, people):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content
    response = client.post(reverse("login"), {"username": "viewer", "password": "pw-viewer"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_wrong_password_says_so(client, people):
    response = client.post(reverse("login"), {"username": "viewer", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def _state(deployment, key):
    return ItemState.objects.get(deployment=deployment, item__key=key).state


@pytest.mark.parametrize(
    "role, allowed", [("viewer", 403), ("engineer", True), ("lead", True), ("admin", True), ("outsider", 404)]
)
def test_tick_manual_item_by_role(client, people, deployment, role, allowed):
    client.force_login(people[role])
    response = client.post(reverse("item", args=[deployment.pk, "rollback"]), {"state": "passed"})
    if allowed is True:
        assert response.status_code == 302
        assert _state(deployment, "rollback") == "passed"
    else:
        assert response.status_code == allowed
        assert _state(deployment, "rollback") == "pending"


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", False), ("lead", True), ("admin", True)])
def test_waive_by_role(client, people, deployment, role, allowed):
    client.force_login(people[role])
    response = client.post(
        reverse("item", args=[deployment.pk, "health"]), {"state": "waived", "note": "Covered by the LB check"}
    )
    assert response.status_code == (302 if allowed else 403)
    assert _state(deployment, "health") == ("waived" if allowed else "pending")


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", False), ("lead", True), ("admin", True)])
def test_signoff_by_role(client, people, ready_deployment, role, allowed):
    from checklists.selectors import deployment_snapshot

    client.force_login(people[role])
    digest = deployment_snapshot(ready_deployment).digest
    response = client.post(reverse("deployment-signoff", args=[ready_deployment.pk]), {"role": "lead", "digest": digest})
    assert response.status_code == (302 if allowed else 403)
    ready_deployment.refresh_from_db()
    assert ready_deployment.status == ("signed_off" if allowed else "open")


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", False), ("lead", True), ("admin", True)])
def test_reopen_by_role(client, people, ready_deployment, role, allowed):
    from checklists.selectors import deployment_snapshot
    from checklists.signoffs import signoff_record

    signoff_record(
        deployment_id=ready_deployment.pk, role="lead", digest=deployment_snapshot(ready_deployment).digest,
        actor=people["lead"], source="api",
    )
    client.force_login(people[role])
    response = client.post(reverse("deployment-reopen", args=[ready_deployment.pk]), {"reason": "Found a bug"})
    assert response.status_code == (302 if allowed else 403)
    ready_deployment.refresh_from_db()
    assert ready_deployment.status == ("open" if allowed else "signed_off")


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", True), ("lead", True), ("admin", True)])
def test_run_by_role(client, people, deployment, broker_up, role, allowed):
    client.force_login(people[role])
    response = client.post(reverse("deployment-runs", args=[deployment.pk]), {"key": "health"})
    assert response.status_code == (302 if allowed else 403)
    assert deployment.runs.count() == (1 if allowed else 0)


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", True), ("lead", True), ("admin", True)])
def test_new_deployment_by_role(client, people, environment, small_checklist, role, allowed):
    client.force_login(people[role])
    response = client.post(
        reverse("environment-deploy", args=[environment.pk]),
        {"checklist": small_checklist.checklist.slug, "release": "v9.9.9"},
    )
    created = Deployment.objects.filter(release="v9.9.9").first()
    if allowed:
        assert response.status_code == 302 and response["Location"] == reverse("deployment", args=[created.pk])
    else:
        assert response.status_code == 403 and created is None


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("engineer", False), ("lead", False), ("admin", True)])
def test_import_by_role(client, people, role, allowed):
    client.force_login(people[role])
    response = client.post(reverse("checklists"), {"step": "preview", "markdown": "# T\n\n## S\n\n- [ ] one\n"})
    assert response.status_code == (200 if allowed else 403)


def test_get_is_not_allowed_on_actions(client, people, deployment):
    client.force_login(people["admin"])
    for url in (
        reverse("deployment-signoff", args=[deployment.pk]),
        reverse("deployment-reopen", args=[deployment.pk]),
        reverse("deployment-runs", args=[deployment.pk]),
    ):
        assert client.get(url).status_code == 405


def test_unknown_deployment_is_404(client, people):
    client.force_login(people["viewer"])
    assert client.get(reverse("deployment", args=[999999])).status_code == 404
