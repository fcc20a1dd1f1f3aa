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
from checklists.spec import ProbeSpecError, probe_conditions, validate_probe
from probes.runners import dns, http, load, tcp, tls
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
    "redact",
    "render",
    "run_batch",
    "run_probe",
]

_NETWORK_RUNNERS = {"http": http.run, "tls": tls.run, "dns": dns.run, "tcp": tcp.run, "load": load.run}
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
        (remote if prepared.spec["type"] == "ssh" else network)[key] = prepared

    started = time.perf_counter()
    try:
        ssh_thread = None
        if remote:
            ssh_thread = threading.Thread(
                target=_run_ssh, args=(remote, target, results, redactor), name="probes-ssh", daemon=True
            )
            ssh_thread.start()
        if network:
            asyncio.run(_run_network(network, target, max_concurrency, results, redactor, interrupts))
        if ssh_thread is not None:
            ssh_thread.join()
    except Exception as exc:  # the task's time limit, arriving in the loop as an ExceptionGroup or bare
        # Whatever finished keeps its observation; the rest end now, each with a sentence.
        message = f"The probe batch was stopped before this probe finished ({_interruption(exc)})."
        results = dict(results)  # the ssh thread may still be writing to its own copy
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
    spec = prepared.spec
    timeout = spec["timeout"]
    async with ctx.semaphore:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout + _GRACE_SECONDS):
                observed, notes = await _NETWORK_RUNNERS[spec["type"]](spec, prepared.conditions, ctx, timeout)
        except interrupts:
            raise
        except ProbeFailure as exc:
            results[key] = _ended("error", str(exc), prepared.exprs, _ms_since(started))
        except TimeoutError:
            results[key] = _ended("error", f"Timed out after {seconds(timeout)} s.", prepared.exprs, _ms_since(started))
        except Exception as exc:  # a probe must end with an observation, whatever broke
            results[key] = _ended("error", describe_error(exc, timeout=timeout), prepared.exprs, _ms_since(started))
        else:
            results[key] = _finish(prepared, observed, notes, started, redactor)


# --- ssh probes --------------------------------------------------------------


def _run_ssh(prepared: dict[Hashable, _Prepared], target: Target, results: dict, redactor: Redactor) -> None:
    session = SSHSession(target.ssh, hosts=target.hosts)
    try:
        for key, item in prepared.items():
            started = time.perf_counter()
            try:
                observed = session.run(item.spec["run"], item.spec["timeout"])
            except NotConfigured as exc:
                results[key] = _ended("not_configured", str(exc), item.exprs, 0)
            except ProbeFailure as exc:
                results[key] = _ended("error", str(exc), item.exprs, _ms_since(started))
            except Exception as exc:  # a probe must end with an observation, whatever broke
                results[key] = _ended("error", describe_error(exc, timeout=item.spec["timeout"]), item.exprs, _ms_since(started))
            else:
                results[key] = _finish(item, observed, [], started, redactor)
    finally:
        session.close()
