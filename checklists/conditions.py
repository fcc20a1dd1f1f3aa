"""The `expect` conditions of a probe: parsed, never eval-ed.

A condition is ``<placeholder> <op> <value>``, ``len(<placeholder>) <op> <value>`` or
``has(<placeholder>)``, and several joined by ``||`` hold when any one does:

    [STATUS] == 200
    [BODY].items[0].id != null
    [HEADER].content-type contains json
    [BODY] not contains "error"
    len([ANSWERS]) >= 2
    [STDOUT] matches "^ok"
    has([BODY].version)
    [BODY].version == [HEADER].x-version
    [STATUS] == 200 || [STATUS] == 204

A placeholder is ``[UPPER_SNAKE]`` followed by an optional path of ``.name``,
``[index]`` or ``["quoted name"]`` segments. ``[HEADER]`` names are compared
lower-cased. A value is a number, ``true``/``false``/``null``, a single- or
double-quoted string, or a bare string (the rest of the line). A string that
looks like a number compares as a number against a number.

Pure Python: no Django, no eval.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import re2

__all__ = [
    "OPERATORS",
    "Condition",
    "ConditionError",
    "ConditionResult",
    "parse_condition",
    "parse_reference",
    "resolve_reference",
]

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "matches", "not contains", "not matches")
_TEXT_OPS = ("contains", "matches", "not contains", "not matches")

#: Observed strings and containers are cut to this many characters in results.
MAX_OBSERVED_CHARS = 500
#: ``matches`` looks at no more than this many characters of the observed text.
MAX_MATCH_CHARS = 1_000_000

_NAME = re.compile(r"\[([A-Z][A-Z0-9_]*)\]")
_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_\-$@]+)"""
    r"""|\[(?P<index>-?\d{1,9})\]"""
    r"""|\[(?P<quote>["'])(?P<key>(?:(?!(?P=quote)).)*)(?P=quote)\]"""
)
_SYMBOL_OP = re.compile(r"\s*(==|!=|<=|>=|<|>)")
_WORD_OP = re.compile(r"\s+((?:not\s+)?(?:contains|matches))(?=\s|$)")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


