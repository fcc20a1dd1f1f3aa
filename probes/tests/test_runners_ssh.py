import json
import subprocess

import pytest

from probes.runners import SSHTarget, Target, fetch_host_key, fingerprint, run_batch, run_probe
from probes.tests.servers import other_host_key


def ssh_target(sshd, *, key="ed25519", host_key=None, **overrides):
    fields = dict(
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        private_key=sshd.keys[key],
        password=None,
        host_key=sshd.host_key if host_key is None else host_key,
    )
    fields.update(overrides)
    return Target("http://127.0.0.1", ssh=SSHTarget(**fields))


def ssh_probe(run, *expect, **fields):
    return {"type": "ssh", "run": run, "expect": list(expect), **fields}


def test_command_passes_and_fails(sshd):
    results = run_batch(
        {
            "ok": ssh_probe("echo ready; echo oops >&2", "[EXIT_STATUS] == 0", "[STDOUT] == ready", "[STDERR] == oops"),
            "mode": ssh_probe("printf '600\\n'", "[STDOUT] >= 600", "[STDOUT] == 600"),
            "fails": ssh_probe("exit 3", "[EXIT_STATUS] == 0"),
        },
        ssh_target(sshd),
    )
    assert results["ok"].status == "passed", results["ok"].message
    assert results["ok"].observed == {"EXIT_STATUS": 0, "STDOUT": "ready", "STDERR": "oops"}
    assert results["mode"].status == "passed", results["mode"].message
    assert results["fails"].status == "failed"
    assert results["fails"].conditions[0].observed == 3


@pytest.mark.parametrize("key", ["rsa", "ecdsa"])
def test_pem_keys_of_other_types(sshd, key):
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), ssh_target(sshd, key=key))
    assert obs.status == "passed", obs.message


def test_probes_share_one_connection(sshd):
    # Each command prints the client side of its SSH connection; one connection → one source port.
    specs = {n: ssh_probe("echo $SSH_CONNECTION", "[EXIT_STATUS] == 0") for n in range(5)}
    results = run_batch(specs, ssh_target(sshd))
    connections = {o.observed["STDOUT"] for o in results.values()}
    assert len(connections) == 1 and connections != {""}


def test_changed_host_key_is_an_error(sshd, tmp_path):
    pinned = other_host_key(tmp_path)
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), ssh_target(sshd, host_key=pinned))
    assert obs.status == "error"
    assert obs.message.startswith(
        f"The SSH host key of 127.0.0.1:{sshd.port} does not match the pinned key (got {fingerprint(sshd.host_key)})."
    )


def test_pinned_key_of_another_type_is_an_error(sshd, tmp_path):
    # The pinned key is RSA; the server only has an ed25519 key.
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(tmp_path / "rsa")], check=True)
    rsa_public = " ".join((tmp_path / "rsa.pub").read_text().split()[:2])
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), ssh_target(sshd, host_key=rsa_public))
    assert obs.status == "error"
    assert f"does not match the pinned key (got {fingerprint(sshd.host_key)})" in obs.message


def test_no_pinned_key_is_not_configured(sshd):
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), ssh_target(sshd, host_key=""))
    assert obs.status == "not_configured"
    assert obs.message == "No SSH host key is pinned for this environment; an admin must trust one."


def test_no_ssh_target_is_not_configured():
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), Target("http://127.0.0.1"))
    assert obs.status == "not_configured"
    assert obs.message == "No SSH target is configured for this environment."


def test_unknown_user_key_is_refused(sshd, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    target = ssh_target(sshd, private_key=(tmp_path / "k").read_text())
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), target)
    assert obs.status == "error"
    assert "refused the login" in obs.message


def test_secret_in_command_is_redacted(sshd):
    secret = "hunter2-database-password"
    target = ssh_target(sshd)
    target = Target(target.base_url, ssh=target.ssh, secrets={"DB_PASSWORD": secret})
    obs = run_probe(ssh_probe("echo {{ secrets.DB_PASSWORD }}", "[STDOUT] == nope"), target)
    assert obs.status == "failed"
    dumped = json.dumps(obs.as_dict())
    assert secret not in dumped
    assert obs.observed["STDOUT"] == "[redacted]"
    assert "[redacted]" in obs.message


def test_private_key_never_appears(sshd):
    target = ssh_target(sshd)
    obs = run_probe(ssh_probe(f"echo '{sshd.keys['ed25519']}'", "[EXIT_STATUS] == 0"), target)
    assert obs.status == "passed", obs.message
    dumped = json.dumps(obs.as_dict())
    for line in sshd.keys["ed25519"].splitlines()[1:-1]:
        assert line not in dumped


def test_command_timeout(sshd):
    obs = run_probe(ssh_probe("sleep 5", "[EXIT_STATUS] == 0", timeout=0.5), ssh_target(sshd))
    assert obs.status == "error"
    assert obs.message == "Timed out after 0.5 s."
    assert obs.duration_ms < 3000


def test_timeout_does_not_spoil_the_next_probe(sshd):
    results = run_batch(
        {"slow": ssh_probe("sleep 5", "[EXIT_STATUS] == 0", timeout=0.5), "next": ssh_probe("echo hi", "[STDOUT] == hi")},
        ssh_target(sshd),
    )
    assert results["slow"].status == "error"
    assert results["next"].status == "passed", results["next"].message


def test_refused(unused_port, sshd):
    target = ssh_target(sshd, port=unused_port)
    obs = run_probe(ssh_probe("true", "[EXIT_STATUS] == 0"), target)
    assert obs.status == "error"
    assert obs.message == f"Connection refused by 127.0.0.1:{unused_port}."


def test_ssh_and_http_in_one_batch(sshd, http_server):
    target = ssh_target(sshd)
    target = Target(http_server.url, ssh=target.ssh)
    results = run_batch(
        {
            "ssh": ssh_probe("echo ok", "[STDOUT] == ok"),
            "http": {"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200"]},
        },
        target,
    )
    assert [o.status for o in results.values()] == ["passed", "passed"]


def test_fetch_host_key_and_fingerprint(sshd):
    key = fetch_host_key(sshd.host, sshd.port, timeout=5)
    assert key == sshd.host_key
    assert fingerprint(key).startswith("SHA256:")
    assert len(fingerprint(key)) == len("SHA256:") + 43


def test_fingerprint_matches_ssh_keygen(sshd, tmp_path):
    (tmp_path / "k.pub").write_text(sshd.host_key + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == fingerprint(sshd.host_key)
