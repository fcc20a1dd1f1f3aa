import json

from probes.runners import Target, run_batch, run_probe
from probes.tests.servers import TOKEN


def http_probe(request, *expect, **fields):
    return {"type": "http", "request": request, "expect": list(expect), **fields}


def test_health_passes(http_server):
    obs = run_probe(
        http_probe("GET /health", "[STATUS] == 200", '[BODY].status == "ok"', "[RESPONSE_TIME] < 2000"),
        Target(http_server.url),
    )
    assert obs.status == "passed", obs.message
    assert [c.ok for c in obs.conditions] == [True, True, True]
    assert obs.observed["STATUS"] == 200
    assert obs.observed["BODY"]["status"] == "ok"
    assert obs.conditions[1].observed == "ok"
    assert http_server.paths == ["/health"]


def test_failed_condition_is_a_result_with_what_was_seen(http_server):
    obs = run_probe(http_probe("GET /status/503", "[STATUS] == 200"), Target(http_server.url))
    assert obs.status == "failed"
    assert obs.conditions[0].observed == 503
    assert "`[STATUS] == 200`" in obs.message and "503" in obs.message


def test_body_path_header_and_index(http_server):
    obs = run_probe(
        http_probe(
            "GET /health",
            "[BODY].checks[0].ok == true",
            "[HEADER].X-Served-By == ctrlready-tests",
            "[HEADER].content-type contains json",
        ),
        Target(http_server.url),
    )
    assert obs.status == "passed", obs.message
    assert obs.observed["HEADER"]["x-served-by"] == "ctrlready-tests"


def test_non_json_body_fails_a_body_path_and_says_so(http_server):
    obs = run_probe(
        http_probe("GET /text", "[STATUS] == 200", '[BODY].status == "ok"', "[BODY] contains hello"),
        Target(http_server.url),
    )
    assert obs.status == "failed"
    assert [c.ok for c in obs.conditions] == [True, False, True]
    assert obs.conditions[1].observed is None
    assert "The response body is not JSON" in obs.message


def test_post_json_and_headers(http_server):
    obs = run_probe(
        http_probe(
            "POST /echo",
            '[BODY].method == "POST"',
            '[BODY].headers.x-probe == "yes"',
            "[BODY].body contains release",
            headers={"X-Probe": "yes"},
            json={"release": "v1"},
        ),
        Target(http_server.url),
    )
    assert obs.status == "passed", obs.message


def test_variables_are_filled_in(http_server):
    obs = run_probe(
        http_probe("GET {{ vars.HEALTH_PATH }}", '[BODY].version == "{{ vars.RELEASE }}"'),
        Target(http_server.url, variables={"HEALTH_PATH": "/health", "RELEASE": "1.4.2"}),
    )
    assert obs.status == "passed", obs.message
    assert obs.conditions[0].expr == '[BODY].version == "{{ vars.RELEASE }}"'


