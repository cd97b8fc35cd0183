"""The query string of a dashboard page: filters and the page number, checked.

`parse_query` turns `?state=Failed&selector=site%3Dparis&q=gw&page=2` into a `Query`
and raises `QueryError` (a 400 page) naming the parameter and what is wrong with it:
an unknown name, a repeated one, a state that does not exist, a selector that does
not parse, a page that is not a positive number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from controller.fleet.selectors import Selector, SelectorError, parse_selector

PER_PAGE = 100  # rows per page: a page of 100 nodes stays far under 1 MB
MAX_TEXT = 200  # longest selector or search text taken
PARAMETERS = ("state", "selector", "q", "page")


class QueryError(ValueError):
    """A malformed query parameter; the message says which and why."""


@dataclass(frozen=True)
class Query:
    state: str = ""
    selector: Selector | None = None
    selector_text: str = ""
    search: str = ""
    page: int = 1

    def link(self, path: str, **changes: object) -> str:
        """`path` with this query, some parameters changed (None or "" drops one)."""
        values: dict[str, object] = {
            "state": self.state,
            "selector": self.selector_text,
            "q": self.search,
            "page": self.page if self.page != 1 else "",
        }
        values.update(changes)
        kept = {k: str(v) for k, v in values.items() if v not in (None, "", 1)}
        return f"{path}?{urlencode(kept)}" if kept else path

    @property
    def filtered(self) -> bool:
        return bool(self.state or self.selector is not None or self.search)


def parse_query(text: str, states: Sequence[str]) -> Query:
    """The `Query` of a URL's query string; `states` are the states one can filter by."""
    try:
        values = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError as exc:
        raise QueryError(f"the query string does not parse: {exc}") from None
    for name, given in values.items():
        if name not in PARAMETERS:
            raise QueryError(
                f"unknown query parameter {name!r}; this page takes {', '.join(PARAMETERS)}"
            )
        if len(given) > 1:
            raise QueryError(f"query parameter {name!r} is given {len(given)} times; give it once")
    one = {name: given[0].strip() for name, given in values.items()}
    for name in ("selector", "q"):
        if len(one.get(name, "")) > MAX_TEXT:
            raise QueryError(f"{name} is longer than {MAX_TEXT} characters")
    state = one.get("state", "")
    if state and state not in states:
        raise QueryError(f"state {state!r} is not a node state; one of: {', '.join(states)}")
    selector = None
    selector_text = one.get("selector", "")
    if selector_text:
        try:
            selector = parse_selector(selector_text)
        except (SelectorError, ValueError) as exc:
            raise QueryError(f"selector {selector_text!r}: {exc}") from None
    page_text = one.get("page", "") or "1"
    if not page_text.isdigit() or int(page_text) < 1 or len(page_text) > 9:
        raise QueryError(f"page {page_text!r} is not a page number (1, 2, ...)")
    return Query(state, selector, selector_text, one.get("q", ""), int(page_text))
