"""``http`` probes: one request (and, if asked, its redirects) through the batch's shared client."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time

import httpx

from checklists.conditions import Condition, ConditionResult, parse_reference, resolve_reference
from probes.runners.base import Observation, ProbeFailure, Target, conclude, describe_error, observed_view, redact
from probes.runners.context import NetworkContext
from probes.runners.redaction import Redactor, secrets_held

MAX_REDIRECTS = 5
#: Bytes of a response body kept for conditions; the rest is not read.
MAX_BODY_BYTES = 2 * 1024 * 1024

NOT_JSON = "The response body is not JSON."


def request_url(request: str, target: Target) -> tuple[str, str]:
    """``"GET /health"`` → ``("GET", base_url + "/health")``; an absolute URL is kept as it is."""
    method, _, ref = request.strip().partition(" ")
    ref = ref.strip()
    if ref.lower().startswith(("http://", "https://")):
        return method.upper(), ref
    return method.upper(), target.base_url.rstrip("/") + "/" + ref.lstrip("/")


def build_request(client: httpx.AsyncClient, spec: dict, target: Target, timeout: float) -> httpx.Request:
    method, url = request_url(spec["request"], target)
    kwargs: dict = {"headers": spec.get("headers") or {}, "timeout": httpx.Timeout(timeout)}
    if "json" in spec:
        kwargs["json"] = spec["json"]
    elif spec.get("body") is not None:
        kwargs["content"] = spec["body"].encode()
    try:
        return client.build_request(method, url, **kwargs)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
        raise ProbeFailure(f"The request `{method} {url}` cannot be sent: {exc}.") from None


async def send(
    ctx: NetworkContext, client: httpx.AsyncClient, request: httpx.Request, *, timeout: float, follow: bool
) -> tuple[httpx.Response, bytes, bool]:
    """Send a request, checking the host of every hop first; return the response, its body, and truncation."""
    for _hop in range(MAX_REDIRECTS + 1):
        await ctx.allow(request.url, timeout)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ProbeFailure(
                describe_error(exc, host=request.url.host, port=url_port(request.url), timeout=timeout)
            ) from None
        if follow and response.next_request is not None:
            await response.aclose()
            request = response.next_request
            continue
        try:
            body, truncated = await _read(response)
        except httpx.HTTPError as exc:
            raise ProbeFailure(
                describe_error(exc, host=request.url.host, port=url_port(request.url), timeout=timeout)
            ) from None
        finally:
            await response.aclose()
        return response, body, truncated
    raise ProbeFailure(f"The server redirected more than {MAX_REDIRECTS} times; point the probe at the final URL.")


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    client = ctx.client(verify=spec.get("verify_tls", True))
    request = build_request(client, spec, ctx.target, timeout)
    started = time.perf_counter()
    response, raw, truncated = await send(
        ctx, client, request, timeout=timeout, follow=spec.get("follow_redirects", False)
    )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)

    body, is_json = parse_body(response, raw, truncated)
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    observed = {"STATUS": response.status_code, "BODY": body, "HEADER": headers, "RESPONSE_TIME": elapsed_ms}
    notes = []
    if not is_json and any(c.placeholder == "BODY" and c.path for c in conditions):
        notes.append(NOT_JSON)
    return observed, notes


def parse_body(response: httpx.Response, raw: bytes, truncated: bool) -> tuple[object, bool]:
    """The body as JSON when it is JSON, else as text."""
    if raw and not truncated:
        try:
            return json.loads(raw), True
        except (ValueError, RecursionError):
            pass
    encoding = response.charset_encoding or "utf-8"
    try:
        text = raw.decode(encoding, errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    return text, False


async def _read(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


def url_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


# --- several steps, and a bearer token fetched first ---------------------------------------

_SAVED = re.compile(r"\{\{\s*saved\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


async def run_flow(
    spec: dict, conditions: list[Condition], exprs: list[str], ctx: NetworkContext, timeout: float, started: float
) -> Observation:
    """`steps` (and/or `auth`): each step's request and conditions in order, `save`d values passed on.

    A token from the token endpoint and every saved value are treated as secrets from the moment they are
    known: redacted from what is recorded, and from every log line while the probe runs.
    """
    extra: list[str] = []
    with contextlib.ExitStack() as held:
        headers: dict[str, str] = {}
        if spec.get("auth"):
            token = await _client_credentials(spec["auth"]["oauth2_client_credentials"], ctx, timeout)
            extra.append(token)
            held.enter_context(secrets_held([token]))
            headers["Authorization"] = f"Bearer {token}"
        steps = spec.get("steps") or [{**spec, "expect": spec["expect"]}]
        saved: dict[str, str] = {}
        results: list[ConditionResult] = []
        views: list[dict] = []
        message = ""
        status = "passed"
        at = 0
        for number, step in enumerate(steps, start=1):
            count = len(step.get("expect", []))
            step_conditions, step_exprs = conditions[at : at + count], exprs[at : at + count]
            at += count
            if status != "passed":
                results += [ConditionResult(expr, False, None) for expr in step_exprs]
                continue
            step = _with_saved(step, saved)
            step = {**step, "headers": {**headers, **(step.get("headers") or {})}}
            try:
                observed, notes = await run(step, step_conditions, ctx, timeout)
            except ProbeFailure as exc:
                # The message may name a URL that carries a saved value: mask it before it leaves.
                raise ProbeFailure(
                    f"Step {number}: " + Redactor([*ctx.target.secret_values(), *extra]).text(str(exc))
                ) from None
            for name, ref in (step.get("save") or {}).items():
                value = resolve_reference(observed, *parse_reference(ref))
                if value is None or isinstance(value, (dict, list)):
                    notes.append(f"Step {number} found nothing to save as `{name}` at `{ref}`.")
                    status = "failed"
                    continue
                saved[name] = str(value)
                extra.append(saved[name])
                held.enter_context(secrets_held([saved[name]]))
            redactor = Redactor([*ctx.target.secret_values(), *extra])
            step_status, step_message, step_results = conclude(
                step_conditions, step_exprs, observed, notes=notes, redactor=redactor
            )
            results += step_results
            views.append(observed_view(observed, redactor))
            if step_status != "passed" or status != "passed":
                status = "failed"
                label = step["request"].split("?")[0]
                later = " Later steps did not run." if number < len(steps) else ""
                message = f"Step {number} (`{redactor.text(label)}`): {step_message}{later}"
        if status == "passed":
            message = f"All {len(results)} conditions held over {len(steps)} step{'s' if len(steps) != 1 else ''}."
        redactor = Redactor([*ctx.target.secret_values(), *extra])
        observed_all = {"STEPS": views} if spec.get("steps") else (views[0] if views else {})
        duration = int((time.perf_counter() - started) * 1000)
        return redact(Observation(status, message, duration, results, observed_all), redactor)


def _with_saved(step: dict, saved: dict[str, str]) -> dict:
    def fill(value):
        if isinstance(value, str):
            return _SAVED.sub(lambda m: saved.get(m.group(1), m.group(0)), value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    return {key: (value if key in ("expect", "save") else fill(value)) for key, value in step.items()}


async def _client_credentials(grant: dict, ctx: NetworkContext, timeout: float) -> str:
    """OAuth2 client credentials: POST the token URL (held to the environment's hosts), return the bearer token."""
    client = ctx.client(verify=True)
    _method, url = request_url(f"POST {grant['token_url']}", ctx.target)
    form = {"grant_type": "client_credentials"}
    if grant.get("scope"):
        form["scope"] = grant["scope"]
    try:
        basic = base64.b64encode(f"{grant['client_id']}:{grant['client_secret']}".encode()).decode()
        request = client.build_request(
            "POST", url, data=form, timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "Authorization": f"Basic {basic}"},
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError):
        raise ProbeFailure("The `token_url` cannot be called; check it is an http(s) URL of this environment.") from None
    response, raw, truncated = await send(ctx, client, request, timeout=timeout, follow=False)
    body, is_json = parse_body(response, raw, truncated)
    token = body.get("access_token") if is_json and isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(token, str) or not token:
        raise ProbeFailure(
            f"The token endpoint answered {response.status_code} without an `access_token`; "
            "check the client id and secret of `oauth2_client_credentials`."
        )
    return token
