"""Who may call the API, how, and what every error looks like."""

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import ApiToken
from core.tokens import api_token_create, api_token_user
from ctrlready.logging import RequestContextFilter

PATHS = [
    "/api/v1/checklists/import",
    "/api/v1/checklists/{slug}/versions/{number}",
    "/api/v1/deployments",
    "/api/v1/deployments/{deployment_id}",
    "/api/v1/deployments/{deployment_id}/items/{key}",
    "/api/v1/deployments/{deployment_id}/signoffs",
    "/api/v1/deployments/{deployment_id}/reopen",
    "/api/v1/deployments/{deployment_id}/events",
    "/api/v1/deployments/{deployment_id}/gate",
    "/api/v1/environments",
]


def test_token_is_shown_once_and_only_its_hash_is_stored(people):
    raw = api_token_create(user=people["viewer"], name="ci")

    assert raw.startswith("cr_") and len(raw) > 40
    token = ApiToken.objects.get()
    assert raw not in (token.key_hash, token.prefix) and len(token.key_hash) == 64
    assert api_token_user(raw) == people["viewer"]
    assert api_token_user(raw + "x") is None


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer cr_not-a-real-token", "Token cr_whatever", "Basic dmlld2VyOnB3"],
)
def test_missing_or_bad_token_is_401_with_a_sentence(client, deployment, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get(f"/api/v1/deployments/{deployment.pk}", **extra)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert "token" in response.json()["error"].lower()


def test_inactive_user_token_is_401(api, deployment, people):
    token = api.token("viewer")
    people["viewer"].is_active = False
    people["viewer"].save()

    response = api.client.get(f"/api/v1/deployments/{deployment.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


def test_last_used_is_written_at_most_once_a_minute(api, deployment):
    api.get("viewer", "deployments")
    token = ApiToken.objects.get()
    first = token.last_used_at
    assert first is not None

    api.get("viewer", "deployments")
    token.refresh_from_db()
    assert token.last_used_at == first

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("viewer", "deployments")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(seconds=1)


def test_browser_session_reads_and_must_send_csrf_to_write(people, deployment):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people["engineer"])

    assert browser.get(f"/api/v1/deployments/{deployment.pk}").status_code == 200

    url = f"/api/v1/deployments/{deployment.pk}/items/rollback"
    body = json.dumps({"state": "passed"})
    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]

    browser.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 200
    assert accepted.json()["by"] == "engineer"


def test_token_calls_need_no_csrf(people, deployment):
    browser = Client(enforce_csrf_checks=True)
    token = api_token_create(user=people["engineer"])

    response = browser.post(
        f"/api/v1/deployments/{deployment.pk}/items/rollback",
        json.dumps({"state": "passed"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 200


def test_anonymous_session_is_401(client, deployment):
    assert client.get(f"/api/v1/deployments/{deployment.pk}").status_code == 401


def test_unknown_address_is_a_json_404(api, people):
    response = api.get("viewer", "no/such/thing")

    assert response.status_code == 404
    assert response.json()["error"]


def test_unknown_address_without_token_is_401(api):
    assert api.get(None, "no/such/thing").status_code == 401


def test_unexpected_failure_is_a_500_sentence_and_logged_with_the_user(api, deployment, monkeypatch):
    import checklists.api

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(checklists.api.selectors, "deployment_snapshot", broken)
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    handler = Keep()
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("ctrlready.api")
    logger.addHandler(handler)
    try:
        response = api.client.get(
            f"/api/v1/deployments/{deployment.pk}",
            HTTP_AUTHORIZATION=f"Bearer {api.token('lead')}",
            HTTP_X_REQUEST_ID="req-42",
        )
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 500
    assert "req-42" in response.json()["error"]
    assert [(record.user, record.request_id) for record in seen] == [("lead", "req-42")]


def test_openapi_schema_lists_every_endpoint(api, people):
    response = api.get("viewer", "openapi.json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "ctrlready"
    assert schema["info"]["version"] == "1"
    assert set(PATHS) <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/deployments"]) == {"get", "post"}


def test_openapi_schema_needs_a_person(api):
    assert api.get(None, "openapi.json").status_code == 401


def test_openapi_schema_is_served_to_a_browser_session(client, people):
    client.force_login(people["viewer"])

    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


def test_expired_session_user_is_401_not_500(people, deployment):
    browser = Client()
    browser.force_login(people["viewer"])
    people["viewer"].is_active = False
    people["viewer"].save()

    assert browser.get(f"/api/v1/deployments/{deployment.pk}").status_code == 401


def test_last_used_is_null_for_a_new_token(people):
    api_token_create(user=people["viewer"])

    assert ApiToken.objects.get().last_used_at is None
    assert ApiToken.objects.get().created_at <= timezone.now()


def test_wrong_method_is_a_json_405(api, people):
    response = api.get("admin", "checklists/import")

    assert response.status_code == 405
    assert "POST" in response.json()["error"]
    assert response["Allow"] == "POST"
