"""Single sign-on with OpenID Connect, through mozilla-django-oidc: the authorization code flow with PKCE.

Only `OIDC_ISSUER`, `OIDC_CLIENT_ID` and `OIDC_CLIENT_SECRET` are configured; the endpoints come from the
issuer's discovery document (`<issuer>/.well-known/openid-configuration`), fetched when a sign-on starts
or completes — never at import — and cached for an hour. At every sign-on the roles claim is mapped to
roles (core/sso.py). The username is the `preferred_username` claim, else `email`.

Signing out of a single sign-on session ends the provider's session too (RP-initiated logout): the ID token
of the sign-on is kept in the session (a credential: never logged, never shown) and sent back as
`id_token_hint` to the provider's `end_session_endpoint`, which returns the browser to the sign-in page.
"""

import hashlib
import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, OIDCLogoutView

from core.sso import roles_from_claims, sso_roles_sync

logger = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
TIMEOUT_SECONDS = 10
#: mozilla-django-oidc's names for what the discovery document says.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
#: Where mozilla-django-oidc keeps the sign-on's ID token in the session (OIDC_STORE_ID_TOKEN).
ID_TOKEN = "oidc_id_token"
UNREACHABLE = (
    "The single sign-on provider could not be reached ({reason}); try again in a minute, or ask an admin "
    "to check OIDC_ISSUER."
)
FAILED = "Single sign-on did not sign you in: {reason} Try again, or ask an admin."


class DiscoveryError(Exception):
    pass


def configured() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def discovery() -> dict:
    """The issuer's discovery document, from the cache or fetched (and checked to name the same issuer)."""
    issuer = settings.OIDC_ISSUER
    key = "ctrlready:oidc-discovery:" + hashlib.sha256(issuer.encode()).hexdigest()[:32]
    document = cache.get(key)
    if document is not None:
        return document
    url = issuer + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise DiscoveryError(f"{url} answered {type(error).__name__}") from error
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer:
        raise DiscoveryError(f"{url} does not describe the issuer {issuer}")
    missing = [name for name in ENDPOINTS.values() if not document.get(name)]
    if missing:
        raise DiscoveryError(f"{url} names no {', '.join(missing)}")
    cache.set(key, document, DISCOVERY_SECONDS)
    return document


def signing_algorithm(document: dict) -> str:
    """RS256 (every provider must offer it), unless the provider signs ID tokens only with another RSA or EC key."""
    offered = [alg for alg in document.get("id_token_signing_alg_values_supported") or [] if isinstance(alg, str)]
    if not offered or "RS256" in offered:
        return "RS256"
    return next((alg for alg in offered if alg.startswith(("RS", "ES"))), "RS256")


def oidc_setting(attr: str, *args):
    """What mozilla-django-oidc asks for, from ctrlready's settings and the discovery document."""
    if attr in ENDPOINTS:
        return discovery()[ENDPOINTS[attr]]
    if attr == "OIDC_RP_SIGN_ALGO":
        return signing_algorithm(discovery())
    fixed = {
        "OIDC_RP_CLIENT_ID": settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.OIDC_SCOPES,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_USE_NONCE": True,
        "OIDC_TOKEN_USE_BASIC_AUTH": True,
        "OIDC_TIMEOUT": TIMEOUT_SECONDS,
        "OIDC_CREATE_USER": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_authentication_callback",
        # Kept for signing out at the provider too (`provider_logout_url`).
        "OIDC_STORE_ID_TOKEN": True,
        "OIDC_OP_LOGOUT_URL_METHOD": "ctrlready.sso.provider_logout_url",
    }
    if attr in fixed:
        return fixed[attr]
    return import_from_settings(attr, *args)


def username_from(claims) -> str:
    return str(claims.get("preferred_username") or claims.get("email") or "").strip()[:150]


