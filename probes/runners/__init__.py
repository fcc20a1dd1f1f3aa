"""Probe runners: plain functions that observe an environment and judge the conditions. No ORM.

``run_batch`` is the hot path of a deployment's run. Network probes (http, tls, dns, tcp, load) run
concurrently in one asyncio event loop, sharing one ``httpx.AsyncClient`` and capped by a semaphore;
ssh probes share one SSH connection in a worker thread beside it. Every probe ends with an
Observation, whatever happens, with secrets redacted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from checklists.conditions import Condition, ConditionResult
from checklists.spec import REMOTE_TYPES, ProbeSpecError, host_resource, probe_conditions, validate_probe
from probes.runners import dns, host, http, load, postgres, tcp, tls
from probes.runners.base import (
    HostNotAllowed,
    NotConfigured,
    Observation,
    ProbeFailure,
    SSHTarget,
    Target,
    conclude,
    describe_error,
    observed_view,
    redact,
    render,
    seconds,
)
from probes.runners.context import NetworkContext
from probes.runners.redaction import Redactor, secrets_held
from probes.runners.ssh import SSHSession, fetch_host_key, fingerprint

__all__ = [
    "HostNotAllowed",
    "Observation",
    "SSHTarget",
    "Target",
    "fetch_host_key",
    "fingerprint",
    "judge_pushed",
    "redact",
    "render",
    "run_batch",
    "run_probe",
]

_NETWORK_RUNNERS = {
    "http": http.run, "tls": tls.run, "dns": dns.run, "tcp": tcp.run, "load": load.run, "postgres": postgres.run,
}
#: The overall guard of a probe fires this long after its own timeouts, which should have ended it first.
_GRACE_SECONDS = 0.5


@dataclass
class _Prepared:
    spec: dict  # rendered and normalised
    conditions: list[Condition]
    exprs: list[str]  # as written, before templating: what results show


def run_probe(spec: dict, target: Target) -> Observation:
    """Run one probe, synchronously."""
    return run_batch({0: spec}, target, max_concurrency=1)[0]


def run_batch(
    specs: Mapping[Hashable, dict],
    target: Target,
    *,
    max_concurrency: int = 20,
    interrupts: tuple[type[BaseException], ...] = (),
) -> dict[Hashable, Observation]:
    """Run many probes against one environment; return an Observation for each key, in order.

    ``interrupts`` are the exceptions that stop the whole batch (the task's time limit): a probe does not
    take one for its own error; the probes already finished keep their observations, the others end as errors.
    """
    args = (specs, target, max(1, max_concurrency), interrupts)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_batch(*args)
    # Called from inside an event loop: run in a thread of our own rather than nest loops.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_batch, *args).result()


def _run_batch(
    specs: Mapping[Hashable, dict], target: Target, max_concurrency: int, interrupts: tuple
) -> dict[Hashable, Observation]:
    redactor = Redactor(target.secret_values())
    with secrets_held(target.secret_values()):
        results = _observe(specs, target, max_concurrency, redactor, interrupts)
    return {key: redact(results[key], redactor) for key in specs}


def _observe(
    specs: Mapping[Hashable, dict], target: Target, max_concurrency: int, redactor: Redactor, interrupts: tuple
) -> dict[Hashable, Observation]:
    results: dict[Hashable, Observation] = {}
    network: dict[Hashable, _Prepared] = {}
    remote: dict[Hashable, _Prepared] = {}
    for key, spec in specs.items():
        try:
            prepared = _prepare(spec, target)
        except NotConfigured as exc:
            results[key] = _ended("not_configured", str(exc), _written(spec), 0)
            continue
        except ProbeSpecError as exc:
            results[key] = _ended("error", f"The probe is not valid: {exc}", _written(spec), 0)
            continue
        (remote if prepared.spec["type"] in REMOTE_TYPES else network)[key] = prepared

    started = time.perf_counter()
    try:
        remote_threads = _start_remote(remote, target, results, redactor) if remote else []
        if network:
            asyncio.run(_run_network(network, target, max_concurrency, results, redactor, interrupts))
        for thread in remote_threads:
            thread.join()
    except Exception as exc:  # the task's time limit, arriving in the loop as an ExceptionGroup or bare
        # Whatever finished keeps its observation; the rest end now, each with a sentence.
        message = f"The probe batch was stopped before this probe finished ({_interruption(exc)})."
        results = dict(results)  # the ssh threads may still be writing to the batch's dict
        for key in specs:
            if key not in results:
                prepared = network.get(key) or remote.get(key)
                results[key] = _ended("error", message, prepared.exprs if prepared else _written(specs[key]), _ms_since(started))
    return results


def _interruption(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    name = type(exc).__name__
    return "its time limit was reached" if "TimeLimit" in name or isinstance(exc, TimeoutError) else name


def _prepare(spec: dict, target: Target) -> _Prepared:
    if not isinstance(spec, dict):
        raise ProbeSpecError("A probe must be a mapping of its fields.")
    validate_probe(spec)  # as written: a message about it shows what was written, never a secret filled in
    try:
        rendered = validate_probe(render(spec, target))
    except ProbeSpecError:
        raise ProbeSpecError(
            "it is valid as written, but not once the environment's variables and secrets are filled in: "
            "check the values the probe uses."
        ) from None
    written = _written(spec)
    exprs = written if len(written) == len(rendered["expect"]) else rendered["expect"]
    return _Prepared(rendered, probe_conditions(rendered), exprs)


def judge_pushed(spec: dict, *, status: str, data: object, age_minutes: float, secrets=()) -> Observation:
    """An `external` item's pushed result, judged by its conditions on `[DATA]`, `[STATUS]` and `[AGE_MINUTES]`."""
    prepared = _Prepared(validate_probe(spec), [], _written(spec))
    prepared.conditions = probe_conditions(prepared.spec)
    if len(prepared.exprs) != len(prepared.conditions):
        prepared.exprs = prepared.spec["expect"]
    observed = {"DATA": data, "STATUS": status, "AGE_MINUTES": round(age_minutes, 1)}
    redactor = Redactor(secrets)
    observation = _finish(prepared, observed, [], time.perf_counter(), redactor)
    observation.duration_ms = 0
    return redact(observation, redactor)


def _written(spec: object) -> list[str]:
    """The conditions of a spec as written, whatever shape it is in."""
    expect = spec.get("expect") if isinstance(spec, dict) else None
    expect = [expect] if isinstance(expect, str) else expect if isinstance(expect, list) else []
    return [str(expr).strip() for expr in expect]


def _ended(status: str, message: str, exprs: list[str], duration_ms: int) -> Observation:
    """An observation of a probe that could not observe: every condition not held, nothing seen."""
    conditions = [ConditionResult(expr, False, None) for expr in exprs]
    return Observation(status, message, duration_ms, conditions, {})


def _finish(prepared: _Prepared, observed: dict, notes: list[str], started: float, redactor: Redactor) -> Observation:
    status, message, results = conclude(prepared.conditions, prepared.exprs, observed, notes=notes, redactor=redactor)
    return Observation(status, message, _ms_since(started), results, observed_view(observed, redactor))


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


# --- network probes ----------------------------------------------------------


async def _run_network(
    prepared: dict[Hashable, _Prepared],
    target: Target,
    max_concurrency: int,
    results: dict,
    redactor: Redactor,
    interrupts: tuple,
) -> None:
    load_concurrency = max((p.spec.get("concurrency", 0) for p in prepared.values() if p.spec["type"] == "load"), default=0)
    ctx = NetworkContext(target, max_concurrency=max_concurrency, load_concurrency=load_concurrency)
    try:
        async with asyncio.TaskGroup() as group:
            for key, item in prepared.items():
                group.create_task(_run_network_probe(key, item, ctx, results, redactor, interrupts))
    finally:
        await ctx.aclose()


async def _run_network_probe(
    key: Hashable, prepared: _Prepared, ctx: NetworkContext, results: dict, redactor: Redactor, interrupts: tuple
) -> None:
    retries, delay = prepared.spec.get("retries", 0), prepared.spec.get("retry_delay", 0)
    for attempt in range(1, retries + 2):
        async with ctx.semaphore:  # not held while waiting to retry
            observation = await _attempt_network(prepared, ctx, redactor, interrupts)
        if observation.status == "passed" or attempt > retries:
            break
        await asyncio.sleep(delay)
    results[key] = _attempted(observation, attempt)


async def _attempt_network(prepared: _Prepared, ctx: NetworkContext, redactor: Redactor, interrupts: tuple) -> Observation:
    spec = prepared.spec
    timeout = spec["timeout"]
    started = time.perf_counter()
    flow = spec["type"] == "http" and ("steps" in spec or "auth" in spec)
    try:
        async with asyncio.timeout(timeout * (len(spec.get("steps", ())) + (1 if "auth" in spec else 0) or 1) + _GRACE_SECONDS):
            if flow:
                return await http.run_flow(spec, prepared.conditions, prepared.exprs, ctx, timeout, started)
            observed, notes = await _NETWORK_RUNNERS[spec["type"]](spec, prepared.conditions, ctx, timeout)
    except interrupts:
        raise
    except ProbeFailure as exc:
        return _ended("error", str(exc), prepared.exprs, _ms_since(started))
    except TimeoutError:
        return _ended("error", f"Timed out after {seconds(timeout)} s.", prepared.exprs, _ms_since(started))
    except Exception as exc:  # a probe must end with an observation, whatever broke
        return _ended("error", describe_error(exc, timeout=timeout), prepared.exprs, _ms_since(started))
    return _finish(prepared, observed, notes, started, redactor)


def _attempted(observation: Observation, attempts: int) -> Observation:
    """The last attempt's observation, knowing how many it took: passed only on a retry is flaky."""
    observation.attempts = attempts
    observation.flaky = observation.status == "passed" and attempts > 1
    if observation.flaky:
        observation.message = f"{observation.message} Passed on attempt {attempts} (flaky)."
    return observation


# --- ssh and host probes: on each of the environment's SSH hosts they name ----------------


def _start_remote(prepared: dict[Hashable, _Prepared], target: Target, results: dict, redactor: Redactor) -> list:
    """One thread and one SSH connection per host; each probe runs on every host its `hosts` names."""
    hosts = target.ssh_hosts
    plan: dict[int, list[Hashable]] = {}
    chosen: dict[Hashable, list[int]] = {}
    for key, item in prepared.items():
        roles = item.spec.get("hosts")
        picked = [i for i, ssh in enumerate(hosts) if not roles or ssh.role in roles]
        if not hosts:
            results[key] = _ended("not_configured", "No SSH target is configured for this environment.", item.exprs, 0)
        elif not picked:
            wanted = ", ".join(f"`{role}`" for role in roles)
            results[key] = _ended(
                "not_configured", f"No SSH host of this environment has the role {wanted}; add one, or change `hosts`.",
                item.exprs, 0,
            )
        else:
            chosen[key] = picked
            for index in picked:
                plan.setdefault(index, []).append(key)
    per_host: dict[tuple[Hashable, int], Observation] = {}
    threads = [
        threading.Thread(
            target=_run_on_host, args=(hosts[index], keys, prepared, target, per_host, redactor),
            name=f"probes-ssh-{index}", daemon=True,
        )
        for index, keys in plan.items()
    ]
    for thread in threads:
        thread.start()
    return [_Joiner(threads, lambda: _combine_hosts(chosen, prepared, hosts, per_host, results))]


class _Joiner:
    """Joins the host threads, then writes each probe's combined observation."""

    def __init__(self, threads: list[threading.Thread], then) -> None:
        self.threads, self.then = threads, then

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        self.then()


def _run_on_host(
    ssh: SSHTarget, keys: list[Hashable], prepared: dict[Hashable, _Prepared], target: Target,
    per_host: dict, redactor: Redactor,
) -> None:
    session = SSHSession(ssh, hosts=target.hosts)
    index = target.ssh_hosts.index(ssh)
    tested = None
    try:
        for key in keys:
            item = prepared[key]
            retries, delay = item.spec.get("retries", 0), item.spec.get("retry_delay", 0)
            for attempt in range(1, retries + 2):
                if item.spec["type"] == "host" and tested is None:
                    tested = host.host_of(session, ssh.label)
                observation = _attempt_remote(item, session, tested, redactor)
                if observation.status in ("passed", "not_configured") or session.failure or attempt > retries:
                    break
                time.sleep(delay)
            per_host[(key, index)] = _attempted(observation, attempt)
    finally:
        session.close()


def _attempt_remote(item: _Prepared, session: SSHSession, tested, redactor: Redactor) -> Observation:
    started = time.perf_counter()
    timeout = item.spec["timeout"]
    try:
        if item.spec["type"] == "host":
            resource, name = host_resource(item.spec)
            needed = {placeholder for c in item.conditions for placeholder, _ in c.references()}
            session.check_configured()
            observed = host.observe(tested, resource, name, needed, timeout)
        else:
            observed = session.run(item.spec["run"], timeout)
    except NotConfigured as exc:
        return _ended("not_configured", str(exc), item.exprs, 0)
    except ProbeFailure as exc:
        return _ended("error", str(exc), item.exprs, _ms_since(started))
    except Exception as exc:  # a probe must end with an observation, whatever broke
        return _ended("error", describe_error(exc, timeout=timeout), item.exprs, _ms_since(started))
    return _finish(item, observed, [], started, redactor)


_WORST = ("error", "failed", "not_configured", "passed")


def _combine_hosts(chosen: dict, prepared: dict, hosts: tuple[SSHTarget, ...], per_host: dict, results: dict) -> None:
    """A remote probe passes only if it passes on every host it ran on; each host's result is kept."""
    for key, indexes in chosen.items():
        item = prepared[key]
        seen = [(hosts[i], per_host.get((key, i)) or _ended("error", "The host's probe thread ended early.", item.exprs, 0))
                for i in indexes]
        entries = [
            {"host": ssh.label, "role": ssh.role, "status": o.status, "message": o.message, "flaky": o.flaky,
             "conditions": [c.as_dict() for c in o.conditions]}
            for ssh, o in seen
        ]
        if len(seen) == 1:
            observation = seen[0][1]
            observation.hosts = entries
            results[key] = observation
            continue
        status = min((o.status for _, o in seen), key=_WORST.index)
        conditions = [
            ConditionResult(expr, all(o.conditions[n].ok for _, o in seen if n < len(o.conditions)),
                            {ssh.label: o.conditions[n].observed if n < len(o.conditions) else None for ssh, o in seen})
            for n, expr in enumerate(item.exprs)
        ]
        if status == "passed":
            message = f"Passed on all {len(seen)} hosts."
        else:
            bad = [f"{ssh.label}: {o.message}" for ssh, o in seen if o.status != "passed"]
            message = f"{len(bad)} of {len(seen)} hosts did not pass — " + " ".join(bad)
        results[key] = Observation(
            status=status, message=message, duration_ms=max(o.duration_ms for _, o in seen), conditions=conditions,
            observed={ssh.label: o.observed for ssh, o in seen}, attempts=max(o.attempts for _, o in seen),
            flaky=status == "passed" and any(o.flaky for _, o in seen), hosts=entries,
        )
