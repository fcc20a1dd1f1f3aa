"""Quoting what a person wrote inside a message.  Pure Python: no Django."""

EXCERPT_CHARS = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """`value` as text on one line, cut to `limit` characters with "…" (for quoting in a message)."""
    text = value if isinstance(value, str) else _short_repr(value, limit)
    cut = len(text) > limit
    text = text[: limit * 4]
    if any(char in text for char in "\n\r\t\v\f"):
        text = " ".join(text.split())
    return text[: limit - 1] + "…" if cut or len(text) > limit else text


def _short_repr(value: object, limit: int) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(excerpt(item, limit) for item in value[:3]) + (", …]" if len(value) > 3 else "]")
    if isinstance(value, dict):
        first = list(value.items())[:2]
        inner = ", ".join(f"{excerpt(k, limit)}: {excerpt(v, limit)}" for k, v in first)
        return "{" + inner + (", …}" if len(value) > 2 else "}")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return str(value)
    except ValueError:  # an integer too long to print
        return "a very long number"