#: Takes a plain value (text, numbers, lists, mappings) and gives it back with every secret masked.
Redact = Callable[[object], object]


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message is a sentence for a person."""


@dataclass(frozen=True)
class ConditionResult:
    expr: str
    ok: bool
    observed: object

    def as_dict(self) -> dict:
        return {"expr": self.expr, "ok": self.ok, "observed": self.observed}


_MISSING = object()


@dataclass(frozen=True)
class Condition:
    expr: str
    placeholder: str
    path: tuple[str | int, ...]
    use_len: bool
    op: str  # one of OPERATORS, or "has"
    value: object
    #: The right side when it is another placeholder: (name, path), resolved when evaluated.
    value_ref: tuple[str, tuple[str | int, ...]] | None = None
    #: The other sides of `a || b || …`; the condition holds when this one or any of them does.
    alternatives: tuple["Condition", ...] = ()

    def references(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """Every placeholder the condition looks at, with its path: the spec checks each."""
        refs = []
        for clause in (self, *self.alternatives):
            refs.append((clause.placeholder, clause.path))
            if clause.value_ref is not None:
                refs.append(clause.value_ref)
        return refs

    def evaluate(self, observed: Mapping[str, object], *, redact: Redact | None = None) -> ConditionResult:
        """Whether the condition holds, and the value it saw — redacted by ``redact`` before it is cut.

        For `a || b`, the values seen by each side, in order.
        """
        if not self.alternatives:
            return self._evaluate_clause(observed, redact)
        results = [clause._evaluate_clause(observed, redact) for clause in (self, *self.alternatives)]
        return ConditionResult(self.expr, any(r.ok for r in results), [r.observed for r in results])

    def _evaluate_clause(self, observed: Mapping[str, object], redact: Redact | None) -> ConditionResult:
        value = _resolve(observed, self.placeholder, self.path)
        if self.op == "has":
            present = value is not _MISSING
            return ConditionResult(self.expr, present, jsonable(value, redact=redact) if present else None)
        if value is _MISSING:
            return ConditionResult(self.expr, False, None)
        if self.use_len:
            if not isinstance(value, (str, list, tuple, dict)):
                return ConditionResult(self.expr, False, None)
            value = len(value)
        expected = self.value
        if self.value_ref is not None:
            expected = _resolve(observed, *self.value_ref)
            if expected is _MISSING:
                return ConditionResult(self.expr, False, jsonable(value, redact=redact))
        try:
            ok = _compare(value, self.op, expected)
        except Exception:  # RecursionError, a right-side pattern RE2 refuses, text RE2 cannot encode …
            ok = False
        return ConditionResult(self.expr, ok, jsonable(value, redact=redact))


def parse_condition(expr: str) -> Condition:
    """Parse one ``expect`` line; raise ConditionError with a readable sentence when it is not one."""
    if not isinstance(expr, str):
        raise ConditionError(
            f"A condition must be text like `[STATUS] == 200`, not {type(expr).__name__}."
        )
    text = expr.strip()
    if not text:
        raise ConditionError("A condition is empty: write one like `[STATUS] == 200`.")
    if "\n" in text or "\r" in text:
        raise ConditionError(f"The condition `{_short(text)}` spans several lines: write one condition per line.")
    clauses = [_parse_clause(part.strip(), text) for part in _split_or(text)]
    first = clauses[0]
    if len(clauses) == 1:
        return first
    return Condition(
        expr=text, placeholder=first.placeholder, path=first.path, use_len=first.use_len, op=first.op,
        value=first.value, value_ref=first.value_ref, alternatives=tuple(clauses[1:]),
    )


def _split_or(text: str) -> list[str]:
    """``a || b`` → ``[a, b]``, leaving a ``||`` inside quotes alone."""
    parts, start, quote, i = [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'" and text[i - 1 : i] in " \t":  # a quote opens at the start or after a blank
            quote = ch
        elif text.startswith("||", i):
            parts.append(text[start:i])
            start = i + 2
            i += 2
            continue
        i += 1
    parts.append(text[start:])
    if any(not part.strip() for part in parts):
        raise ConditionError(f"The condition `{_short(text)}` has an empty side of `||`: write a condition on each side.")
    return parts


def _parse_reference(text: str, pos: int) -> tuple[str, tuple[str | int, ...], int] | None:
    """A placeholder and its path at ``pos``: (name, path, end), or None when there is none."""
    m = _NAME.match(text, pos)
    if not m:
        return None
    placeholder = m.group(1)
    pos = m.end()
    path: list[str | int] = []
    while True:
        m = _SEGMENT.match(text, pos)
        if not m:
            break
        if m.group("name") is not None:
            path.append(m.group("name"))
        elif m.group("index") is not None:
            path.append(int(m.group("index")))
        else:
            path.append(m.group("key"))
        pos = m.end()
    if placeholder == "HEADER":
        path = [p.lower() if isinstance(p, str) else p for p in path]
    return placeholder, tuple(path), pos


def parse_reference(text: str) -> tuple[str, tuple[str | int, ...]]:
    """`[BODY].access_token` → ("BODY", ("access_token",)): what a step's `save` names."""
    ref = _parse_reference(text.strip(), 0) if isinstance(text, str) else None
    if ref is None or ref[2] != len(text.strip()):
        raise ConditionError(f"`{_short(str(text), 60)}` is not a placeholder and path like `[BODY].access_token`.")
    return ref[0], ref[1]


def resolve_reference(observed: Mapping[str, object], placeholder: str, path: tuple[str | int, ...]) -> object:
    """The value at a placeholder's path, or None when there is none."""
    value = _resolve(observed, placeholder, path)
    return None if value is _MISSING else value


