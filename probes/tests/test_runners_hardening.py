"""What an attacker and a bad day found in the runners: secrets cut before they were masked, a regex
that pegged a worker, an SSH target outside the environment. Each against a real server on loopback."""

import base64
import json
import logging
import signal
import socket
from urllib.parse import quote

import pytest

from probes.runners import SSHTarget, Target, run_batch, run_probe
from probes.runners.redaction import Redactor, secret_forms, secrets_held
from probes.tests.servers import other_host_key

SECRET = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0-zyxwvutsr"  # 46 characters


def probe(request, *expect, **fields):
    return {"type": "http", "request": request, "expect": list(expect), **fields}


def dumped(observation) -> str:
    return json.dumps(observation.as_dict())


# --- redact first, then cut --------------------------------------------------------


@pytest.mark.parametrize(
    "pad, view",
    [
        (60, "the 80-character message"),
        (480, "the 500-character condition view"),
        (1980, "the 2,000-character observed view"),
    ],
)
def test_a_secret_straddling_a_cut_is_masked_whole(http_server, pad, view):
    # The server echoes the secret after `pad` characters, so each view's cut falls inside it.
    target = Target(http_server.url, secrets={"API_TOKEN": SECRET}, variables={"PAD": "p" * pad})
    obs = run_probe(
        probe("GET /say?text={{ vars.PAD }}{{ secrets.API_TOKEN }}", '[BODY] == "something else"'), target
    )
    assert obs.status == "failed", obs.message
    text = dumped(obs)
    assert SECRET[:8] not in text, f"a part of the secret survives in {view}"
    assert "[redacted]" in text


def test_percent_encoded_and_base64_forms_are_masked(http_server):
    secret = "p@ss/wörd~with:more=1;x"
    target = Target(http_server.url, secrets={"DB": secret})
    results = run_batch(
        {
            "raw": probe("GET /raw?x={{ secrets.DB }}", "[BODY] == nothing"),
            **{
                f"b64-{pad}": probe(f"GET /b64?pad={'z' * pad}&text={{{{ secrets.DB }}}}", "[BODY] == nothing")
                for pad in (0, 1, 2)
            },
        },
        target,
    )
    encoded = base64.b64encode(secret.encode()).decode()
    for key, obs in results.items():
        assert obs.status == "failed", obs.message
        text = dumped(obs)
        assert quote(secret, safe="")[:10] not in text and encoded[4:16] not in text, key
        assert "[redacted]" in text, key


def test_base64_inside_a_longer_text_is_masked_at_every_alignment():
    secret = "correct-horse-battery"
    redactor = Redactor([secret])
    for prefix in (b"", b"u", b"us", b"user:"):
        blob = base64.b64encode(prefix + secret.encode() + b"!tail").decode()
        masked = redactor.text(f"Authorization: Basic {blob}")
        assert "[redacted]" in masked, prefix
        assert base64.b64encode(secret.encode()).decode()[:12] not in masked


def test_short_values_are_not_searched_for():
    assert secret_forms("abc") == set()
    assert Redactor(["abc"]).text("abc stays") == "abc stays"


# --- secrets in the log -----------------------------------------------------------


def test_the_log_filter_masks_held_secrets_in_any_record():
    from ctrlready.logging import SecretRedactionFilter

    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET %s", (f"http://x/?token={SECRET}",), None)
    record.url = f"http://x/?token={quote(SECRET)}"
    with secrets_held([SECRET]):
        assert SecretRedactionFilter().filter(record)
    assert SECRET not in record.getMessage() and "[redacted]" in record.getMessage()
    assert record.url == "http://x/?token=[redacted]"
    # Once the batch is over, nothing is held and records pass as they are.
    later = logging.LogRecord("app", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    SecretRedactionFilter().filter(later)
    assert later.getMessage() == "plain text"


def test_a_traceback_that_carries_a_secret_is_masked():
    from ctrlready.logging import SecretRedactionFilter

    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        import sys

        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    with secrets_held([SECRET]):
        SecretRedactionFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert SECRET not in formatted and "bad token [redacted]" in formatted


# --- a condition cannot take the worker hostage ----------------------------------------


@pytest.mark.timeout(30)
def test_a_catastrophic_regex_ends_on_its_own_while_the_batch_records(http_server):
    evil = "a" * 40 + "b"  # Python's backtracking `re` would take longer than the universe on this
    specs = {
        "evil": probe(f"GET /say?text={evil}", '[BODY] matches "^(a+)+$"'),
        "slow": probe("GET /slow?s=3", "[STATUS] == 200", timeout=0.5),
        **{f"fast-{n}": probe("GET /health", "[STATUS] == 200") for n in range(5)},
    }
    results = run_batch(specs, Target(http_server.url))
    assert results["evil"].status == "failed"
    assert results["evil"].conditions[0].observed == evil
    assert results["slow"].status == "error" and results["slow"].message == "Timed out after 0.5 s."
    assert all(results[f"fast-{n}"].status == "passed" for n in range(5))


def test_a_stopped_batch_keeps_what_finished_and_ends_the_rest(http_server):
    """Celery's soft time limit is a signal whose handler raises in the main thread, inside the event loop."""

    class TimeLimit(Exception):
        pass

    def limit_reached(signum, frame):
        raise TimeLimit()

    specs = {
        "fast": probe("GET /health", "[STATUS] == 200"),
        "slow": probe("GET /slow?s=4", "[STATUS] == 200"),
        "slower": probe("GET /slow?s=5", "[STATUS] == 200"),
    }
    previous = signal.signal(signal.SIGALRM, limit_reached)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        results = run_batch(specs, Target(http_server.url), interrupts=(TimeLimit,))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert results["fast"].status == "passed"
    for key in ("slow", "slower"):
        assert results[key].status == "error"
        assert results[key].message == (
            "The probe batch was stopped before this probe finished (its time limit was reached)."
        )


# --- the SSH target is held to the environment's hosts ----------------------------------


def test_an_ssh_host_outside_the_environment_is_refused_before_a_packet(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    try:
        target = Target(
            "https://app.example.com",
            ssh=SSHTarget(host="127.0.0.1", port=port, username="x", password="pw-123456", host_key=other_host_key(tmp_path)),
        )
        obs = run_probe({"type": "ssh", "run": "true", "expect": ["[EXIT_STATUS] == 0"]}, target)
        assert obs.status == "error"
        assert obs.message == (
            "The SSH host `127.0.0.1` is not this environment's base URL host or one of its allowed hosts; "
            "add it to the allowed hosts first."
        )
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
