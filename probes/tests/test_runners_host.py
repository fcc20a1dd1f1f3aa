"""`host` probes (pytest-testinfra's modules over our own SSH session) and ssh probes on several hosts,
against two real sshd instances with different host keys and roles."""

import os

import pytest

from probes.runners import SSHTarget, Target, run_batch, run_probe
from probes.tests.servers import free_port, other_host_key


def ssh_host(sshd, role, **overrides):
    fields = dict(
        host=sshd.host, port=sshd.port, username=sshd.username, private_key=sshd.keys["ed25519"],
        host_key=sshd.host_key, role=role,
    )
    fields.update(overrides)
    return SSHTarget(**fields)


@pytest.fixture
def two_hosts(sshd_pair):
    web, worker = sshd_pair
    return Target("http://127.0.0.1", ssh=(ssh_host(web, "web"), ssh_host(worker, "worker")))


def host_probe(resource, name, *expect, **fields):
    return {"type": "host", resource: name, "expect": list(expect), **fields}


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "app.env"
    path.write_text('{"debug": false}')
    os.chmod(path, 0o600)
    return path


def test_file_checks_right_and_wrong(two_hosts, secret_file, tmp_path):
    results = run_batch(
        {
            "right": host_probe(
                "file", str(secret_file), "[EXISTS] == true", "[MODE] == 600", "[OWNER] == root", "[GROUP] == root",
                "[SIZE] == 16", "[JSON_VALID] == true", "[CONTENT] contains debug",
                "len([SHA256]) == 64", hosts="web",
            ),
            "wrong": host_probe("file", str(secret_file), "[MODE] == 644", hosts="web"),
            "missing": host_probe("file", str(tmp_path / "absent"), "[EXISTS] == false", hosts="web"),
        },
        two_hosts,
    )
    assert results["right"].status == "passed", results["right"].message
    assert results["wrong"].status == "failed"
    assert results["wrong"].conditions[0].observed == "600"
    assert results["missing"].status == "passed", results["missing"].message


def test_port_process_package_and_user_checks(two_hosts, sshd_pair):
    web, _ = sshd_pair
    results = run_batch(
        {
            "listening": host_probe("port", web.port, "[LISTENING] == true", hosts="web"),
            "closed": host_probe("port", free_port(), "[LISTENING] == true", hosts="web"),
            "process": host_probe("process", "sshd", "[COUNT] >= 1", "[USER] == root", hosts="web"),
            "no-process": host_probe("process", "no-such-daemon", "[COUNT] >= 1", hosts="web"),
            "package": host_probe("package", "openssh-server", "[INSTALLED] == true", "has([VERSION])", hosts="web"),
            "no-package": host_probe("package", "no-such-package-here", "[INSTALLED] == true", hosts="web"),
            "user": host_probe("user", "root", "[EXISTS] == true", "[UID] == 0", "[GROUPS] contains root", hosts="web"),
            "no-user": host_probe("user", "nobody-such", "[EXISTS] == true", hosts="web"),
        },
        two_hosts,
    )
    for key in ("listening", "process", "package", "user"):
        assert results[key].status == "passed", (key, results[key].message)
    for key in ("closed", "no-process", "no-package", "no-user"):
        assert results[key].status == "failed", (key, results[key].message)


def test_a_probe_runs_on_every_host_its_roles_name_and_keeps_each_hosts_result(two_hosts, sshd_pair):
    web, worker = sshd_pair
    results = run_batch(
        {
            "all": {"type": "ssh", "run": "echo $SSH_CONNECTION", "expect": ["[EXIT_STATUS] == 0"]},
            "web": {"type": "ssh", "run": "true", "hosts": "web", "expect": ["[EXIT_STATUS] == 0"]},
            "nobody": {"type": "ssh", "run": "true", "hosts": "db", "expect": ["[EXIT_STATUS] == 0"]},
        },
        two_hosts,
    )
    everywhere = results["all"]
    assert everywhere.status == "passed", everywhere.message
    assert [(h["host"], h["role"], h["status"]) for h in everywhere.hosts] == [
        (f"127.0.0.1:{web.port}", "web", "passed"), (f"127.0.0.1:{worker.port}", "worker", "passed"),
    ]
    # Each host's observed values are kept: both connections are seen, one per host.
    seen = everywhere.conditions[0].observed
    assert set(seen) == {f"127.0.0.1:{web.port}", f"127.0.0.1:{worker.port}"}
    assert [h["host"] for h in results["web"].hosts] == [f"127.0.0.1:{web.port}"]
    assert results["nobody"].status == "not_configured" and "role `db`" in results["nobody"].message


def test_one_connection_per_host_per_batch(two_hosts, sshd_pair):
    specs = {n: {"type": "ssh", "run": "echo $SSH_CONNECTION", "expect": ["[EXIT_STATUS] == 0"]} for n in range(4)}
    specs["file"] = host_probe("file", "/etc/hostname", "[EXISTS] == true")
    results = run_batch(specs, two_hosts)
    for index in range(2):
        connections = {obs.observed[list(obs.observed)[index]]["STDOUT"] for key, obs in results.items() if key != "file"}
        assert len(connections) == 1 and connections != {""}
    assert results["file"].status == "passed", results["file"].message


def test_a_host_whose_key_changed_fails_only_that_host(sshd_pair, tmp_path):
    web, worker = sshd_pair
    target = Target(
        "http://127.0.0.1",
        ssh=(ssh_host(web, "web"), ssh_host(worker, "worker", host_key=other_host_key(tmp_path))),
    )
    results = run_batch(
        {
            "all": host_probe("user", "root", "[EXISTS] == true"),
            "web": host_probe("user", "root", "[EXISTS] == true", hosts="web"),
        },
        target,
    )
    assert results["web"].status == "passed", results["web"].message
    both = results["all"]
    assert both.status == "error"
    assert {h["role"]: h["status"] for h in both.hosts} == {"web": "passed", "worker": "error"}
    assert "does not match the pinned key" in both.hosts[1]["message"]
    assert both.message.startswith("1 of 2 hosts did not pass")


def test_a_host_probe_of_a_secret_file_keeps_no_secret(two_hosts, tmp_path):
    path = tmp_path / "token"
    path.write_text("tok-live-0123456789abcdef")
    target = Target(two_hosts.base_url, ssh=two_hosts.ssh, secrets={"TOKEN": "tok-live-0123456789abcdef"})
    obs = run_probe(host_probe("file", str(path), "[CONTENT] == nope", hosts="web"), target)
    assert obs.status == "failed"
    assert "tok-live" not in str(obs.as_dict())
