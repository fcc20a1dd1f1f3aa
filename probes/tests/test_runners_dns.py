from probes.runners import Target, run_probe


def dns_target(dns_server):
    return Target("http://127.0.0.1", dns_servers=(dns_server.address,))


def test_a_records(dns_server):
    obs = run_probe(
        {"type": "dns", "name": "app.test", "expect": ["[ANSWER] == 127.0.0.1", "len([ANSWERS]) == 2"]},
        dns_target(dns_server),
    )
    assert obs.status == "passed", obs.message
    assert sorted(obs.observed["ANSWERS"]) == ["127.0.0.1", "127.0.0.2"]


def test_other_record_types(dns_server):
    target = dns_target(dns_server)
    cases = {
        "AAAA": "::1",
        "CNAME": "app.test",
        "MX": "10 mail.app.test",
        "TXT": "v=spf1 -all",
    }
    for record, expected in cases.items():
        name = "www.app.test" if record == "CNAME" else "app.test"
        obs = run_probe({"type": "dns", "name": name, "record": record, "expect": [f'[ANSWERS] contains "{expected}"']}, target)
        assert obs.status == "passed", (record, obs.message, obs.observed)


def test_unknown_name_fails_with_no_answers(dns_server):
    obs = run_probe({"type": "dns", "name": "nope.test", "expect": ["[ANSWER] != null"]}, dns_target(dns_server))
    assert obs.status == "failed"
    assert obs.observed == {"ANSWERS": [], "ANSWER": None}
    assert "does not exist" in obs.message


def test_name_without_that_record(dns_server):
    obs = run_probe({"type": "dns", "name": "empty.test", "expect": ["len([ANSWERS]) == 0"]}, dns_target(dns_server))
    assert obs.status == "passed", obs.message
    assert "has no A record" in obs.message


def test_silent_server_times_out(unused_port):
    # A UDP port where nothing answers.
    target = Target("http://127.0.0.1", dns_servers=(f"127.0.0.1:{unused_port}",))
    obs = run_probe({"type": "dns", "name": "app.test", "timeout": 0.5, "expect": ["[ANSWER] != null"]}, target)
    assert obs.status == "error"
    assert obs.message in ("Timed out after 0.5 s.", "No DNS server gave an answer for `app.test` (A).")
