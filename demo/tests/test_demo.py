"""What `make run` shows: the demo loads, and its probes pass and fail for real against the demo target."""

import socket
import threading

import pytest

from checklists.models import ItemState
from core.actors import SYSTEM
from demo.loader import DEMO_USERS, demo_load
from demo.target import DEMO_ADDRESS, DEMO_DOMAIN, DEMO_RELEASE, dns_serve, serve
from probes.models import ProbeRun
from probes.services import runs_execute, runs_request


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_target():
    server = serve(0, "demo-token")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dns_port = free_udp_port()
    dns_serve(dns_port, {DEMO_DOMAIN: DEMO_ADDRESS})
    yield server.server_address[1], dns_port
    server.shutdown()
    server.server_close()


def states_by_text(deployment) -> dict[str, ItemState]:
    return {state.item.text: state for state in ItemState.objects.filter(deployment=deployment).select_related("item")}


@pytest.mark.django_db
def test_the_demo_loads_once_with_a_person_per_role(demo_target, fernet_key):
    port, dns_port = demo_target
    first = demo_load(target_port=port, dns_port=dns_port)
    again = demo_load(target_port=port, dns_port=dns_port)
    assert again.deployment == first.deployment  # loading twice opens no second deployment
    assert first.deployment.release == DEMO_RELEASE
    assert set(first.logins) == set(DEMO_USERS) == {"viewer", "engineer", "lead", "admin"}
    assert first.deployment.version.items.count() == 229


@pytest.mark.django_db
def test_the_demo_shows_two_teams_each_seeing_its_own_service(demo_target, fernet_key, client):
    from checklists.models import Deployment
    from demo.loader import BILLING_LEAD

    port, dns_port = demo_target
    platform = demo_load(target_port=port, dns_port=dns_port).deployment
    billing = Deployment.objects.get(environment__service__name="billing-api")
    assert platform.environment.service.team.slug == "platform" and billing.environment.service.team.slug == "billing"

    def seen(username, password):
        assert client.login(username=username, password=password)
        dashboard = client.get("/").content.decode()
        return ("ctrlchecks-api" in dashboard, "billing-api" in dashboard), client.get(f"/deployments/{billing.pk}/").status_code

    assert seen(*DEMO_USERS["lead"]) == ((True, False), 404)
    assert seen(*BILLING_LEAD) == ((False, True), 200)
    assert seen(*DEMO_USERS["admin"]) == ((True, True), 200)  # the site admin: break-glass


@pytest.mark.django_db
def test_the_demo_probes_pass_and_fail_for_real(demo_target, fernet_key, broker_up, monkeypatch):
    monkeypatch.setattr("probes.services.task_send", lambda *args, **kwargs: None)  # the test runs the batches itself
    port, dns_port = demo_target
    deployment = demo_load(target_port=port, dns_port=dns_port).deployment
    runs_request(deployment_id=deployment.pk, keys=None, actor=SYSTEM, source="cli")
    network = ProbeRun.objects.filter(deployment=deployment).exclude(item__probe__type__in=["ssh", "host", "load"])
    runs_execute(list(network.values_list("pk", flat=True)))

    states = states_by_text(deployment)
    # The running service reports the release under review: `{{ deployment.release }}` in the probe.
    assert states["Service starts successfully"].state == "passed"
    assert states["Health endpoint accessible"].state == "passed"
    failed = [text for text, state in states.items() if state.state == "failed"]
    passed = [text for text, state in states.items() if state.state == "passed"]
    assert len(passed) >= 10 and failed  # honest faults: some pass, some fail
    assert any("CORS" in text for text in failed)  # the demo answers `Access-Control-Allow-Origin: *`


@pytest.mark.django_db
def test_a_target_running_another_release_fails_the_release_check(fernet_key, broker_up, monkeypatch):
    monkeypatch.setattr("probes.services.task_send", lambda *args, **kwargs: None)
    server = serve(0, "demo-token", release="v0.9.9")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deployment = demo_load(target_port=server.server_address[1], dns_port=free_udp_port()).deployment
        key = ItemState.objects.get(deployment=deployment, item__text="Service starts successfully").item.key
        runs_request(deployment_id=deployment.pk, keys=[key], actor=SYSTEM, source="cli")
        runs_execute(list(ProbeRun.objects.filter(deployment=deployment).values_list("pk", flat=True)))
        state = ItemState.objects.get(deployment=deployment, item__key=key)
        assert state.state == "failed"
        observed = {c["expr"]: c["observed"] for c in state.result["conditions"]}
        assert observed['[BODY].version == "{{ deployment.release }}"'] == "v0.9.9"
    finally:
        server.shutdown()
        server.server_close()
