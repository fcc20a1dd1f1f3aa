"""The `<!-- item -->` comment: an item's evidence scope, validity and owner, parsed as a plain function."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checklists.parsing import ChecklistError, duration_seconds, duration_text, parse_checklist

SCOPED = """# T
## Release

- [ ] Security review of the release done {#security-review}
  <!-- item
  scope: release
  -->
- [ ] Database restore drilled on a copy of production {#restore-drill}
  <!-- item
  valid: 90d
  owner: dba-oncall
  -->
- [ ] Load test passed <!-- item scope: release -->
- [ ] On-call engineer available {#oncall}
- [ ] Release notes published {#notes}
  <!-- probe
  type: http
  request: GET /notes
  expect: "[STATUS] == 200"
  -->
  <!-- item
  scope: release
  -->
"""


def refusal(source) -> ChecklistError:
    with pytest.raises(ChecklistError) as info:
        parse_checklist(source)
    return info.value


def test_item_comment_sets_scope_validity_and_owner():
    items = {item.key: item for _, item, _ in parse_checklist(SCOPED).iter_items()}
    assert (items["security-review"].scope, items["security-review"].valid_seconds) == ("release", None)
    drill = items["restore-drill"]
    assert (drill.scope, drill.valid_seconds, drill.owner) == ("environment", 90 * 86400, "dba-oncall")
    assert items["release.load-test-passed"].scope == "release"
    assert items["release.load-test-passed"].text == "Load test passed"
    assert (items["oncall"].scope, items["oncall"].valid_seconds, items["oncall"].owner) == ("environment", None, "")
    notes = items["notes"]
    assert notes.scope == "release" and notes.probe["request"] == "GET /notes"


def test_item_comment_does_not_count_as_item_text_or_change_keys():
    plain = SCOPED.replace("<!-- item scope: release -->", "")
    keys = [item.key for _, item, _ in parse_checklist(SCOPED).iter_items()]
    assert keys == [item.key for _, item, _ in parse_checklist(plain).iter_items()]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("scope: everywhere", "`scope` must be `environment` (the default) or `release`"),
        ("valid: 90 days", "`valid` must be a duration like `90d`"),
        ("valid: 3600", "`valid` must be a duration like `90d`"),
        ("valid: 0h", "more than zero"),
        ("valid: 999999w", "at most ten years"),
        ("owner: [a, b]", "`owner` must be one username"),
        ("owner: two words", "`owner` must be one username"),
        ("assignee: sam", "Unknown setting `assignee`"),
        ("- release", "must hold YAML settings"),
    ],
)
def test_bad_item_settings_refused_with_their_line(body, message):
    error = refusal(f"# T\n## S\n- [ ] a\n  <!-- item\n  {body}\n  -->\n")
    assert error.line == 4
    assert message in error.message


def test_item_comment_not_after_an_item_refused():
    error = refusal("# T\n## S\n\nSome prose.\n\n<!-- item\nscope: release\n-->\n- [ ] a\n")
    assert error.line == 6
    assert "does not follow an item" in error.message


def test_second_item_comment_on_one_item_refused():
    comment = "  <!-- item\n  scope: release\n  -->\n"
    error = refusal("# T\n## S\n- [ ] a\n" + comment + comment)
    assert error.line == 7
    assert "already has an `item` comment (line 4)" in error.message


def test_validity_on_an_automated_item_refused():
    source = (
        "# T\n## S\n- [ ] a\n  <!-- item\n  valid: 1h\n  -->\n"
        "  <!-- probe\n  type: tcp\n  port: 1\n  expect: '[CONNECTED] == true'\n  -->\n"
    )
    error = refusal(source)
    assert error.line == 4
    assert "`valid` is for attestations a person makes" in error.message


def test_unclosed_item_comment_refused():
    error = refusal("# T\n## S\n- [ ] a\n  <!-- item\n  scope: release\n- [ ] b\n")
    assert "This `<!-- item` comment is not closed" in error.message


def test_other_html_comments_stay_ignored():
    checklist = parse_checklist("# T\n## S\n- [ ] a\n  <!-- items below are reviewed by Sam -->\n")
    assert [item.scope for _, item, _ in checklist.iter_items()] == ["environment"]


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("12h", 43200), ("90d", 7776000), ("2w", 1209600)])
def test_durations_read_as_written(text, seconds):
    assert duration_seconds(text) == seconds
    assert duration_seconds(duration_text(seconds)) == seconds


@given(st.integers(min_value=1, max_value=500_000))
def test_duration_text_reads_back(minutes):
    assert duration_seconds(duration_text(minutes * 60)) == minutes * 60


@pytest.mark.parametrize(
    ("seconds", "text"), [(7_776_000, "90d"), (1_209_600, "2w"), (3600, "1h"), (90 * 60, "90m"), (36 * 3600, "36h")]
)
def test_duration_text_takes_the_largest_whole_unit(seconds, text):
    assert duration_text(seconds) == text
