"""The Markdown checklist parser, tested as a plain function (no database, no settings)."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checklists.parsing import (
    KEY_RE,
    MAX_BYTES,
    ChecklistError,
    ParsedChecklist,
    parse_checklist,
    slugify,
)
from checklists.spec import validate_probe

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SEED = (FIXTURES / "production-readiness-checklist.md").read_bytes()


def items_by_text(checklist):
    return {item.text: item for _, item, _ in checklist.iter_items()}


def refusal(source) -> ChecklistError:
    with pytest.raises(ChecklistError) as info:
        parse_checklist(source)
    return info.value


@pytest.fixture(scope="module")
def seed():
    return parse_checklist(SEED)


# The seed checklist


def test_seed_imports_229_items(seed):
    assert seed.title == "Production Readiness Checklist"
    assert seed.counts() == {
        "sections": 14,
        "groups": 39,
        "items": 229,
        "optional_items": 16,
        "automated_items": 0,
    }
    assert seed.required_roles == ("lead",)


def test_seed_alerts_have_five_children(seed):
    alerts = items_by_text(seed)["Alerts configured for:"]
    assert [child.text for child in alerts.children] == [
        "Service down",
        "High error rate",
        "High response time",
        "High memory usage",
        "High CPU usage",
    ]
    assert all(child.optional for child in alerts.children)
    assert [child.key for child in alerts.children][0] == f"{alerts.key}.service-down"


def test_seed_keeps_inline_markdown_and_repairs_the_arrow(seed):
    texts = items_by_text(seed)
    assert '`GET /health` returns `{"status":"ok"}`' in texts
    assert "HTTPS redirect configured (HTTP → HTTPS)" in texts
    assert not any("â" in text for text in texts)


def test_seed_keys_are_slugs_of_section_path_and_text(seed):
    keys = [item.key for _, item, _ in seed.iter_items()]
    assert len(set(keys)) == 229
    assert "application.health-endpoints.get-health-returns-statusok" in keys
    assert "infrastructure.ssltls.https-redirect-configured-http-https" in keys
    assert "go-live-checklist.rollback-plan-ready" in keys


def test_seed_optional_sections_are_the_ones_saying_optional(seed):
    optional = {path for path, item, _ in seed.iter_items() if item.optional}
    assert optional == {
        ("Logging & Monitoring", "Monitoring (Optional but Recommended)"),
        ("Final Verification", "Load Test (Optional)"),
        ("Final Verification", "Security Scan (Optional)"),
    }


def test_iter_items_yields_children_after_their_parent_with_its_key(seed):
    rows = list(seed.iter_items())
    index = next(i for i, (_, item, _) in enumerate(rows) if item.text == "Alerts configured for:")
    parent = rows[index][1]
    assert [parent_key for _, _, parent_key in rows[index + 1 : index + 6]] == [parent.key] * 5
    assert rows[index + 6][2] is None
    assert [item.line for _, item, _ in rows] == sorted(item.line for _, item, _ in rows)


# Another team's checklist: BOM, CRLF, tabs, odd nesting, numbered items, things that are not items

OTHER_TEAM = """\ufeff# Payments API go-live

Owner: the payments team. See the [runbook](https://wiki.example.com/runbook).

## Before the release

| check | owner |
| --- | --- |
| - [ ] not an item in a table | ops |

- a plain bullet, not an item
- [x] Release notes written
    - [ ] Reviewed by product
        - [ ] Signed by legal
* [ ] Feature flags set
     - [ ] Dark launch flag off

1. [ ] Database migrated
2. [X] Cache warmed

1) [ ] Smoke test passed

```markdown
- [ ] inside a fence, not an item
```

    - [ ] inside an indented code block, not an item

<div>
- [ ] inside an HTML block, not an item
</div>