class OIDCBackend(OIDCAuthenticationBackend):
    """Signs in the person the provider vouches for, and maps their roles claim at every sign-in."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Django makes a backend for every sign-in and session, password ones too: nothing is read or
        # fetched until a single sign-on actually completes (see `authenticate`).
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or not configured():
            return None
        super().__init__()
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """mozilla-django-oidc checks the signature and nonce; the issuer and audience are checked here."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if str(payload.get("iss", "")).rstrip("/") != settings.OIDC_ISSUER:
            raise SuspiciousOperation("The ID token was issued by another issuer.")
        if settings.OIDC_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo answer over the ID token's own claims: some providers put the groups only in the
        ID token, others only in userinfo."""
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if str(userinfo.get("sub", "")) != str(payload.get("sub", "")):
            raise SuspiciousOperation("The userinfo answer is about someone else than the ID token.")
        return {**payload, **userinfo}

    def verify_claims(self, claims) -> bool:
        return bool(username_from(claims))

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=username_from(claims))

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(username_from(claims), email=claims.get("email") or "")
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        email = claims.get("email") or ""
        if email and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        if user.is_active:
            sso_roles_sync(user=user, wanted=roles_from_claims(claims, claim=settings.OIDC_ROLES_CLAIM))
        return user


class AuthenticateView(OIDCAuthenticationRequestView):
    """`/accounts/oidc/authenticate/`: off to the provider's authorization endpoint, with PKCE."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not configured():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except DiscoveryError as error:
            logger.warning("Single sign-on discovery failed: %s", error)
            return sign_in_page(request, UNREACHABLE.format(reason=error), status=503)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """`/accounts/oidc/callback/`: the redirect URI to register at the provider."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not configured():
            raise Http404("Single sign-on is not configured.")
        self.id_token_before = request.session.get(ID_TOKEN)
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            super().get(request)
            return sign_in_page(request, FAILED.format(reason=f"the provider said “{reason[:200]}”."), status=400)
        try:
            return super().get(request)
        except DiscoveryError as error:
            return sign_in_page(request, UNREACHABLE.format(reason=error), status=503)
        except (requests.RequestException, SuspiciousOperation) as error:
            self.id_token_restore()
            logger.warning("Single sign-on failed: %s", error)
            return sign_in_page(request, FAILED.format(reason="the provider's answer could not be verified."), 400)

    def login_success(self):
        # Django's login empties the session when someone else was signed in on it (a password sign-in,
        # say): the ID token of this sign-on is carried over, or signing out would miss the provider.
        id_token = self.request.session.get(ID_TOKEN)
        response = super().login_success()
        if id_token:
            self.request.session[ID_TOKEN] = id_token
        return response

    def login_failure(self):
        self.id_token_restore()
        return sign_in_page(
            self.request, FAILED.format(reason="it could not be completed (it may have expired, or your account here is deactivated)."),
            400,
        )

    def id_token_restore(self):
        """mozilla-django-oidc stores the ID token before it reads the userinfo answer and checks the account
        (a deactivated one, say): a sign-on that fails leaves the session's ID token as it was — none, or
        that of the single sign-on still signed in here. A password sign-in on this session must not send
        its sign-out to the provider."""
        if self.id_token_before and self.request.user.is_authenticated:
            self.request.session[ID_TOKEN] = self.id_token_before
        else:
            self.request.session.pop(ID_TOKEN, None)


def provider_logout_url(request) -> str:
    """Where signing out sends the browser (mozilla-django-oidc's `OIDC_OP_LOGOUT_URL_METHOD`, called while
    the session still holds the ID token): after a single sign-on, the provider's `end_session_endpoint`
    with the ID token as `id_token_hint`, this client's id and the sign-in page to come back to, so that
    the provider's session ends too and the next sign-on asks for credentials again. Otherwise (a password
    sign-in; a provider that names no `end_session_endpoint`, or cannot be reached) the sign-in page: the
    person is signed out here only."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get(ID_TOKEN)
    if not id_token or not configured():
        return local
    try:
        endpoint = discovery().get("end_session_endpoint")
    except DiscoveryError as error:
        logger.warning("Signed out here only, not at the single sign-on provider: %s", error)
        return local
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return local
    query = urlencode({
        "id_token_hint": id_token,
        "client_id": settings.OIDC_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
    })
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


@method_decorator(never_cache, name="dispatch")
class LogoutView(OIDCLogoutView):
    """`/accounts/logout/` (POST): ends the session here, then goes to `provider_logout_url`."""

    get_settings = staticmethod(oidc_setting)


def sign_in_page(request, sentence: str, status: int):
    context = {"refused": sentence, "sso": configured(), "password_login": settings.CTRLREADY_PASSWORD_LOGIN}
    return render(request, "registration/login.html", context, status=status)
