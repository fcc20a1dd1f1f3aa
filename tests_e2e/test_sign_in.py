"""Signing in and out, end to end in headless Chromium: single sign-on through a real OpenID Connect provider
(panva's oidc-provider on Node, started here on a loopback port: its own login, consent and sign-out pages,
its own token, userinfo and end-session endpoints, PKCE required), and the password form's throttling on
the real page.

Needs Node and `npm ci --prefix tests_e2e/oidc` (`.ci/run` does both).
"""

import json
import logging
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client

from core.models import Event, Membership, Team
from tests_e2e.stack import free_port
from tests_e2e.test_browser import (  # noqa: F401 - fixtures shared with the other browser tests
    CHROMIUM,
    _async_unsafe_orm,
    _serial_live_server,
    browser,
)

OIDC = Path(__file__).resolve().parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "ctrlready", "a-client-secret-for-tests"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

needs_provider = pytest.mark.skipif(
    not shutil.which("node") or not (OIDC / "node_modules" / "oidc-provider").exists(),
    reason="needs Node and the test provider: apt-get install nodejs npm && npm ci --prefix tests_e2e/oidc",
)


class OidcProvider:
    """The running provider; `account(...)` writes the account store it reads at every sign-in."""

    def __init__(self, issuer: str, accounts: Path):
        self.issuer = issuer
        self.accounts = accounts
        self.store: dict = {}

    def account(self, login: str, *, groups: list[str], secret: str = "correct horse", email: str = "") -> None:
        self.store[login] = {"password": secret, "email": email or f"{login}@example.com", "groups": groups}
        self.accounts.write_text(json.dumps(self.store))


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    if not shutil.which("node") or not (OIDC / "node_modules" / "oidc-provider").exists():
        pytest.skip("needs Node and the test provider: apt-get install nodejs npm && npm ci --prefix tests_e2e/oidc")
    accounts = tmp_path_factory.mktemp("oidc") / "accounts.json"
    accounts.write_text("{}")
    port = free_port()
    process = subprocess.Popen(
        ["node", "provider.js"], cwd=OIDC, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={
            "PATH": "/usr/bin:/bin:/usr/local/bin", "PORT": str(port), "ACCOUNTS": str(accounts),
            "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": f"{live_server.url}/accounts/oidc/callback/",
            "POST_LOGOUT_REDIRECT_URI": f"{live_server.url}/accounts/login/",
        },
    )
    output = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("listening "):
            break
    else:
        process.wait(timeout=5)
        pytest.fail("the test provider did not start:\n" + "".join(output))
    yield OidcProvider(f"http://127.0.0.1:{port}", accounts)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def sso(provider, settings):
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = provider.issuer, CLIENT_ID, CLIENT_SECRET
    settings.OIDC_ROLES_CLAIM = "groups"
    cache.clear()
    return provider


@pytest.fixture
def context(browser, live_server):
    contexts = []

    def make():
        made = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
        made.set_default_timeout(15_000)
        contexts.append(made)
        return made.new_page()

    yield make
    for made in contexts:
        made.close()


def sign_on(page, live_server, *, login: str | None, secret: str = "correct horse") -> None:
    """From ctrlready's sign-in page through the provider's pages (those it shows) back to ctrlready."""
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    if login is not None:
        page.wait_for_url("http://127.0.0.1:*/interaction/*")
        page.get_by_label("Login").fill(login)
        page.get_by_label("Secret").fill(secret)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Allow").click()
    page.wait_for_url(live_server.url + "/")


def password_sign_in(page, live_server, username: str = "lead") -> None:
    """ctrlready's own sign-in form, as `username` (whose password the `people` fixture sets)."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")


def sign_out(page, live_server) -> None:
    """ctrlready's "Sign out"; after a single sign-on the provider asks too, and is told yes."""
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: url.startswith(live_server.url + "/accounts/login/") or "/session/end" in url)
    if not page.url.startswith(live_server.url):
        page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(live_server.url + "/accounts/login/")


def roles_of(username: str) -> tuple[set, dict]:
    from django.contrib.auth.models import User

    user = User.objects.get(username=username)
    return set(user.groups.values_list("name", flat=True)), dict(
        Membership.objects.filter(user=user).values_list("team__slug", "role")
    )


