import json

import pytest

from checklists.conditions import ConditionResult
from probes.runners import HostNotAllowed, Observation, SSHTarget, Target, redact, render, run_batch, run_probe
from probes.runners.base import NotConfigured, check_host


def test_render_fills_every_string():
    target = Target("https://api.example.com", variables={"PATH": "/health"}, secrets={"TOKEN": "t0k3n-value"})
    spec = {
        "type": "http",
        "request": "GET {{vars.PATH}}",
        "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"},
        "json": {"nested": ["{{ vars.PATH }}", 1, None]},
        "timeout": 5,
    }
    assert render(spec, target) == {
        "type": "http",
        "request": "GET /health",
        "headers": {"Authorization": "Bearer t0k3n-value"},
        "json": {"nested": ["/health", 1, None]},
        "timeout": 5,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ secrets.API_TOKEN }}", "The secret `API_TOKEN` is not set for this environment."),
        ("{{ vars.REGION }}", "The variable `REGION` is not set for this environment."),
    ],
)
def test_render_missing_value(text, message):
    with pytest.raises(NotConfigured) as info:
        render({"run": text}, Target("http://x"))
    assert str(info.value) == message


def test_render_leaves_other_braces_alone():
    assert render({"run": "echo '{{ .Status }}' {{ other }}"}, Target("http://x")) == {
        "run": "echo '{{ .Status }}' {{ other }}"
    }


def test_redact_everywhere():
    secrets = {"A": "correct-horse", "B": "abc", "C": "battery-staple"}
    value = {
        "message": "sent correct-horse and battery-staple",
        "list": ["correct-horse", 3, None, ("battery-staple",)],
        "correct-horse": "key too",
        "short": "abc stays",
    }
    assert redact(value, secrets) == {
        "message": "sent [redacted] and [redacted]",
        "list": ["[redacted]", 3, None, ("[redacted]",)],
        "[redacted]": "key too",
        "short": "abc stays",
    }


def test_redact_observation():
    obs = Observation("failed", "saw s3cr3t!", 5, [ConditionResult("[STDOUT] == x", False, "s3cr3t!")], {"STDOUT": "s3cr3t!"})
    clean = redact(obs, ["s3cr3t!"])
    assert clean.message == "saw [redacted]"
    assert clean.conditions[0].observed == "[redacted]"
    assert clean.observed == {"STDOUT": "[redacted]"}


def test_check_host():
    target = Target("https://API.example.com:8443/v1", allowed_hosts=("cdn.example.com", "10.0.0.5", "::1"))
    assert target.hosts == ("api.example.com", "cdn.example.com", "10.0.0.5", "::1")
    assert check_host("Api.Example.COM", target) == "api.example.com"
    assert check_host("cdn.example.com.", target) == "cdn.example.com"
    assert check_host("10.0.0.5", target) == "10.0.0.5"
    assert check_host("[0:0::1]", target) == "::1"
    for host in ("evil.example", "10.0.0.6", "example.com", ""):
        with pytest.raises(HostNotAllowed):
            check_host(host, target)


def test_check_host_message():
    with pytest.raises(HostNotAllowed) as info:
        check_host("evil.example", Target("https://api.example.com"))
    assert str(info.value) == (
        "The host `evil.example` is not one of this environment's hosts (api.example.com); "
        "add it to the allowed hosts to probe it."
    )


def test_ssh_secrets_are_redacted_too():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQC\n-----END OPENSSH PRIVATE KEY-----\n"
    target = Target("http://x", ssh=SSHTarget("h", 22, "u", key, "pass-word", None))
    assert redact("leaked AAAAB3NzaC1yc2EAAAADAQABAAABAQC and pass-word", target.secret_values()) == (
        "leaked [redacted] and [redacted]"
    )


def test_missing_variable_is_not_configured_for_every_type():
    target = Target("http://127.0.0.1:9")
    specs = {
        "http": {"type": "http", "request": "GET {{ vars.P }}", "expect": ["[STATUS] == 200"]},
        "dns": {"type": "dns", "name": "{{ vars.NAME }}", "expect": ["[ANSWER] != null"]},
        "ssh": {"type": "ssh", "run": "echo {{ secrets.X }}", "expect": ["[EXIT_STATUS] == 0"]},
    }
    results = run_batch(specs, target)
    assert {k: o.status for k, o in results.items()} == dict.fromkeys(specs, "not_configured")
    assert results["ssh"].conditions == [ConditionResult("[EXIT_STATUS] == 0", False, None)]


def test_invalid_probe_is_an_error_not_an_exception():
    obs = run_probe({"type": "nope"}, Target("http://127.0.0.1:9"))
    assert obs.status == "error"
    assert obs.message == "The probe is not valid: Unknown probe type `nope`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external."


def test_observation_is_json_serialisable(http_server):
    obs = run_probe({"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200"]}, Target(http_server.url))
    data = json.loads(json.dumps(obs.as_dict()))
    assert data["status"] == "passed"
    assert data["conditions"] == [{"expr": "[STATUS] == 200", "ok": True, "observed": 200}]
    assert set(data["observed"]) == {"STATUS", "BODY", "HEADER", "RESPONSE_TIME"}


def test_run_probe_works_inside_a_running_event_loop(http_server):
    import asyncio

    async def main():
        return run_probe({"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200"]}, Target(http_server.url))

    assert asyncio.run(main()).status == "passed"
