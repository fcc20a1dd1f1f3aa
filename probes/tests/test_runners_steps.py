"""Multi-step HTTP (`steps`, `save`, `{{ saved.NAME }}`) and OAuth2 client credentials (`auth`): a token
issued by the target is used, and never appears in what is recorded."""

import json

from probes.runners import Target, run_batch
from probes.tests.servers import PASSWORD

LOGIN_THEN_CALL = {
    "type": "http",
    "steps": [
        {"request": "POST /login", "json": {"user": "probe", "password": "{{ secrets.PASSWORD }}"},
         "expect": ["[STATUS] == 200"], "save": {"TOKEN": "[BODY].access_token"}},
        {"request": "GET /private", "headers": {"Authorization": "Bearer {{ saved.TOKEN }}"},
         "expect": ["[STATUS] == 200", '[BODY].status == "ok"', "[BODY].you contains tok_"]},
    ],
}


def test_log_in_then_call_and_the_token_is_never_recorded(http_server):
    target = Target(http_server.url, secrets={"PASSWORD": PASSWORD})
    results = run_batch(
        {
            "flow": LOGIN_THEN_CALL,
            "oauth": {"type": "http", "request": "GET /private", "expect": ["[STATUS] == 200"],
                      "auth": {"oauth2_client_credentials": {"token_url": "/oauth/token", "client_id": "ctrlready",
                                                             "client_secret": "{{ secrets.PASSWORD }}"}}},
        },
        target,
    )
    assert results["flow"].status == "passed", results["flow"].message
    assert results["oauth"].status == "passed", results["oauth"].message
    tokens = http_server.server.issued
    assert len(tokens) == 2
    recorded = json.dumps([o.as_dict() for o in results.values()])
    for token in tokens:
        assert token not in recorded and token[4:20] not in recorded
    assert PASSWORD not in recorded
    assert "[redacted]" in recorded


def test_a_failing_step_stops_the_flow(http_server):
    target = Target(http_server.url, secrets={"PASSWORD": "wrong-password"})
    obs = run_batch({"flow": LOGIN_THEN_CALL}, target)["flow"]
    assert obs.status == "failed"
    assert obs.message.startswith("Step 1 (`POST /login`)") and obs.message.endswith("Later steps did not run.")
    assert [c.ok for c in obs.conditions] == [False, False, False, False]
    assert not any("/private" in path for path in http_server.paths)


def test_a_token_url_outside_the_environment_is_refused(http_server):
    target = Target(http_server.url, secrets={"PASSWORD": PASSWORD})
    obs = run_batch({"oauth": {
        "type": "http", "request": "GET /private", "expect": ["[STATUS] == 200"],
        "auth": {"oauth2_client_credentials": {"token_url": "https://login.example.com/token", "client_id": "c",
                                               "client_secret": "{{ secrets.PASSWORD }}"}},
    }}, target)["oauth"]
    assert obs.status == "error" and "login.example.com" in obs.message and "is not one of this environment's hosts" in obs.message


def test_a_step_that_cannot_connect_keeps_the_saved_token_out_of_its_message(http_server, unused_port):
    target = Target(http_server.url, secrets={"PASSWORD": PASSWORD})
    obs = run_batch({"flow": {"type": "http", "steps": [
        LOGIN_THEN_CALL["steps"][0],
        {"request": f"GET http://127.0.0.1:{unused_port}/x?t={{{{ saved.TOKEN }}}}", "expect": ["[STATUS] == 200"]},
    ]}}, target)["flow"]
    assert obs.status == "error" and obs.message.startswith("Step 2:")
    token = http_server.server.issued[-1]
    assert token not in json.dumps(obs.as_dict())