@needs_provider
def test_single_sign_on_through_the_providers_pages_lands_on_the_dashboard_with_the_roles_of_the_groups(
    sso, context, live_server
):
    from checklists.models import Environment, Service

    teams = {slug: Team.objects.create(slug=slug, name=slug.title()) for slug in ("payments", "search")}
    for slug, team in teams.items():
        service = Service.objects.create(name=f"{slug}-api", team=team)
        Environment.objects.create(service=service, name="production", base_url="http://127.0.0.1:9", allowed_hosts=[])
    sso.account("alice", groups=["ctrlready:payments:lead", "unrelated-group"])
    page = context()
    authorizations = []
    page.on("request", lambda request: request.url.startswith(sso.issuer + "/auth?") and authorizations.append(request.url))

    sign_on(page, live_server, login="alice")

    assert len(authorizations) == 1  # the authorization code flow, with PKCE
    assert "response_type=code&" in authorizations[0] and "code_challenge_method=S256" in authorizations[0]
    assert page.locator(".whoami").inner_text().startswith("alice")
    assert page.locator(".whoami .tag").count() == 0  # no site-wide role: a lead of payments only
    main = page.locator("main").inner_text()
    assert "payments-api" in main and "search-api" not in main
    assert roles_of("alice") == (set(), {"payments": "lead"})
    events = list(Event.objects.filter(kind=Event.Kind.MEMBERSHIP).values_list("actor_name", "source", "note"))
    assert events == [("alice", "web", "single sign-on")]


@needs_provider
def test_a_person_whose_groups_change_gets_the_new_roles_at_the_next_sign_in_and_loses_the_old(
    sso, context, live_server
):
    for slug in ("payments", "search"):
        Team.objects.create(slug=slug, name=slug.title())
    sso.account("bob", groups=["ctrlready:payments:admin", "ctrlready:*:lead"])
    page = context()
    sign_on(page, live_server, login="bob")
    assert roles_of("bob") == ({"lead"}, {"payments": "admin"})

    # Moved to the search team and demoted at the provider.
    sso.account("bob", groups=["ctrlready:search:engineer", "ctrlready:*:viewer"])
    sign_out(page, live_server)
    sign_on(page, live_server, login="bob")

    assert page.locator(".whoami .tag").inner_text() == "viewer"
    assert roles_of("bob") == ({"viewer"}, {"search": "engineer"})
    changes = list(Event.objects.filter(kind=Event.Kind.MEMBERSHIP).order_by("id").values_list("data", "before", "after"))
    assert [(data["team"], before, after) for data, before, after in changes[-3:]] == [
        ("*", "lead", "viewer"), ("payments", "admin", ""), ("search", "", "engineer"),
    ]


def end_session_endpoint(issuer: str) -> str:
    return requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()["end_session_endpoint"]


def id_tokens_kept() -> list[str]:
    """The ID tokens ctrlready's sessions hold."""
    return [kept for session in Session.objects.all() if (kept := session.get_decoded().get("oidc_id_token"))]


def after_the_sso_link(page, live_server) -> str:
    """Clicks "Sign in with single sign-on" and says where it led: the provider's login form, or straight
    back to ctrlready's dashboard while the provider's session lasts."""
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_url(lambda url: "/interaction/" in url or url == live_server.url + "/")
    return "login form" if "/interaction/" in page.url else "dashboard"


@needs_provider
def test_signing_out_after_single_sign_on_ends_the_providers_session_and_the_next_sign_on_asks_again(
    sso, context, live_server, caplog
):
    caplog.set_level(logging.DEBUG)
    sso.account("alice", groups=["ctrlready:*:viewer"])
    page = context()
    sign_on(page, live_server, login="alice")
    dashboard = page.content()
    [id_token] = id_tokens_kept()  # mozilla-django-oidc keeps it in the session at sign-on
    end_session = end_session_endpoint(sso.issuer)
    ends = []
    page.on("request", lambda request: request.url.startswith(end_session + "?") and ends.append(request.url))

    page.get_by_role("button", name="Sign out").click()

    page.get_by_role("button", name="Yes, sign me out").wait_for()  # the provider asks
    assert len(ends) == 1
    assert parse_qs(urlsplit(ends[0]).query) == {
        "id_token_hint": [id_token], "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [live_server.url + "/accounts/login/"],
    }
    other_tab = page.context.new_page()
    other_tab.goto("/")
    assert other_tab.url.startswith(live_server.url + "/accounts/login/")  # signed out of ctrlready already
    other_tab.close()
    assert id_tokens_kept() == []

    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(live_server.url + "/accounts/login/")
    assert after_the_sso_link(page, live_server) == "login form"
    page.get_by_label("Login").fill("alice")
    page.get_by_label("Secret").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator(".whoami").inner_text().startswith("alice")
    # The ID token is a credential: on no page, in no log line.
    assert id_token not in dashboard and id_token not in page.content()
    assert id_token not in caplog.text


