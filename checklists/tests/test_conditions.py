import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checklists.conditions import Condition, ConditionError, ConditionResult, parse_condition


def check(expr, **observed):
    return parse_condition(expr).evaluate(observed)


# --- parsing -----------------------------------------------------------------


def test_parse_simple_condition():
    cond = parse_condition("[STATUS] == 200")
    assert cond == Condition(
        expr="[STATUS] == 200", placeholder="STATUS", path=(), use_len=False, op="==", value=200
    )


def test_parse_path_with_names_and_indexes():
    cond = parse_condition('[BODY].a.b[0]["odd key"].c-d == "ok"')
    assert cond.placeholder == "BODY"
    assert cond.path == ("a", "b", 0, "odd key", "c-d")
    assert cond.value == "ok"


def test_parse_len_placeholder():
    cond = parse_condition("len( [ANSWERS] ) >= 2")
    assert cond.use_len and cond.placeholder == "ANSWERS" and cond.op == ">=" and cond.value == 2


@pytest.mark.parametrize(
    "raw, value",
    [
        ("200", 200),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"ok"', "ok"),
        ("'ok'", "ok"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'200'", "200"),
        ("application/json; charset=utf-8", "application/json; charset=utf-8"),
    ],
)
def test_parse_values(raw, value):
    assert parse_condition(f"[X] == {raw}").value == value


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "contains", "matches"])
def test_parse_every_operator(op):
    assert parse_condition(f"[STDOUT] {op} 4").op == op


def test_symbol_operators_need_no_spaces():
    cond = parse_condition("[RESPONSE_TIME]<100")
    assert (cond.op, cond.value) == ("<", 100)


def test_header_names_are_lower_cased():
    assert parse_condition("[HEADER].Content-Type contains json").path == ("content-type",)


@pytest.mark.parametrize(
    "expr, words",
    [
        ("", "empty"),
        ("STATUS == 200", "placeholder"),
        ("[status] == 200", "placeholder"),
        ("[STATUS]", "no operator"),
        ("[STATUS] 200", "operator should be"),
        ("[STATUS] ==", "no value"),
        ("[STATUS] === 200", "not an operator"),
        ("[BODY].x == 'open", "never closed"),
        ('[BODY].x == "a" b', "text after its quoted value"),
        ("len([ANSWERS] > 1", "does not close"),
        ("len([ANSWERS]) contains 1", "length"),
        ("len([ANSWERS]) > many", "not a number"),
        ("[STDOUT] matches (", "does not compile"),
        ("__import__('os').system('x') == 1", "placeholder"),
    ],
)
def test_parse_errors_are_sentences(expr, words):
    with pytest.raises(ConditionError) as info:
        parse_condition(expr)
    message = str(info.value)
    assert words in message
    assert message[0].isupper() and message.endswith(".")


# --- evaluating --------------------------------------------------------------


def test_status_equals():
    assert check("[STATUS] == 200", STATUS=200) == ConditionResult("[STATUS] == 200", True, 200)
    assert check("[STATUS] == 200", STATUS=503).ok is False


def test_body_path():
    body = {"status": "ok", "items": [{"id": 7}]}
    assert check('[BODY].status == "ok"', BODY=body).ok
    result = check("[BODY].items[0].id == 7", BODY=body)
    assert result.ok and result.observed == 7
    assert check("[BODY].items[-1].id == 7", BODY=body).ok


@pytest.mark.parametrize(
    "expr, body",
    [
        ('[BODY].status == "ok"', "plain text"),
        ('[BODY].status == "ok"', {"other": 1}),
        ("[BODY].items[3] == 1", {"items": [1]}),
        ("[BODY].items.x == 1", {"items": [1]}),
        ("[BODY][0] == 1", {"0": 1}),
        ("[BODY].status != 1", {}),
    ],
)
def test_missing_path_fails_with_observed_none(expr, body):
    assert check(expr, BODY=body) == ConditionResult(expr, False, None)


def test_missing_placeholder_fails():
    assert check("[STATUS] == 200") == ConditionResult("[STATUS] == 200", False, None)


def test_numeric_string_compares_as_number():
    assert check("[STDOUT] >= 4", STDOUT="12").ok
    assert not check("[STDOUT] >= 4", STDOUT="3").ok
    assert check("[STDOUT] == 4", STDOUT=" 4.0 ").ok
    assert check("[STATUS] == '200'", STATUS=200).ok


def test_strings_compare_as_strings():
    assert check("[STDOUT] == ok", STDOUT="ok").ok
    assert check('[STDOUT] < "b"', STDOUT="a").ok
    assert not check("[STDOUT] == 4", STDOUT="four").ok


def test_type_mismatch_in_ordering_fails():
    assert not check("[STDOUT] < 4", STDOUT="abc").ok
    assert not check("[BODY] > 1", BODY={"a": 1}).ok
    assert not check("[BODY] > 1", BODY=None).ok
    assert not check("[CERT_VALID] > 0", CERT_VALID=True).ok


def test_booleans_are_not_numbers():
    assert check("[CERT_VALID] == true", CERT_VALID=True).ok
    assert not check("[CERT_VALID] == 1", CERT_VALID=True).ok
    assert check("[STDOUT] == false", STDOUT="false").ok


def test_null():
    assert check("[ANSWER] == null", ANSWER=None).ok
    assert check("[ANSWER] != null", ANSWER="1.2.3.4").ok


