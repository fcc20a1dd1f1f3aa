from probes.runners import Target, run_batch, run_probe


def test_load_measures_success_and_percentiles(http_server):
    obs = run_probe(
        {
            "type": "load",
            "request": "GET /health",
            "requests": 60,
            "concurrency": 10,
            "expect": ["[SUCCESS_RATE] == 1", "[ERRORS] == 0", "[P95_MS] < 2000"],
        },
        Target(http_server.url),
    )
    assert obs.status == "passed", obs.message
    assert len(http_server.paths) == 60
    assert 0 < obs.observed["P50_MS"] <= obs.observed["P95_MS"] <= obs.observed["P99_MS"]


def test_load_counts_errors(http_server):
    obs = run_probe(
        {"type": "load", "request": "GET /status/500", "requests": 20, "concurrency": 5, "expect": ["[SUCCESS_RATE] >= 0.99"]},
        Target(http_server.url),
    )
    assert obs.status == "failed"
    assert obs.observed["SUCCESS_RATE"] == 0
    assert obs.observed["ERRORS"] == 20


def test_load_on_refused_port(unused_port):
    obs = run_probe(
        {"type": "load", "request": "GET /", "requests": 10, "concurrency": 5, "expect": ["[ERRORS] == 0"]},
        Target(f"http://127.0.0.1:{unused_port}"),
    )
    assert obs.status == "failed"
    assert obs.observed["ERRORS"] == 10 and obs.observed["P50_MS"] is None
    assert "Connection refused" in obs.message


def test_load_outside_environment_sends_nothing(http_server):
    obs = run_probe(
        {"type": "load", "request": f"GET {http_server.url_via('localhost')}/health", "requests": 10, "expect": ["[ERRORS] == 0"]},
        Target(http_server.url),
    )
    assert obs.status == "error"
    assert http_server.paths == []


def test_load_beside_other_probes_in_a_batch(http_server):
    specs = {"load": {"type": "load", "request": "GET /health", "requests": 50, "expect": ["[ERRORS] == 0"]}}
    specs.update({n: {"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200"]} for n in range(30)})
    results = run_batch(specs, Target(http_server.url), max_concurrency=5)
    assert all(o.status == "passed" for o in results.values()), {k: o.message for k, o in results.items()}
    assert len(http_server.paths) == 80
