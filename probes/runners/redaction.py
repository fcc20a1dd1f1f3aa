"""Secrets out of everything a probe records or logs: one redactor, and the secrets of the batches in flight.

A secret is searched for as written and in the forms it takes on the way out: percent-encoded (a URL
query, however much of it an encoder chose to escape), base64 (a Basic authorization header, a token echoed in a JSON document) — including inside a
longer base64 text, whatever its alignment — and, for a multi-line secret such as a private key, line
by line. Redaction runs on the whole text, before anything is cut to a shorter view.

Pure Python: no Django.
"""

from __future__ import annotations

import base64
import functools
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor", "held_redactor", "secret_forms", "secrets_held"]

REDACTED = "[redacted]"
#: Secrets shorter than this are not searched for (they would redact half of every text).
MIN_SECRET_LENGTH = 4
#: A derived form (a line of a key, a base64 core) shorter than this is not searched for.
_MIN_FORM_LENGTH = 8
#: Secrets up to this long are also searched for with any of their characters percent-encoded.
_MAX_ENCODED_SEARCH = 1024
#: Characters of a base64 group that still carry bits of the bytes before the secret, per alignment.
_LEADING_MIXED = {0: 0, 1: 2, 2: 3}


def secret_forms(secret: str) -> set[str]:
    """Every text under which ``secret`` may show up in a response, a URL or a log line."""
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        return set()
    forms = {secret}
    raw = secret.encode("utf-8")
    for prefix in (0, 1, 2):
        data = b"\0" * prefix + raw
        whole = len(data) // 3 * 3
        core = base64.b64encode(data[:whole]).decode()[_LEADING_MIXED[prefix]:]
        if len(core) >= _MIN_FORM_LENGTH:
            forms.add(core)
            forms.add(core.replace("+", "-").replace("/", "_"))
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    for line in secret.splitlines():
        if len(line.strip()) >= 16:
            forms.add(line.strip())
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _percent_tolerant(secret: str) -> str:
    """A pattern for the secret with any of its characters as written or percent-encoded (`+` for a space)."""
    parts = []
    for char in secret:
        encoded = "".join(f"%(?:{b:02X}|{b:02x})" if f"{b:02X}" != f"{b:02x}" else f"%{b:02X}" for b in char.encode())
        choices = [re.escape(char), encoded] + (["\\+"] if char == " " else [])
        parts.append(f"(?:{'|'.join(choices)})")
    return "".join(parts)


class Redactor:
    """Replaces every form of the given secrets with ``[redacted]``, in text or in plain containers."""

    def __init__(self, secrets: Iterable[str]) -> None:
        needles: set[str] = set()
        tolerant: set[str] = set()
        for secret in secrets:
            needles |= secret_forms(secret)
            if secret in needles and len(secret) <= _MAX_ENCODED_SEARCH:
                tolerant.add(secret)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(needles | tolerant, key=len, reverse=True)
        sources = [_percent_tolerant(n) if n in tolerant else re.escape(n) for n in ordered]
        self._pattern = re.compile("|".join(sources)) if sources else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value) if self._pattern is not None and value else value

    def __call__(self, value: object) -> object:
        """A copy of ``value`` with every string (and mapping key) redacted; other values as they are."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self(v) for v in value)
        return value


# --- the secrets of the batches in flight, for the log ----------------------------------

_held: Counter[str] = Counter()
_held_lock = threading.Lock()


@contextmanager
def secrets_held(secrets: Iterable[str]) -> Iterator[None]:
    """While the block runs, every log line of this process is redacted of these secrets.

    Held process-wide rather than per context: paramiko and the worker threads of a batch log from
    threads that do not inherit a context variable, and a secret must not reach a log line from any of them.
    """
    values = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH]
    with _held_lock:
        _held.update(values)
    try:
        yield
    finally:
        with _held_lock:
            _held.subtract(values)
            for value in [v for v, n in _held.items() if n <= 0]:
                del _held[value]


def held_redactor() -> Redactor:
    """The redactor for the secrets held right now (built once per distinct set)."""
    with _held_lock:
        current = frozenset(_held)
    return _redactor_for(current)


@functools.lru_cache(maxsize=32)
def _redactor_for(secrets: frozenset[str]) -> Redactor:
    return Redactor(secrets)