@needs_provider
def test_a_password_sign_in_signs_out_to_the_sign_in_page_and_never_to_the_provider(sso, context, live_server, people):
    page = context()
    asked = []
    page.on("request", lambda request: request.url.startswith(sso.issuer) and asked.append(request.url))
    password_sign_in(page, live_server)

    page.get_by_role("button", name="Sign out").click()

    page.wait_for_url(live_server.url + "/accounts/login/")
    assert page.locator(".whoami").count() == 0
    assert asked == []


@needs_provider
def test_single_sign_on_over_a_password_session_signs_out_at_the_provider_too(sso, context, live_server, people):
    sso.account("alice", groups=["ctrlready:*:viewer"])
    page = context()
    password_sign_in(page, live_server)

    sign_on(page, live_server, login="alice")  # Django's login empties the session of the one before
    assert page.locator(".whoami").inner_text().startswith("alice")
    sign_out(page, live_server)

    assert after_the_sso_link(page, live_server) == "login form"


@needs_provider
def test_a_sign_on_refused_here_keeps_no_id_token_and_a_password_sign_in_after_it_signs_out_here(
    sso, context, live_server, people
):
    from django.contrib.auth.models import User

    User.objects.create_user("frank", is_active=False)  # deactivated here, still known at the provider
    sso.account("frank", groups=["ctrlready:*:admin"])
    page = context()
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("Login").fill("frank")
    page.get_by_label("Secret").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Allow").click()
    assert "Single sign-on did not sign you in" in page.get_by_role("alert").inner_text()
    assert id_tokens_kept() == []

    asked = []
    page.on("request", lambda request: request.url.startswith(sso.issuer) and asked.append(request.url))
    password_sign_in(page, live_server)
    page.get_by_role("button", name="Sign out").click()

    page.wait_for_url(live_server.url + "/accounts/login/")
    assert asked == []  # the refused sign-on's ID token was not left to send this sign-out to the provider


@needs_provider
def test_with_password_sign_in_off_only_single_sign_on_remains(sso, context, live_server, settings, people):
    settings.CTRLREADY_PASSWORD_LOGIN = False
    sso.account("carol", groups=["ctrlready:*:viewer"])
    page = context()

    page.goto("/accounts/login/")
    assert page.locator("input[name=password]").count() == 0
    refused = Client().post("/accounts/login/", {"username": "admin", "password": "pw-admin"})
    assert refused.status_code == 403
    assert "Password sign-in is switched off here" in refused.content.decode()

    sign_on(page, live_server, login="carol")
    assert page.locator(".whoami .tag").inner_text() == "viewer"


@needs_provider
def test_password_lockout_does_not_touch_single_sign_on(sso, context, live_server, settings):
    settings.AXES_FAILURE_LIMIT = 5
    sso.account("dave", groups=["ctrlready:*:engineer"])
    for _ in range(5):
        Client(REMOTE_ADDR="127.0.0.1").post("/accounts/login/", {"username": "dave", "password": "guess"})
    page = context()

    sign_on(page, live_server, login="dave")

    assert page.locator(".whoami .tag").inner_text() == "engineer"


@needs_provider
def test_the_provider_refuses_a_wrong_secret_and_nothing_is_signed_in(sso, context, live_server):
    sso.account("erin", groups=["ctrlready:*:admin"])
    page = context()
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Secret").fill("not it")
    page.get_by_role("button", name="Log in").click()

    assert page.get_by_role("alert").inner_text() == "Wrong login or secret."
    from django.contrib.auth.models import User

    assert not User.objects.filter(username="erin").exists()


def test_five_wrong_passwords_on_the_real_sign_in_page_lock_the_right_one_out(context, live_server, people, settings):
    settings.AXES_FAILURE_LIMIT = 5
    page = context()
    page.goto("/accounts/login/")
    for _ in range(5):
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("pw-lead")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert").inner_text()
    assert alert.startswith("Too many failed sign-ins as lead from your address: try again after")
    assert page.url.endswith("/accounts/login/")
    assert page.locator(".whoami").count() == 0
