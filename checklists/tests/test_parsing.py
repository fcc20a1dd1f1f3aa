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

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_parses_or_refuses(source):
    try:
        checklist = parse_checklist(source)
    except ChecklistError as error:
        assert error.message
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
