"""The geometry of the service page's charts, drawn as SVG by the server (no chart library, no JavaScript).

A pure core: plain numbers in, plain dataclasses out; the template only prints them. Every chart
also has a table of the same numbers beside it, so nothing is only in the picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as the table and the bar's tooltip print it
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label_y: float
    value_x: float
    value_y: float
    tone: str = ""  # a CSS modifier: "", "bad", "ok", "warn"


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    horizontal: bool
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float

    @property
    def empty(self) -> bool:
        return not self.bars

    @property
    def axis_x(self) -> float:
        """Where the axis' numbers end, right-aligned left of the plot."""
        return self.plot_left - 6


def nice_ceiling(value: float) -> float:
    """The axis end: 1, 2, 2.5 or 5 times a power of ten, at or above `value` (1 for nothing, or next to it)."""
    if not value > 1e-9:  # zero, negative, NaN, or too small to draw
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _tick_text(value: float) -> str:
    """An axis number without an exponent: 2.5, 0.25, 1500."""
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def column_chart(
    points: list[tuple[str, float, str, str]], *, width: int = 640, height: int = 220, ticks: int = 4
) -> Chart:
    """Vertical bars, one per point `(label, value, shown, tone)`, left to right, on a zero-based axis."""
    left, right, top, bottom = 44.0, width - 8.0, 12.0, height - 40.0
    top_value = nice_ceiling(max((value for _, value, _, _ in points), default=0.0))
    slot = (right - left) / max(len(points), 1)
    bar_width = max(2.0, min(48.0, slot * 0.7))
    fits = int(slot // 6.5)  # characters of an 11px label that fit under a column
    bars = []
    for index, (label, value, shown, tone) in enumerate(points):
        label = short(label, fits) if fits >= 3 else ""
        bar_height = (bottom - top) * max(value, 0.0) / top_value
        x = left + slot * index + (slot - bar_width) / 2
        bars.append(Bar(
            label=label, value=value, shown=shown, x=round(x, 1), y=round(bottom - bar_height, 1),
            width=round(bar_width, 1), height=round(bar_height, 1),
            label_x=round(x + bar_width / 2, 1), label_y=bottom + 14,
            value_x=round(x + bar_width / 2, 1), value_y=round(bottom - bar_height - 3, 1), tone=tone,
        ))
    axis = tuple(
        Tick(position=round(bottom - (bottom - top) * step / ticks, 1), text=_tick_text(top_value * step / ticks))
        for step in range(ticks + 1)
    )
    return Chart(width=width, height=height, bars=tuple(bars), ticks=axis, horizontal=False,
                 plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom)


def bar_chart(
    points: list[tuple[str, float, str, str]], *, width: int = 640, row: int = 24, label_width: int = 260
) -> Chart:
    """Horizontal bars, one row per point `(label, value, shown, tone)`, top to bottom."""
    left, right, top = float(label_width), width - 56.0, 6.0
    height = int(top + row * max(len(points), 1) + 6)
    top_value = nice_ceiling(max((value for _, value, _, _ in points), default=0.0))
    bars = []
    for index, (label, value, shown, tone) in enumerate(points):
        length = (right - left) * max(value, 0.0) / top_value
        y = top + row * index + 3
        bars.append(Bar(
            label=label, value=value, shown=shown, x=left, y=y, width=round(length, 1), height=row - 8,
            label_x=left - 6, label_y=round(y + (row - 8) / 2 + 4, 1),
            value_x=round(left + length + 4, 1), value_y=round(y + (row - 8) / 2 + 4, 1), tone=tone,
        ))
    return Chart(width=width, height=height, bars=tuple(bars), ticks=(), horizontal=True,
                 plot_left=left, plot_right=right, plot_top=top, plot_bottom=float(height - 6))


def short(text: str, limit: int) -> str:
    """A label that fits: cut with an ellipsis (the table beside the chart has it whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
