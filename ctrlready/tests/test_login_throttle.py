"""Login throttling (issue 8, defect 6): CTRLREADY_LOGIN_ATTEMPTS failed password sign-ins within 15 minutes
lock that username from that address, with a sentence saying when to try again; an admin can lift it.
Every attempt here is a real POST to the sign-in page through Django's test client."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from core.tokens import api_token_create

LOGIN = "/accounts/login/"


def sign_in(username: str, password: str, *, address: str = "198.51.100.7", **headers):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password}, **headers)
    return client, response


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(username: str, times: int, **kwargs) -> None:
    for _ in range(times):
        _, response = sign_in(username, "wrong", **kwargs)
        assert response.status_code in (200, 429)


@pytest.fixture(autouse=True)
def five_attempts(settings):
    settings.AXES_FAILURE_LIMIT = 5


def test_the_right_password_after_a_few_failures_still_signs_in(people):
    fail("lead", 4)

    client, response = sign_in("lead", "pw-lead")

    assert response.status_code == 302 and signed_in(client)
    assert not AccessAttempt.objects.filter(username="lead").exists()  # a success clears the failures


def test_five_failures_lock_the_username_even_against_the_right_password(people):
    fail("lead", 5)

    client, response = sign_in("lead", "pw-lead")

    assert response.status_code == 429
    assert not signed_in(client)
    page = response.content.decode()
    assert "Too many failed sign-ins as lead from your address: try again after" in page
    assert "UTC (in about 15 minutes)" in page
    assert 'name="password"' in page  # still the sign-in page


def test_the_lock_holds_one_username_from_one_address(people):
    fail("lead", 5)

    other_address, response = sign_in("lead", "pw-lead", address="203.0.113.9")
    assert response.status_code == 302 and signed_in(other_address)

    other_user, response = sign_in("viewer", "pw-viewer")
    assert response.status_code == 302 and signed_in(other_user)


def test_the_lock_ends_15_minutes_after_the_last_failure(people):
    fail("lead", 5)
    assert sign_in("lead", "pw-lead")[1].status_code == 429

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15, seconds=1))
    client, response = sign_in("lead", "pw-lead")

    assert response.status_code == 302 and signed_in(client)


def test_attempts_during_a_lock_do_not_extend_it(people):
    fail("lead", 5)
    first = AccessAttempt.objects.get().attempt_time

    fail("lead", 3)

    assert AccessAttempt.objects.get().attempt_time == first


def test_an_admin_lifts_the_lock_with_axes_reset_username(people):
    fail("lead", 5)

    call_command("axes_reset_username", "lead", stdout=StringIO())
    client, response = sign_in("lead", "pw-lead")

    assert response.status_code == 302 and signed_in(client)


def test_an_admin_sees_and_can_delete_the_lock_in_the_django_admin(people):
    fail("lead", 5)
    admin = Client()
    people["admin"].is_staff = people["admin"].is_superuser = True
    people["admin"].save()
    admin.force_login(people["admin"])

    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "lead" in listing.content.decode()

    attempt = AccessAttempt.objects.get()
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert sign_in("lead", "pw-lead")[1].status_code == 302


def test_the_limit_is_a_setting(people, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail("lead", 2)

    assert sign_in("lead", "pw-lead")[1].status_code == 429


def test_x_forwarded_for_is_ignored_without_proxy_hops(people, settings):
    settings.CTRLREADY_PROXY_HOPS = 0
    for n in range(5):
        sign_in("lead", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    _, response = sign_in("lead", "pw-lead", HTTP_X_FORWARDED_FOR="192.0.2.200")

    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_behind_one_proxy_the_client_is_the_last_forwarded_address(people, settings):
    settings.CTRLREADY_PROXY_HOPS = 1
    # The proxy appends the address it was connected from; anything to its left the client wrote itself.
    for n in range(5):
        sign_in("lead", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=f"spoofed-{n}, 192.0.2.50")

    _, locked = sign_in("lead", "pw-lead", address="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.50")
    client, other = sign_in("lead", "pw-lead", address="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.51")

    assert locked.status_code == 429
    assert other.status_code == 302 and signed_in(client)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.50"}


def test_a_locked_out_persons_api_token_still_works(people, deployment):
    raw = api_token_create(user=people["lead"])
    fail("lead", 5)

    response = Client(REMOTE_ADDR="198.51.100.7").get(
        f"/api/v1/deployments/{deployment.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )

    assert response.status_code == 200


def test_bad_api_tokens_are_not_counted_as_sign_in_failures(people, deployment):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(8):
        client.get(f"/api/v1/deployments/{deployment.pk}", HTTP_AUTHORIZATION="Bearer cr_nope")

    assert not AccessAttempt.objects.exists()
    assert sign_in("lead", "pw-lead")[1].status_code == 302


def test_password_login_off_hides_the_form_and_refuses_a_password_post(people, settings):
    settings.CTRLREADY_PASSWORD_LOGIN = False
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = "https://id.example.com", "ctrlready"

    page = Client().get(LOGIN).content.decode()
    assert 'name="password"' not in page
    assert "Sign in with single sign-on" in page

    client, response = sign_in("admin", "pw-admin")
    assert response.status_code == 403
    assert not signed_in(client)
    assert "Password sign-in is switched off here" in response.content.decode()


def test_password_login_off_refuses_the_admin_sign_in_too(people, settings):
    settings.CTRLREADY_PASSWORD_LOGIN = False
    people["admin"].is_staff = people["admin"].is_superuser = True
    people["admin"].save()
    client = Client()

    client.post("/admin/login/", {"username": "admin", "password": "pw-admin"})

    assert not signed_in(client)


def test_without_single_sign_on_the_login_page_shows_only_the_password_form(db):
    page = Client().get(LOGIN).content.decode()

    assert 'name="password"' in page
    assert "single sign-on" not in page