### Tabs
+ [ ] Tab parent
\t+ [ ] Tab child
"""


@pytest.fixture(scope="module")
def other_team():
    return parse_checklist(OTHER_TEAM.replace("\n", "\r\n").encode("utf-8"))


def test_other_teams_checklist_reads_as_meant(other_team):
    assert other_team.title == "Payments API go-live"
    assert other_team.counts() == {
        "sections": 1,
        "groups": 1,
        "items": 10,
        "optional_items": 0,
        "automated_items": 0,
    }
    tree = {
        item.text: [child.text for child in item.children] for _, item, _ in other_team.iter_items()
    }
    assert tree == {
        "Release notes written": ["Reviewed by product"],
        "Reviewed by product": ["Signed by legal"],
        "Signed by legal": [],
        "Feature flags set": ["Dark launch flag off"],
        "Dark launch flag off": [],
        "Database migrated": [],
        "Cache warmed": [],
        "Smoke test passed": [],
        "Tab parent": ["Tab child"],
        "Tab child": [],
    }


def test_other_teams_line_numbers_survive_crlf_and_bom(other_team):
    lines = {item.text: item.line for _, item, _ in other_team.iter_items()}
    assert lines["Release notes written"] == 12
    assert lines["Tab child"] == 35
    assert [s.line for s in other_team.sections] == [5]


def test_cr_only_line_endings_are_lines():
    checklist = parse_checklist(b"# T\r## S\r- [ ] one\r- [ ] two\r")
    assert [item.line for _, item, _ in checklist.iter_items()] == [3, 4]


def test_item_inside_code_block_is_not_an_item():
    checklist = parse_checklist(
        "# T\n## S\n- [ ] real\n\n```\n- [ ] fenced\n```\n\n~~~\n* [ ] tilde\n~~~\n\n    - [ ] indented\n"
    )
    assert [item.text for _, item, _ in checklist.iter_items()] == ["real"]


def test_prose_plain_bullets_quotes_and_links_are_not_items():
    checklist = parse_checklist(
        "# T\n## S\nSome prose with [ ] a box.\n\n- plain\n- [link](x)\n- [] no space\n- [ ]no gap\n"
        "\n> - [ ] quoted\n\n- [ ] real\n"
    )
    assert [item.text for _, item, _ in checklist.iter_items()] == ["real"]


def test_task_under_plain_bullet_belongs_to_the_nearest_item():
    checklist = parse_checklist("# T\n## S\n- [ ] parent\n  - note\n    - [ ] child\n- plain\n  - [ ] orphan\n")
    parent, orphan = checklist.sections[0].items
    assert [child.text for child in parent.children] == ["child"]
    assert (orphan.text, orphan.children) == ("orphan", ())


def test_item_text_joins_wrapped_lines_and_drops_comments():
    checklist = parse_checklist("# T\n## S\n- [ ] first line\n  continues **here** <!-- a note -->\n")
    assert checklist.sections[0].items[0].text == "first line continues **here**"


# Sections


def test_items_before_first_section_go_to_a_section_named_like_the_title():
    checklist = parse_checklist("# Launch\n- [ ] early\n## Later\n- [ ] late\n")
    assert [(s.title, s.level) for s in checklist.sections] == [("Launch", 2), ("Later", 2)]
    assert checklist.sections[0].items[0].key == "launch.early"


def test_headings_nest_by_level_and_sections_without_items_are_kept_with_their_prose():
    checklist = parse_checklist(
        "# T\n## A\n### A1\n#### A1x\n- [ ] deep\n### Notes\nprose only\n## B\n- [ ] b\n## Links\n"
    )
    assert checklist.counts()["sections"] == 3
    assert checklist.counts()["groups"] == 3
    assert [s.title for s in checklist.sections] == ["A", "B", "Links"]
    assert checklist.sections[0].sections[1].description == "prose only"
    assert [path for path, _, _ in checklist.iter_items()] == [("A", "A1", "A1x"), ("B",)]
    assert checklist.sections[0].sections[0].sections[0].items[0].key == "a.a1.a1x.deep"


def test_optional_heading_makes_everything_below_it_optional():
    checklist = parse_checklist(
        "# T\n## Extras (optional, if time allows)\n- [ ] a\n  - [ ] a child\n### Deeper\n- [ ] b\n## Core\n- [ ] c\n"
    )
    optional = {item.text: item.optional for _, item, _ in checklist.iter_items()}
    assert optional == {"a": True, "a child": True, "b": True, "c": False}
    assert checklist.counts()["optional_items"] == 3
    assert checklist.sections[0].sections[0].optional


def test_later_h1_is_a_top_level_section():
    checklist = parse_checklist("# T\n## A\n- [ ] a\n# Part two\n## B\n- [ ] b\n")
    assert [s.title for s in checklist.sections] == ["A", "Part two"]
    assert checklist.sections[1].sections[0].items[0].key == "part-two.b.b"


def test_setext_title_counts_as_title():
    assert parse_checklist("Launch\n======\n\n- [ ] x\n").title == "Launch"


# Keys


def test_explicit_key_is_used_and_left_out_of_the_text():
    checklist = parse_checklist("# T\n## S\n- [ ] Backups tested {#backups}\n  - [ ] Restore drill\n")
    item = checklist.sections[0].items[0]
    assert (item.key, item.text) == ("backups", "Backups tested")
    assert item.children[0].key == "backups.restore-drill"


def test_key_in_code_or_escaped_stays_text():
    checklist = parse_checklist("# T\n## S\n- [ ] Write `{#id}`\n- [ ] Literal \\{#x}\n")
    texts = [item.text for _, item, _ in checklist.iter_items()]
    assert texts == ["Write `{#id}`", "Literal \\{#x}"]


def test_invalid_explicit_key_refused_with_line():
    error = refusal("# T\n## S\n- [ ] ok\n- [ ] bad {#not a key}\n")
    assert error.line == 4
    assert "not valid" in error.message


def test_duplicate_explicit_key_refused_with_both_lines():
    error = refusal("# T\n## S\n- [ ] one {#k}\n## S2\n- [ ] two {#k}\n")
    assert error.line == 5
    assert "The key `k` is used twice: on line 3 and line 5." in error.message
    assert str(error).startswith("line 5: ")


def test_generated_key_collisions_get_numbered_suffixes():
    checklist = parse_checklist(
        "# T\n## S\n- [ ] Same\n- [ ] Same\n- [ ] same!\n- [ ] Other {#s.same-4}\n- [ ] Same\n"
    )
    keys = [item.key for _, item, _ in checklist.iter_items()]
    assert keys == ["s.same", "s.same-2", "s.same-3", "s.same-4", "s.same-5"]


def test_punctuation_only_text_slugs_to_item():
    checklist = parse_checklist("# T\n## !!!\n- [ ] ???\n- [ ] ...\n")
    assert [item.key for _, item, _ in checklist.iter_items()] == ["section.item", "section.item-2"]


def test_generated_key_uses_the_rendered_text_cut_to_60_characters():
    long_text = "word " * 30
    checklist = parse_checklist(f"# T\n## S\n- [ ] See [the runbook](https://x.example/a/b)\n- [ ] {long_text}\n")
    first, second = (item.key for _, item, _ in checklist.iter_items())
    assert first == "s.see-the-runbook"
    assert second == "s." + slugify(long_text)[:60].rstrip("-")


def test_keys_never_exceed_200_characters():
    title = "x" * 80
    source = f"# T\n## {title}\n### {title}\n#### {title}\n- [ ] {title}\n  - [ ] {title}\n"
    keys = [item.key for _, item, _ in parse_checklist(source).iter_items()]
    assert all(KEY_RE.match(key) for key in keys)


@given(st.text())
def test_slugify_matches_django(value):
    from django.utils.text import slugify as django_slugify

    assert slugify(value) == django_slugify(value)


# Probes

PROBED = """# T
## Health

- [ ] `GET /health` returns `{"status":"ok"}`
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
    - '[BODY].status == "ok"'
  -->
- [ ] Database port open <!-- probe
  type: tcp
  port: 5432
  expect: ["[CONNECTED] == true"] -->
