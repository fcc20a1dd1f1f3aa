"""Single sign-on's edges, without a provider: off when not configured, a provider that cannot be reached,
a callback that is not the answer to this browser's sign-on. (tests_e2e/test_sign_in.py signs on for real.)"""

import socket

import pytest
from django.core.cache import cache
from django.test import Client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable(settings):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{closed_port()}"
    settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = "ctrlready", "secret"
    cache.clear()
    return settings.OIDC_ISSUER


def test_single_sign_on_is_off_until_configured(db):
    client = Client()

    assert client.get("/accounts/oidc/authenticate/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=a&state=b").status_code == 404


def test_an_unreachable_provider_is_a_503_with_a_sentence(unreachable, db):
    response = Client().get("/accounts/oidc/authenticate/")

    assert response.status_code == 503
    page = response.content.decode()
    assert "The single sign-on provider could not be reached" in page and "OIDC_ISSUER" in page
    assert 'name="password"' in page  # the break-glass form is still there


def test_password_sign_in_works_while_the_provider_is_down(unreachable, people):
    client = Client()

    response = client.post("/accounts/login/", {"username": "admin", "password": "pw-admin"})

    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_a_callback_this_browser_did_not_start_is_refused_with_a_sentence(unreachable, db):
    response = Client().get("/accounts/oidc/callback/?code=stolen&state=guessed")

    assert response.status_code == 400
    assert "Single sign-on did not sign you in" in response.content.decode()


def test_a_callback_with_an_unknown_state_is_refused_with_a_sentence(unreachable, db):
    client = Client()
    session = client.session
    session["oidc_states"] = {"mine": {"nonce": "n", "code_verifier": "v"}}
    session.save()

    response = client.get("/accounts/oidc/callback/?code=stolen&state=not-mine")

    assert response.status_code == 400
    assert "could not be verified" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_providers_refusal_is_shown_in_its_own_words(unreachable, db):
    response = Client().get("/accounts/oidc/callback/?error=access_denied&error_description=End-User+aborted+interaction")

    assert response.status_code == 400
    assert "the provider said “End-User aborted interaction”" in response.content.decode()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [([], "RS256"), (["RS256", "ES256"], "RS256"), (["ES256"], "ES256"), (["PS256", "RS512"], "RS512"), (["HS256"], "RS256")],
)
def test_the_id_tokens_algorithm_follows_what_the_provider_offers(offered, chosen):
    from ctrlready.sso import signing_algorithm

    assert signing_algorithm({"id_token_signing_alg_values_supported": offered}) == chosen
