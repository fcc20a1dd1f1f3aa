"""Environments through the JSON API and their services: validation, roles, write-only encrypted secrets."""

import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from checklists.environments import (
    environment_create,
    environment_secrets,
    environment_update,
    host_key_parse,
    host_key_trust,
    secret_set,
    secrets_rotate,
    ssh_host_add,
    ssh_host_credentials,
)
from checklists.models import Environment, EnvironmentSecret, Service
from core import crypto
from core.errors import Forbidden, InvalidInput
from core.models import Event

# A real ed25519 public key, and its fingerprint as `ssh-keygen -lf` prints it.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOvYpjPq94rqVfKSmm1aw35cd2BhQJ0XZSqeFFdZE+ne"
HOST_KEY_FINGERPRINT = "SHA256:ppnkRu+1HlRjPWas7d83sECJw1eJxpqac7odKBDaSWM"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtopsecretkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n"
SECRET_VALUES = ("tok-very-secret-123", "hunter2-pass", "tokmaterial", PRIVATE_KEY)


@pytest.fixture(autouse=True)
def secret_keys(settings):
    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode()]
    return settings.CTRLREADY_SECRET_KEYS


def new_environment(**overrides) -> dict:
    body = {
        "service": "ctrlchecks-api",
        "name": "production",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["status.example.com", "10.0.0.5"],
        "variables": {"DOMAIN": "api.example.com", "APP_DIR": "/opt/ctrlchecks", "WORKERS": 4},
        "secrets": {"API_TOKEN": "tok-very-secret-123"},
        "ssh": {"host": "api.example.com", "port": 2222, "username": "deploy", "private_key": PRIVATE_KEY, "host_key": HOST_KEY},
    }
    body.update(overrides)
    return body


def assert_no_secret_in(text: str):
    for value in SECRET_VALUES:
        assert value not in text
    assert "topsecretkeymaterial" not in text


def test_admin_creates_an_environment_and_sees_secret_names_only(api, people, caplog):
    caplog.set_level(logging.DEBUG)

    response = api.post("admin", "environments", new_environment())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body | {"id": 0, "created_at": ""} == {
        "id": 0,
        "service": "ctrlchecks-api",
        "name": "production",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["status.example.com", "10.0.0.5"],
        "variables": {"DOMAIN": "api.example.com", "APP_DIR": "/opt/ctrlchecks", "WORKERS": 4},
        "secrets": ["API_TOKEN"],
        "ssh": [{
            "role": "",
            "host": "api.example.com",
            "port": 2222,
            "username": "deploy",
            "host_key": HOST_KEY,
            "host_key_fingerprint": HOST_KEY_FINGERPRINT,
            "credentials": ["private_key"],
        }],
        "dns_servers": [],
        "created_at": "",
    }
    assert_no_secret_in(response.content.decode())
    assert_no_secret_in(caplog.text)
    events = list(Event.objects.filter(environment_ref=body["id"]).order_by("id"))
    assert [(e.kind, e.actor_name, e.source, e.deployment_ref) for e in events] == [
        ("environment", "admin", "api", None),
        ("host_key_trusted", "admin", "api", None),
    ]
    assert HOST_KEY_FINGERPRINT in events[1].note
    assert_no_secret_in(json.dumps([[e.note, e.before, e.after, e.data] for e in events]))


def test_secrets_are_encrypted_at_rest_and_readable_by_the_runner(api, people):
    environment_id = api.post("admin", "environments", new_environment()).json()["id"]

    stored = EnvironmentSecret.objects.get(environment_id=environment_id, name="API_TOKEN")
    assert "tok-very-secret-123" not in stored.ciphertext
    environment = Environment.objects.get(pk=environment_id)
    assert environment_secrets(environment) == {"API_TOKEN": "tok-very-secret-123"}
    ssh_host = environment.ssh_hosts.get()
    assert "BEGIN" not in ssh_host.private_key
    assert ssh_host_credentials(ssh_host) == (PRIVATE_KEY, None)


