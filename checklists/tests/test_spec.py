import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from checklists.conditions import Condition
from checklists.spec import PROBE_TYPES, ProbeSpecError, probe_conditions, validate_probe


def probe(text):
    return validate_probe(yaml.safe_load(text))


def refused(data):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(data)
    message = str(info.value)
    assert message[0].isupper() and message.rstrip("`").endswith(".")
    return message


def test_http_probe_from_the_spec_example():
    spec = probe(
        """
type: http
request: GET /health
expect:
  - "[STATUS] == 200"
  - '[BODY].status == "ok"'
  - "[RESPONSE_TIME] < 100"
"""
    )
    assert spec == {
        "type": "http",
        "request": "GET /health",
        "headers": {},
        "follow_redirects": False,
        "verify_tls": True,
        "timeout": 10,
        "expect": ["[STATUS] == 200", '[BODY].status == "ok"', "[RESPONSE_TIME] < 100"],
    }
    json.dumps(spec)


def test_http_probe_with_every_field():
    spec = validate_probe(
        {
            "type": "http",
            "request": "post https://api.example.com/login",
            "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}", "X-Count": 3},
            "json": {"user": "probe", "n": [1, 2]},
            "follow_redirects": True,
            "verify_tls": False,
            "timeout": 2.5,
            "expect": ["[HEADER].Set-Cookie contains session"],
        }
    )
    assert spec["request"] == "POST https://api.example.com/login"
    assert spec["headers"] == {"Authorization": "Bearer {{ secrets.TOKEN }}", "X-Count": "3"}
    assert spec["json"] == {"user": "probe", "n": [1, 2]}
    assert spec["follow_redirects"] is True and spec["verify_tls"] is False
    assert spec["timeout"] == 2.5
    assert spec["expect"] == ["[HEADER].Set-Cookie contains session"]


def test_defaults_for_every_type():
    assert validate_probe({"type": "tls", "expect": ["[CERT_VALID] == true"]}) == {
        "type": "tls", "host": None, "port": 443, "timeout": 10, "expect": ["[CERT_VALID] == true"],
    }
    assert validate_probe({"type": "dns", "name": "example.com", "expect": ["[ANSWER] != null"]}) == {
        "type": "dns", "name": "example.com", "record": "A", "timeout": 10, "expect": ["[ANSWER] != null"],
    }
    assert validate_probe({"type": "tcp", "port": 5432, "expect": ["[CONNECTED] == true"]}) == {
        "type": "tcp", "host": None, "port": 5432, "timeout": 10, "expect": ["[CONNECTED] == true"],
    }
    assert validate_probe({"type": "ssh", "run": "stat -c %a .env", "expect": ["[STDOUT] == 600"]}) == {
        "type": "ssh", "run": "stat -c %a .env", "timeout": 10, "expect": ["[STDOUT] == 600"],
    }
    assert validate_probe({"type": "load", "request": "GET /", "expect": ["[P95_MS] < 500"]}) == {
        "type": "load", "request": "GET /", "requests": 100, "concurrency": 100, "headers": {},
        "verify_tls": True, "timeout": 10, "expect": ["[P95_MS] < 500"],
    }


def test_dns_record_is_upper_cased():
    assert validate_probe({"type": "dns", "name": "x.org", "record": "mx", "expect": ["len([ANSWERS]) > 0"]})[
        "record"
    ] == "MX"


def test_load_default_concurrency_follows_small_request_counts():
    spec = validate_probe({"type": "load", "request": "GET /", "requests": 10, "expect": ["[ERRORS] == 0"]})
    assert spec["concurrency"] == 10


def test_expect_may_be_a_single_string():
    assert validate_probe({"type": "ssh", "run": "true", "expect": "[EXIT_STATUS] == 0"})["expect"] == [
        "[EXIT_STATUS] == 0"
    ]


