"""Default owners: an item's `owner`, a heading's `<!-- ctrlready owner: … -->`, and what items inherit."""

import pytest

from checklists.parsing import ChecklistError, parse_checklist

SOURCE = """# T
<!-- ctrlready owner: everyone -->
- [ ] top {#top}
## DB <!-- ctrlready owner: dba -->
- [ ] a {#a}
  - [ ] a1 {#a1}
- [ ] b {#b}
  <!-- item
  owner: carol
  -->
  - [ ] b1 {#b1}
### Sub
- [ ] c {#c}
## Web
<!-- ctrlready
owner: webby
-->
- [ ] d {#d}
## Other
- [ ] e {#e}
"""


def owners(source: str) -> dict[str, str]:
    return {item.key: item.owner for _, item, _ in parse_checklist(source).iter_items()}


def test_items_take_the_owner_of_the_heading_they_are_under():
    found = owners(SOURCE)
    assert found["a"] == "dba"
    assert found["c"] == "dba"  # a subsection without its own owner keeps its heading's
    assert found["d"] == "webby"  # the comment on the lines after the heading


def test_an_items_own_owner_wins_and_its_children_follow_it():
    found = owners(SOURCE)
    assert found["b"] == "carol"
    assert found["b1"] == "carol"
    assert found["a1"] == "dba"


def test_an_owner_before_any_section_is_the_whole_checklists():
    found = owners(SOURCE)
    assert found["top"] == "everyone"
    assert found["e"] == "everyone"


def test_the_heading_keeps_its_title_without_the_comment_and_names_its_owner():
    sections = {section.title: section for section in parse_checklist(SOURCE).sections}
    assert sections["DB"].owner == "dba"
    assert sections["Other"].owner == ""


def test_no_owner_anywhere_leaves_items_without_one():
    assert owners("# T\n## S\n- [ ] a {#a}\n") == {"a": ""}


def test_signoff_and_owner_live_side_by_side():
    checklist = parse_checklist(
        "<!-- ctrlready\nsignoff: [lead, admin]\n-->\n# T\n## S\n<!-- ctrlready owner: ops -->\n- [ ] a {#a}\n"
    )
    assert checklist.required_roles == ("lead", "admin")
    assert owners("# T\n## S\n<!-- ctrlready owner: ops -->\n- [ ] a {#a}\n") == {"a": "ops"}


def test_two_owners_for_one_heading_refused_with_line():
    with pytest.raises(ChecklistError) as raised:
        parse_checklist("# T\n## S <!-- ctrlready owner: a -->\n<!-- ctrlready owner: b -->\n- [ ] x\n")
    assert raised.value.line == 3
    assert "already names its owner on line 2" in raised.value.message


@pytest.mark.parametrize("value", ["[a, b]", "two words", "''"])
def test_an_owner_that_is_not_one_username_refused(value):
    with pytest.raises(ChecklistError) as raised:
        parse_checklist(f"# T\n## S\n<!-- ctrlready\nowner: {value}\n-->\n- [ ] x\n")
    assert raised.value.line == 3  # where the comment starts
    assert "must be one username" in raised.value.message