def test_environment_list_is_for_every_role_but_outsiders(api, people, environment):
    listed = api.get("viewer", "environments")

    assert listed.status_code == 200
    assert listed.json() == {
        "environments": [
            {"id": environment.pk, "service": "ctrlchecks-api", "name": "staging", "base_url": "http://127.0.0.1:9"}
        ]
    }
    assert api.get("outsider", "environments").status_code == 403
    assert api.get(None, "environments").status_code == 401


@pytest.mark.parametrize("who, status", [(None, 401), ("viewer", 403), ("engineer", 403), ("lead", 403)])
def test_only_an_admin_creates_environments(api, people, who, status):
    response = api.post(who, "environments", new_environment())

    assert response.status_code == status
    assert Environment.objects.count() == 0 and Service.objects.count() == 0


def test_same_name_in_the_same_service_is_409(api, people, environment):
    response = api.post("admin", "environments", new_environment(name="staging"))

    assert response.status_code == 409
    assert "staging" in response.json()["error"]
    assert Environment.objects.count() == 1


def test_same_name_in_another_service_is_fine(api, people, environment):
    response = api.post("admin", "environments", new_environment(service="billing", name="staging"))

    assert response.status_code == 201
    assert Service.objects.filter(name="billing").exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"base_url": "ftp://files.example.com"}, "base_url"),
        ({"base_url": "api.example.com"}, "base_url"),
        ({"base_url": "https://user:pw@api.example.com"}, "base_url"),
        ({"allowed_hosts": ["https://status.example.com/"]}, "allowed_hosts"),
        ({"allowed_hosts": ["bad host"]}, "allowed_hosts"),
        ({"allowed_hosts": "status.example.com"}, "allowed_hosts"),
        ({"variables": {"not a name": "x"}}, "not a name"),
        ({"secrets": {"API_TOKEN": ""}}, "API_TOKEN"),
        ({"name": ""}, "name"),
        ({"ssh": {"host": "api.example.com", "username": "deploy", "port": 70000}}, "ssh.port"),
        ({"ssh": {"host": "api.example.com", "username": "deploy", "private_key": "not a key"}}, "ssh.private_key"),
        ({"ssh": {"host": "api.example.com", "username": "deploy", "host_key": "ssh-ed25519 bm90IGEga2V5"}}, "host_key"),
        ({"ssh": {"host": "api.example.com"}}, "ssh.username"),
        ({"ssh": {"host": "10.9.8.7", "username": "deploy"}}, "is not this environment's base URL host or one of its"),
    ],
)
def test_bad_environment_is_refused_naming_the_field_and_nothing_is_stored(api, people, overrides, field):
    response = api.post("admin", "environments", new_environment(**overrides))

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]
    assert Environment.objects.count() == 0 and EnvironmentSecret.objects.count() == 0
    assert Service.objects.count() == 0 and Event.objects.count() == 0


def test_validation_errors_do_not_echo_secret_values(api, people):
    response = api.post("admin", "environments", new_environment(secrets={"API_TOKEN": ["tok-very-secret-123"]}))

    assert response.status_code == 400
    assert_no_secret_in(response.content.decode())


def test_ssh_password_is_stored_encrypted_with_its_host(people):
    environment = environment_create(
        service_name="svc", name="env", base_url="http://127.0.0.1:8001",
        ssh={"host": "127.0.0.1", "port": 22, "username": "u", "password": "hunter2-pass"},
        actor=people["admin"], source="api",
    )

    ssh_host = environment.ssh_hosts.get()
    assert ssh_host_credentials(ssh_host) == (None, "hunter2-pass") and "hunter2" not in ssh_host.password
    assert ssh_host.host_key == ""


