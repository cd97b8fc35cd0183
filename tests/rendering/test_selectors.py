"""Selectors: Kubernetes label-selector syntax over node tags."""

from __future__ import annotations

import pytest

from controller.fleet.selectors import SelectorError, parse_selector

PARIS_RPI4 = {"site": "paris", "model": "rpi4", "role": "gateway"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),  # the empty selector selects every node
        ("site=paris", True),
        ("site==paris", True),
        ("site=lyon", False),
        ("site!=lyon", True),
        ("site!=paris", False),
        ("retired!=yes", True),  # != also matches nodes without the tag
        ("model in (rpi4,rpi5)", True),
        ("model in (rpi5, x86)", False),
        ("model notin (x86)", True),
        ("retired notin (yes)", True),
        ("model notin (rpi4)", False),
        ("role", True),
        ("retired", False),
        ("!retired", True),
        ("!role", False),
        ("site=paris,model in (rpi4,rpi5),!retired", True),  # comma is AND
        ("site=paris,model=x86", False),
        ("  site = paris ,  role  ", True),  # whitespace is ignored
        ("example.com/zone=eu", False),  # prefixed keys parse
    ],
)
def test_selector_matches_tags_like_kubernetes(text: str, matches: bool) -> None:
    assert parse_selector(text).matches(PARIS_RPI4) is matches


def test_explain_names_the_first_failing_term() -> None:
    selector = parse_selector("role=gateway, site in (lyon,nice), model=rpi5")
    assert selector.explain(PARIS_RPI4) == "site in (lyon,nice)"
    assert selector.explain({**PARIS_RPI4, "site": "nice", "model": "rpi5"}) is None
    assert parse_selector("!role").explain(PARIS_RPI4) == "!role"


def test_a_selector_is_parsed_once_and_keeps_its_text() -> None:
    selector = parse_selector("site=paris,!retired")
    assert selector.text == "site=paris,!retired"
    assert [str(r) for r in selector.requirements] == ["site=paris", "!retired"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site=paris,,role", "expected a tag key, found ','"),
        ("site in rpi4", "expected '(' to start a list of values"),
        ("model in (rpi4,rpi5", "missing ')' to close the list of values"),
        ("site ~ paris", "expected an operator (=, ==, !=, in, notin) after 'site', found '~'"),
        ("site=paris lyon", "expected ',' between terms, found 'lyon'"),
        ("=paris", "expected a tag key, found '='"),
        ("!", "expected a tag key, found the end"),
        ("model in ()", "the list of values is empty"),
        ("site=pa$ris", "'pa$ris' is not a valid tag value"),
    ],
)
def test_a_malformed_selector_says_what_and_where(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert caught.value.message == message
    assert str(caught.value).startswith(f"bad selector {text!r}: {message} (at character ")


def test_selector_index_finds_exactly_the_matching_selectors_in_order() -> None:
    import itertools
    import random

    from controller.fleet.selectors import SelectorIndex

    rng = random.Random(7)
    terms = [
        "site=paris",
        "site!=lyon",
        "model in (rpi4,rpi5)",
        "model notin (x86)",
        "gpu",
        "!gpu",
        "site==nice",
        "role=gateway",
    ]
    selectors = [parse_selector(",".join(rng.sample(terms, rng.randint(0, 3)))) for _ in range(40)]
    index = SelectorIndex((i, s) for i, s in enumerate(selectors))
    values = {
        "site": ["paris", "lyon", "nice", None],
        "model": ["rpi4", "x86", None],
        "gpu": ["", None],
        "role": ["gateway", None],
    }
    for combo in itertools.product(*values.values()):
        tags = {k: v for k, v in zip(values, combo, strict=True) if v is not None}
        expected = [i for i, s in enumerate(selectors) if s.matches(tags)]
        assert index.matching(tags) == expected, tags
