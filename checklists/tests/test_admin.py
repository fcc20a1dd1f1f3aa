import pytest

from core.models import Event


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/checklists/checklist/",
        "/admin/checklists/checklistversion/",
        "/admin/checklists/deployment/",
        "/admin/checklists/itemstate/",
        "/admin/core/event/",
        "/admin/checklists/signoff/",
        "/admin/core/apitoken/",
        "/admin/checklists/environment/",
        "/admin/checklists/service/",
        "/admin/probes/proberun/",
    ],
)
def test_admin_lists_open(superuser_client, deployment, path):
    assert superuser_client.get(path).status_code == 200


def test_events_cannot_be_edited_or_deleted_in_the_admin(superuser_client, deployment):
    event = Event.objects.filter(deployment_ref=deployment.pk).first()
    assert superuser_client.post(f"/admin/core/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_environment_admin_never_shows_secret_values(superuser_client, environment):
    from checklists.models import EnvironmentSecret

    EnvironmentSecret.objects.create(environment=environment, name="API_TOKEN", ciphertext="gAAAA-ciphertext")
    page = superuser_client.get(f"/admin/checklists/environment/{environment.pk}/change/").content.decode()
    assert "API_TOKEN" in page and "gAAAA-ciphertext" not in page