def test_contains():
    assert check("[HEADER].content-type contains json", HEADER={"content-type": "application/json"}).ok
    assert check("[CERT_SANS] contains example.com", CERT_SANS=["example.com", "www.example.com"]).ok
    assert not check("[CERT_SANS] contains evil.com", CERT_SANS=["example.com"]).ok
    assert check("[ANSWERS] contains 10", ANSWERS=["10", "20"]).ok
    assert check("[STDOUT] contains 200", STDOUT="HTTP 200 OK").ok
    assert check("[BODY] contains status", BODY={"status": "ok"}).ok
    assert not check("[STATUS] contains 2", STATUS=200).ok


def test_matches_is_a_search():
    assert check(r'[STDOUT] matches "v\d+\.\d+"', STDOUT="release v1.4 ok").ok
    assert not check("[STDOUT] matches ^ok$", STDOUT="not ok").ok
    assert check("[STATUS] matches ^2..$", STATUS=204).ok


def test_len():
    result = check("len([ANSWERS]) >= 2", ANSWERS=["a", "b", "c"])
    assert result.ok and result.observed == 3
    assert check("len([STDOUT]) == 0", STDOUT="").ok
    assert check("len([ANSWERS]) > 0", ANSWERS=None) == ConditionResult("len([ANSWERS]) > 0", False, None)


def test_observed_long_strings_are_truncated():
    result = check("[STDOUT] contains zzz", STDOUT="a" * 5000 + "zzz")
    assert result.ok
    assert len(result.observed) == 500


def test_observed_large_structures_are_truncated_to_text():
    body = {"items": list(range(1000))}
    result = check("[BODY] != null", BODY=body)
    assert result.ok and isinstance(result.observed, str) and len(result.observed) == 500


def test_observed_is_json_serialisable():
    result = check("[X] != 1", X=(float("nan"), b"bytes", {1: object()}))
    json.dumps(result.observed, allow_nan=False)


# --- properties --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)

placeholders = st.sampled_from(["[STATUS]", "[BODY]", "[BODY].a", "[BODY].a[0]", "[BODY][1].b", "[X]"])
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "contains", "matches"])
values = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null", '"ok"', "'a b'", "ok", "^a.*$", "1e999", "[a-z]+"]),
)
conditions = st.builds(
    lambda lenf, p, op, v: f"len({p}) {op} {v}" if lenf else f"{p} {op} {v}",
    st.booleans(),
    placeholders,
    ops,
    values,
)


@settings(max_examples=250, deadline=None)
@given(st.one_of(st.text(), conditions, st.from_regex(r"\[[A-Z]+\](\.[a-z]+|\[\d\])* ?[=<>!a-z]{1,8} ?.*")))
def test_any_text_parses_or_raises_condition_error(expr):
    try:
        cond = parse_condition(expr)
    except ConditionError as exc:
        assert str(exc)
    else:
        assert isinstance(cond, Condition)


@settings(max_examples=250, deadline=None)
@given(conditions, st.dictionaries(st.sampled_from(["STATUS", "BODY", "X"]), json_values))
def test_evaluating_never_raises(expr, observed):
    try:
        cond = parse_condition(expr)
    except ConditionError:
        return
    result = cond.evaluate(observed)
    assert isinstance(result.ok, bool)
    json.dumps(result.observed, allow_nan=False)


# --- not contains, not matches, has(), a placeholder on the right, || -------------------

OBSERVED = {
    "STATUS": 204,
    "BODY": {"version": "1.4.2", "message": "all good || fine", "items": []},
    "HEADER": {"x-version": "1.4.2", "x-other": "2.0"},
    "STDOUT": "ready",
}


@pytest.mark.parametrize(
    "expr, ok",
    [
        ("[BODY].message not contains error", True),
        ("[BODY].message not contains good", False),
        ('[STDOUT] not matches "^fail"', True),
        ('[STDOUT] not matches "^rea"', False),
        ("has([BODY].version)", True),
        ("has([BODY].items)", True),
        ("has([BODY].missing)", False),
        ("[BODY].version == [HEADER].x-version", True),
        ("[BODY].version == [HEADER].x-other", False),
        ("[BODY].version == [HEADER].absent", False),
        ("[STATUS] == 200 || [STATUS] == 204", True),
        ("[STATUS] == 200 || [STATUS] == 201", False),
        ('[BODY].message contains "good || fine"', True),
        ("has([BODY].nope) || [STDOUT] == ready", True),
    ],
)
def test_new_operators(expr, ok):
    assert parse_condition(expr).evaluate(OBSERVED).ok is ok


def test_a_missing_value_never_satisfies_a_negation():
    assert parse_condition("[BODY].absent not contains x").evaluate(OBSERVED).ok is False


def test_either_side_shows_what_it_saw():
    result = parse_condition("[STATUS] == 200 || [STDOUT] == ready").evaluate(OBSERVED)
    assert result.ok and result.observed == [204, "ready"]


@pytest.mark.parametrize(
    "expr, words",
    [("[STATUS] == 200 ||", "empty side"), ("has([BODY]", "has("), ("has([BODY].a) == 1", "has(")],
)
def test_new_forms_refused_with_sentences(expr, words):
    with pytest.raises(ConditionError) as info:
        parse_condition(expr)
    assert words in str(info.value)