def _parse_clause(text: str, whole: str) -> Condition:
    shown = _short(whole)
    m = re.match(r"has\s*\(\s*", text)
    if m:
        ref = _parse_reference(text, m.end())
        close = re.compile(r"\s*\)\s*$").match(text, ref[2]) if ref else None
        if ref is None or close is None:
            raise ConditionError(
                f"The condition `{shown}` uses `has(`: write it as `has([BODY].name)`, a placeholder and its path only."
            )
        return Condition(expr=whole, placeholder=ref[0], path=ref[1], use_len=False, op="has", value=True)

    pos = 0
    use_len = False
    m = re.match(r"len\s*\(\s*", text)
    if m:
        use_len = True
        pos = m.end()

    ref = _parse_reference(text, pos)
    if ref is None:
        raise ConditionError(
            f"The condition `{shown}` does not start with a placeholder such as `[STATUS]`, "
            "`len([ANSWERS])` or `has([BODY].name)`."
        )
    placeholder, path, pos = ref

    if use_len:
        m = re.compile(r"\s*\)").match(text, pos)
        if not m:
            raise ConditionError(f"The condition `{shown}` opens `len(` but does not close it after the placeholder.")
        pos = m.end()

    m = _SYMBOL_OP.match(text, pos) or _WORD_OP.match(text, pos)
    if not m:
        rest = text[pos:].strip()
        if not rest:
            raise ConditionError(
                f"The condition `{shown}` has no operator: add one of {', '.join(OPERATORS)} and a value."
            )
        raise ConditionError(
            f"The condition `{shown}` has `{_short(rest, 30)}` where an operator should be: "
            f"use one of {', '.join(OPERATORS)}."
        )
    op = " ".join(m.group(1).split())
    raw = text[m.end():].strip()
    if not raw:
        raise ConditionError(f"The condition `{shown}` has no value after `{op}`.")
    if text[m.end()] in "=<>!":  # right after a symbol (a word operator ends before a blank)
        raise ConditionError(
            f"The condition `{shown}` has `{op}{raw[0]}`, which is not an operator: "
            f"use one of {', '.join(OPERATORS)}."
        )
    if use_len and op in _TEXT_OPS:
        raise ConditionError(
            f"The condition `{shown}` uses `{op}` on a length: compare a length with ==, !=, <, <=, > or >=."
        )

    right = _parse_reference(raw, 0)
    if right is not None and right[2] == len(raw):
        return Condition(
            expr=whole, placeholder=placeholder, path=path, use_len=use_len, op=op, value=None,
            value_ref=(right[0], right[1]),
        )

    value, quoted = _parse_value(raw, whole)
    if op.endswith("matches"):
        pattern = value if quoted else raw
        try:
            _regex(pattern)
        except Exception as exc:  # re2.error, and whatever a pathological pattern raises
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ConditionError(
                f"The condition `{shown}` has a regular expression that does not compile ({_short(str(reason), 60)}): "
                "RE2 runs it, so write it without look-arounds or back-references."
            ) from None
        value = pattern
    if use_len and not _is_number(value) and not (isinstance(value, str) and _looks_numeric(value)):
        raise ConditionError(f"The condition `{shown}` compares a length with `{_short(raw, 30)}`, which is not a number.")
    return Condition(expr=whole, placeholder=placeholder, path=path, use_len=use_len, op=op, value=value)


def _parse_value(raw: str, text: str) -> tuple[object, bool]:
    if raw[0] in "\"'":
        quote = raw[0]
        out: list[str] = []
        i = 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            if ch == quote:
                if raw[i + 1:].strip():
                    raise ConditionError(
                        f"The condition `{_short(text)}` has text after its quoted value: "
                        "quote the whole value or remove the extra text."
                    )
                return "".join(out), True
            out.append(ch)
            i += 1
        raise ConditionError(f"The condition `{_short(text)}` opens a quote ({quote}) that is never closed.")
    if raw == "true":
        return True, False
    if raw == "false":
        return False, False
    if raw == "null":
        return None, False
    if _NUMBER.fullmatch(raw):
        number = _to_number(raw)
        if number is None:
            raise ConditionError(f"The condition `{_short(text)}` has a number too large to compare.")
        return number, False
    return raw, False


