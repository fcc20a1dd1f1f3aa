"""Annotations are plain YAML: no anchors or aliases, a size and depth cap, and short quotes of bad values."""

import pytest

from checklists.parsing import ChecklistError, parse_checklist

# The 351-byte "billion laughs": eight levels of anchors, nine aliases each, under the `ctrlready` comment.
BOMB = "\n".join(
    [
        "# Go",
        "<!-- ctrlready",
        'signoff: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]"
            for previous, name in zip("abcdefg", "bcdefgh")
        ),
        "-->",
        "- [ ] Ship it",
        "",
    ]
)


def refusal(text: str) -> ChecklistError:
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(text)
    return caught.value


def test_the_bomb_is_the_351_byte_file_of_the_report():
    assert len(BOMB.encode()) == 351


@pytest.mark.timeout(5)
def test_billion_laughs_is_refused_at_its_first_anchor_naming_the_line():
    error = refusal(BOMB)
    assert error.line == 3
    assert "anchor" in error.message and "not allowed" in error.message
    assert len(str(error)) < 300


@pytest.mark.timeout(5)
def test_anchors_under_a_probes_json_are_refused():
    text = """# Release

- [ ] Creates an order
  <!-- probe
  type: http
  request: POST /orders
  json:
    base: &base {"sku": "x", "qty": 1}
    copy: *base
  expect:
    - "[STATUS] == 201"
  -->
"""
    error = refusal(text)
    assert error.line == 8
    assert "anchor `&base`" in error.message


def test_an_alias_alone_is_refused_as_an_alias():
    text = "# T\n\n- [ ] a\n  <!-- probe\n  type: *nothing\n  -->\n"
    error = refusal(text)
    assert error.line == 5 and "alias `*nothing`" in error.message


def test_an_annotation_over_the_size_cap_is_refused():
    big = "x" * 12_000
    text = f"# T\n\n- [ ] a\n  <!-- probe\n  type: http\n  request: GET /\n  body: \"{big}\"\n  expect: ['[STATUS] == 200']\n  -->\n"
    error = refusal(text)
    assert error.line == 4
    assert "under 10,000 characters" in error.message
    assert big[:100] not in str(error)


def test_nesting_deeper_than_twenty_levels_is_refused():
    deep = "[" * 30 + "]" * 30
    text = f"# T\n\n- [ ] a\n  <!-- probe\n  type: http\n  request: GET /\n  json: {deep}\n  expect: ['[STATUS] == 200']\n  -->\n"
    error = refusal(text)
    assert "levels of nesting" in error.message and error.line == 7


@pytest.mark.parametrize(
    "field",
    [
        "type: {bad}",
        "type: http\n  request: GET /\n  headers: {{'{bad}': x}}\n  expect: ['[STATUS] == 200']",
        "type: http\n  request: GET /{bad} x\n  expect: ['[STATUS] == 200']",
        "type: tcp\n  port: {bad}\n  expect: ['[CONNECTED] == true']",
        "type: http\n  request: GET /\n  expect: [{bad}]",
        "type: http\n  request: GET /\n  surprise{bad}: 1\n  expect: ['[STATUS] == 200']",
    ],
)
def test_messages_quote_only_a_short_excerpt_of_a_bad_value(field):
    bad = "Z" * 3_000
    text = f"# T\n\n- [ ] a\n  <!-- probe\n  {field.format(bad=bad)}\n  -->\n"
    error = refusal(text)
    assert "Z" * 90 not in str(error)
    assert len(str(error)) < 400


def test_ctrlready_comment_quotes_only_an_excerpt():
    text = f"# T\n<!-- ctrlready\nsignoff: [{'R' * 5_000}]\n-->\n\n- [ ] a\n"
    error = refusal(text)
    assert "R" * 60 not in str(error) and "not a sign-off role" in str(error)


def test_plain_yaml_still_reads_as_before():
    text = """# T
<!-- ctrlready
signoff: [lead, admin]
-->

- [ ] a
  <!-- probe
  type: http
  request: POST /x
  json: {"list": [1, 2, {"deep": [true, null]}]}
  expect:
    - "[STATUS] == 200"
  -->
"""
    parsed = parse_checklist(text)
    assert parsed.required_roles == ("lead", "admin")
    item = parsed.sections[0].items[0]
    assert item.probe["json"] == {"list": [1, 2, {"deep": [True, None]}]}


@pytest.mark.timeout(10)
def test_api_refuses_the_bomb_with_a_short_sentence_naming_the_line(api):
    response = api.post("admin", "checklists/import", {"name": "Bomb", "markdown": BOMB})
    assert response.status_code == 400
    body = response.json()
    assert len(response.content) < 600
    assert body["line"] == 3 and "line 3" in body["error"]


def test_api_errors_quote_only_an_excerpt_of_what_was_sent(api, deployment):
    long_key = "k" * 5_000
    response = api.post("engineer", f"deployments/{deployment.pk}/items/{long_key}", {"state": "passed"})
    assert response.status_code == 404
    assert len(response.content) < 400
    digest = api.get("lead", f"deployments/{deployment.pk}").json()["digest"]
    response = api.post("lead", f"deployments/{deployment.pk}/signoffs", {"role": "r" * 100_000, "digest": digest})
    assert response.status_code == 400 and len(response.content) < 400
