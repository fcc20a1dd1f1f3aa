"""`retries` and `retry_delay`: a probe that passes only on a retry is passed and flagged flaky;
`{{ deployment.release }}`, `{{ environment.name }}` and `{{ service.name }}` fill any field."""

import uuid

from probes.runners import Target, run_batch, run_probe


def test_a_probe_that_passes_on_retry_is_flaky(http_server):
    flaky_id = uuid.uuid4().hex
    results = run_batch(
        {
            "flaky": {"type": "http", "request": f"GET /flaky?id={flaky_id}", "retries": 2, "retry_delay": 0.05,
                      "expect": ["[STATUS] == 200"]},
            "steady": {"type": "http", "request": "GET /health", "retries": 2, "expect": ["[STATUS] == 200"]},
            "broken": {"type": "http", "request": "GET /status/500", "retries": 1, "retry_delay": 0,
                       "expect": ["[STATUS] == 200"]},
        },
        Target(http_server.url),
    )
    assert results["flaky"].status == "passed" and results["flaky"].flaky and results["flaky"].attempts == 2
    assert "(flaky)" in results["flaky"].message
    assert results["steady"].status == "passed" and not results["steady"].flaky and results["steady"].attempts == 1
    assert results["broken"].status == "failed" and not results["broken"].flaky and results["broken"].attempts == 2
    assert http_server.paths.count(f"/flaky?id={flaky_id}") == 2


def test_without_retries_the_first_failure_stands(http_server):
    obs = run_probe({"type": "http", "request": f"GET /flaky?id={uuid.uuid4().hex}", "expect": ["[STATUS] == 200"]},
                    Target(http_server.url))
    assert obs.status == "failed" and not obs.flaky


def test_the_deployment_environment_and_service_fill_any_field(http_server):
    target = Target(
        http_server.url,
        context={"deployment.release": "1.4.2", "environment.name": "staging", "service.name": "ctrlchecks-api"},
    )
    obs = run_probe(
        {
            "type": "http", "request": "GET /health?env={{ environment.name }}",
            "headers": {"X-Service": "{{ service.name }}"},
            "expect": ['[BODY].version == "{{ deployment.release }}"'],
        },
        target,
    )
    assert obs.status == "passed", obs.message
    assert obs.conditions[0].expr == '[BODY].version == "{{ deployment.release }}"'
    method, path, headers, _ = http_server.server.requests[-1]
    assert path == "/health?env=staging" and headers["X-Service"] == "ctrlchecks-api"
    unknown = run_probe({"type": "http", "request": "GET /health?x={{ deployment.owner }}", "expect": ["[STATUS] == 200"]}, target)
    assert unknown.status == "not_configured" and "deployment.release" in unknown.message