@pytest.mark.parametrize(
    "data, words",
    [
        (None, "YAML mapping"),
        (["type", "http"], "not a list"),
        ({"request": "GET /"}, "no `type`"),
        ({"type": "foo"}, "Unknown probe type `foo`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external."),
        ({"type": "http", "expect": ["[STATUS] == 200"]}, "needs `request`"),
        ({"type": "http", "request": "FETCH /", "expect": ["[STATUS] == 200"]}, "method and a path"),
        ({"type": "http", "request": "GET health", "expect": ["[STATUS] == 200"]}, "neither a path"),
        ({"type": "http", "request": "GET /", "json": {}, "body": "x", "expect": ["[STATUS] == 200"]}, "both"),
        ({"type": "http", "request": "GET /", "headers": ["a"], "expect": ["[STATUS] == 200"]}, "mapping"),
        ({"type": "http", "request": "GET /", "follow_redirects": "yes", "expect": ["[STATUS] == 200"]}, "true or false"),
        ({"type": "http", "request": "GET /", "repeat": 3, "expect": ["[STATUS] == 200"]}, "unknown field `repeat`"),
        ({"type": "http", "request": "GET /", "timeout": 0, "expect": ["[STATUS] == 200"]}, "timeout"),
        ({"type": "http", "request": "GET /", "timeout": 301, "expect": ["[STATUS] == 200"]}, "at most 300"),
        ({"type": "http", "request": "GET /", "timeout": True, "expect": ["[STATUS] == 200"]}, "timeout"),
        ({"type": "http", "request": "GET /"}, "no conditions"),
        ({"type": "http", "request": "GET /", "expect": {"a": 1}}, "list of conditions"),
        ({"type": "http", "request": "GET /", "expect": [["STATUS"]]}, "put the condition in quotes"),
        ({"type": "http", "request": "GET /", "expect": [{"a": "b"}]}, "put the condition in quotes"),
        ({"type": "http", "request": "GET /", "expect": ["[STATUS] == 200", "[STATUS] = 200"]}, "Condition 2"),
        ({"type": "tcp", "port": 22, "expect": ["[STATUS] == 200"]}, "`[STATUS]`, which a tcp probe cannot see"),
        ({"type": "tcp", "expect": ["[CONNECTED] == true"]}, "needs a `port`"),
        ({"type": "tcp", "port": 70000, "expect": ["[CONNECTED] == true"]}, "1 to 65535"),
        ({"type": "tcp", "port": 22, "expect": ["[CONNECTED].x == true"]}, "single value"),
        ({"type": "tls", "host": "a b", "expect": ["[CERT_VALID] == true"]}, "not a host name"),
        ({"type": "dns", "name": "x.org", "record": "SRV", "expect": ["[ANSWER] != null"]}, "A, AAAA, CNAME, MX, TXT"),
        ({"type": "dns", "expect": ["[ANSWER] != null"]}, "needs `name`"),
        ({"type": "ssh", "run": "", "expect": ["[EXIT_STATUS] == 0"]}, "empty"),
        ({"type": "load", "request": "GET /", "requests": 10, "concurrency": 20, "expect": ["[ERRORS] == 0"]}, "larger than"),
        ({"type": "load", "request": "GET /", "requests": 10001, "expect": ["[ERRORS] == 0"]}, "1 to 10000"),
    ],
)
def test_invalid_probes_are_refused_with_a_sentence(data, words):
    assert words in refused(data)


def test_probe_conditions_parses_expect():
    spec = validate_probe({"type": "http", "request": "GET /", "expect": ["[STATUS] == 200", "[BODY].a[0] > 1"]})
    conditions = probe_conditions(spec)
    assert all(isinstance(c, Condition) for c in conditions)
    assert [c.path for c in conditions] == [(), ("a", 0)]


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"type": st.sampled_from(PROBE_TYPES)},
        optional={
            "request": st.sampled_from(["GET /", "POST https://x.org/a", "nope"]) | st.text(max_size=10),
            "port": st.integers(-5, 70000) | yaml_values,
            "expect": st.lists(st.sampled_from(["[STATUS] == 200", "[CONNECTED] == true", "x"]), max_size=3)
            | yaml_values,
            "timeout": st.floats() | st.integers(),
            "headers": yaml_values,
            "json": yaml_values,
            "run": yaml_values,
            "name": yaml_values,
            "extra": yaml_values,
        },
    )
)
def test_any_mapping_validates_or_raises_probe_spec_error(data):
    try:
        spec = validate_probe(data)
    except ProbeSpecError:
        return
    json.dumps(spec, allow_nan=False)
    assert validate_probe(spec) == spec


