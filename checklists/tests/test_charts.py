"""The charts' geometry, as plain functions: bars stay inside their plot and scale with their values."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checklists.charts import bar_chart, column_chart, nice_ceiling, short


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (5e-324, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (240, 250), (4100, 5000)])
def test_axis_ends_on_a_round_number(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_columns_scale_with_their_values_on_a_zero_based_axis():
    chart = column_chart([("a", 5, "5", ""), ("b", 10, "10", "ok")], width=300, height=200)
    a, b = chart.bars
    assert b.height == pytest.approx(2 * a.height)
    assert b.y == pytest.approx(chart.plot_top) and a.y + a.height == pytest.approx(chart.plot_bottom)
    assert [tick.text for tick in chart.ticks] == ["0", "2.5", "5", "7.5", "10"]
    assert b.tone == "ok"


def test_empty_chart_has_no_bars():
    assert column_chart([]).empty and bar_chart([]).empty


points = st.lists(
    st.tuples(st.text(max_size=20), st.floats(min_value=0, max_value=1e6), st.just(""), st.sampled_from(["", "ok"])),
    max_size=60,
)


@given(points)
def test_columns_stay_inside_the_plot(data):
    chart = column_chart(data)
    for bar in chart.bars:
        assert chart.plot_left - 0.1 <= bar.x and bar.x + bar.width <= chart.plot_right + 0.1
        assert chart.plot_top - 0.1 <= bar.y and bar.y + bar.height <= chart.plot_bottom + 0.1


@given(points)
def test_bars_stay_inside_the_plot(data):
    chart = bar_chart(data)
    for bar in chart.bars:
        assert bar.x == chart.plot_left and bar.x + bar.width <= chart.plot_right + 0.1
        assert bar.y + bar.height <= chart.height


def test_labels_are_cut_with_an_ellipsis():
    assert short("Database restore drilled", 10) == "Database …"
    assert short("short", 10) == "short"
