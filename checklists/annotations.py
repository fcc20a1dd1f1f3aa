"""Reading the YAML inside a checklist's HTML comments, and quoting bad values in messages.

Every annotation of a checklist file — ``<!-- probe``, ``<!-- ctrlready``, ``<!-- item`` — goes through
``load_annotation``. It reads plain YAML and nothing more:

- no anchors (``&a``) and no aliases (``*a``): a checklist has no use for them, and they are how a few
  hundred bytes expand to gigabytes ("billion laughs"); the first one met is refused, so nothing expands;
- at most MAX_CHARS characters and MAX_DEPTH levels of nesting;
- only the standard YAML types (``yaml.SafeLoader``: no Python objects).

Messages quote what a person wrote through ``core.text.excerpt``: a bad value never comes back whole.

Pure Python: no Django.
"""

from __future__ import annotations

import yaml

from core.text import excerpt

MAX_CHARS = 10_000
MAX_DEPTH = 20


class AnnotationError(ValueError):
    """An annotation that cannot be read; ``line`` is the file's line the problem is on."""

    def __init__(self, message: str, line: int):
        super().__init__(message, line)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class _Refused(Exception):
    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases before anything is expanded, and deep nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"an alias `*{excerpt(event.anchor, 30)}`", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"an anchor `&{excerpt(event.anchor, 30)}`", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"more than {MAX_DEPTH} levels of nesting", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_annotation(body: str, *, kind: str, line: int) -> object:
    """The YAML of a ``<!-- kind ... -->`` comment whose YAML starts on file line `line`.

    Raises AnnotationError naming the line and what to do; its message quotes at most a short excerpt.
    """
    where = f"The `{kind}` comment starting on line {line}"
    fix = f"fix the YAML between `<!-- {kind}` and `-->`"
    if len(body) > MAX_CHARS:
        raise AnnotationError(
            f"{where} is {len(body):,} characters long: keep an annotation under {MAX_CHARS:,} characters.",
            line,
        )
    loader = _PlainLoader(body)
    try:
        return loader.get_single_data()
    except _Refused as refused:
        at = line + (refused.mark.line if refused.mark else 0)
        if refused.problem.startswith("more than"):
            raise AnnotationError(f"{where} has {refused.problem}: flatten it.", at) from None
        raise AnnotationError(
            f"{where} uses {refused.problem}: anchors and aliases are not allowed in a checklist; "
            "write each value out in full.",
            at,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = excerpt(exc.problem or exc.context or "it cannot be read", 80)
        raise AnnotationError(f"{where} is not valid YAML ({problem}): {fix}.", line + (mark.line if mark else 0)) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        problem = "it is nested too deeply" if isinstance(exc, RecursionError) else excerpt(str(exc), 80)
        raise AnnotationError(f"{where} is not valid YAML ({problem}): {fix}.", line) from None
    finally:
        loader.dispose()
