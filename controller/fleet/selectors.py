"""Kubernetes label selectors over node tags.

Groups and apps choose nodes with selectors such as
`site=paris,model in (rpi4,rpi5),!retired`. `parse_selector` turns the text into a
`Selector` once (at load time, so a malformed selector is reported with its file);
`Selector.matches(tags)` is then a few dict lookups per term, and
`Selector.explain(tags)` names the first term that fails, for `shoal explain`.

Syntax (as in Kubernetes): terms joined by `,` (AND); a term is `key=value`,
`key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`, `key` (the tag
exists) or `!key` (it does not). `!=` and `notin` also match nodes without the
tag. The empty selector matches every node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from shadow.errors import BadInput

T = TypeVar("T")

_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_TOKEN = re.compile(r"\s*(==|!=|=|!|,|\(|\)|[^\s=!,()]+)")


class SelectorError(BadInput, ValueError):
    """A selector that does not parse; `position` is the 0-based offset of the problem."""

    def __init__(self, text: str, message: str, position: int) -> None:
        self.text = text
        self.message = message
        self.position = position
        super().__init__(f"bad selector {text!r}: {message} (at character {position + 1})")


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: `key <operator> values`."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, tags: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "=" or op == "in":
            return tags.get(self.key) in self.values
        if op == "!=" or op == "notin":
            return tags.get(self.key) not in self.values
        if op == "exists":
            return self.key in tags
        return self.key not in tags

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        if op in ("=", "!="):
            return f"{self.key}{op}{next(iter(self.values))}"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """A parsed selector: every requirement must match (AND)."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, tags: Mapping[str, str]) -> bool:
        return all(req.matches(tags) for req in self.requirements)

    def failing(self, tags: Mapping[str, str]) -> Requirement | None:
        """The first requirement that `tags` fail, or None on a match."""
        for req in self.requirements:
            if not req.matches(tags):
                return req
        return None

    def explain(self, tags: Mapping[str, str]) -> str | None:
        """The first term that `tags` fail, as written (`site=paris`), or None on a match."""
        req = self.failing(tags)
        return None if req is None else str(req)

    def __str__(self) -> str:
        return self.text


class SelectorIndex(Generic[T]):
    """Which of many selectors match some tags, without testing every one.

    Rendering selects groups and apps once per distinct set of tags; with a hundred
    `site=...` groups, indexing each selector by one of its `=`/`in` terms leaves a
    handful of candidates to test. `matching` keeps the order the entries were given.
    """

    def __init__(self, entries: Iterable[tuple[T, Selector]]) -> None:
        self.entries = list(entries)
        self.by_term: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []  # selectors without an = or in term: test them all
        for index, (_, selector) in enumerate(self.entries):
            term = next((r for r in selector.requirements if r.operator in ("=", "in")), None)
            if term is None:
                self.always.append(index)
                continue
            for value in term.values:
                self.by_term.setdefault((term.key, value), []).append(index)

    def matching(self, tags: Mapping[str, str]) -> list[T]:
        candidates = set(self.always)
        for item in tags.items():
            candidates.update(self.by_term.get(item, ()))
        return [self.entries[i][0] for i in sorted(candidates) if self.entries[i][1].matches(tags)]


class _Tokens:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[tuple[str, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:  # only trailing whitespace is left
                break
            self.items.append((match.group(1), match.start(1)))
            pos = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.items[self.index][0] if self.index < len(self.items) else None

    def position(self) -> int:
        return self.items[self.index][1] if self.index < len(self.items) else len(self.text)

    def take(self) -> str:
        token = self.items[self.index][0]
        self.index += 1
        return token

    def fail(self, message: str) -> SelectorError:
        return SelectorError(self.text, message, self.position())


def parse_selector(text: str) -> Selector:
    """Parse selector text; raises SelectorError saying what is wrong and where."""
    tokens = _Tokens(text)
    requirements: list[Requirement] = []
    if tokens.peek() is None:
        return Selector(text, ())
    while True:
        requirements.append(_requirement(tokens))
        token = tokens.peek()
        if token is None:
            return Selector(text, tuple(requirements))
        if token != ",":
            raise tokens.fail(f"expected ',' between terms, found {token!r}")
        tokens.take()


def _key(tokens: _Tokens) -> str:
    token = tokens.peek()
    if token is None or token in ("=", "==", "!=", "!", ",", "(", ")"):
        found = "the end" if token is None else repr(token)
        raise tokens.fail(f"expected a tag key, found {found}")
    if not _KEY.fullmatch(token):
        raise tokens.fail(f"{token!r} is not a valid tag key")
    return tokens.take()


def _value(tokens: _Tokens) -> str:
    token = tokens.peek()
    if token is None or token in (",", ")"):
        return ""  # `key=` matches an empty value, as in Kubernetes
    if token in ("=", "==", "!=", "!", "("):
        raise tokens.fail(f"expected a value, found {token!r}")
    if not _VALUE.fullmatch(token):
        raise tokens.fail(f"{token!r} is not a valid tag value")
    return tokens.take()


def _requirement(tokens: _Tokens) -> Requirement:
    if tokens.peek() == "!":
        tokens.take()
        return Requirement(_key(tokens), "!")
    key = _key(tokens)
    op = tokens.peek()
    if op is None or op == ",":
        return Requirement(key, "exists")
    if op in ("=", "==", "!="):
        tokens.take()
        return Requirement(key, "!=" if op == "!=" else "=", frozenset([_value(tokens)]))
    if op in ("in", "notin"):
        tokens.take()
        return Requirement(key, op, _value_set(tokens))
    raise tokens.fail(f"expected an operator (=, ==, !=, in, notin) after {key!r}, found {op!r}")


def _value_set(tokens: _Tokens) -> frozenset[str]:
    if tokens.peek() != "(":
        raise tokens.fail("expected '(' to start a list of values")
    tokens.take()
    values = []
    while True:
        if tokens.peek() is None:
            raise tokens.fail("missing ')' to close the list of values")
        values.append(_value(tokens))
        token = tokens.peek()
        if token == ")":
            tokens.take()
            break
        if token != ",":
            raise tokens.fail(
                "missing ')' to close the list of values"
                if token is None
                else f"expected ',' or ')' in the list of values, found {token!r}"
            )
        tokens.take()
    if values == [""]:
        raise tokens.fail("the list of values is empty")
    return frozenset(values)
