from probes.runners import Target, run_probe


def tls_probe(*expect, **fields):
    return {"type": "tls", "expect": list(expect), **fields}


def test_valid_certificate_passes(https_server, ca_pem):
    obs = run_probe(
        tls_probe(
            "[CERT_VALID] == true",
            "[CERT_DAYS_LEFT] > 30",
            "[CERT_SANS] contains localhost",
            '[TLS_VERSION] matches "^TLSv1\\.[23]$"',
            port=https_server.port,
        ),
        Target(https_server.url, ca_bundle=ca_pem),
    )
    assert obs.status == "passed", obs.message
    assert obs.observed["CERT_VALID"] is True
    assert sorted(obs.observed["CERT_SANS"]) == ["127.0.0.1", "localhost"]
    assert obs.observed["TLS_VERSION"] == "TLSv1.3"
    assert isinstance(obs.observed["CERT_ISSUER"], str) and obs.observed["CERT_ISSUER"]


def test_certificate_for_another_name_is_not_valid(wrong_name_https_server, ca_pem):
    obs = run_probe(
        tls_probe("[CERT_VALID] == true", "[CERT_DAYS_LEFT] > 30", port=wrong_name_https_server.port),
        Target(wrong_name_https_server.url, ca_bundle=ca_pem),
    )
    assert obs.status == "failed"
    assert [c.ok for c in obs.conditions] == [False, True]
    assert obs.observed["CERT_VALID"] is False
    assert obs.observed["CERT_SANS"] == ["other.example"]
    assert obs.message.startswith("The certificate is not valid:")
    assert "127.0.0.1" in obs.message


def test_certificate_from_an_unknown_ca_is_not_valid(https_server):
    obs = run_probe(tls_probe("[CERT_VALID] == false", port=https_server.port), Target(https_server.url))
    assert obs.status == "passed", obs.message
    assert "The certificate is not valid:" in obs.message
    assert obs.observed["CERT_DAYS_LEFT"] > 300


def test_host_defaults_to_base_url_host_and_is_checked(https_server, ca_pem):
    obs = run_probe(
        tls_probe("[CERT_VALID] == true", host="localhost", port=https_server.port),
        Target(https_server.url, ca_bundle=ca_pem),
    )
    assert obs.status == "error"
    assert "The host `localhost` is not one of this environment's hosts" in obs.message
    assert https_server.paths == []


def test_refused(unused_port):
    obs = run_probe(tls_probe("[CERT_VALID] == true", port=unused_port), Target("https://127.0.0.1"))
    assert obs.status == "error"
    assert obs.message == f"Connection refused by 127.0.0.1:{unused_port}."


def test_plain_http_port_is_an_error(http_server):
    obs = run_probe(tls_probe("[CERT_VALID] == true", port=http_server.port, timeout=2), Target(http_server.url))
    assert obs.status == "error"
    assert obs.message.startswith("The TLS handshake with 127.0.0.1:")
