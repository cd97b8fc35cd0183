"""Reading YAML with lines (fleet files) and fast (rendered output)."""

from __future__ import annotations

import pytest
import yaml

from controller.fleet.yamlreader import PlainLoader, YamlSyntaxError, load_all, read_yaml

SAMPLES = [
    "a: 1\nb: [1, 2.5, true, null, ~, 0x1f, 1_000, .inf, -.nan, 'q', \"d\"]\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",  # merge keys: PyYAML's constructor
    # `!!binary` and `!!set` are refused: not JSON (tests/hostile/test_fleet_files.py)
    "date: 2024-01-01\nstamp: 2024-01-01T10:00:00Z\n",  # stay strings
    "multi: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\n",
    "1: int key\ntrue: bool key\nnull: null key\n",
    "- a\n- {b: [c, {d: e}]}\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_fast_construction_equals_pyyaml(text: str) -> None:
    expected = list(yaml.load_all(text, Loader=PlainLoader))
    assert repr(list(load_all(text))) == repr(expected)
    assert repr(read_yaml(text).data) == repr(expected[0])


def test_dates_stay_strings() -> None:
    assert read_yaml("d: 2024-01-01\n").data == {"d": "2024-01-01"}


def test_lines_of_paths_and_their_nearest_parent() -> None:
    document = read_yaml("name: x\ntags:\n  site: paris\nlist:\n  - a\n  - {b: 1}\n")
    assert document.line_of(["name"]) == 1
    assert document.line_of(["tags", "site"]) == 3
    assert document.line_of(["list", 1, "b"]) == 6
    assert document.line_of(["tags", "missing"]) == 2
    assert document.line_of([]) == 1


def test_duplicate_keys_are_recorded_with_their_line() -> None:
    document = read_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert document.duplicates == [(("b", "c"), 4)]


def test_syntax_errors_carry_a_line() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        read_yaml("a: 1\nb: [1,\nc: 3\n")
    assert caught.value.line == 4  # where libyaml noticed
    assert caught.value.message.endswith("(the construct started on line 2)")
    with pytest.raises(YamlSyntaxError):
        list(load_all("a: 1\n---\n? [x]\n: 1\n"))  # an unhashable key


def test_a_tab_used_for_indentation_is_named() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        read_yaml("name: x\ntags:\n\tsite: paris\n")
    assert caught.value.line == 3
    assert caught.value.message.endswith(
        "a tab character; YAML indents with spaces only (replace the tab with spaces)"
    )


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        ("a: !!bool foo\n", 1, "'foo' is not a valid !!bool"),  # PyYAML: KeyError
        ("a: 1\nb: !!int x\n", 2, "'x' is not a valid !!int"),  # ValueError
        ("a:\n  - !!timestamp x\n", 2, "'x' is not a valid !!timestamp"),  # AttributeError
        ("x: &a {y: 1}\nz:\n  <<: *a\n  w: !!float no\n", 4, "'no' is not a valid !!float"),
        ("? !!bool maybe\n: 1\n", 1, "'maybe' is not a valid !!bool"),
    ],
)
def test_a_value_its_tag_cannot_hold_is_a_syntax_error(text: str, line: int, said: str) -> None:
    # Found reading the code: PyYAML's constructors raise KeyError/ValueError here, which
    # escaped every reader as a crash instead of a message naming the line.
    for read in (lambda: list(load_all(text)), lambda: read_yaml(text)):
        with pytest.raises(YamlSyntaxError) as caught:
            read()
        assert caught.value.line == line
        assert said in caught.value.message