def test_several_ssh_hosts_each_with_a_role_and_its_own_key(api, people):
    response = api.post("admin", "environments", new_environment(ssh=[
        {"role": "web", "host": "api.example.com", "username": "deploy", "password": "pw-web-123", "host_key": HOST_KEY},
        {"role": "worker", "host": "10.0.0.5", "port": 2222, "username": "deploy", "private_key": PRIVATE_KEY},
    ]))

    assert response.status_code == 201, response.json()
    hosts = response.json()["ssh"]
    assert [(h["role"], h["host"], h["port"], h["host_key_fingerprint"], h["credentials"]) for h in hosts] == [
        ("web", "api.example.com", 22, HOST_KEY_FINGERPRINT, ["password"]),
        ("worker", "10.0.0.5", 2222, "", ["private_key"]),
    ]
    assert_no_secret_in(response.content.decode())
    twice = api.post("admin", "environments", new_environment(name="other", ssh=[
        {"host": "api.example.com", "username": "a"}, {"host": "api.example.com", "username": "b"},
    ]))
    assert twice.status_code == 400 and "given twice" in twice.json()["error"]


def test_secret_set_replaces_and_records_the_name_only(people, environment):
    secret_set(environment=environment, name="API_TOKEN", value="tokmaterial", actor=people["admin"], source="api")
    secret_set(environment=environment, name="API_TOKEN", value="hunter2-pass", actor=people["admin"], source="api")

    assert environment_secrets(environment) == {"API_TOKEN": "hunter2-pass"}
    events = Event.objects.filter(environment_ref=environment.pk)
    assert [e.after for e in events] == ["secret set", "secret replaced"]
    assert_no_secret_in(json.dumps([[e.note, e.data] for e in events]))
    with pytest.raises(Forbidden):
        secret_set(environment=environment, name="X", value="tokmaterial", actor=people["lead"], source="api")


def test_host_key_trust_is_an_admins_recorded_action(people, environment):
    with pytest.raises(Forbidden):
        host_key_trust(environment=environment, host_key=HOST_KEY, actor=people["lead"], source="web")

    ssh_host = ssh_host_add(
        environment=environment, ssh={"host": "127.0.0.1", "username": "deploy"}, actor=people["admin"], source="web"
    )
    host_key_trust(environment=environment, host_key=f"[api.example.com]:22 {HOST_KEY} root@host", actor=people["admin"], source="web")

    ssh_host.refresh_from_db()
    assert ssh_host.host_key == HOST_KEY
    event = Event.objects.get(kind="host_key_trusted")
    assert (event.actor_name, event.source, event.environment_ref, event.after) == ("admin", "web", environment.pk, HOST_KEY_FINGERPRINT)
    assert event.data["ssh_host"] == "127.0.0.1"
    assert HOST_KEY_FINGERPRINT in event.note


def test_host_key_must_be_an_openssh_public_key():
    assert host_key_parse(HOST_KEY) == (HOST_KEY, HOST_KEY_FINGERPRINT)
    for bad in ("", "ssh-ed25519", "ssh-rsa " + HOST_KEY.split()[1], "ssh-ed25519 !!!"):
        with pytest.raises(InvalidInput):
            host_key_parse(bad)


def test_environment_update_changes_what_is_given_and_records_it(people, environment):
    environment_update(
        environment=environment,
        allowed_hosts=["Status.Example.com."],
        secrets={"API_TOKEN": "tokmaterial"},
        actor=people["admin"],
        source="api",
    )

    environment.refresh_from_db()
    assert environment.allowed_hosts == ["status.example.com"]
    assert environment.base_url == "http://127.0.0.1:9"
    event = Event.objects.get(environment_ref=environment.pk)
    assert event.data == {"fields": ["allowed_hosts"], "secrets": ["API_TOKEN"]}
    with pytest.raises(Forbidden):
        environment_update(environment=environment, base_url="https://x.example.com", actor=people["lead"], source="api")


def test_environment_update_with_nothing_new_records_nothing(people, environment):
    environment_update(environment=environment, base_url="http://127.0.0.1:9", actor=people["admin"], source="api")

    assert not Event.objects.exists()


