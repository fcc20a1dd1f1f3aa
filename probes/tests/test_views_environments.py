"""Environment settings pages for admins: create, edit, write-only secrets, trusting an SSH host key."""

import pytest
from django.urls import reverse

from checklists.models import Environment, EnvironmentSecret, SSHHost
from core.models import Event
from probes.runners.ssh import fingerprint

pytestmark = pytest.mark.usefixtures("fernet_key")

NEW = {
    "service": "billing-api",
    "name": "production",
    "base_url": "https://billing.example.com",
    "allowed_hosts": "db.example.com\ncache.example.com",
    "variables": "APP_DIR=/srv/billing\nWORKERS=4",
    "ssh_host": "",
    "ssh_port": "22",
    "ssh_username": "",
    "ssh_private_key": "",
    "ssh_password": "",
    "secret-name": "API_TOKEN",
    "secret-value": "tok-very-secret-123",
}


def test_admin_creates_an_environment_with_a_secret(client, people):
    client.force_login(people["admin"])
    response = client.post(reverse("environment-new"), NEW)
    environment = Environment.objects.get(service__name="billing-api", name="production")
    assert response.status_code == 302 and response["Location"] == reverse("environment-edit", args=[environment.pk])
    assert environment.allowed_hosts == ["db.example.com", "cache.example.com"]
    assert environment.variables == {"APP_DIR": "/srv/billing", "WORKERS": "4"}
    assert list(environment.secrets.values_list("name", flat=True)) == ["API_TOKEN"]
    assert Event.objects.filter(kind="environment", source="web", actor_name="admin").exists()
    edit = client.get(response["Location"]).content.decode()
    assert "API_TOKEN" in edit and "tok-very-secret-123" not in edit


@pytest.mark.parametrize("role", ["viewer", "engineer", "lead"])
def test_only_admins_change_environments(client, people, environment, role):
    client.force_login(people[role])
    assert client.post(reverse("environment-new"), NEW).status_code == 403
    assert client.post(reverse("environment-edit", args=[environment.pk]), {"base_url": "https://x.example"}).status_code == 403
    assert client.post(
        reverse("environment-secret", args=[environment.pk]), {"name": "T", "value": "v"}
    ).status_code == 403
    assert client.post(
        reverse("environment-host-key", args=[environment.pk]), {"action": "trust", "host_key": "x"}
    ).status_code == 403
    assert not Environment.objects.filter(service__name="billing-api").exists()
    assert not EnvironmentSecret.objects.exists()


def test_invalid_base_url_is_refused_with_a_sentence(client, people):
    client.force_login(people["admin"])
    response = client.post(reverse("environment-new"), {**NEW, "base_url": "ftp://nope"})
    assert response.status_code == 400 and "http:// or https://" in response.content.decode()


def test_variables_must_be_name_value_lines(client, people):
    client.force_login(people["admin"])
    response = client.post(reverse("environment-new"), {**NEW, "variables": "just words"})
    assert response.status_code == 400 and "NAME=value" in response.content.decode()


def test_admin_edits_settings(client, people, environment):
    client.force_login(people["admin"])
    response = client.post(
        reverse("environment-edit", args=[environment.pk]),
        {"base_url": "https://staging.example.com", "allowed_hosts": "a.example.com, b.example.com", "variables": "X=1"},
    )
    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.base_url == "https://staging.example.com"
    assert environment.allowed_hosts == ["a.example.com", "b.example.com"]
    assert environment.variables == {"X": "1"}
    page = client.get(reverse("environment-edit", args=[environment.pk])).content.decode()
    assert 'value="https://staging.example.com"' in page


def test_secrets_are_write_only(client, people, environment):
    client.force_login(people["admin"])
    url = reverse("environment-secret", args=[environment.pk])
    client.post(url, {"name": "DB_PASSWORD", "value": "hunter2-pass"})
    client.post(url, {"name": "DB_PASSWORD", "value": "hunter3-pass"})
    assert environment.secrets.count() == 1
    for page in (reverse("environment-edit", args=[environment.pk]), reverse("environment", args=[environment.pk])):
        html = client.get(page).content.decode()
        assert "DB_PASSWORD" in html and "hunter2" not in html and "hunter3" not in html
    notes = " ".join(Event.objects.filter(kind="environment").values_list("note", flat=True))
    assert "DB_PASSWORD" in notes and "hunter" not in notes


def add_host(environment, host="127.0.0.1", port=22, username="deploy", role=""):
    return SSHHost.objects.create(environment=environment, host=host, port=port, username=username, role=role)


def test_ssh_private_key_is_never_shown_back(client, people, environment, sshd):
    client.force_login(people["admin"])
    key = sshd.keys["ed25519"]
    response = client.post(
        reverse("environment-ssh-hosts", args=[environment.pk]),
        {"action": "add", "role": "web", "host": sshd.host, "port": sshd.port, "username": sshd.username, "private_key": key},
    )
    assert response.status_code == 302
    stored = environment.ssh_hosts.get()
    assert stored.role == "web" and stored.private_key and "PRIVATE KEY" not in stored.private_key
    html = client.get(reverse("environment-edit", args=[environment.pk])).content.decode()
    assert f"{sshd.username}@{sshd.host}:{sshd.port}" in html
    assert "PRIVATE KEY-----\n" not in html and key.splitlines()[1] not in html


