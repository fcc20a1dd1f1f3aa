"""API tokens: a scope that only narrows the owner's roles, an expiry, revocation by their owner (page and API)."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core.models import ApiToken
from core.tokens import api_token_create, api_token_user
from ctrlready.api import api

WRITE_METHODS = ("post", "put", "patch", "delete")


def _write_operations():
    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in WRITE_METHODS:
                yield method, re.sub(r"\{[^}]+\}", "1", path)


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize(("method", "path"), sorted(set(_write_operations())))
def test_a_read_token_gets_403_with_a_sentence_on_every_write(client, people, method, path):
    raw = api_token_create(user=people["admin"], name="reader", scope="read")

    response = getattr(client, method)(path, "{}", content_type="application/json", **bearer(raw))

    assert response.status_code == 403, response.content
    assert "may only read" in response.json()["error"]


def test_the_write_operations_include_every_kind_of_change():
    """The parametrised test above covers the API as it is; make sure it is not empty by accident."""
    operations = set(_write_operations())
    assert ("post", "/api/v1/deployments/1/items/1") in operations
    assert ("delete", "/api/v1/tokens/1") in operations
    assert len(operations) >= 10


def test_a_read_token_reads(client, people, deployment):
    raw = api_token_create(user=people["viewer"], scope="read")

    response = client.get(f"/api/v1/deployments/{deployment.pk}", **bearer(raw))

    assert response.status_code == 200


def test_a_write_token_acts_with_its_owners_roles_of_the_moment(client, people, deployment):
    raw = api_token_create(user=people["engineer"], scope="write")
    tick = f"/api/v1/deployments/{deployment.pk}/items/rollback"

    assert client.post(tick, {"state": "passed"}, content_type="application/json", **bearer(raw)).status_code == 200

    people["engineer"].groups.set([Group.objects.get(name="viewer")])
    response = client.post(tick, {"state": "pending"}, content_type="application/json", **bearer(raw))

    assert response.status_code == 403
    assert "engineer role" in response.json()["error"]


def test_an_expired_token_is_401_with_a_sentence_and_is_not_marked_used(client, people, deployment):
    raw = api_token_create(user=people["viewer"], expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(f"/api/v1/deployments/{deployment.pk}", **bearer(raw))

    assert response.status_code == 401
    assert "expired on" in response.json()["error"] and "/tokens/" in response.json()["error"]
    assert ApiToken.objects.get().last_used_at is None
    assert api_token_user(raw) is None


def test_a_token_works_until_it_expires(client, people, deployment):
    raw = api_token_create(user=people["viewer"], expires_at=timezone.now() + timedelta(minutes=5))

    assert client.get(f"/api/v1/deployments/{deployment.pk}", **bearer(raw)).status_code == 200


def test_the_api_lists_only_ones_own_tokens_without_their_secret(client, people):
    mine = api_token_create(user=people["lead"], name="ci", scope="read", expires_at=timezone.now() + timedelta(days=3))
    api_token_create(user=people["viewer"], name="someone else's")

    response = client.get("/api/v1/tokens", **bearer(mine))

    assert response.status_code == 200
    tokens = response.json()["tokens"]
    assert [token["name"] for token in tokens] == ["ci"]
    assert set(tokens[0]) == {"id", "name", "prefix", "scope", "created_at", "last_used_at", "expires_at"}
    assert tokens[0]["scope"] == "read" and tokens[0]["expires_at"] and mine.startswith(tokens[0]["prefix"])
    assert mine not in response.content.decode()


def test_revoking_a_token_through_the_api_makes_it_401(client, people, deployment):
    keeper = api_token_create(user=people["lead"], name="keeper")
    doomed = api_token_create(user=people["lead"], name="doomed")
    doomed_id = ApiToken.objects.get(name="doomed").pk

    response = client.delete(f"/api/v1/tokens/{doomed_id}", **bearer(keeper))

    assert response.status_code == 204
    response = client.get(f"/api/v1/deployments/{deployment.pk}", **bearer(doomed))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_another_persons_token_cannot_be_revoked_it_is_404(client, people):
    mine = api_token_create(user=people["admin"], name="mine")
    theirs = api_token_create(user=people["viewer"], name="theirs")

    response = client.delete(f"/api/v1/tokens/{ApiToken.objects.get(name='theirs').pk}", **bearer(mine))

    assert response.status_code == 404
    assert "no API token with this id" in response.json()["error"]
    assert api_token_user(theirs) == people["viewer"]


def test_the_tokens_page_makes_a_token_shows_it_once_and_lists_it(people, deployment):
    browser = Client()
    browser.force_login(people["engineer"])

    response = browser.post("/tokens/", {"name": "laptop", "scope": "read", "expires_days": "30"})

    assert response.status_code == 201
    raw = re.search(r"data-new-token>(cr_[^<]+)<", response.content.decode()).group(1)
    token = ApiToken.objects.get(user=people["engineer"])
    assert (token.name, token.scope) == ("laptop", "read")
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert Client().get(f"/api/v1/deployments/{deployment.pk}", **bearer(raw)).status_code == 200

    page = browser.get("/tokens/").content.decode()
    assert "laptop" in page and token.prefix in page and raw not in page


def test_the_tokens_page_refuses_a_bad_expiry_with_a_sentence(people):
    browser = Client()
    browser.force_login(people["viewer"])

    response = browser.post("/tokens/", {"name": "x", "scope": "write", "expires_days": "0"})

    assert response.status_code == 400
    assert "Expires after (days)" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_tokens_page_revokes_only_ones_own(people):
    browser = Client()
    browser.force_login(people["viewer"])
    api_token_create(user=people["viewer"], name="old")
    theirs = api_token_create(user=people["lead"], name="leads")

    response = browser.post(f"/tokens/{ApiToken.objects.get(name='old').pk}/revoke/")
    assert response.status_code == 302
    assert not ApiToken.objects.filter(name="old").exists()

    response = browser.post(f"/tokens/{ApiToken.objects.get(name='leads').pk}/revoke/")
    assert response.status_code == 404
    assert "no API token with this id" in response.content.decode()
    assert api_token_user(theirs) == people["lead"]


def test_the_tokens_page_needs_a_login(client, db):
    response = client.get("/tokens/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_create_api_token_takes_a_scope_and_an_expiry(people):
    out = StringIO()
    call_command("create_api_token", "viewer", "--role", "viewer", "--scope", "read", "--expires-days", "7", stdout=out)

    raw = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get()
    assert api_token_user(raw) == people["viewer"]
    assert token.scope == "read"
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)


def test_create_api_token_makes_write_tokens_that_never_expire_by_default(people):
    call_command("create_api_token", "viewer", "--role", "viewer", stdout=StringIO())

    token = ApiToken.objects.get()
    assert (token.scope, token.expires_at) == ("write", None)


def test_create_api_token_refuses_a_nonsense_expiry(people):
    with pytest.raises(Exception, match="1 to 3650 days"):
        call_command("create_api_token", "viewer", "--role", "viewer", "--expires-days", "0", stdout=StringIO())


def test_a_person_who_leaves_a_team_takes_their_tokens_rights_with_them(client, people, deployment):
    from core.models import Team
    from core.teams import membership_remove, membership_set

    team = Team.objects.create(slug="payments", name="Payments")
    deployment.environment.service.team = team
    deployment.environment.service.save()
    member = people["outsider"]
    membership_set(team=team, user=member, role="engineer", actor=people["admin"], source="web")
    raw = api_token_create(user=member, scope="write")
    tick = f"/api/v1/deployments/{deployment.pk}/items/rollback"
    assert client.post(tick, {"state": "passed"}, content_type="application/json", **bearer(raw)).status_code == 200

    membership_remove(team=team, user=member, actor=people["admin"], source="web")
    response = client.post(tick, {"state": "pending"}, content_type="application/json", **bearer(raw))

    assert response.status_code == 404
    assert client.get(f"/api/v1/deployments/{deployment.pk}", **bearer(raw)).status_code == 404
