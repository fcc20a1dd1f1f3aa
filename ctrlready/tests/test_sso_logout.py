"""Signing out after single sign-on (RP-initiated logout): the URL ctrlready sends the browser to, read from
the discovery document a real HTTP server on loopback serves. The ID token is put in the session as
mozilla-django-oidc keeps it at sign-on (tests_e2e/test_sign_in.py signs on and out through a real provider).
"""

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from ctrlready.sso import ID_TOKEN

LOGOUT, LOGIN = "/accounts/logout/", "/accounts/login/"
#: Shaped like an ID token (header.payload.signature); only the provider ever reads it.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


class Discovery(ThreadingHTTPServer):
    """Serves `document` at /.well-known/openid-configuration and counts the requests."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), DiscoveryHandler)
        self.issuer = f"http://127.0.0.1:{self.server_address[1]}"
        self.document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/me",
            "jwks_uri": self.issuer + "/jwks",
        }
        self.requests = 0


class DiscoveryHandler(BaseHTTPRequestHandler):
    server: Discovery

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests += 1
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        body = json.dumps(self.server.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def provider(settings):
    server = Discovery()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = server.issuer, "ctrlready", "secret"
    cache.clear()
    yield server
    server.shutdown()
    server.server_close()


def signed_on(user) -> Client:
    """A browser signed in as `user` through single sign-on: the session holds the ID token."""
    client = Client()
    client.force_login(user, backend="ctrlready.sso.OIDCBackend")
    session = client.session
    session[ID_TOKEN] = TOKEN
    session.save()
    return client


def signed_out(client) -> bool:
    return "_auth_user_id" not in client.session and ID_TOKEN not in client.session


@pytest.mark.parametrize("endpoint", ["/session/end", "/protocol/logout?realm=main"])
def test_signing_out_after_single_sign_on_goes_to_the_providers_end_session_endpoint(provider, people, endpoint):
    provider.document["end_session_endpoint"] = provider.issuer + endpoint
    client = signed_on(people["lead"])

    response = client.post(LOGOUT)

    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == provider.issuer + endpoint.split("?")[0]
    query = {name: values[0] for name, values in parse_qs(url.query, strict_parsing=True).items()}
    assert query.pop("realm", None) == ("main" if "realm" in endpoint else None)
    assert query == {
        "id_token_hint": TOKEN,
        "client_id": "ctrlready",
        "post_logout_redirect_uri": "http://testserver/accounts/login/",
    }
    assert signed_out(client)
    assert "no-cache" in response["Cache-Control"]


def test_a_provider_without_an_end_session_endpoint_signs_out_here_only(provider, people):
    client = signed_on(people["lead"])

    response = client.post(LOGOUT)

    assert response.status_code == 302 and response["Location"] == LOGIN
    assert signed_out(client)
    assert provider.requests == 1  # it was asked


def test_a_password_sign_in_signs_out_to_the_sign_in_page_without_asking_the_provider(provider, people):
    provider.document["end_session_endpoint"] = provider.issuer + "/session/end"
    client = Client()
    assert client.post(LOGIN, {"username": "lead", "password": "pw-lead"}).status_code == 302

    assert client.get(LOGOUT).status_code == 405  # signing out is a POST, as before
    response = client.post(LOGOUT)

    assert response.status_code == 302 and response["Location"] == LOGIN
    assert signed_out(client)
    assert provider.requests == 0


def test_a_provider_unreachable_at_sign_out_still_signs_out_here_and_logs_no_token(provider, people, caplog):
    client = signed_on(people["lead"])
    provider.shutdown()
    provider.server_close()
    with socket.socket() as sock:  # the provider's port, now closed
        assert sock.connect_ex(("127.0.0.1", provider.server_address[1])) != 0
    caplog.set_level(logging.DEBUG)

    response = client.post(LOGOUT)

    assert response.status_code == 302 and response["Location"] == LOGIN
    assert signed_out(client)
    assert "Signed out here only, not at the single sign-on provider" in caplog.text
    assert TOKEN not in caplog.text