def test_admin_manages_several_hosts_and_trusts_each_key(client, people, environment, sshd_pair):
    web, worker = sshd_pair
    client.force_login(people["admin"])
    hosts = reverse("environment-ssh-hosts", args=[environment.pk])
    for role, server in (("web", web), ("worker", worker)):
        client.post(hosts, {"action": "add", "role": role, "host": server.host, "port": server.port, "username": server.username})
    web_host, worker_host = environment.ssh_hosts.order_by("position")
    url = reverse("environment-host-key", args=[environment.pk])
    for row, server in ((web_host, web), (worker_host, worker)):
        offered = client.post(url, {"action": "fetch", "ssh_host": row.pk}).content.decode()
        assert fingerprint(server.host_key) in offered
        client.post(url, {"action": "trust", "ssh_host": row.pk, "host_key": server.host_key})
    web_host.refresh_from_db()
    worker_host.refresh_from_db()
    assert web_host.host_key.split()[:2] == web.host_key.split()[:2]
    assert worker_host.host_key.split()[:2] == worker.host_key.split()[:2]
    assert Event.objects.filter(kind="host_key_trusted").count() == 2
    client.post(hosts, {"action": "remove", "ssh_host": worker_host.pk})
    assert list(environment.ssh_hosts.values_list("role", flat=True)) == ["web"]


def test_fetch_then_trust_the_real_host_key(client, people, environment, sshd):
    ssh_host = add_host(environment, sshd.host, sshd.port, sshd.username)
    client.force_login(people["admin"])
    url = reverse("environment-host-key", args=[environment.pk])
    offered = client.post(url, {"action": "fetch"}).content.decode()
    expected = fingerprint(sshd.host_key)
    assert expected in offered and "Trust this key" in offered
    ssh_host.refresh_from_db()
    assert ssh_host.host_key == ""  # fetching trusts nothing
    response = client.post(url, {"action": "trust", "host_key": sshd.host_key})
    assert response.status_code == 302
    ssh_host.refresh_from_db()
    assert ssh_host.host_key.split()[:2] == sshd.host_key.split()[:2]
    event = Event.objects.get(kind="host_key_trusted")
    assert event.actor_name == "admin" and event.after == expected
    again = client.post(url, {"action": "fetch"}).content.decode()
    assert "already pinned" in again and "Trust this key" not in again
    shown = client.get(reverse("environment", args=[environment.pk])).content.decode()
    assert expected in shown


UNREADABLE = "No SSH host key could be read from 127.0.0.1:{port}; check the host and port, and that an SSH server listens there."


@pytest.mark.parametrize("listener", ["nothing", "http"])
def test_fetch_failures_all_read_the_same(client, people, environment, unused_port, http_server, listener):
    """Refused, or open but not SSH: one sentence, so the page tells nothing about which ports are open."""
    port = unused_port if listener == "nothing" else http_server.port
    add_host(environment, port=port)
    client.force_login(people["admin"])
    response = client.post(reverse("environment-host-key", args=[environment.pk]), {"action": "fetch"})
    assert response.status_code == 502
    assert UNREADABLE.format(port=port) in response.content.decode()


REFUSED = (
    "The SSH host `{host}` is not this environment&#x27;s base URL host or one of its allowed hosts; "
    "add it to the allowed hosts first."
)


def test_fetch_from_a_host_outside_the_environment_is_refused_before_connecting(client, people, environment, http_server):
    add_host(environment, port=http_server.port)
    environment.base_url = "https://app.example.com"
    environment.save()
    client.force_login(people["admin"])
    response = client.post(reverse("environment-host-key", args=[environment.pk]), {"action": "fetch"})
    assert response.status_code == 400 and REFUSED.format(host="127.0.0.1") in response.content.decode()
    assert http_server.paths == [] and not http_server.server.requests


def test_saving_an_ssh_host_outside_the_environment_is_refused(client, people, environment):
    client.force_login(people["admin"])
    response = client.post(reverse("environment-new"), {**NEW, "ssh_host": "10.1.2.3", "ssh_username": "deploy"})
    assert response.status_code == 400 and REFUSED.format(host="10.1.2.3") in response.content.decode()
    assert not Environment.objects.filter(service__name="billing-api").exists()
    accepted = client.post(reverse("environment-new"), {**NEW, "ssh_host": "db.example.com", "ssh_username": "deploy"})
    assert accepted.status_code == 302
    created = Environment.objects.get(service__name="billing-api")
    # Dropping the SSH host from the allowed hosts is refused too: the rule holds for what is saved.
    edit = client.post(
        reverse("environment-edit", args=[created.pk]),
        {"base_url": NEW["base_url"], "allowed_hosts": "cache.example.com", "variables": ""},
    )
    assert edit.status_code == 400 and REFUSED.format(host="db.example.com") in edit.content.decode()
    assert Environment.objects.get(pk=created.pk).allowed_hosts == ["db.example.com", "cache.example.com"]
    added = client.post(
        reverse("environment-ssh-hosts", args=[created.pk]), {"action": "add", "host": "10.9.9.9", "username": "x"}
    )
    assert added.status_code == 400 and REFUSED.format(host="10.9.9.9") in added.content.decode()


def test_trusting_garbage_is_refused(client, people, environment):
    add_host(environment)
    client.force_login(people["admin"])
    response = client.post(
        reverse("environment-host-key", args=[environment.pk]), {"action": "trust", "host_key": "not a key"}
    )
    assert response.status_code == 400 and "OpenSSH public host key" in response.content.decode()


def test_saving_the_settings_lands_on_the_environment_page(client, people, environment):
    client.force_login(people["admin"])
    response = client.post(reverse("environment-edit", args=[environment.pk]), {"base_url": "http://127.0.0.1:9"})
    assert response.status_code == 302 and response["Location"] == reverse("environment", args=[environment.pk])
    page = client.get(reverse("environment-edit", args=[environment.pk])).content.decode()
    assert '<div class="form-page">' in page and '<aside class="side">' not in page  # the form is not in a side column