def test_secret_in_header_is_used_and_redacted(http_server):
    spec = http_probe(
        "GET /secure",
        "[STATUS] == 200",
        '[BODY].token_seen == "nope"',
        headers={"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
    )
    obs = run_probe(spec, Target(http_server.url, secrets={"API_TOKEN": TOKEN}))
    assert obs.status == "failed"
    assert obs.conditions[0].ok
    assert http_server.server.requests[0][2]["Authorization"] == f"Bearer {TOKEN}"
    dumped = json.dumps(obs.as_dict())
    assert TOKEN not in dumped
    assert obs.conditions[1].observed == "[redacted]"
    assert "[redacted]" in obs.message


def test_wrong_secret_gets_401(http_server):
    spec = http_probe("GET /secure", "[STATUS] == 200", headers={"Authorization": "Bearer {{ secrets.API_TOKEN }}"})
    obs = run_probe(spec, Target(http_server.url, secrets={"API_TOKEN": "wrong-token"}))
    assert obs.status == "failed" and obs.conditions[0].observed == 401


def test_missing_secret_is_not_configured_and_sends_nothing(http_server):
    spec = http_probe("GET /secure", "[STATUS] == 200", headers={"Authorization": "Bearer {{ secrets.API_TOKEN }}"})
    obs = run_probe(spec, Target(http_server.url))
    assert obs.status == "not_configured"
    assert obs.message == "The secret `API_TOKEN` is not set for this environment."
    assert http_server.paths == []


def test_host_outside_environment_is_refused_before_connecting(http_server):
    obs = run_probe(http_probe(f"GET {http_server.url_via('localhost')}/health", "[STATUS] == 200"), Target(http_server.url))
    assert obs.status == "error"
    assert obs.message == (
        "The host `localhost` is not one of this environment's hosts (127.0.0.1); "
        "add it to the allowed hosts to probe it."
    )
    assert http_server.paths == []


def test_allowed_host_is_reached(http_server):
    obs = run_probe(
        http_probe(f"GET {http_server.url_via('LOCALHOST')}/health", "[STATUS] == 200"),
        Target(http_server.url, allowed_hosts=("localhost",)),
    )
    assert obs.status == "passed", obs.message


def test_redirects_are_not_followed_by_default(http_server):
    obs = run_probe(http_probe("GET /redirect", "[STATUS] == 302", "[HEADER].location == /health"), Target(http_server.url))
    assert obs.status == "passed", obs.message
    assert http_server.paths == ["/redirect"]


def test_redirect_to_a_host_outside_environment_is_refused(http_server):
    to = f"{http_server.url_via('localhost')}/health"
    obs = run_probe(
        http_probe(f"GET /redirect?to={to}", "[STATUS] == 200", follow_redirects=True), Target(http_server.url)
    )
    assert obs.status == "error"
    assert "The host `localhost` is not one of this environment's hosts" in obs.message
    assert http_server.paths == [f"/redirect?to={to}"]


def test_redirect_to_an_allowed_host_is_followed(http_server):
    to = f"{http_server.url_via('localhost')}/health"
    obs = run_probe(
        http_probe(f"GET /redirect?to={to}", "[STATUS] == 200", '[BODY].status == "ok"', follow_redirects=True),
        Target(http_server.url, allowed_hosts=("localhost",)),
    )
    assert obs.status == "passed", obs.message
    assert http_server.paths == [f"/redirect?to={to}", "/health"]


def test_redirect_loop_ends_in_error(http_server):
    obs = run_probe(http_probe("GET /loop", "[STATUS] == 200", follow_redirects=True), Target(http_server.url))
    assert obs.status == "error"
    assert "redirected more than 5 times" in obs.message
    assert len(http_server.paths) == 6


def test_timeout(http_server):
    obs = run_probe(http_probe("GET /slow?s=3", "[STATUS] == 200", timeout=0.5), Target(http_server.url))
    assert obs.status == "error"
    assert obs.message == "Timed out after 0.5 s."
    assert obs.duration_ms < 2000


def test_connection_refused(unused_port):
    obs = run_probe(http_probe("GET /health", "[STATUS] == 200"), Target(f"http://127.0.0.1:{unused_port}"))
    assert obs.status == "error"
    assert obs.message == f"Connection refused by 127.0.0.1:{unused_port}."
    assert obs.conditions[0].ok is False and obs.conditions[0].observed is None


def test_name_that_does_not_resolve_is_an_error():
    obs = run_probe(http_probe("GET /health", "[STATUS] == 200"), Target("http://does-not-exist.invalid"))
    assert obs.status == "error"
    assert obs.message == "The host `does-not-exist.invalid` does not resolve to any address."


def test_https_with_the_environment_ca(https_server, ca_pem):
    obs = run_probe(http_probe("GET /health", "[STATUS] == 200"), Target(https_server.url, ca_bundle=ca_pem))
    assert obs.status == "passed", obs.message


def test_https_with_an_unknown_ca_is_an_error(https_server):
    obs = run_probe(http_probe("GET /health", "[STATUS] == 200"), Target(https_server.url))
    assert obs.status == "error"
    assert obs.message.startswith("The certificate is not valid:")


def test_https_without_verification(https_server):
    obs = run_probe(http_probe("GET /health", "[STATUS] == 200", verify_tls=False), Target(https_server.url))
    assert obs.status == "passed", obs.message


def test_batch_of_200_probes(http_server):
    specs = {
        n: http_probe("GET /health" if n % 2 else "GET /status/500", "[STATUS] == 200") for n in range(200)
    }
    results = run_batch(specs, Target(http_server.url), max_concurrency=20)
    assert list(results) == list(range(200))
    assert sum(o.status == "passed" for o in results.values()) == 100
    assert sum(o.status == "failed" for o in results.values()) == 100
    assert len(http_server.paths) == 200


def test_batch_mixes_results_and_errors(http_server, unused_port):
    results = run_batch(
        {
            "ok": http_probe("GET /health", "[STATUS] == 200"),
            "slow": http_probe("GET /slow?s=2", "[STATUS] == 200", timeout=0.3),
            "refused": http_probe(f"GET http://127.0.0.1:{unused_port}/", "[STATUS] == 200"),
            "bad": {"type": "http", "expect": ["[STATUS] == 200"]},
            "not-a-probe": "GET /",
        },
        Target(http_server.url, allowed_hosts=("127.0.0.1",)),
    )
    assert {k: o.status for k, o in results.items()} == {
        "ok": "passed", "slow": "error", "refused": "error", "bad": "error", "not-a-probe": "error",
    }
    assert results["bad"].message.startswith("The probe is not valid: The http probe needs `request`")
