"""``http`` probes: one request (and, if asked, its redirects) through the batch's shared client."""

from __future__ import annotations

import json
import time

import httpx

from checklists.conditions import Condition
from probes.runners.base import ProbeFailure, Target, describe_error
from probes.runners.context import NetworkContext

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
