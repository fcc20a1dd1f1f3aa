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


@settings(max_examples=120, deadline=None)
@given(st.one_of(st.text(), conditions, st.from_regex(r"\[[A-Z]+\](\.[a-z]+|\[\d\])* ?[=<>!a-z]{1,8} ?.*")))
def test_any_text_parses_or_is_refused_with_a_sentence_quoting_it(expr):
    try:
        cond = parse_condition(expr)
    except ConditionError as exc:
        message = str(exc)
        text = expr.strip()
        shown = text if len(text) <= 80 else text[:79] + "…"
        assert message.endswith(".")
        if text:
            assert message.startswith(f"The condition `{shown}` ")
        else:
            assert message == "A condition is empty: write one like `[STATUS] == 200`."
    else:
        assert isinstance(cond, Condition) and cond.expr == expr.strip()
        assert parse_condition(cond.expr) == cond


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85")))
def test_a_quoted_value_reads_back_as_written_and_equals_itself(text):
    cond = parse_condition(f"[X] == {quoted(text)}")
    assert cond.value == text
    assert cond.evaluate({"X": text}).ok


@settings(max_examples=80, deadline=None)
@given(st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_reads_back_as_written(number):
    assert parse_condition(f"[X] == {number!r}").value == number


@settings(max_examples=120, deadline=None)
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


# --- every refusal, word for word ---------------------------------------------------------

ALL_OPS = "==, !=, <, <=, >, >=, contains, matches, not contains, not matches"


@pytest.mark.parametrize(
    "expr, message",
    [
        (200, "A condition must be text like `[STATUS] == 200`, not int."),
        (None, "A condition must be text like `[STATUS] == 200`, not NoneType."),
        ("  \t ", "A condition is empty: write one like `[STATUS] == 200`."),
        ("[A] == 1\n[B] == 2", "The condition `[A] == 1\n[B] == 2` spans several lines: write one condition per line."),
        ("[A] == 1\r[B] == 2", "The condition `[A] == 1\r[B] == 2` spans several lines: write one condition per line."),
        ("[A] == 1 || ", "The condition `[A] == 1 ||` has an empty side of `||`: write a condition on each side."),
        ("|| [A] == 1", "The condition `|| [A] == 1` has an empty side of `||`: write a condition on each side."),
        (
            "has([BODY]",
            "The condition `has([BODY]` uses `has(`: write it as `has([BODY].name)`, a placeholder and its path only.",
        ),
        (
            "has(body)",
            "The condition `has(body)` uses `has(`: write it as `has([BODY].name)`, a placeholder and its path only.",
        ),
        (
            "status == 200",
            "The condition `status == 200` does not start with a placeholder such as `[STATUS]`, "
            "`len([ANSWERS])` or `has([BODY].name)`.",
        ),
        (
            "len([ANSWERS] > 1",
            "The condition `len([ANSWERS] > 1` opens `len(` but does not close it after the placeholder.",
        ),
        ("[STATUS]", f"The condition `[STATUS]` has no operator: add one of {ALL_OPS} and a value."),
        (
            "[STATUS] is 200",
            f"The condition `[STATUS] is 200` has `is 200` where an operator should be: use one of {ALL_OPS}.",
        ),
        (
            "[STATUS] " + "9" * 40,
            f"The condition `[STATUS] {'9' * 40}` has `{'9' * 29}…` where an operator should be: use one of {ALL_OPS}.",
        ),
        ("[STATUS] ==", "The condition `[STATUS] ==` has no value after `==`."),
        ("[STDOUT] not   contains", "The condition `[STDOUT] not   contains` has no value after `not contains`."),
        (
            "[STATUS] === 200",
            f"The condition `[STATUS] === 200` has `===`, which is not an operator: use one of {ALL_OPS}.",
        ),
        (
            "[STATUS] <> 200",
            f"The condition `[STATUS] <> 200` has `<>`, which is not an operator: use one of {ALL_OPS}.",
        ),
        (
            "len([X]) matches 3",
            "The condition `len([X]) matches 3` uses `matches` on a length: "
            "compare a length with ==, !=, <, <=, > or >=.",
        ),
        (
            "len([X]) not contains 3",
            "The condition `len([X]) not contains 3` uses `not contains` on a length: "
            "compare a length with ==, !=, <, <=, > or >=.",
        ),
        ("len([X]) > many", "The condition `len([X]) > many` compares a length with `many`, which is not a number."),
        ("len([X]) == true", "The condition `len([X]) == true` compares a length with `true`, which is not a number."),
        (
            "len([X]) == " + "x" * 40,
            f"The condition `len([X]) == {'x' * 40}` compares a length with `{'x' * 29}…`, which is not a number.",
        ),
        (
            "[X] matches (",
            "The condition `[X] matches (` has a regular expression that does not compile (missing ): (): "
            "RE2 runs it, so write it without look-arounds or back-references.",
        ),
        (
            "[X] matches '(?=a)'",
            "The condition `[X] matches '(?=a)'` has a regular expression that does not compile "
            "(invalid perl operator: (?=): RE2 runs it, so write it without look-arounds or back-references.",
        ),
        (
            '[BODY].x == "a" b',
            "The condition `[BODY].x == \"a\" b` has text after its quoted value: "
            "quote the whole value or remove the extra text.",
        ),
        ("[BODY].x == 'open", "The condition `[BODY].x == 'open` opens a quote (') that is never closed."),
        ('[BODY].x == "open\\"', 'The condition `[BODY].x == "open\\"` opens a quote (") that is never closed.'),
        ("[X] == 1e999", "The condition `[X] == 1e999` has a number too large to compare."),
    ],
)
def test_every_refusal_reads_as_its_sentence(expr, message):
    with pytest.raises(ConditionError) as info:
        parse_condition(expr)
    assert str(info.value) == message


def test_a_long_condition_is_quoted_cut_to_80_characters():
    expr = "[STATUS] " + "z" * 100
    with pytest.raises(ConditionError) as info:
        parse_condition(expr)
    assert str(info.value).startswith(f"The condition `{expr[:79]}…` has `")


def test_a_pattern_re2_cannot_encode_is_refused_naming_the_reason():
    with pytest.raises(ConditionError) as info:
        parse_condition("[X] matches \ud800")
    assert str(info.value) == (
        "The condition `[X] matches \ud800` has a regular expression that does not compile "
        "('utf-8' codec can't encode character '\\ud800' in position 0…): "
        "RE2 runs it, so write it without look-arounds or back-references."
    )


def test_a_refused_pattern_logs_nothing(capfd):
    with pytest.raises(ConditionError):
        parse_condition("[X] matches (")
    assert capfd.readouterr() == ("", "")


# --- what parses to what ------------------------------------------------------------------


def test_a_condition_keeps_its_text_stripped():
    cond = parse_condition("  [STATUS] == 200 \t")
    assert cond.expr == "[STATUS] == 200"


@pytest.mark.parametrize(
    "expr, path",
    [
        ("[BODY]['single quoted'] == 1", ("single quoted",)),
        ('[BODY]["a.b"][2][-3] == 1', ("a.b", 2, -3)),
        ("[BODY].$ref.@id.a_b == 1", ("$ref", "@id", "a_b")),
        ("[BODY].Mixed == 1", ("Mixed",)),
        ("[HEADER].X-Request-Id == 1", ("x-request-id",)),
        ("[HEADER][0] == 1", (0,)),
        ("[BODY][123456789] == 1", (123456789,)),
    ],
)
def test_paths_read_as_written(expr, path):
    assert parse_condition(expr).path == path


def test_an_index_of_ten_digits_is_not_an_index():
    with pytest.raises(ConditionError) as info:
        parse_condition("[BODY][1234567890] == 1")
    assert "where an operator should be" in str(info.value)


def test_a_numeric_string_in_quotes_stays_text_and_a_bare_one_is_a_number():
    assert parse_condition("[X] == '007'").value == "007"
    assert parse_condition("[X] == 007").value == 7
    assert parse_condition("[X] == +3").value == 3
    assert parse_condition("[X] == .5").value == 0.5
    assert parse_condition("[X] == 2.").value == 2.0
    assert parse_condition("[X] == 1E2").value == 100.0
    assert parse_condition("[X] == 1e-2").value == 0.01


@pytest.mark.parametrize(
    "raw, value",
    [
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"a\rb"', "a\rb"),
        (r'"a\\b"', "a\\b"),
        (r"'it\'s'", "it's"),
        (r'"\q"', "\\q"),
        (r'"a\"', None),  # the escaped quote leaves the quote open
    ],
)
def test_escapes_in_quoted_values(raw, value):
    if value is None:
        with pytest.raises(ConditionError):
            parse_condition(f"[X] == {raw}")
    else:
        assert parse_condition(f"[X] == {raw}").value == value


def test_a_quoted_value_may_be_followed_by_blanks_only():
    assert parse_condition('[X] == "ok"   ').value == "ok"


def test_a_placeholder_on_the_right_is_a_reference_only_when_it_is_all_of_the_value():
    cond = parse_condition("[BODY].a == [HEADER].X-A")
    assert (cond.value, cond.value_ref) == (None, ("HEADER", ("x-a",)))
    assert parse_condition("[X] < [Y] extra").value == "[Y] extra"


def test_a_length_may_be_compared_with_a_quoted_number():
    cond = parse_condition('len([X]) == "3"')
    assert (cond.use_len, cond.value) == (True, "3")
    assert cond.evaluate({"X": "abc"}).ok


def test_a_matches_pattern_is_kept_as_written_quoted_or_not():
    assert parse_condition("[X] matches ^true$").value == "^true$"
    assert parse_condition("[X] matches 12").value == "12"
    assert parse_condition('[X] matches "a b"').value == "a b"


def test_has_takes_blanks_inside_its_brackets():
    cond = parse_condition("has ( [BODY].a )")
    assert cond == Condition("has ( [BODY].a )", "BODY", ("a",), False, "has", True)


def test_word_operators_take_any_blanks_and_need_a_blank_after():
    assert parse_condition("[X]   not \t matches  a").op == "not matches"
    with pytest.raises(ConditionError) as info:
        parse_condition("[X] containsfoo")
    assert "`containsfoo` where an operator should be" in str(info.value)


@pytest.mark.parametrize(
    "expr, parts",
    [
        ("[A] == 1 || [B] == 2 || [C] == 3", ["A", "B", "C"]),
        ('[A] == "x||y" || [B] == 2', ["A", "B"]),
        ("[A] == 'x||y' || [B] == 2", ["A", "B"]),
        ('[A] == "x\\"||" || [B] == 2', ["A", "B"]),
        ("[A] == it's||[B] == 2", ["A", "B"]),
        ('[A] == "\\\\" || [B] == 2', ["A", "B"]),
        ("[A] == Xy || [B] == 2", ["A", "B"]),
        ('[A] == aX"b || [B] == 2', ["A", "B"]),
    ],
)
def test_or_splits_outside_quotes_only(expr, parts):
    cond = parse_condition(expr)
    assert [cond.placeholder, *(c.placeholder for c in cond.alternatives)] == parts
    assert cond.evaluate({}).expr == expr
    assert all(c.expr == expr for c in cond.alternatives)


def test_an_or_condition_keeps_the_first_side_whole():
    cond = parse_condition("len([A]) > [B] || [C] == 1")
    assert (cond.use_len, cond.op, cond.value, cond.value_ref) == (True, ">", None, ("B", ()))
    assert cond.alternatives == (parse_condition("[C] == 1").__class__(
        expr="len([A]) > [B] || [C] == 1", placeholder="C", path=(), use_len=False, op="==", value=1
    ),)


def test_references_lists_every_placeholder_with_its_path():
    cond = parse_condition("[BODY].a == [HEADER].b || has([STATUS]) || len([X]) > 1")
    assert cond.references() == [("BODY", ("a",)), ("HEADER", ("b",)), ("STATUS", ()), ("X", ())]


def test_parse_reference_reads_a_save_target():
    from checklists.conditions import parse_reference

    assert parse_reference("  [BODY].access_token ") == ("BODY", ("access_token",))
    assert parse_reference("[HEADER].X-Token") == ("HEADER", ("x-token",))
    for bad in ("[BODY].a extra", "BODY", 7):
        with pytest.raises(ConditionError) as info:
            parse_reference(bad)
        assert str(info.value) == f"`{bad}` is not a placeholder and path like `[BODY].access_token`."
    with pytest.raises(ConditionError) as info:
        parse_reference("x" * 70)
    assert str(info.value) == f"`{'x' * 59}…` is not a placeholder and path like `[BODY].access_token`."


def test_resolve_reference_gives_the_value_or_none():
    from checklists.conditions import resolve_reference

    observed = {"BODY": {"a": [0, {"b": False}]}}
    assert resolve_reference(observed, "BODY", ("a", 1, "b")) is False
    assert resolve_reference(observed, "BODY", ("a", 2)) is None
    assert resolve_reference(observed, "NOPE", ()) is None


# --- evaluating: every operator at its edge -----------------------------------------------


@pytest.mark.parametrize(
    "op, below, equal, above",
    [("<", True, False, False), ("<=", True, True, False), (">", False, False, True), (">=", False, True, True)],
)
def test_ordering_operators_at_equal_numbers_and_texts(op, below, equal, above):
    assert check(f"[X] {op} 5", X=4).ok is below
    assert check(f"[X] {op} 5", X=5).ok is equal
    assert check(f"[X] {op} 5", X=6).ok is above
    assert check(f"[X] {op} 5", X="5").ok is equal
    assert check(f"[X] {op} 'b'", X="a").ok is below
    assert check(f"[X] {op} 'b'", X="b").ok is equal
    assert check(f"[X] {op} 'b'", X="c").ok is above
    assert check(f"len([X]) {op} 2", X=[1, 2]).ok is equal


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_ordering_refuses_what_is_not_two_numbers_or_two_texts(op):
    assert check(f"[X] {op} [Y]", X=[1], Y=[1]).ok is False
    assert check(f"[X] {op} [Y]", X=True, Y=True).ok is False
    assert check(f"[X] {op} [Y]", X=1, Y=True).ok is False
    assert check(f"[X] {op} 'a'", X=None).ok is False
    assert check(f"[X] {op} 1", X="a").ok is False


@settings(max_examples=60, deadline=None)
@given(st.integers(-10, 10), st.integers(-10, 10), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_numbers_compare_as_python_compares_them(a, b, op):
    expected = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
    assert check(f"[X] {op} {b}", X=a).ok is expected
    assert check(f"[X] {op} {b}", X=str(a)).ok is expected
    assert check(f"[X] {op} {float(b)!r}", X=a).ok is expected


def test_equality_rules():
    assert check("[X] == 1.0", X=1).ok
    assert check("[X] == [Y]", X=[1, [2]], Y=(1, (2,))).ok
    assert not check("[X] == [Y]", X=[1, 2], Y=[1]).ok
    assert not check("[X] == [Y]", X=[1, 2], Y=[1, 3]).ok
    assert check("[X] == [Y]", X={"a": [1]}, Y={"a": [1.0]}).ok
    assert not check("[X] == [Y]", X={"a": 1}, Y={"b": 1}).ok
    assert not check("[X] == [Y]", X={"a": 1}, Y={"a": 2}).ok
    assert not check("[X] == [Y]", X={"a": 1}, Y=[("a", 1)]).ok
    assert not check("[X] == [Y]", X="1", Y=[1]).ok
    assert not check("[X] == false", X=0).ok
    assert not check("[X] == 0", X=False).ok
    assert check("[X] == [Y]", X=False, Y=False).ok
    assert not check("[X] == [Y]", X=False, Y=True).ok
    assert check("[X] != false", X="0").ok
    assert check("[X] == null", X=None).ok
    assert not check("[X] == null", X="null").ok


def test_true_and_false_read_from_text_in_any_case_and_blanks():
    assert check("[X] == true", X=" TRUE ").ok
    assert check("[X] == false", X="False").ok
    assert not check("[X] == true", X="False").ok
    assert not check("[X] == true", X="yes").ok


def test_a_number_compares_with_a_numeric_text_on_the_right():
    assert check("[X] == [Y]", X=4, Y=" 4 ").ok
    assert check("[X] > [Y]", X=5, Y="4.5").ok
    assert not check("[X] == [Y]", X=4, Y="four").ok


def test_a_numeric_text_of_more_than_100_characters_is_text():
    assert check("[X] == 1", X="0" * 99 + "1").ok
    assert not check("[X] == 1", X="0" * 100 + "1").ok


def test_an_infinite_text_is_not_a_number():
    assert not check("[X] > 1", X="1e999").ok


@pytest.mark.parametrize(
    "observed, ok",
    [(True, False), (False, False), (None, False), ([5], False), ({"5": 5}, False), (5, True), (5.0, True), ("5", True)],
)
def test_matches_looks_at_text_and_numbers_only(observed, ok):
    assert check("[X] matches ^5", X=observed).ok is ok


def test_matches_against_true_false_and_null_patterns_reads_them_as_text():
    assert check("[X] matches true", X="it is true").ok
    assert check("[X] matches null", X="null").ok
    assert not check("[X] matches true", X=True).ok
    assert not check("[X] matches null", X=None).ok
    assert check("[X] not matches null", X=None).ok


def test_matches_reads_the_first_million_characters():
    assert check("[X] matches z", X="a" * 999_999 + "z").ok
    assert not check("[X] matches z", X="a" * 1_000_000 + "z").ok


def test_a_pattern_from_a_placeholder_that_re2_refuses_fails_the_condition():
    result = check("[X] matches [Y]", X="a", Y="(")
    assert (result.ok, result.observed) == (False, "a")


@pytest.mark.parametrize(
    "observed, value, ok",
    [
        ("null", "null", False),
        ("x true y", "true", True),
        ("x True y", "true", False),
        ("is 4.5 ok", "4.5", True),
        ([1, "2"], "2", True),
        ([True], "true", True),
        ([4.0], "4", True),
        ({"1": 0}, "1", False),
        ({"a": 0}, "a", True),
        ({"a": 0}, "b", False),
        ({"a": 0}, "'a'", True),
        (4, "4", False),
        (None, "x", False),
    ],
)
def test_contains_by_kind(observed, value, ok):
    assert check(f"[X] contains {value}", X=observed).ok is ok
    assert check(f"[X] not contains {value}", X=observed).ok is (not ok)


def test_contains_a_structure_from_the_right_side_is_false():
    assert not check("[X] contains [Y]", X="[1]", Y=[1]).ok
    assert not check("[X] contains [Y]", X="{}", Y={}).ok
    assert check("[X] contains [Y]", X=[[1]], Y=[1]).ok


@pytest.mark.parametrize(
    "observed, path, ok",
    [([1, 2], (1,), True), ([1, 2], (2,), False), ([1, 2], (-2,), True), ([1, 2], (-3,), False), ((1, 2), (0,), True)],
)
def test_indexes_within_the_list_only(observed, path, ok):
    assert Condition("e", "X", path, False, "has", True).evaluate({"X": observed}).ok is ok


def test_len_counts_texts_lists_and_mappings_only():
    assert check("len([X]) == 2", X="ab").observed == 2
    assert check("len([X]) == 2", X={"a": 1, "b": 2}).ok
    assert check("len([X]) == 2", X=(1, 2)).ok
    assert check("len([X]) == 2", X=22) == ConditionResult("len([X]) == 2", False, None)


def test_has_shows_the_value_it_found():
    assert check("has([X].a)", X={"a": [1]}) == ConditionResult("has([X].a)", True, [1])
    assert check("has([X].a)", X={"a": None}) == ConditionResult("has([X].a)", True, None)
    assert check("has([X].b)", X={"a": 1}) == ConditionResult("has([X].b)", False, None)


def test_a_missing_right_side_fails_and_shows_the_left():
    assert check("[X] == [Y]", X=3) == ConditionResult("[X] == [Y]", False, 3)


def test_or_is_true_when_any_side_is_and_shows_each():
    result = check("[X] == 1 || [X] == 2 || [X] == 3", X=3)
    assert (result.ok, result.observed) == (True, [3, 3, 3])
    assert check("[X] == 1 || [X] == 2", X=3).ok is False


def test_evaluating_redacts_what_it_shows():
    def redact(value):
        return "[redacted]" if value == "s3cret" else value

    cond = parse_condition("[X] == 1")
    assert cond.evaluate({"X": "s3cret"}, redact=redact).observed == "[redacted]"
    assert parse_condition("has([X])").evaluate({"X": "s3cret"}, redact=redact).observed == "[redacted]"
    assert check("[X] == [Y]", X="s3cret").observed == "s3cret"
    result = parse_condition("[X] == [Y]").evaluate({"X": "s3cret"}, redact=redact)
    assert result.observed == "[redacted]"
    result = parse_condition("[X] == 1 || [X] == 2").evaluate({"X": "s3cret"}, redact=redact)
    assert result.observed == ["[redacted]", "[redacted]"]


# --- jsonable: what a result shows ---------------------------------------------------------


def test_jsonable_keeps_numbers_under_a_million_billion_and_writes_bigger_ones_as_text():
    from checklists.conditions import jsonable

    assert jsonable(10**15 - 1) == 10**15 - 1
    assert jsonable(-(10**15) + 1) == -(10**15) + 1
    assert jsonable(10**15) == "1000000000000000"
    assert jsonable(-(10**15)) == "-1000000000000000"
    assert jsonable(10**20, limit=5) == "10000"
    assert jsonable(True) is True and jsonable(None) is None
    assert jsonable(1.5) == 1.5
    assert jsonable(float("inf")) == "inf" and jsonable(float("nan")) == "nan"


def test_jsonable_cuts_text_at_the_limit_with_an_ellipsis():
    from checklists.conditions import MAX_OBSERVED_CHARS, jsonable

    assert MAX_OBSERVED_CHARS == 500
    assert jsonable("a" * 500) == "a" * 500
    assert jsonable("a" * 501) == "a" * 499 + "…"
    assert jsonable(b"ab\xff", limit=10) == "ab\ufffd"
    assert jsonable(b"abcdef", limit=3) == "ab…"


def test_jsonable_keeps_structures_that_fit_and_cuts_the_others_as_json_text():
    from checklists.conditions import jsonable

    assert jsonable({1: (1, b"x")}) == {"1": [1, "b'x'"]}
    fits = ["a" * 496]  # ["aaa…"] is 500 characters of JSON
    assert jsonable(fits) == fits
    too_long = ["a" * 497]
    assert jsonable(too_long) == '["' + "a" * 497 + '…'
    assert jsonable({"é": 1}, limit=9) == {"é": 1}  # JSON text keeps the é, so it fits in 9


def test_jsonable_shows_nesting_to_50_levels():
    from checklists.conditions import jsonable

    def nest(depth, leaf):
        for _ in range(depth):
            leaf = [leaf]
        return leaf

    assert jsonable(nest(50, "x"), limit=10_000) == nest(50, "x")
    assert jsonable(nest(51, "x"), limit=10_000) == nest(51, "…")
    assert jsonable(nest(60, "x"), limit=10_000) == nest(51, "…")


class Unprintable:
    def __str__(self):
        raise ValueError("no")


def test_jsonable_says_what_it_cannot_show():
    from checklists.conditions import jsonable

    assert jsonable(Unprintable()) == "<Unprintable that cannot be shown>"
    assert jsonable([Unprintable()]) == "<list that cannot be shown>"
    assert jsonable({Unprintable(): 1}, redact=lambda v: v) == "<dict that cannot be shown>"
    assert jsonable(object.__new__(type("Thing", (), {"__str__": lambda self: "thing"}))) == "thing"


def test_jsonable_redacts_plain_values_before_cutting():
    from checklists.conditions import jsonable

    seen = []

    def redact(value):
        seen.append(value)
        return value

    jsonable(b"abc", redact=redact)
    jsonable((1, float("nan"), {2: b"x"}), redact=redact)
    jsonable(Unprintable.__name__, redact=redact)
    jsonable(3.5, redact=redact)
    jsonable(None, redact=redact)
    jsonable(type("Odd", (), {"__str__": lambda self: "odd"})(), redact=redact)
    assert seen == ["abc", [1, "nan", {"2": "b'x'"}], "Unprintable", 3.5, None, "odd"]
    assert jsonable("a" * 600, redact=lambda v: v.replace("a", "b")) == "b" * 499 + "…"


def test_a_result_as_a_dict():
    assert ConditionResult("[X] == 1", True, 1).as_dict() == {"expr": "[X] == 1", "ok": True, "observed": 1}


def test_a_list_never_equals_a_text_of_the_same_length():
    assert not check("[X] == [Y]", X=["a"], Y="a").ok
    assert not check("[X] == [Y]", X="a", Y=["a"]).ok
    assert not check("[X] == [Y]", X={"a": 1}, Y="a").ok
    assert not check("[X] == [Y]", X=1, Y=[1]).ok


def test_true_and_false_never_match_as_text():
    assert not check("[X] matches True", X=True).ok
    assert not check("[X] matches ^False$", X=False).ok
    assert check("[X] matches ^1.5$", X=1.5).ok


def test_jsonable_counts_mappings_in_the_nesting_too():
    from checklists.conditions import jsonable

    def nest(depth, leaf):
        for _ in range(depth):
            leaf = {"k": leaf}
        return leaf

    assert jsonable(nest(50, "x"), limit=10_000) == nest(50, "x")
    assert jsonable(nest(51, "x"), limit=10_000) == nest(51, "…")


def test_a_value_starting_with_a_letter_is_bare_text():
    assert parse_condition("[X] == Xylophone").value == "Xylophone"


def test_a_quoted_value_ending_in_a_backslash_is_never_closed():
    with pytest.raises(ConditionError) as info:
        parse_condition('[X] == "a\\')
    assert str(info.value) == 'The condition `[X] == "a\\` opens a quote (") that is never closed.'


def test_text_right_after_a_closing_quote_is_refused():
    with pytest.raises(ConditionError) as info:
        parse_condition('[X] == "a"b')
    assert "has text after its quoted value" in str(info.value)


def test_jsonable_redacts_undecodable_bytes_as_replacement_characters_and_nests_50_levels():
    from checklists.conditions import jsonable

    assert jsonable(b"a\xff", redact=lambda v: v) == "a\ufffd"
    nested = "x"
    for _ in range(50):
        nested = [nested]
    assert jsonable(nested, limit=10_000, redact=lambda v: v) == nested


def test_an_operator_followed_by_a_letter_is_an_operator():
    assert parse_condition("[X] ==Xy").value == "Xy"
    assert parse_condition("[X] == =5").value == "=5"


def test_or_refuses_a_condition_starting_with_a_quote_like_any_other():
    with pytest.raises(ConditionError) as info:
        parse_condition('"[A] == 1 || [B] == 2')
    assert "does not start with a placeholder" in str(info.value)