def test_keys_rotate(settings, people, environment):
    old = settings.CTRLREADY_SECRET_KEYS[0]
    secret_set(environment=environment, name="API_TOKEN", value="tokmaterial", actor=people["admin"], source="api")
    ssh_host = ssh_host_add(
        environment=environment, ssh={"host": "127.0.0.1", "username": "u", "password": "hunter2-pass"},
        actor=people["admin"], source="api",
    )
    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode(), old]

    assert environment_secrets(environment) == {"API_TOKEN": "tokmaterial"}
    assert secrets_rotate() == 2

    settings.CTRLREADY_SECRET_KEYS = settings.CTRLREADY_SECRET_KEYS[:1]
    assert environment_secrets(environment) == {"API_TOKEN": "tokmaterial"}
    ssh_host.refresh_from_db()
    assert ssh_host_credentials(ssh_host) == (None, "hunter2-pass")


def test_secret_under_a_lost_key_is_left_out_and_logged_by_name(settings, people, environment, caplog):
    secret_set(environment=environment, name="API_TOKEN", value="tokmaterial", actor=people["admin"], source="api")
    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode()]

    assert environment_secrets(environment) == {}
    assert "API_TOKEN" in caplog.text and "tokmaterial" not in caplog.text


def test_without_keys_debug_derives_one_from_secret_key(settings):
    settings.CTRLREADY_SECRET_KEYS = []
    settings.DEBUG = True

    assert crypto.decrypt(crypto.encrypt("tokmaterial")) == "tokmaterial"


def test_without_keys_production_refuses_with_a_sentence(settings):
    settings.CTRLREADY_SECRET_KEYS = []
    settings.DEBUG = False

    with pytest.raises(ImproperlyConfigured, match="CTRLREADY_SECRET_KEYS"):
        crypto.encrypt("tokmaterial")


def test_a_key_that_is_not_fernet_is_refused_with_a_sentence(settings):
    settings.CTRLREADY_SECRET_KEYS = ["not-a-key"]

    with pytest.raises(ImproperlyConfigured, match="Key 1"):
        crypto.encrypt("tokmaterial")


def test_the_runner_sees_every_ssh_host_with_its_role_key_and_credentials(api, people):
    from probes.services import environment_target

    environment_id = api.post("admin", "environments", new_environment(ssh=[
        {"role": "web", "host": "api.example.com", "username": "deploy", "password": "pw-web-123", "host_key": HOST_KEY},
        {"role": "worker", "host": "10.0.0.5", "port": 2222, "username": "jobs", "private_key": PRIVATE_KEY},
    ])).json()["id"]

    target = environment_target(Environment.objects.select_related("service").get(pk=environment_id))
    assert [(h.role, h.host, h.port, h.username, h.password, bool(h.private_key), h.host_key) for h in target.ssh_hosts] == [
        ("web", "api.example.com", 22, "deploy", "pw-web-123", False, HOST_KEY),
        ("worker", "10.0.0.5", 2222, "jobs", None, True, None),
    ]
    assert "pw-web-123" in target.secret_values() and PRIVATE_KEY in target.secret_values()
    assert target.context == {"environment.name": "production", "service.name": "ctrlchecks-api"}


def test_dns_servers_must_be_the_environments_own_hosts(api, people):
    refused = api.post("admin", "environments", new_environment(dns_servers=["10.9.9.9"]))
    assert refused.status_code == 400 and "DNS server `10.9.9.9` is not this environment's" in refused.json()["error"]
    garbage = api.post("admin", "environments", new_environment(dns_servers=["ns1.example.com"]))
    assert garbage.status_code == 400 and "give an IP address" in garbage.json()["error"]
    created = api.post("admin", "environments", new_environment(dns_servers=["10.0.0.5:5353", "10.0.0.5"]))
    assert created.status_code == 201 and created.json()["dns_servers"] == ["10.0.0.5:5353", "10.0.0.5"]
