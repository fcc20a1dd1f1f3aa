from probes.runners import Target, run_probe


def test_open_port_connects(http_server):
    obs = run_probe(
        {"type": "tcp", "port": http_server.port, "expect": ["[CONNECTED] == true", "[CONNECT_TIME] < 1000"]},
        Target(http_server.url),
    )
    assert obs.status == "passed", obs.message
    assert obs.observed["CONNECTED"] is True


def test_refused_port_is_a_result_not_an_error(unused_port):
    target = Target("http://127.0.0.1")
    obs = run_probe({"type": "tcp", "port": unused_port, "expect": ["[CONNECTED] == true"]}, target)
    assert obs.status == "failed"
    assert obs.observed == {"CONNECTED": False, "CONNECT_TIME": None}
    assert f"Connection refused by 127.0.0.1:{unused_port}." in obs.message

    closed = run_probe({"type": "tcp", "port": unused_port, "expect": ["[CONNECTED] == false"]}, target)
    assert closed.status == "passed", closed.message


def test_host_outside_environment_is_refused(http_server):
    obs = run_probe(
        {"type": "tcp", "host": "localhost", "port": http_server.port, "expect": ["[CONNECTED] == true"]},
        Target(http_server.url),
    )
    assert obs.status == "error"
    assert "The host `localhost` is not one of this environment's hosts (127.0.0.1)" in obs.message


def test_allowed_ip_literal(http_server):
    obs = run_probe(
        {"type": "tcp", "host": "127.0.0.1", "port": http_server.port, "expect": ["[CONNECTED] == true"]},
        Target("https://api.example.com", allowed_hosts=("127.0.0.1",)),
    )
    assert obs.status == "passed", obs.message