# --- host, postgres, external, steps, auth, retries ------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        ({"type": "host", "expect": ["[EXISTS] == true"]}, "exactly one resource"),
        ({"type": "host", "file": "/a", "user": "b", "expect": ["[EXISTS] == true"]}, "names file, user"),
        ({"type": "host", "file": "etc/passwd", "expect": ["[EXISTS] == true"]}, "absolute path"),
        ({"type": "host", "port": "eighty", "expect": ["[LISTENING] == true"]}, "port number"),
        ({"type": "host", "service": "nginx", "expect": ["[MODE] == 600"]}, "cannot see"),
        ({"type": "ssh", "run": "true", "hosts": [""], "expect": ["[EXIT_STATUS] == 0"]}, "roles of the SSH hosts"),
        ({"type": "postgres", "query": "SELECT 1", "expect": ["[VALUE] == 1"]}, "needs `dsn`"),
        ({"type": "http", "request": "GET /", "retries": 9, "expect": ["[STATUS] == 200"]}, "from 0 to 5"),
        ({"type": "http", "request": "GET /", "retries": 1, "retry_delay": -1, "expect": ["[STATUS] == 200"]}, "retry_delay"),
        ({"type": "http", "steps": [], "expect": ["[STATUS] == 200"]}, "list of 1 to 10"),
        ({"type": "http", "request": "GET /", "steps": [{"request": "GET /", "expect": ["[STATUS] == 200"]}]}, "put `request` under the step"),
        ({"type": "http", "steps": [{"request": "GET /{{ saved.T }}", "expect": ["[STATUS] == 200"]}]}, "no earlier step saves"),
        ({"type": "http", "steps": [{"request": "GET /", "save": {"T": "[NOPE]"}, "expect": ["[STATUS] == 200"]}]}, "cannot see"),
        ({"type": "http", "request": "GET /", "auth": {"basic": {}}, "expect": ["[STATUS] == 200"]}, "oauth2_client_credentials"),
    ],
)
def test_new_probe_fields_refused_with_sentences(data, words):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(data)
    assert words in str(info.value)


def test_new_probe_types_normalise_and_round_trip():
    specs = [
        {"type": "host", "port": 443, "hosts": "web", "expect": ["[LISTENING] == true"]},
        {"type": "host", "user": "app", "expect": ["[GROUPS] contains www-data", "[SHELL] == /usr/sbin/nologin"]},
        {"type": "postgres", "dsn": "{{ secrets.DATABASE_URL }}", "query": "SELECT 1", "expect": ["[VALUE] == 1"]},
        {"type": "external"},
        {"type": "http", "request": "GET /", "retries": 2, "retry_delay": 0.5, "expect": ["[STATUS] == 200"]},
        {"type": "http", "steps": [
            {"request": "POST /login", "expect": ["[STATUS] == 200"], "save": {"T": "[BODY].token"}},
            {"request": "GET /me", "headers": {"Authorization": "Bearer {{ saved.T }}"}, "expect": ["has([BODY].id)"]},
        ]},
    ]
    for data in specs:
        spec = validate_probe(data)
        assert validate_probe(spec) == spec
    assert validate_probe(specs[0])["port"] == "tcp://443"
    assert validate_probe(specs[3])["expect"] == ['[STATUS] == "passed"']
    assert validate_probe(specs[5])["expect"] == ["[STATUS] == 200", "has([BODY].id)"]