def _to_number(text: str) -> int | float | None:
    text = text.strip()
    if len(text) > 100 or not _NUMBER.fullmatch(text):
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _looks_numeric(text: str) -> bool:
    return _to_number(text) is not None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolve(observed: Mapping[str, object], placeholder: str, path: tuple[str | int, ...]) -> object:
    if placeholder not in observed:
        return _MISSING
    value = observed[placeholder]
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, (list, tuple)) or not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return _MISSING
            value = value[step]
    return value


def _coerce(observed: object, expected: object) -> tuple[object, object]:
    """Bring a numeric-looking string to a number when the other side is a number (and true/false to bools)."""
    if _is_number(expected) and isinstance(observed, str):
        number = _to_number(observed)
        if number is not None:
            return number, expected
    if _is_number(observed) and isinstance(expected, str):
        number = _to_number(expected)
        if number is not None:
            return observed, number
    if isinstance(expected, bool) and isinstance(observed, str) and observed.strip().lower() in ("true", "false"):
        return observed.strip().lower() == "true", expected
    return observed, expected


def _equal(a: object, b: object) -> bool:
    """Equal as JSON values: true is not 1, 1 is 1.0, a list is a list (or a tuple), a mapping a mapping."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, Mapping) and isinstance(b, Mapping)) and not (
        isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
    ):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _compare(observed: object, op: str, expected: object) -> bool:
    if op.startswith("not "):
        return not _compare(observed, op[4:], expected)
    if op == "matches":
        if isinstance(observed, bool) or not isinstance(observed, (str, int, float)):
            return False
        return _regex(str(expected)).search(str(observed)[:MAX_MATCH_CHARS]) is not None
    if op == "contains":
        if isinstance(observed, str):
            if expected is None or isinstance(expected, (list, dict)):
                return False
            needle = json.dumps(expected) if isinstance(expected, bool) else str(expected)
            return needle in observed
        if isinstance(observed, (list, tuple)):
            return any(_equal(*_coerce(item, expected)) for item in observed)
        if isinstance(observed, Mapping):
            return isinstance(expected, str) and expected in observed
        return False
    a, b = _coerce(observed, expected)
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if not (_is_number(a) and _is_number(b) or isinstance(a, str) and isinstance(b, str)):
        return False
    return _ORDER[op](a, b)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@functools.lru_cache(maxsize=512)
def _regex(pattern: str):
    """``matches`` runs on RE2: linear in the text, so no pattern can take a worker hostage."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def jsonable(value: object, limit: int = MAX_OBSERVED_CHARS, *, redact: Redact | None = None) -> object:
    """A JSON-serialisable copy of an observed value, cut to about ``limit`` characters.

    ``redact`` (a function over plain values) runs on the whole value first: a secret is never half cut
    off and half shown.
    """
    if redact is not None:
        try:
            plain = _plain(value.decode(errors="replace") if isinstance(value, bytes) else value, depth=0)
        except (TypeError, ValueError):
            return f"<{type(value).__name__} that cannot be shown>"
        value = redact(plain)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**15 else str(value)[:limit]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _cut(value, limit)
    if isinstance(value, bytes):
        return _cut(value.decode(errors="replace"), limit)
    if isinstance(value, (list, tuple, Mapping)):
        try:
            plain = _plain(value, depth=0)
            text = json.dumps(plain, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            return f"<{type(value).__name__} that cannot be shown>"
        if len(text) > limit:
            return _cut(text, limit)
        return plain
    try:
        return _cut(str(value), limit)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


def _plain(value: object, depth: int) -> object:
    if depth > 50:
        return "…"
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(text: str, limit: int = 80) -> str:
    return _cut(text, limit)