- [ ] Cache answers
<!-- probe
type: tcp
port: 6379
expect: "[CONNECTED] == true"
-->

- [ ] Manual item
<!-- reviewers: ask Sam -->
"""


def test_probe_annotation_is_parsed_and_normalised():
    checklist = parse_checklist(PROBED)
    http, tcp, cache, manual = checklist.sections[0].items
    assert http.probe == validate_probe(
        {"type": "http", "request": "GET /health", "expect": ["[STATUS] == 200", '[BODY].status == "ok"']}
    )
    assert tcp.text == "Database port open"
    assert tcp.probe == validate_probe({"type": "tcp", "port": 5432, "expect": ["[CONNECTED] == true"]})
    assert cache.probe["port"] == 6379
    assert manual.probe is None
    assert checklist.counts()["automated_items"] == 3


def test_broken_probe_yaml_refused_with_line():
    error = refusal("# T\n## S\n- [ ] a\n  <!-- probe\n  type: http\n  request: GET /health\n    expect: x\n  -->\n")
    assert error.line == 7
    assert "starting on line 4 is not valid YAML" in error.message


def test_unknown_probe_type_refused_with_line():
    error = refusal("# T\n## S\n- [ ] a\n\n  <!-- probe\n  type: telnet\n  -->\n")
    assert error.line == 5
    assert "Unknown probe type `telnet`" in error.message


def test_probe_not_after_an_item_refused():
    error = refusal("# T\n## S\n- [ ] a\n\nSome prose.\n\n<!-- probe\ntype: tcp\nport: 1\n-->\n")
    assert error.line == 7
    assert "does not follow an item" in error.message


def test_second_probe_on_one_item_refused():
    probe = "  <!-- probe\n  type: tcp\n  port: 1\n  expect: '[CONNECTED] == true'\n  -->\n"
    error = refusal("# T\n## S\n- [ ] a\n" + probe + probe)
    assert error.line == 9
    assert "already has a probe (line 4)" in error.message


def test_unclosed_probe_comment_refused():
    error = refusal("# T\n## S\n- [ ] a\n  <!-- probe\ntype: tcp\n")
    assert error.line == 4
    assert "not closed" in error.message


def test_probe_comment_that_markdown_cuts_short_is_refused():
    source = "# T\n## S\n- [ ] a\n- [ ] b <!-- probe\n  type: tcp\n  expect:\n    - '[CONNECTED] == true'\n  -->\n"
    error = refusal(source)
    assert error.line == 4
    assert "not closed" in error.message


def test_probe_yaml_indented_with_tabs_is_read():
    source = "# T\n## S\n- [ ] a\n\t<!-- probe\n\ttype: tcp\n\tport: 22\n\texpect:\n\t\t- '[CONNECTED] == true'\n\t-->\n"
    assert parse_checklist(source).sections[0].items[0].probe["port"] == 22


# Sign-off roles


def test_signoff_roles_come_from_the_ctrlready_comment():
    checklist = parse_checklist("<!-- ctrlready\nsignoff: [lead, admin, lead]\n-->\n# T\n- [ ] a\n")
    assert checklist.required_roles == ("lead", "admin")


def test_unknown_signoff_role_refused_with_line():
    error = refusal("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: [viewer]\n-->\n")
    assert error.line == 4
    assert error.message.startswith("`viewer` is not a sign-off role")


def test_unknown_ctrlready_setting_refused_with_line():
    error = refusal("# T\n- [ ] a\n\n<!-- ctrlready\nsignof: lead\n-->\n")
    assert error.line == 4
    assert "Unknown setting `signof`" in error.message


# Files that are not checklists


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", 3, "This is not a text file"),
        (b"# T\n- [ ] caf\xe9\n", 2, "This is not a text file"),
        ("# T\n- [ ] a\x00\n", 2, "This is not a text file"),
        (b"", None, "The file is empty"),
        ("  \n\t\n", None, "The file is empty"),
        ("# T\n\nJust prose.\n- plain bullet\n", None, "No checklist items found"),
        ("## S\n- [ ] a\n", 1, "The file has no `# Title` heading"),
        ("#\n- [ ] a\n", 1, "The `# Title` heading is empty"),
        ("# T\n## S\n- [ ]\n", 3, "This item has no text"),
        ("# T\n## S\n- [ ] {#k}\n", 3, "This item has no text"),
    ],
)
def test_non_checklists_refused_with_a_sentence(source, line, words):
    error = refusal(source)
    assert error.line == line
    assert error.message.startswith(words)
    assert error.message.endswith(".")


def test_overlong_item_text_refused():
    error = refusal("# T\n## S\n- [ ] ok\n- [ ] " + "![" * 10_000 + "\n")
    assert error.line == 4
    assert "characters long" in error.message


def test_lists_nested_too_deeply_refused_rather_than_cut():
    source = "# T\n" + "".join("  " * depth + f"- [ ] level {depth}\n" for depth in range(40))
    error = refusal(source)
    assert error.line is not None
    assert "nested too deeply" in error.message


def test_file_over_2_mb_refused():
    chunk = "- [ ] item\n"
    for source in ("# T\n" + chunk * (MAX_BYTES // len(chunk) + 1), ("# T\n" + "é" * (MAX_BYTES // 2)).encode()):
        assert "larger than 2 MB" in refusal(source).message


def test_error_str_names_the_line():
    assert str(ChecklistError("Fix it.", 12)) == "line 12: Fix it."
    assert str(ChecklistError("Fix it.")) == "Fix it."


# Text repair


def test_mojibake_repaired():
    checklist = parse_checklist("# Caf\u00c3\u00a9 go-live\n## S\n- [ ] HTTP \u00e2\u0086\u0092 HTTPS, 10 \u00c2\u00b0C\n")
    assert checklist.title == "Café go-live"
    assert checklist.sections[0].items[0].text == "HTTP → HTTPS, 10 °C"


def test_ftfy_leaves_normal_text_alone():
    text = "“Curly” ‘quotes’ — naïve café e\u0301 ﬁle ＡＢＣ &amp; &lt;b&gt; ½ ™ ¿qué? Straße 日本"
    checklist = parse_checklist(f"# T\n## S\n- [ ] {text}\n")
    assert checklist.sections[0].items[0].text == text


# Properties

MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            "# Title", "## Section", "### Group (Optional)", "#", "", "prose", "> - [ ] quoted",
            "- [ ] item", "- [x] item", "* [ ] Item!", "1. [ ] numbered", "  - [ ] child", "    - [ ] deep",
            "     - [ ] five", "\t- [ ] tab", "- plain", "- [ ] keyed {#k}", "- [ ] keyed {#k2}", "- [ ] {#bad key}",
            "```", "    code", "<!-- probe", "type: tcp", "port: 5432", "expect: '[CONNECTED] == true'", "-->",
            "<!-- note -->", "<!-- ctrlready", "signoff: [lead]", "- [ ] same", "- [ ] same", "---", "| a | b |",
            "<div>", "</div>", "- [ ] x <!-- probe type: dns", "  name: example.com", "  expect: 'len([ANSWERS]) > 0' -->",
        ]
    ),
    max_size=40,
).map("\n".join)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def line_count(source) -> int:
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    return len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def assert_parses_or_refuses(source):
    try:
        checklist = parse_checklist(source)
    except ChecklistError as error:
        # a sentence that says what to do, about a line of the file when it names one
        assert error.message[0].isupper() or error.message[0] == "`", error.message
        assert error.message.endswith("."), error.message
        if error.line is None:
            assert str(error) == error.message
        else:
            assert 1 <= error.line <= line_count(source)
            assert str(error) == f"line {error.line}: {error.message}"
        return
    assert isinstance(checklist, ParsedChecklist)
    keys = [item.key for _, item, _ in checklist.iter_items()]
    assert keys and len(keys) == len(set(keys)) == checklist.counts()["items"]
    assert all(KEY_RE.match(key) for key in keys)


@PROPERTY_SETTINGS
@given(st.text())
def test_any_text_parses_or_is_refused(source):
    assert_parses_or_refuses(source)


@PROPERTY_SETTINGS
@given(st.binary())
def test_any_bytes_parse_or_are_refused(source):
    assert_parses_or_refuses(source)


@PROPERTY_SETTINGS
@given(MARKDOWNISH, st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_any_markdown_parses_or_is_refused(source, newline, bom):
    data = ("\ufeff" if bom else "") + source.replace("\n", newline)
    assert_parses_or_refuses(data.encode())


# Purity


def test_parser_imports_no_django():
    code = "import sys, checklists.parsing; assert 'django' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Every refusal, word for word (the line it names included)


@pytest.mark.parametrize(
    "source, message",
    [
        (b"", 'The file is empty: write a `# Title` heading and items like `- [ ] text`.'),
        ("  \n\t\n", 'The file is empty: write a `# Title` heading and items like `- [ ] text`.'),
        (b"# T\n- [ ] a\n\x00", 'line 3: This is not a text file (it contains NUL bytes): save the checklist as UTF-8 Markdown and import it again.'),
        (b"# T\n\n- [ ] caf\xe9\n", 'line 3: This is not a text file (it is not valid UTF-8): save the checklist as UTF-8 Markdown and import it again.'),
        ("# T\n- [ ] a\n\n\x00", 'line 4: This is not a text file (it contains NUL characters): save the checklist as UTF-8 Markdown and import it again.'),
        ("# T\n\nJust prose.\n- plain bullet\n- [x]\n", 'line 5: This item has no text: write what to check after the box, like `- [ ] Backups tested`.'),
        ("Prose\n\n## S\n- [ ] a\n", 'line 1: The file has no `# Title` heading: start it with a line like `# Production readiness`.'),
        ("#\n- [ ] a\n", "line 1: The `# Title` heading is empty: write the checklist's name after `# `."),
        ("# T\n## S\n- [ ]\n", 'line 3: This item has no text: write what to check after the box, like `- [ ] Backups tested`.'),
        ("# T\n## S\n- [ ] {#k}\n", 'line 3: This item has no text: write what to check after the box, like `- [ ] Backups tested`.'),
        ("# T\n## S\n- [ ] a {#-k}\n", 'line 3: The key `{#-k}` is not valid: a key starts with a letter or digit and uses only letters, digits, `.`, `_` and `-` (at most 200 characters).'),
        ("# T\n## S\n- [ ] a {#" + "k" * 201 + "}\n", 'line 3: The key `{#kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…}` is not valid: a key starts with a letter or digit and uses only letters, digits, `.`, `_` and `-` (at most 200 characters).'),
        ("# T\n- [ ] a {#k}\n- [ ] b {#k}\n", 'line 3: The key `k` is used twice: on line 2 and line 3. Keys must be unique within a checklist; change one of them.'),
        ("# T\n\nSome prose <!-- probe\ntype: http\nrequest: GET /\nexpect: \"[STATUS] == 200\"\n--> more prose.\n\n- [ ] a\n", "line 3: This probe comment does not follow an item: put it on the lines right after the `- [ ]` item it checks, indented like the item's text."),
        ("# T\n\n<!-- probe\ntype: http\n-->\n- [ ] a\n", "line 3: This probe comment does not follow an item: put it on the lines right after the `- [ ]` item it checks, indented like the item's text."),
        ("# T\n- [ ] a\n  <!-- probe\n  type: tcp\n  port: 1\n  expect: \"[CONNECTED] == true\"\n  -->\n  <!-- probe\n  type: tcp\n  port: 2\n  expect: \"[CONNECTED] == true\"\n  -->\n", 'line 8: The item on line 2 already has a probe (line 3): an item carries at most one probe; split it into two items.'),
        ("# T\n- [ ] a\n  <!-- probe\n  type: nope\n  -->\n", 'line 3: Unknown probe type `nope`: use one of http, tls, dns, tcp, ssh, load, host, postgres, external.'),
        ("# T\n- [ ] a\n  <!-- probe\n  type: [\n  -->\n", "line 5: The `probe` comment starting on line 3 is not valid YAML (expected the node content, but found '<stream end>'): fix the YAML between `<!-- probe` and `-->`."),
        ("# T\n- [ ] a\n  <!-- probe\n  type: tcp\n", 'line 3: This `<!-- probe` comment is not closed: end it with `-->`, start it on its own line below the item and indent all its lines at least as much as that first line.'),
        ("# T\n- [ ] a <!-- probe type: tcp\n", 'line 2: This `<!-- probe` comment is not closed: end it with `-->`, start it on its own line below the item and indent all its lines at least as much as that first line.'),
        ("# T\n\n<!-- item\nscope: release\n-->\n- [ ] a\n", "line 3: This `item` comment does not follow an item: put it on the lines right after the `- [ ]` item it describes, indented like the item's text."),
        ("# T\n- [ ] a\n  <!-- item\n  scope: release\n  -->\n  <!-- item\n  owner: x\n  -->\n", 'line 6: The item on line 2 already has an `item` comment (line 3): put all its settings in one.'),
        ("# T\n- [ ] a\n  <!-- item\n  scope: global\n  -->\n", 'line 3: `scope` must be `environment` (the default) or `release`.'),
        ("# T\n- [ ] a\n  <!-- item\n  - x\n  -->\n", 'line 3: The `item` comment must hold YAML settings like `scope: release` or `valid: 90d`.'),
        ("# T\n- [ ] a\n  <!-- item\n  colour: red\n  -->\n", 'line 3: Unknown setting `colour` in the `item` comment: use `scope`, `valid` or `owner`.'),
        ("# T\n- [ ] a\n  <!-- item\n  owner: two words\n  -->\n", 'line 3: `owner` must be one username (letters, digits and `.@+-_`, at most 150 characters).'),
        ("# T\n- [ ] a\n  <!-- item\n  owner: 3\n  -->\n", 'line 3: `owner` must be one username (letters, digits and `.@+-_`, at most 150 characters).'),
        ("# T\n- [ ] a\n  <!-- item\n  valid: 0d\n  -->\n", 'line 3: `valid` must be more than zero and at most ten years.'),
        ("# T\n- [ ] a\n  <!-- item\n  valid: soon\n  -->\n", 'line 3: `valid` must be a duration like `90d`, `12h`, `30m` or `2w`.'),
        ("# T\n- [ ] a\n  <!-- item\n  valid: 90d\n  -->\n  <!-- probe\n  type: tcp\n  port: 1\n  expect: \"[CONNECTED] == true\"\n  -->\n", 'line 3: `valid` is for attestations a person makes; this item is checked by its probe, whose results stay fresh for the result window (CTRLREADY_RESULT_TTL_MINUTES). Remove `valid`.'),
        ("<!-- ctrlready\nsignoff: [lead]\n-->\n# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: [admin]\n-->\n", 'line 7: The `ctrlready` comment on line 1 already sets `signoff`: keep only one.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\n- lead\n-->\n", 'line 4: The `ctrlready` comment must hold YAML settings like `signoff: [lead, admin]` or `owner: alice`.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignof: lead\n-->\n", 'line 4: Unknown setting `signof` in the `ctrlready` comment: use `signoff`, a list of roles like `[lead, admin]`, or `owner`, the username the items under its heading wait on.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: []\n-->\n", 'line 4: `signoff` in the `ctrlready` comment must list one or more roles among `engineer`, `lead`, `admin`.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff:\n-->\n", 'line 4: `signoff` in the `ctrlready` comment must list one or more roles among `engineer`, `lead`, `admin`.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: {lead: 1}\n-->\n", 'line 4: `signoff` in the `ctrlready` comment must list one or more roles among `engineer`, `lead`, `admin`.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: [lead, viewer]\n-->\n", 'line 4: `viewer` is not a sign-off role: use `engineer`, `lead`, `admin`.'),
        ("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: [lead, [admin]]\n-->\n", 'line 4: `[admin]` is not a sign-off role: use `engineer`, `lead`, `admin`.'),
        ("# T\n## S\n- [ ] ok\n- [ ] " + "x" * 4997 + "\n", 'line 4: This item is 5,001 characters long: keep it under 5,000 and move the details to a linked document.'),
        ("# T\n## " + "h" * 5001 + "\n- [ ] a\n", 'line 2: This heading is 5,001 characters long: keep it under 5,000 and move the details to a linked document.'),
        ("# T\n- [ ] a\n\n" + "p" * 4990 + " <!-- probe\ntype: tcp\n-->\n", 'line 4: This paragraph is 5,015 characters long: keep it under 5,000 and move the details to a linked document.'),
        ("# T\n" + "".join("  " * d + f"- [ ] level {d}\n" for d in range(30)), 'line 25: Lists or block quotes are nested too deeply here (over 20 levels): flatten them.'),
        ("# T\n" + "> " * 60 + "- [ ] deep\n", 'line 2: Lists or block quotes are nested too deeply here (over 20 levels): flatten them.'),
    ],
)
def test_every_refusal_reads_as_its_sentence_on_its_line(source, message):
    assert str(refusal(source)) == message


def test_a_checklist_over_its_item_limit_is_refused_naming_the_item():
    with pytest.raises(ChecklistError) as info:
        parse_checklist("# T\n- [ ] a\n- [ ] b\n- [ ] c\n", max_items=2)
    assert str(info.value) == (
        "line 4: This checklist has more than 2 items (this line is item 3): split it into several checklists, "
        "or ask an admin to raise CTRLREADY_MAX_ITEMS."
    )
    assert parse_checklist("# T\n- [ ] a\n- [ ] b\n", max_items=2).counts()["items"] == 2
    with pytest.raises(ChecklistError) as info:
        parse_checklist("# T\n" + "- [ ] a\n" * 1001, max_items=1000)
    assert "more than 1,000 items (this line is item 1,001)" in str(info.value)


def test_only_text_and_bytes_are_read():
    with pytest.raises(TypeError) as info:
        parse_checklist(7)
    assert str(info.value) == "parse_checklist takes str or bytes, not int"
    assert parse_checklist(bytearray(b"# T\n- [ ] a\n")).title == "T"
    assert parse_checklist(memoryview(b"# T\n- [ ] a\n")).title == "T"


# The limits, at their edge


def test_a_file_of_exactly_2_mib_is_read_and_one_byte_more_is_refused():
    head = "# T\n- [ ] a\n\n"
    exact = head + "x" * (MAX_BYTES - len(head))
    assert MAX_BYTES == 2 * 1024 * 1024 and len(exact.encode()) == MAX_BYTES
    assert parse_checklist(exact).counts()["items"] == 1
    assert parse_checklist(exact.encode()).counts()["items"] == 1
    message = "The file is larger than 2 MB (2,097,153 bytes): split it into smaller checklists."
    assert str(refusal(exact + "x")) == message
    assert str(refusal((exact + "x").encode())) == message
    # text is measured in UTF-8 bytes: "é" counts two
    assert str(refusal(exact[:-1] + "é")) == message


def test_an_item_of_5000_characters_is_read_and_one_more_is_refused():
    text = "x" * 4996  # with its box "[ ] ", the item is 5,000 characters
    assert parse_checklist(f"# T\n- [ ] {text}\n").sections[0].items[0].text == text
    assert "This item is 5,001 characters long" in refusal(f"# T\n- [ ] {text}x\n").message
    heading = "h" * 5000
    assert parse_checklist(f"# T\n## {heading}\n- [ ] a\n").sections[0].title == heading


def test_lists_nest_23_levels_deep_and_no_deeper():
    def nested(levels):
        return "# T\n" + "".join("  " * depth + f"- [ ] level {depth}\n" for depth in range(levels))

    assert len(list(parse_checklist(nested(23)).iter_items())) == 23
    assert str(refusal(nested(24))) == (
        "line 25: Lists or block quotes are nested too deeply here (over 20 levels): flatten them."
    )


def test_block_quotes_nest_47_levels_deep_and_no_deeper():
    assert parse_checklist("# T\n- [ ] a\n" + "> " * 47 + "x\n").counts()["items"] == 1
    assert refusal("# T\n- [ ] a\n" + "> " * 48 + "x\n").line == 3


def test_explicit_keys_of_200_characters_are_kept():
    key = "k" * 200
    assert parse_checklist(f"# T\n- [ ] a {{#{key}}}\n").sections[0].items[0].key == key
    assert parse_checklist("# T\n- [ ] a {# k.1_x-2 }\n").sections[0].items[0].key == "k.1_x-2"


def test_generated_keys_are_cut_to_200_characters_before_their_suffix():
    part = "x" * 60
    source = f"# T\n## {part}\n### {part}\n#### {part}\n" + f"- [ ] {part}\n" * 3
    keys = [item.key for _, item, _ in parse_checklist(source).iter_items()]
    base = f"{part}.{part}.{part}.{part}"[:200]
    assert keys == [base, base[:198] + "-2", base[:198] + "-3"]


def test_a_generated_key_cut_on_punctuation_drops_it():
    part = "x" * 59
    source = f"# T\n## {part}\n### {part}\n#### {part}\n- [ ] a{'b' * 17}\n- [ ] a{'b' * 17}\n"
    keys = [item.key for _, item, _ in parse_checklist(source).iter_items()]
    assert all(len(key) <= 200 and key[-1] not in "-._" for key in keys)
    assert keys[1] == keys[0][:198].rstrip("-._") + "-2"


# Where items and comments belong


def test_items_before_the_first_section_are_not_optional():
    checklist = parse_checklist("# Launch (Optional)\n- [ ] early\n  - [ ] child\n## Later (optional)\n- [ ] late\n")
    first, later = checklist.sections
    assert (first.title, first.level, first.optional, first.line) == ("Launch (Optional)", 2, False, 2)
    assert [(item.optional, item.children[0].optional) for item in first.items] == [(False, False)]
    assert later.optional and later.items[0].optional


def test_items_before_the_title_go_to_the_titled_section():
    checklist = parse_checklist("- [ ] early\n\n# Launch\n\n- [ ] late\n")
    assert [(s.title, [i.text for i in s.items]) for s in checklist.sections] == [("Launch", ["early", "late"])]
    assert checklist.sections[0].items[0].key == "launch.early"


def test_a_probe_in_a_prose_paragraph_is_refused():
    error = refusal("# T\n## S\n- [ ] a\n\nSee below <!-- probe\ntype: tcp\nport: 1\n--> for details.\n")
    assert (error.line, error.message.split(":")[0]) == (5, "This probe comment does not follow an item")


def test_a_second_ctrlready_signoff_is_refused_naming_the_first():
    # `ctrlready` comments may name owners under each heading, but the sign-off is set once per file.
    error = refusal("# T\n<!-- ctrlready signoff: lead -->\n- [ ] a\n<!-- ctrlready\nsignoff: [admin]\n-->\n")
    assert str(error) == "line 4: The `ctrlready` comment on line 2 already sets `signoff`: keep only one."


def test_an_empty_ctrlready_comment_keeps_the_default_roles():
    assert parse_checklist("# T\n- [ ] a\n<!-- ctrlready -->\n").required_roles == ("lead",)
    assert parse_checklist("# T\n- [ ] a\n<!-- ctrlready\n-->\n").required_roles == ("lead",)


def test_signoff_may_name_one_role_as_text():
    assert parse_checklist("# T\n- [ ] a\n<!-- ctrlready signoff: engineer -->\n").required_roles == ("engineer",)
    assert parse_checklist("# T\n- [ ] a\n").required_roles == ("lead",)


def test_signoff_lists_each_role_once_in_order():
    source = "# T\n- [ ] a\n<!-- ctrlready\nsignoff: [admin, engineer, admin, lead]\n-->\n"
    assert parse_checklist(source).required_roles == ("admin", "engineer", "lead")


def test_a_ctrlready_comment_inside_a_paragraph_counts():
    assert parse_checklist("# T\n\nSee <!-- ctrlready signoff: admin --> here.\n\n- [ ] a\n").required_roles == ("admin",)


def test_comments_that_are_not_annotations_are_ignored():
    source = "# T\n- [ ] a <!-- probably not -->\n  <!-- probes -->\n  <!--itemize-->\n<!-- ctrlready-ish -->\n"
    checklist = parse_checklist(source)
    assert checklist.sections[0].items[0].text == "a" and checklist.sections[0].items[0].probe is None


def test_a_probe_follows_its_item_through_other_comments_and_the_end_of_a_list():
    source = (
        "# T\n- [ ] a\n  - [ ] child\n  <!-- a note -->\n\n  <!-- probe\n  type: tcp\n  port: 1\n"
        "  expect: '[CONNECTED] == true'\n  -->\n"
    )
    checklist = parse_checklist(source)
    parent = checklist.sections[0].items[0]
    assert (parent.probe, parent.children[0].probe["port"]) == (None, 1)


def test_a_probe_after_a_heading_or_prose_does_not_follow_the_item_above():
    for between in ("## Next\n", "Prose.\n\n", "- plain\n\n", "<div>x</div>\n\n"):
        error = refusal(f"# T\n- [ ] a\n\n{between}<!-- probe\ntype: tcp\nport: 1\n-->\n")
        assert error.message.startswith("This probe comment does not follow an item")


def test_an_item_comment_names_its_own_line_in_its_errors():
    error = refusal("# T\n- [ ] a\n\n\n  <!-- item\n  valid: 11y\n  -->\n")
    assert str(error) == "line 5: `valid` must be a duration like `90d`, `12h`, `30m` or `2w`."


def test_a_comment_opened_on_the_item_line_with_yaml_below_reads_its_lines():
    source = "# T\n- [ ] a <!-- probe\n  type: tcp\n  port: 7\n  expect: '[CONNECTED] == true' -->\n- [ ] b\n"
    checklist = parse_checklist(source)
    assert [(item.text, item.probe and item.probe["port"]) for item in checklist.sections[0].items] == [("a", 7), ("b", None)]


def test_a_broken_probe_names_the_line_of_its_yaml():
    error = refusal("# T\n- [ ] a\n  <!-- probe\n\n  type: tcp\n  -->\n")
    assert str(error) == "line 3: The tcp probe needs a `port`: add a line like `port: 5432`."


# Text, titles and descriptions


def test_the_title_keeps_its_inline_markdown_and_drops_comments():
    checklist = parse_checklist("# Go-live  *of*   `api` <!-- note -->\n- [ ] a\n")
    assert checklist.title == "Go-live  *of*   `api`"
    assert checklist.sections[0].items[0].key == "go-live-of-api.a"


def test_descriptions_keep_the_prose_under_each_heading():
    source = (
        "# T\n\nAbout   this.\n\n\n\nMore.\n\n- [ ] a\n  More of a.\n\n## S\n\n  Indented prose.\n"
        "<!-- probe-less comment -->\n\n- [ ] b\n\nAfter b.\n"
    )
    checklist = parse_checklist(source)
    assert checklist.description == "About   this.\n\nMore."
    assert checklist.sections[1].description == "  Indented prose.\n\nAfter b."
    assert parse_checklist("# T\n\n  Intro.\n\n    More.\n\n- [ ] a\n").description == "Intro.\n\n  More."


def test_a_description_drops_annotation_comments():
    checklist = parse_checklist("# T\n\nIntro.\n\n<!-- ctrlready\nsignoff: admin\n-->\n\nOutro.\n\n- [ ] a\n")
    assert checklist.description == "Intro.\n\nOutro."


def test_setext_headings_and_later_titles_nest_as_written():
    checklist = parse_checklist("T\n=\n\nS\n-\n- [ ] a\n# Two\n### Deep\n- [ ] b\n")
    assert [(s.title, s.level) for s in checklist.sections] == [("S", 2), ("Two", 1)]
    assert checklist.sections[1].sections[0].level == 3


def test_item_text_drops_the_box_and_joins_lines():
    checklist = parse_checklist("# T\n- [x]   done\n  on two lines  \n* [X] upper\n1. [ ] numbered\n")
    assert [item.text for item in checklist.sections[0].items] == ["done on two lines", "upper", "numbered"]


def test_a_key_in_the_text_is_stripped_from_the_plain_text_for_children():
    checklist = parse_checklist("# T\n- [ ] Parent `x` {#p}\n  - [ ] Child [link](http://a)\n")
    parent = checklist.sections[0].items[0]
    assert (parent.key, parent.text, parent.children[0].key) == ("p", "Parent `x`", "p.child-link")


def test_counts_count_sections_groups_items_optional_and_automated():
    source = (
        "# T\n- [ ] a\n## S (optional)\n### G\n- [ ] b\n  <!-- probe\n  type: tcp\n  port: 1\n"
        "  expect: '[CONNECTED] == true'\n  -->\n#### H\n## U\n"
    )
    assert parse_checklist(source).counts() == {
        "sections": 3, "groups": 2, "items": 2, "optional_items": 1, "automated_items": 1,
    }


def test_iter_items_gives_the_section_path_and_the_parent_key():
    checklist = parse_checklist("# T\n## A\n### B\n- [ ] x {#x}\n  - [ ] y {#y}\n    - [ ] z {#z}\n")
    assert [(path, item.key, parent) for path, item, parent in checklist.iter_items()] == [
        (("A", "B"), "x", None), (("A", "B"), "y", "x"), (("A", "B"), "z", "y"),
    ]


def test_line_numbers_count_every_kind_of_line_ending_and_a_bom():
    for newline in ("\n", "\r\n", "\r"):
        source = newline.join(["\ufeff# T", "", "- [ ] a", "- [ ] b"]).encode()
        assert [item.line for _, item, _ in parse_checklist(source).iter_items()] == [3, 4]
    assert parse_checklist("\ufeff# T\n- [ ] a\n").title == "T"


def test_tabs_in_indentation_are_four_columns():
    checklist = parse_checklist("# T\n- [ ] a\n\t- [ ] child\n")
    assert checklist.sections[0].items[0].children[0].text == "child"
    checklist = parse_checklist("# T\n- [ ] a\n  \t- [ ] child\n")
    assert checklist.sections[0].items[0].children[0].text == "child"
    assert parse_checklist("# T\n- [ ] a\tb\n").sections[0].items[0].text == "a\tb"


def test_slugify_keeps_words_digits_and_dashes():
    assert slugify("  Héllo, World -- 2 _x_ ") == "hello-world-2-_x"
    assert slugify("a\u00a0b") == "a-b"


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8).map(" ".join), st.from_regex(KEY_RE, fullmatch=True))
def test_item_text_and_keys_read_back_as_written(text, key):
    checklist = parse_checklist(f"# T\n## S\n- [ ] {text}\n- [ ] {text} {{#{key}}}\n")
    generated, explicit = checklist.sections[0].items
    assert (generated.text, explicit.text, explicit.key) == (text, text, key)
    expected = "s." + (slugify(text)[:60].rstrip("-") or "item")
    assert generated.key == (expected if expected != key else expected + "-2")



def test_a_checklist_error_carries_its_message_and_line():
    error = ChecklistError("Fix it.", 3)
    assert (error.args, error.message, error.line) == (("Fix it.", 3), "Fix it.", 3)


def test_a_lone_surrogate_in_text_is_read_not_refused():
    assert parse_checklist("# T\n- [ ] a\ud800b\n").sections[0].items[0].key == "t.ab"


def test_a_byte_order_mark_encoded_twice_is_dropped():
    assert parse_checklist("\u00ef\u00bb\u00bf# T\n- [ ] a\n").title == "T"


def test_two_tabs_of_indentation_are_eight_columns():
    checklist = parse_checklist("# T\n- [ ] a\n  - [ ] b\n    - [ ] c\n\t\t- [ ] d\n")
    assert [item.key for _, item, _ in checklist.iter_items()] == ["t.a", "t.a.b", "t.a.b.c", "t.a.b.c.d"]


def test_a_comment_word_may_follow_the_opening_at_once_or_on_the_next_line():
    source = "# T\n- [ ] a\n  <!--probe\n  type: tcp\n  port: 3\n  expect: '[CONNECTED] == true'\n  -->\n"
    assert parse_checklist(source).sections[0].items[0].probe["port"] == 3
    assert refusal("# T\n- [ ] a\n  <!--\n  probe\n  type: nope\n  -->\n").line == 4


def test_an_unknown_item_setting_is_quoted_cut_to_40_characters():
    error = refusal("# T\n- [ ] a\n  <!-- item\n  " + "x" * 50 + ": 1\n  -->\n")
    assert str(error) == (
        f"line 3: Unknown setting `{'x' * 40}` in the `item` comment: use `scope`, `valid` or `owner`."
    )


@pytest.mark.parametrize(
    "value, seconds",
    [("3660d", 316_224_000), ("522w", 315_705_600), ("1m", 60), ("999999m", 59_999_940), (" 2w ", 1_209_600), ("2 w", 1_209_600)],
)
def test_durations_up_to_ten_years_and_a_bit(value, seconds):
    from checklists.parsing import duration_seconds

    assert duration_seconds(value) == seconds


@pytest.mark.parametrize(
    "value, message",
    [
        ("3661d", "`valid` must be more than zero and at most ten years."),
        ("523w", "`valid` must be more than zero and at most ten years."),
        ("0m", "`valid` must be more than zero and at most ten years."),
        ("1000000m", "`valid` must be a duration like `90d`, `12h`, `30m` or `2w`."),
        ("2y", "`valid` must be a duration like `90d`, `12h`, `30m` or `2w`."),
        (90, "`valid` must be a duration like `90d`, `12h`, `30m` or `2w`."),
    ],
)
def test_durations_out_of_range_are_refused(value, message):
    from checklists.parsing import duration_seconds

    with pytest.raises(ValueError) as info:
        duration_seconds(value)
    assert str(info.value) == message


def test_images_and_hard_breaks_read_as_plain_words_in_keys():
    checklist = parse_checklist("# T\n- [ ] ![alt text](i.png) and  \nbreak\n- [ ] a\\\nb\n")
    assert [(item.key, item.text) for _, item, _ in checklist.iter_items()] == [
        ("t.alt-text-and-break", "![alt text](i.png) and break"), ("t.a-b", "a\\ b"),
    ]


def test_a_box_that_markdown_reads_as_a_link_keeps_its_letter_in_the_key():
    checklist = parse_checklist("# T\n- [x] done\n\n[x]: https://example.com\n")
    assert [(item.key, item.text) for _, item, _ in checklist.iter_items()] == [("t.x-done", "done")]


def test_a_comment_opened_on_the_item_line_keeps_its_yaml_indentation():
    source = (
        "# T\n\n- [ ] first\n- [ ] a <!-- probe\n  type: http\n  request: GET /\n  headers:\n    X-A: 1\n"
        "  expect: '[STATUS] == 200' --> after\n"
    )
    item = parse_checklist(source).sections[0].items[1]
    assert (item.text, item.probe["headers"]) == ("a  after", {"X-A": "1"})


def test_broken_yaml_in_a_ctrlready_comment_names_the_comment():
    error = refusal("# T\n- [ ] a\n\n<!-- ctrlready\nsignoff: [lead\n-->\n")
    assert error.message.startswith("The `ctrlready` comment starting on line 4 is not valid YAML (")
    assert error.message.endswith("): fix the YAML between `<!-- ctrlready` and `-->`.")
