import datetime
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


@settings(max_examples=120, deadline=None)
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
def test_any_mapping_validates_or_is_refused_with_a_sentence(data):
    try:
        spec = validate_probe(data)
    except ProbeSpecError as exc:
        message = str(exc)
        assert message[0].isupper() or message[0] == "`", message
        assert message.endswith("."), message
        assert "\n" not in message
        if message.startswith("Condition "):
            # it names the condition by its place under `expect`
            number = int(message.split()[1])
            assert 1 <= number <= len(data["expect"] if isinstance(data["expect"], list) else [data["expect"]])
        return
    # a validated probe is plain JSON, and validating it again changes nothing
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


# --- every refusal, word for word -----------------------------------------------------------

DROP = object()


def h(**fields):
    """An http probe that validates, with `fields` changed (DROP takes one out)."""
    data = {"type": "http", "request": "GET /", "expect": ["[STATUS] == 200"], **fields}
    return {key: value for key, value in data.items() if value is not DROP}


def nest(depth, leaf=1):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(
    "data, message",
    [
        (None, 'A probe must be a YAML mapping like `type: http` with its fields below it, not nothing.'),
        (["type", "http"], 'A probe must be a YAML mapping like `type: http` with its fields below it, not a list.'),
        ("http", 'A probe must be a YAML mapping like `type: http` with its fields below it, not a text.'),
        (3, 'A probe must be a YAML mapping like `type: http` with its fields below it, not a number.'),
        (True, 'A probe must be a YAML mapping like `type: http` with its fields below it, not a true/false value.'),
        ({1: "x", "type": "http"}, 'The probe has a field named `1`: field names must be words like `type`.'),
        ({}, 'The probe has no `type`: add one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ({"type": "foo"}, 'Unknown probe type `foo`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ({"type": ["a"]}, 'Unknown probe type `list`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ({"type": None}, 'Unknown probe type `null`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ({"type": 3}, 'Unknown probe type `3`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ({"type": "HTTP"}, 'Unknown probe type `HTTP`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        (h(repeat=3), 'The http probe has an unknown field `repeat`: use only type, request, headers, json, body, follow_redirects, verify_tls, steps, auth, timeout, retries, retry_delay, expect.'),
        ({"type": "tcp", "port": 22, "request": "GET /", "expect": ["[CONNECTED] == true"]}, 'The tcp probe has an unknown field `request`: use only type, host, port, timeout, retries, retry_delay, expect.'),
        (h(steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}], request=DROP, expect=["[STATUS] == 201"]), 'The http probe has `steps` and `expect`: put each condition under its step.'),
        (h(steps="x", request=DROP), "The http probe's `steps` must be a list of 1 to 10 requests, each with its `expect`."),
        (h(steps=[], request=DROP), "The http probe's `steps` must be a list of 1 to 10 requests, each with its `expect`."),
        (h(steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}] * 11, request=DROP), "The http probe's `steps` must be a list of 1 to 10 requests, each with its `expect`."),
        (h(steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}], headers={}), 'The http probe has `steps` and `request`: with steps, put `request` under the step it belongs to.'),
        (h(steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}], verify_tls=True, request=DROP), 'The http probe has `steps` and `verify_tls`: with steps, put `verify_tls` under the step it belongs to.'),
        (h(steps=["GET /"], request=DROP), "The http probe's step 1 must be a mapping with `request` and `expect`."),
        (h(steps=[{"request": "GET /", "expect": ["[STATUS] == 200"], "wait": 1}], request=DROP), "The http probe's step 1 has an unknown field `wait`: use only request, headers, json, body, follow_redirects, verify_tls, expect, save."),
        (h(steps=[{"request": "GET /{{ saved.T }}", "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 uses `{{ saved.T }}`, which no earlier step saves."),
        (h(steps=[{"request": "GET /", "save": "T", "expect": ["[STATUS] == 200"]}], request=DROP), 'The http probe\'s step 1\'s `save` maps names to placeholders, like `save: {TOKEN: "[BODY].access_token"}`.'),
        (h(steps=[{"request": "GET /", "save": {"9T": "[BODY].a"}, "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 saves under `9T`: use a name like `TOKEN`."),
        (h(steps=[{"request": "GET /", "save": {"T" * 51: "[BODY].a"}, "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 saves under `TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT`: use a name like `TOKEN`."),
        (h(steps=[{"request": "GET /", "save": {1: "[BODY].a"}, "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 saves under `1`: use a name like `TOKEN`."),
        (h(steps=[{"request": "GET /", "save": {"T": "BODY"}, "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 cannot save `T`: `BODY` is not a placeholder and path like `[BODY].access_token`."),
        (h(steps=[{"request": "GET /", "save": {"T": "[STDOUT]"}, "expect": ["[STATUS] == 200"]}], request=DROP), "The http probe's step 1 saves `T` from `[STDOUT]`, which an http step cannot see."),
        (h(steps=[{"request": "GET /"}], request=DROP, expect=DROP), "The http probe's steps have no conditions: give at least one step an `expect`."),
        (h(auth="x"), "The http probe's `auth` takes `oauth2_client_credentials: {token_url, client_id, client_secret, scope}`."),
        (h(auth={"oauth2_client_credentials": {}, "x": 1}), "The http probe's `auth` takes `oauth2_client_credentials: {token_url, client_id, client_secret, scope}`."),
        (h(auth={"oauth2_client_credentials": "x"}), "The http probe's `auth` takes `oauth2_client_credentials: {token_url, client_id, client_secret, scope}`."),
        (h(auth={"oauth2_client_credentials": {"token_url": "/t", "client_id": "i", "client_secret": "s", "audience": "a"}}), '`oauth2_client_credentials` has an unknown field `audience`.'),
        (h(auth={"oauth2_client_credentials": {"token_url": "/t", "client_id": "i"}}), "The http probe's oauth2_client_credentials probe needs `client_secret`: add a line like `client_secret: …`."),
        (h(auth={"oauth2_client_credentials": {"token_url": "ftp://t", "client_id": "i", "client_secret": "s"}}), 'The `token_url` of `oauth2_client_credentials` must be an http(s) URL or a path like `/oauth/token`.'),
        (h(auth={"oauth2_client_credentials": {"token_url": "/t", "client_id": "i", "client_secret": "s", "scope": ""}}), "The http probe's oauth2_client_credentials probe's `scope` is empty: fill it in, like `scope: read`."),
        ({"type": "dns", "name": "x.org", "record": "SRV", "expect": ["[ANSWER] != null"]}, "The dns probe's `record` is `SRV`: use one of A, AAAA, CNAME, MX, TXT."),
        ({"type": "dns", "name": "x.org", "record": 5, "expect": ["[ANSWER] != null"]}, "The dns probe's `record` is `5`: use one of A, AAAA, CNAME, MX, TXT."),
        ({"type": "host", "expect": ["[EXISTS] == true"]}, 'A host probe names exactly one resource (file, service, package, port, process, user), like `file: /srv/app/.env`.'),
        ({"type": "host", "file": "/a", "user": "b", "expect": ["[EXISTS] == true"]}, 'A host probe names exactly one resource (file, service, package, port, process, user), like `file: /srv/app/.env`; this one names file, user.'),
        ({"type": "host", "port": True, "expect": ["[LISTENING] == true"]}, "The host probe's `port` must be a port number like `port: 443`, or `tcp://0.0.0.0:443`, `udp://53`."),
        ({"type": "host", "port": 0, "expect": ["[LISTENING] == true"]}, "The host probe's `port` must be a port number like `port: 443`, or `tcp://0.0.0.0:443`, `udp://53`."),
        ({"type": "host", "port": 65536, "expect": ["[LISTENING] == true"]}, "The host probe's `port` must be a port number like `port: 443`, or `tcp://0.0.0.0:443`, `udp://53`."),
        ({"type": "host", "port": "http://x", "expect": ["[LISTENING] == true"]}, "The host probe's `port` must be a port number like `port: 443`, or `tcp://0.0.0.0:443`, `udp://53`."),
        ({"type": "host", "file": "etc/" + "p" * 100, "expect": ["[EXISTS] == true"]}, "The host probe's `file` is `etc/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp`: give an absolute path, like `/srv/app/.env`."),
        ({"type": "host", "service": "", "expect": ["[RUNNING] == true"]}, "The host probe's `service` is empty: fill it in, like `service: nginx`."),
        ({"type": "host", "service": "nginx"}, 'The host probe has no conditions: add an `expect` list with at least one, like `- "[RUNNING] == true"`.'),
        ({"type": "host", "package": "x", "expect": ["[RUNNING] == true"]}, 'Condition 1 under `expect` looks at `[RUNNING]`, which a host probe cannot see: use [INSTALLED], [VERSION].'),
        ({"type": "ssh", "run": "true", "hosts": [], "expect": ["[EXIT_STATUS] == 0"]}, "The ssh probe's `hosts` names the roles of the SSH hosts to run on, like `hosts: web` or `hosts: [web, worker]`."),
        ({"type": "ssh", "run": "true", "hosts": ["a" * 51], "expect": ["[EXIT_STATUS] == 0"]}, "The ssh probe's `hosts` names the roles of the SSH hosts to run on, like `hosts: web` or `hosts: [web, worker]`."),
        ({"type": "ssh", "run": "true", "hosts": 3, "expect": ["[EXIT_STATUS] == 0"]}, "The ssh probe's `hosts` names the roles of the SSH hosts to run on, like `hosts: web` or `hosts: [web, worker]`."),
        ({"type": "host", "user": "a", "hosts": ["a b"], "expect": ["[EXISTS] == true"]}, "The host probe's `hosts` names the roles of the SSH hosts to run on, like `hosts: web` or `hosts: [web, worker]`."),
        (h(retries=6), "The http probe's `retries` is `6`: use a whole number from 0 to 5."),
        (h(retries=-1), "The http probe's `retries` is `-1`: use a whole number from 0 to 5."),
        (h(retries=True), "The http probe's `retries` is `true`: use a whole number from 0 to 5."),
        (h(retries=1.0), "The http probe's `retries` is `1.0`: use a whole number from 0 to 5."),
        (h(retries=1, retry_delay=61), "The http probe's `retry_delay` is `61`: use a number of seconds from 0 to 60."),
        (h(retries=1, retry_delay=True), "The http probe's `retry_delay` is `true`: use a number of seconds from 0 to 60."),
        (h(retries=1, retry_delay="1"), "The http probe's `retry_delay` is `1`: use a number of seconds from 0 to 60."),
        (h(retries=1, retry_delay=float("nan")), "The http probe's `retry_delay` is `nan`: use a number of seconds from 0 to 60."),
        (h(retries=1, retry_delay=float("inf")), "The http probe's `retry_delay` is `inf`: use a number of seconds from 0 to 60."),
        ({"type": "load", "request": "GET /", "requests": 0, "expect": ["[ERRORS] == 0"]}, "The load probe's `requests` is `0`: use a whole number from 1 to 10000."),
        ({"type": "load", "request": "GET /", "requests": 10001, "expect": ["[ERRORS] == 0"]}, "The load probe's `requests` is `10001`: use a whole number from 1 to 10000."),
        ({"type": "load", "request": "GET /", "concurrency": 0, "expect": ["[ERRORS] == 0"]}, "The load probe's `concurrency` is `0`: use a whole number from 1 to 200."),
        ({"type": "load", "request": "GET /", "requests": 300, "concurrency": 201, "expect": ["[ERRORS] == 0"]}, "The load probe's `concurrency` is `201`: use a whole number from 1 to 200."),
        ({"type": "load", "request": "GET /", "requests": 10, "concurrency": 11, "expect": ["[ERRORS] == 0"]}, "The load probe's `concurrency` (11) is larger than its `requests` (10): lower the concurrency or send more requests."),
        (h(request="GET"), "The http probe's `request` is `GET`: write a method and a path or URL, like `GET /health`."),
        (h(request="FETCH /"), "The http probe's `request` is `FETCH /`: write a method and a path or URL, like `GET /health`."),
        (h(request="GET health"), "The http probe's `request` target `health` is neither a path starting with `/` nor an http(s) URL: write it like `GET /health` or `GET https://api.example.com/health`."),
        (h(request="GET /a b"), "The http probe's `request` target `/a b` is neither a path starting with `/` nor an http(s) URL: write it like `GET /health` or `GET https://api.example.com/health`."),
        (h(request="GET ftp://x"), "The http probe's `request` target `ftp://x` is neither a path starting with `/` nor an http(s) URL: write it like `GET /health` or `GET https://api.example.com/health`."),
        (h(request=DROP), 'The http probe needs `request`: add a line like `request: GET /health`.'),
        (h(request=None), 'The http probe needs `request`: add a line like `request: GET /health`.'),
        (h(request=True), "The http probe's `request` must be text, like `request: GET /health`."),
        (h(request=["GET /"]), "The http probe's `request` must be text, like `request: GET /health`."),
        (h(request="   "), "The http probe's `request` is empty: fill it in, like `request: GET /health`."),
        (h(headers=["a"]), "The http probe's `headers` must be a mapping of names to values, like `Authorization: Bearer x`."),
        (h(headers={"bad name": "x"}), "The http probe's header name `bad name` is not a valid HTTP header name."),
        (h(headers={1: "x"}), "The http probe's header name `1` is not a valid HTTP header name."),
        (h(headers={"X": True}), "The http probe's header `X` must have a text value; quote it if it is meant as text."),
        (h(headers={"X": ["a"]}), "The http probe's header `X` must have a text value; quote it if it is meant as text."),
        (h(headers={"X": None}), "The http probe's header `X` must have a text value; quote it if it is meant as text."),
        (h(headers={"X": "a\nb"}), "The http probe's header `X` contains a line break: keep it on one line."),
        (h(headers={"X": "a\rb"}), "The http probe's header `X` contains a line break: keep it on one line."),
        (h(json={}, body="x"), 'The http probe has both `json` and `body`: keep only one of them.'),
        (h(body=3), "The http probe's `body` must be text; use `json` to send a structure."),
        (h(json=float("nan")), "The http probe's `json` holds `nan`, which JSON cannot carry; use a number."),
        (h(json={"a": [float("inf")]}), "The http probe's `json` holds `inf`, which JSON cannot carry; use a number."),
        (h(json={1: "x"}), "The http probe's `json` has the key `1`: quote keys so they are text."),
        (h(json={"d": datetime.date(2026, 1, 1)}), "The http probe's `json` holds a date, which JSON cannot carry; quote it as text."),
        (h(json={"s": {1, 2}}), "The http probe's `json` holds a set, which JSON cannot carry; quote it as text."),
        (h(json=nest(65)), "The http probe's `json` is nested too deeply; flatten it."),
        (h(follow_redirects="yes"), "The http probe's `follow_redirects` must be true or false, not `yes`."),
        (h(verify_tls=None), "The http probe's `verify_tls` must be true or false, not `null`."),
        ({"type": "tls", "host": "a b", "expect": ["[CERT_VALID] == true"]}, "The tls probe's `host` `a b` is not a host name or IP address; write it like `host: api.example.com`, or leave it out to use the environment's base URL host."),
        ({"type": "tls", "host": "", "expect": ["[CERT_VALID] == true"]}, "The tls probe's `host` `` is not a host name or IP address; write it like `host: api.example.com`, or leave it out to use the environment's base URL host."),
        ({"type": "tls", "host": 3, "expect": ["[CERT_VALID] == true"]}, "The tls probe's `host` `3` is not a host name or IP address; write it like `host: api.example.com`, or leave it out to use the environment's base URL host."),
        ({"type": "tls", "port": 0, "expect": ["[CERT_VALID] == true"]}, "The tls probe's `port` is `0`: use a whole number from 1 to 65535."),
        ({"type": "tls", "port": 65536, "expect": ["[CERT_VALID] == true"]}, "The tls probe's `port` is `65536`: use a whole number from 1 to 65535."),
        ({"type": "tls", "port": True, "expect": ["[CERT_VALID] == true"]}, "The tls probe's `port` is `true`: use a whole number from 1 to 65535."),
        ({"type": "tls", "port": "443", "expect": ["[CERT_VALID] == true"]}, "The tls probe's `port` is `443`: use a whole number from 1 to 65535."),
        ({"type": "tcp", "expect": ["[CONNECTED] == true"]}, 'The tcp probe needs a `port`: add a line like `port: 5432`.'),
        (h(timeout=0), "The probe's `timeout` is `0`: use a number of seconds above 0 and at most 300."),
        (h(timeout=300.5), "The probe's `timeout` is `300.5`: use a number of seconds above 0 and at most 300."),
        (h(timeout=True), "The probe's `timeout` is `true`: use a number of seconds above 0 and at most 300."),
        (h(timeout="5"), "The probe's `timeout` is `5`: use a number of seconds above 0 and at most 300."),
        (h(timeout=float("nan")), "The probe's `timeout` is `nan`: use a number of seconds above 0 and at most 300."),
        (h(timeout=float("inf")), "The probe's `timeout` is `inf`: use a number of seconds above 0 and at most 300."),
        (h(timeout=-1), "The probe's `timeout` is `-1`: use a number of seconds above 0 and at most 300."),
        (h(expect=DROP), 'The http probe has no conditions: add an `expect` list with at least one, like `- "[STATUS] == 200"`.'),
        (h(expect=[]), 'The http probe has no conditions: add an `expect` list with at least one, like `- "[STATUS] == 200"`.'),
        (h(expect=None), 'The http probe has no conditions: add an `expect` list with at least one, like `- "[STATUS] == 200"`.'),
        (h(expect={"a": 1}), 'The probe\'s `expect` must be a list of conditions, like `- "[STATUS] == 200"`.'),
        (h(expect=5), 'The probe\'s `expect` must be a list of conditions, like `- "[STATUS] == 200"`.'),
        (h(expect=[{"a": "b"}]), 'Condition 1 under `expect` was read by YAML as a mapping: put the condition in quotes.'),
        (h(expect=[5]), 'Condition 1 under `expect` is not text (YAML read `5`): put the condition in quotes, like `- "[STATUS] == 200"`.'),
        (h(expect=[None]), 'Condition 1 under `expect` is not text (YAML read `null`): put the condition in quotes, like `- "[STATUS] == 200"`.'),
        (h(expect=["[STATUS] == 200", "[STATUS] = 200"]), 'Condition 2 under `expect` cannot be used. The condition `[STATUS] = 200` has `= 200` where an operator should be: use one of ==, !=, <, <=, >, >=, contains, matches, not contains, not matches.'),
        (h(expect=["[STATUS] == 200", "[CONNECTED] == true"]), 'Condition 2 under `expect` looks at `[CONNECTED]`, which a http probe cannot see: use [STATUS], [BODY], [HEADER], [RESPONSE_TIME].'),
        (h(expect=["[STATUS].x == 1"]), 'Condition 1 under `expect` follows a path after `[STATUS]`, which is a single value: compare it directly.'),
        ({"type": "tls"}, 'The tls probe has no conditions: add an `expect` list with at least one, like `- "[CERT_DAYS_LEFT] > 14"`.'),
        ({"type": "dns", "name": "x"}, 'The dns probe has no conditions: add an `expect` list with at least one, like `- "len([ANSWERS]) > 0"`.'),
        ({"type": "tcp", "port": 1}, 'The tcp probe has no conditions: add an `expect` list with at least one, like `- "[CONNECTED] == true"`.'),
        ({"type": "ssh", "run": "x"}, 'The ssh probe has no conditions: add an `expect` list with at least one, like `- "[EXIT_STATUS] == 0"`.'),
        ({"type": "load", "request": "GET /"}, 'The load probe has no conditions: add an `expect` list with at least one, like `- "[P95_MS] < 500"`.'),
        ({"type": "host", "file": "/x"}, 'The host probe has no conditions: add an `expect` list with at least one, like `- "[EXISTS] == true"`.'),
        ({"type": "host", "user": "x"}, 'The host probe has no conditions: add an `expect` list with at least one, like `- "[EXISTS] == true"`.'),
        ({"type": "postgres", "dsn": "d", "query": "q"}, 'The postgres probe has no conditions: add an `expect` list with at least one, like `- "[VALUE] == 0"`.'),
        ({"type": "external", "expect": ["[STDOUT] == 1"]}, 'Condition 1 under `expect` looks at `[STDOUT]`, which a external probe cannot see: use [DATA], [STATUS], [AGE_MINUTES].'),
        ({"type": "postgres", "query": "SELECT 1", "expect": ["[VALUE] == 1"]}, 'The postgres probe needs `dsn`: add a line like `dsn: "{{ secrets.DATABASE_URL }}"`.'),
    ],
)
def test_every_refusal_reads_as_its_sentence(data, message):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(data)
    assert str(info.value) == message


# --- the edges that are accepted --------------------------------------------------------------


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_the_edges_are_accepted(port):
    assert validate_probe({"type": "tcp", "port": port, "expect": ["[CONNECTED] == true"]})["port"] == port
    assert validate_probe({"type": "tls", "port": port, "expect": ["[CERT_VALID] == true"]})["port"] == port
    spec = validate_probe({"type": "host", "port": port, "expect": ["[LISTENING] == true"]})
    assert spec["port"] == f"tcp://{port}"


def test_a_host_port_may_be_a_socket_address():
    for value, name in [(" tcp://0.0.0.0:443 ", "tcp://0.0.0.0:443"), ("udp://53", "udp://53"), ("unix:///run/a.sock", "unix:///run/a.sock")]:
        assert validate_probe({"type": "host", "port": value, "expect": ["[LISTENING] == true"]})["port"] == name


@pytest.mark.parametrize(
    "fields, requests, concurrency",
    [
        ({"requests": 1}, 1, 1),
        ({"requests": 10_000}, 10_000, 100),
        ({"requests": 99}, 99, 99),
        ({"requests": 101}, 101, 100),
        ({"requests": 200, "concurrency": 200}, 200, 200),
        ({"requests": 5, "concurrency": 5}, 5, 5),
        ({"concurrency": 1}, 100, 1),
    ],
)
def test_load_requests_and_concurrency_at_their_edges(fields, requests, concurrency):
    spec = validate_probe({"type": "load", "request": "GET /", **fields, "expect": ["[ERRORS] == 0"]})
    assert (spec["requests"], spec["concurrency"]) == (requests, concurrency)


def test_a_load_probe_keeps_its_payload_and_tls_setting():
    spec = validate_probe(
        {"type": "load", "request": "post /a", "json": {"a": 1}, "verify_tls": False, "headers": {"X": 1},
         "expect": ["[ERRORS] == 0"]}
    )
    assert spec == {
        "type": "load", "request": "POST /a", "requests": 100, "concurrency": 100, "headers": {"X": "1"},
        "json": {"a": 1}, "verify_tls": False, "timeout": 10, "expect": ["[ERRORS] == 0"],
    }
    assert validate_probe({"type": "load", "request": "GET /", "body": "x", "expect": ["[ERRORS] == 0"]})["body"] == "x"


@pytest.mark.parametrize(
    "retries, delay, kept",
    [
        (0, 5, {}),
        (5, 60, {"retries": 5, "retry_delay": 60}),
        (1, 0, {"retries": 1, "retry_delay": 0}),
        (1, None, {"retries": 1, "retry_delay": 1}),
        (2, 0.25, {"retries": 2, "retry_delay": 0.25}),
    ],
)
def test_retries_are_kept_only_when_the_probe_retries(retries, delay, kept):
    data = h(retries=retries, retry_delay=DROP if delay is None else delay)
    spec = validate_probe(data)
    assert {key: spec[key] for key in ("retries", "retry_delay") if key in spec} == kept


@pytest.mark.parametrize("timeout", [300, 0.001, 1])
def test_timeouts_up_to_300_seconds_are_accepted(timeout):
    assert validate_probe(h(timeout=timeout))["timeout"] == timeout


def test_json_may_nest_64_levels():
    assert validate_probe(h(json=nest(64)))["json"] == nest(64)
    assert validate_probe(h(json={"a": [None, True, 1, 1.5, "x"]}))["json"] == {"a": [None, True, 1, 1.5, "x"]}


def test_steps_take_up_to_ten_requests_and_pass_saved_values_on():
    step = {"request": "GET /", "expect": ["[STATUS] == 200"]}
    assert len(validate_probe(h(request=DROP, expect=DROP, steps=[step] * 10))["steps"]) == 10
    spec = validate_probe(
        h(request=DROP, expect=DROP, steps=[
            {"request": "post /login", "json": {"u": 1}, "save": {"T" * 50: " [BODY].token ", "_h": "[HEADER].X-A"},
             "expect": []},
            {"request": "GET /{{ saved.TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT }}", "follow_redirects": True,
             "expect": "[STATUS] == 200"},
        ])
    )
    assert spec["steps"] == [
        {"request": "POST /login", "headers": {}, "json": {"u": 1}, "follow_redirects": False, "verify_tls": True,
         "expect": [], "save": {"T" * 50: "[BODY].token", "_h": "[HEADER].X-A"}},
        {"request": "GET /{{ saved." + "T" * 50 + " }}", "headers": {}, "follow_redirects": True, "verify_tls": True,
         "expect": ["[STATUS] == 200"]},
    ]
    assert spec["expect"] == ["[STATUS] == 200"]
    assert "save" not in validate_probe(h(request=DROP, expect=DROP, steps=[{**step, "save": None}]))["steps"][0]


def test_steps_may_repeat_their_own_conditions_as_the_probes():
    step = {"request": "GET /", "expect": ["[STATUS] == 200"]}
    assert validate_probe(h(request=DROP, expect=["[STATUS] == 200"], steps=[step]))["expect"] == ["[STATUS] == 200"]
    assert validate_probe(h(request=DROP, expect=[], steps=[step]))["expect"] == ["[STATUS] == 200"]


def test_a_saved_value_is_only_seen_by_later_steps():
    steps = [
        {"request": "GET /{{ saved.A }}", "save": {"A": "[BODY].a"}, "expect": ["[STATUS] == 200"]},
    ]
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(h(request=DROP, expect=DROP, steps=steps))
    assert str(info.value) == "The http probe's step 1 uses `{{ saved.A }}`, which no earlier step saves."


def test_oauth2_client_credentials_are_kept_with_their_scope():
    grant = {"token_url": "https://id.example.com/token", "client_id": 7, "client_secret": "{{ secrets.S }}"}
    spec = validate_probe(h(auth={"oauth2_client_credentials": grant}))
    assert spec["auth"] == {"oauth2_client_credentials": {**grant, "client_id": "7"}}
    scoped = validate_probe(h(auth={"oauth2_client_credentials": {**grant, "token_url": "/t", "scope": " read "}}))
    assert scoped["auth"]["oauth2_client_credentials"]["scope"] == "read"
    templated = validate_probe(h(auth={"oauth2_client_credentials": {**grant, "token_url": "{{ secrets.URL }}"}}))
    assert templated["auth"]["oauth2_client_credentials"]["token_url"] == "{{ secrets.URL }}"
    assert "auth" not in validate_probe(h(auth=None))
    steps = validate_probe(h(request=DROP, expect=DROP, auth={"oauth2_client_credentials": grant},
                             steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}]))
    assert steps["auth"]["oauth2_client_credentials"]["client_id"] == "7"


def test_requests_read_as_written():
    assert validate_probe(h(request="get  /a?b=1 "))["request"] == "GET /a?b=1"
    assert validate_probe(h(request="GET HTTPS://x.org/"))["request"] == "GET HTTPS://x.org/"
    assert validate_probe(h(request="GET http://x.org/"))["request"] == "GET http://x.org/"
    assert validate_probe(h(request="GET {{ base }}/a"))["request"] == "GET {{ base }}/a"
    assert validate_probe(h(request="GET /{{ secrets.A B }}"))["request"] == "GET /{{ secrets.A B }}"
    for method in ("HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert validate_probe(h(request=f"{method} /"))["request"] == f"{method} /"


def test_headers_read_as_text():
    assert validate_probe(h(headers=None))["headers"] == {}
    assert validate_probe(h(headers={"X-A": 2.5, "x_b!#$%&'*+-.^`|~": "v"}))["headers"] == {
        "X-A": "2.5", "x_b!#$%&'*+-.^`|~": "v",
    }


def test_tls_and_tcp_hosts_are_kept_stripped():
    for host in ("api.example.com", "10.0.0.1", "[::1]", "{{ env.HOST }}", "db-1:5432"):
        spec = validate_probe({"type": "tls", "host": f" {host} ", "expect": ["[CERT_VALID] == true"]})
        assert spec["host"] == host
    assert validate_probe({"type": "tcp", "host": "db", "port": 5432, "expect": ["[CONNECTED] == true"]})["host"] == "db"


def test_hosts_name_roles_once_each():
    spec = validate_probe({"type": "ssh", "run": "true", "hosts": ["web", "a" * 50, "web"], "expect": ["[EXIT_STATUS] == 0"]})
    assert spec["hosts"] == ["web", "a" * 50]
    assert "hosts" not in validate_probe({"type": "ssh", "run": "true", "hosts": None, "expect": ["[EXIT_STATUS] == 0"]})


@pytest.mark.parametrize(
    "resource, value, expect",
    [
        ("file", "{{ env.DIR }}/x", "[SHA256] != null"),
        ("service", "nginx", "[ENABLED] == true"),
        ("package", "openssl", "[VERSION] != null"),
        ("process", "gunicorn", "[COUNT] > 0"),
        ("user", "app", "[UID] > 0"),
    ],
)
def test_host_resources_see_their_own_placeholders(resource, value, expect):
    spec = validate_probe({"type": "host", resource: value, "expect": [expect]})
    assert spec[resource] == value and spec["expect"] == [expect]


def test_host_resource_names_the_resource_of_a_validated_probe():
    from checklists.spec import host_resource

    spec = validate_probe({"type": "host", "service": " nginx ", "expect": ["[RUNNING] == true"]})
    assert host_resource(spec) == ("service", "nginx")
    with pytest.raises(ProbeSpecError) as info:
        host_resource({"type": "host"})
    assert str(info.value) == "A host probe names no resource."


def test_an_external_probe_may_add_conditions_on_its_data():
    spec = validate_probe({"type": "external", "expect": ["[DATA].coverage >= 80", "[AGE_MINUTES] < 60"]})
    assert spec == {"type": "external", "timeout": 10, "expect": ["[DATA].coverage >= 80", "[AGE_MINUTES] < 60"]}


def test_paths_are_allowed_after_structured_placeholders_only():
    for kind, expr, extra in [
        ("http", "[HEADER].x == 1", {"request": "GET /"}),
        ("dns", "[ANSWERS][0] == 1", {"name": "x"}),
        ("tls", "[CERT_SANS][0] == x", {}),
        ("host", "[GROUPS][0] == x", {"user": "app"}),
        ("postgres", "[ROWS][0].a == 1", {"dsn": "d", "query": "q"}),
        ("external", "[DATA].a == 1", {}),
    ]:
        assert validate_probe({"type": kind, **extra, "expect": [expr]})["expect"] == [expr]


def test_a_condition_on_another_placeholder_is_checked_too():
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(h(expect=["[STATUS] == [STDOUT]"]))
    assert "looks at `[STDOUT]`" in str(info.value)


@pytest.mark.parametrize("field, value", [("headers", {}), ("json", {}), ("body", "x"), ("follow_redirects", True)])
def test_steps_refuse_every_request_field_at_the_top(field, value):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(h(request=DROP, expect=DROP, steps=[{"request": "GET /", "expect": ["[STATUS] == 200"]}],
                         **{field: value}))
    assert str(info.value) == (
        f"The http probe has `steps` and `{field}`: with steps, put `{field}` under the step it belongs to."
    )


@pytest.mark.parametrize("kind, shown", [(1.5, "1.5"), (True, "true"), ({"a": 1}, "mapping")])
def test_an_unknown_type_is_quoted_or_named(kind, shown):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe({"type": kind})
    assert str(info.value).startswith(f"Unknown probe type `{shown}`: ")


def test_json_mappings_count_toward_the_64_levels_too():
    def nest(depth):
        value = 1
        for _ in range(depth):
            value = {"k": value}
        return value

    assert validate_probe(h(json=nest(64)))["json"] == nest(64)
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(h(json=nest(65)))
    assert str(info.value) == "The http probe's `json` is nested too deeply; flatten it."


def test_a_step_names_itself_in_its_own_refusals():
    with pytest.raises(ProbeSpecError) as info:
        validate_probe(h(request=DROP, expect=DROP, steps=[
            {"request": "GET /", "expect": ["[STATUS] == 200"]}, {"request": "GET nope", "expect": ["[STATUS] == 200"]},
        ]))
    assert str(info.value) == (
        "The http probe's step 2 probe's `request` target `nope` is neither a path starting with `/` nor an http(s) "
        "URL: write it like `GET /health` or `GET https://api.example.com/health`."
    )


def test_every_kind_names_itself_when_a_field_is_missing_or_wrong():
    for data, message in [
        ({"type": "dns", "expect": ["[ANSWER] != null"]}, "The dns probe needs `name`: add a line like `name: api.example.com`."),
        (
            {"type": "tcp", "host": "a b", "port": 1, "expect": ["[CONNECTED] == true"]},
            "The tcp probe's `host` `a b` is not a host name or IP address; write it like `host: api.example.com`, "
            "or leave it out to use the environment's base URL host.",
        ),
        ({"type": "ssh", "expect": ["[EXIT_STATUS] == 0"]}, 'The ssh probe needs `run`: add a line like `run: "systemctl is-active myapp"`.'),
        (
            {"type": "postgres", "dsn": "d", "expect": ["[VALUE] == 0"]},
            "The postgres probe needs `query`: add a line like `query: SELECT count(*) FROM django_migrations`.",
        ),
        ({"type": "load", "expect": ["[ERRORS] == 0"]}, "The load probe needs `request`: add a line like `request: GET /health`."),
        ({"type": "host", "service": None, "expect": ["[RUNNING] == true"]}, "The host probe needs `service`: add a line like `service: nginx`."),
        ({"type": "host", "package": 3.5, "user": None, "expect": ["[INSTALLED] == true"]},
         "A host probe names exactly one resource (file, service, package, port, process, user), like "
         "`file: /srv/app/.env`; this one names package, user."),
        ({"type": "host", "process": "", "expect": ["[COUNT] > 0"]}, "The host probe's `process` is empty: fill it in, like `process: gunicorn`."),
        ({"type": "host", "user": [], "expect": ["[UID] > 0"]}, "The host probe's `user` must be text, like `user: app`."),
        ({"type": "host", "file": " ", "expect": ["[EXISTS] == true"]}, "The host probe's `file` is empty: fill it in, like `file: /srv/app/.env`."),
        ({"type": "host", "package": "", "expect": ["[INSTALLED] == true"]}, "The host probe's `package` is empty: fill it in, like `package: openssl`."),
    ]:
        with pytest.raises(ProbeSpecError) as info:
            validate_probe(data)
        assert str(info.value) == message


def test_roles_may_use_capitals_digits_and_dots():
    spec = validate_probe({"type": "ssh", "run": "true", "hosts": "Web-1.eu_x", "expect": ["[EXIT_STATUS] == 0"]})
    assert spec["hosts"] == ["Web-1.eu_x"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"request": "GET nope"}, "The load probe's `request` target `nope` is neither a path starting with `/` nor an "
         "http(s) URL: write it like `GET /health` or `GET https://api.example.com/health`."),
        ({"headers": "x"}, "The load probe's `headers` must be a mapping of names to values, like `Authorization: Bearer x`."),
        ({"json": {}, "body": "x"}, "The load probe has both `json` and `body`: keep only one of them."),
        ({"verify_tls": "no"}, "The load probe's `verify_tls` must be true or false, not `no`."),
    ],
)
def test_a_load_probe_names_itself_in_its_refusals(fields, message):
    with pytest.raises(ProbeSpecError) as info:
        validate_probe({"type": "load", "request": "GET /", **fields, "expect": ["[ERRORS] == 0"]})
    assert str(info.value) == message
